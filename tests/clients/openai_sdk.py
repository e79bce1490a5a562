"""The official `openai` Python SDK against codexd's gateway (run by tests/tests/gateway_clients.rs).

Environment: OPENAI_BASE_URL / OPENAI_API_KEY (loopback TCP), GATEWAY_SOCKET (the Unix
socket), MODEL. Prints one line per check and exits non-zero on the first failure.
"""

import json
import os
import sys

import openai

try:  # the SDK's HTTP client: httpx2 in current releases, httpx before
    import httpx2 as httpx
except ImportError:
    import httpx

MODEL = os.environ["MODEL"]
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}
CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": TOOL["name"],
        "description": TOOL["description"],
        "parameters": TOOL["parameters"],
    },
}


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


def plain(client):
    r = client.responses.create(model=MODEL, input="hello", instructions="Answer briefly.")
    check("responses", r.output_text == "turn 1: hello", r.output_text)
    r2 = client.responses.create(model=MODEL, input="again", previous_response_id=r.id)
    check("previous_response_id", r2.output_text == "turn 2: again", r2.output_text)

    deltas, done = [], None
    with client.responses.stream(model=MODEL, input="streamed") as stream:
        for ev in stream:
            if ev.type == "response.output_text.delta":
                deltas.append(ev.delta)
        done = stream.get_final_response()
    check("responses streamed", "".join(deltas) == "turn 1: streamed", deltas)
    check("responses streamed final", done.output_text == "turn 1: streamed", done)

    cc = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "chat"}]
    )
    check("chat", cc.choices[0].message.content == "turn 1: chat", cc)


def tools(client):
    r = client.responses.create(model=MODEL, input="weather in Oslo", tools=[TOOL])
    calls = [o for o in r.output if o.type == "function_call"]
    check("function call", len(calls) == 1 and calls[0].name == "get_weather", r.output)
    args = json.loads(calls[0].arguments)
    check("function call arguments", args == {"query": "weather in Oslo"}, args)
    r2 = client.responses.create(
        model=MODEL,
        previous_response_id=r.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
        tools=[TOOL],
    )
    check("function call round trip", r2.output_text.startswith("turn 1:"), r2.output_text)

    stream = client.chat.completions.create(
        model=MODEL,
        stream=True,
        stream_options={"include_usage": True},
        tools=[CHAT_TOOL],
        messages=[{"role": "user", "content": "weather in Oslo"}],
    )
    name, arguments, call_id, finish, usage = None, "", None, [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                if tc.id:
                    call_id = tc.id
                if tc.function and tc.function.name:
                    name = tc.function.name
                if tc.function and tc.function.arguments:
                    arguments += tc.function.arguments
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    check("chat streamed tool call", name == "get_weather" and json.loads(arguments) == {"query": "weather in Oslo"}, (name, arguments))
    check("chat one finish_reason", finish == ["tool_calls"], finish)
    check("chat usage chunk", usage is not None and usage.total_tokens > 0, usage)
    cc = client.chat.completions.create(
        model=MODEL,
        tools=[CHAT_TOOL],
        messages=[
            {"role": "user", "content": "weather in Oslo"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
        ],
    )
    check("chat tool result answered", cc.choices[0].finish_reason == "stop" and cc.choices[0].message.content, cc)


def main():
    part = sys.argv[1]
    if part == "unix":
        http = httpx.Client(transport=httpx.HTTPTransport(uds=os.environ["GATEWAY_SOCKET"]))
        client = openai.OpenAI(base_url="http://localhost/v1", api_key="unused", http_client=http)
        r = client.responses.create(model=MODEL, input="over the socket")
        check("unix socket", r.output_text == "turn 1: over the socket", r.output_text)
        return
    client = openai.OpenAI()
    if part == "plain":
        plain(client)
    elif part == "tools":
        tools(client)
    try:
        openai.OpenAI(api_key="wrong").models.list()
        check("wrong key refused", False, "listed models with a wrong key")
    except openai.AuthenticationError:
        check("wrong key refused", True)


main()
