//! `POST /v1/chat/completions`, translated both ways over the generic Responses path:
//! messages → input items (tool calls → `function_call`, tool messages →
//! `function_call_output`), `response_format` → `text.format`, `reasoning_effort` →
//! `reasoning.effort`; and the stream back → `chat.completion.chunk`s (tool calls as argument
//! deltas, reasoning text as `reasoning_content`, exactly one `finish_reason`, a usage chunk
//! with `choices: []` only when `stream_options.include_usage`) or one `chat.completion`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::Gateway;
use super::errors::ApiError;
use super::responses::{self, Recorder, message, sse_response, unfinished};
use super::upstream::{Endpoint, UpstreamCall, UpstreamError};

/// Chat parameters with no Responses counterpart the backend takes: dropped.
const DROPPED: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "seed",
    "stop",
    "user",
    "metadata",
    "modalities",
    "audio",
    "prediction",
    "service_tier",
    "store",
    "web_search_options",
];

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn user_parts(content: &Value) -> Vec<Value> {
    match content {
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => Some(json!({"type": "input_text", "text": p.get("text").cloned().unwrap_or(json!(""))})),
                Some("image_url") => {
                    let iu = p.get("image_url")?;
                    let url = iu.get("url").or(Some(iu)).and_then(Value::as_str)?;
                    let mut part = json!({"type": "input_image", "image_url": url});
                    if let Some(d) = iu.get("detail") {
                        part["detail"] = d.clone();
                    }
                    Some(part)
                }
                _ => None,
            })
            .collect(),
        other => vec![json!({"type": "input_text", "text": text_of(other)})],
    }
}

/// Chat request → generic Responses request.
pub fn to_responses(chat: &Value, gw: &Gateway) -> Result<Value, ApiError> {
    let Some(obj) = chat.as_object() else {
        return Err(ApiError::invalid(
            None,
            "The request body must be a JSON object.",
        ));
    };
    if let Some(n) = obj.get("n").and_then(Value::as_u64)
        && n > 1
    {
        return Err(ApiError::invalid(
            Some("n"),
            "The codexd gateway returns one choice per request (`n` must be 1).",
        ));
    }
    let Some(messages) = obj.get("messages").and_then(Value::as_array) else {
        return Err(ApiError::invalid(
            Some("messages"),
            "Missing required parameter: 'messages'.",
        ));
    };
    let mut input = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        input.extend(message_items(i, m)?);
    }
    let mut out = Map::new();
    if let Some(m) = obj.get("model") {
        out.insert("model".into(), m.clone());
    }
    out.insert("input".into(), Value::Array(input));
    if let Some(tools) = function_tools(obj) {
        out.insert("tools".into(), tools);
    }
    if let Some(choice) = tool_choice(obj) {
        out.insert("tool_choice".into(), choice);
    }
    if let Some(p) = obj.get("parallel_tool_calls") {
        out.insert("parallel_tool_calls".into(), p.clone());
    }
    if let Some(text) = text_options(obj) {
        out.insert("text".into(), text);
    }
    out.insert("reasoning".into(), reasoning(obj));
    if let Some(k) = obj.get("prompt_cache_key") {
        out.insert("prompt_cache_key".into(), k.clone());
    }
    for p in DROPPED {
        if obj.contains_key(*p) {
            gw.log_drop_once(p);
        }
    }
    Ok(Value::Object(out))
}

/// The input items for chat message `i`: system/developer → a developer message, user → a
/// user message (text and image parts), assistant → its text (if any) then one
/// `function_call` per tool call, tool → a `function_call_output`. Any other role is refused.
fn message_items(i: usize, m: &Value) -> Result<Vec<Value>, ApiError> {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    let content = m.get("content").unwrap_or(&Value::Null);
    Ok(match role {
        "system" | "developer" => vec![message("developer", &text_of(content))],
        "user" => vec![json!({"type": "message", "role": "user", "content": user_parts(content)})],
        "assistant" => assistant_items(m, content),
        "tool" => vec![json!({
            "type": "function_call_output",
            "call_id": m.get("tool_call_id").cloned().unwrap_or(json!("")),
            "output": text_of(content),
        })],
        _ => {
            return Err(ApiError::invalid(
                Some(&format!("messages[{i}].role")),
                format!("Unsupported message role '{role}'."),
            ));
        }
    })
}

/// An assistant chat message as input items: its text as a message (left out when empty),
/// then its `tool_calls` as `function_call` items in order.
fn assistant_items(m: &Value, content: &Value) -> Vec<Value> {
    let mut items = Vec::new();
    let text = text_of(content);
    if !text.is_empty() {
        items.push(message("assistant", &text));
    }
    for call in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = call.get("function").unwrap_or(&Value::Null);
        items.push(json!({
            "type": "function_call",
            "call_id": call.get("id").cloned().unwrap_or(json!("")),
            "name": f.get("name").cloned().unwrap_or(json!("")),
            "arguments": f.get("arguments").cloned().unwrap_or(json!("{}")),
        }));
    }
    items
}

/// The chat `tools` as flat Responses function tools (name, description, parameters,
/// strict); `None` when there are none with a function name.
fn function_tools(obj: &Map<String, Value>) -> Option<Value> {
    let tools = obj.get("tools").and_then(Value::as_array)?;
    let mapped: Vec<Value> = tools
        .iter()
        .filter_map(|t| {
            let f = t.get("function")?;
            let mut tool = json!({"type": "function", "name": f.get("name")?});
            for k in ["description", "parameters", "strict"] {
                if let Some(v) = f.get(k) {
                    tool[k] = v.clone();
                }
            }
            Some(tool)
        })
        .collect();
    (!mapped.is_empty()).then(|| json!(mapped))
}

/// The chat `tool_choice` in Responses form: a named function flattened to
/// `{type: function, name}`, a string (`auto`, `none`, `required`) as is.
fn tool_choice(obj: &Map<String, Value>) -> Option<Value> {
    match obj.get("tool_choice") {
        Some(Value::Object(tc)) => {
            let name = tc.get("function").and_then(|f| f.get("name"))?;
            Some(json!({"type": "function", "name": name}))
        }
        Some(v @ Value::String(_)) => Some(v.clone()),
        _ => None,
    }
}

/// The Responses `text` options: `response_format` as `text.format` and `verbosity`;
/// `None` when the request sets neither.
fn text_options(obj: &Map<String, Value>) -> Option<Value> {
    let mut text = Map::new();
    if let Some(format) = obj.get("response_format").and_then(text_format) {
        text.insert("format".into(), format);
    }
    if let Some(v) = obj.get("verbosity") {
        text.insert("verbosity".into(), v.clone());
    }
    (!text.is_empty()).then_some(Value::Object(text))
}

/// A chat `response_format` as a Responses `text.format`: `json_schema` flattened (name,
/// schema, strict, description), `json_object` and `text` as is, anything else ignored.
fn text_format(rf: &Value) -> Option<Value> {
    match rf.get("type").and_then(Value::as_str) {
        Some("json_schema") => {
            let js = rf.get("json_schema").unwrap_or(&Value::Null);
            let mut f = json!({"type": "json_schema"});
            for k in ["name", "schema", "strict", "description"] {
                if let Some(v) = js.get(k) {
                    f[k] = v.clone();
                }
            }
            Some(f)
        }
        Some(t @ ("json_object" | "text")) => Some(json!({"type": t})),
        _ => None,
    }
}

/// The Responses `reasoning`: summaries always asked for (they become
/// `reasoning_content`), with `reasoning_effort` (or `reasoning.effort`) when given.
fn reasoning(obj: &Map<String, Value>) -> Value {
    let effort = obj
        .get("reasoning_effort")
        .or_else(|| obj.get("reasoning").and_then(|r| r.get("effort")));
    let mut reasoning = json!({"summary": "auto"});
    if let Some(e) = effort {
        reasoning["effort"] = e.clone();
    }
    reasoning
}

/// Responses usage → chat usage.
pub fn usage(u: &Value) -> Value {
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    json!({
        "prompt_tokens": n("/input_tokens"),
        "completion_tokens": n("/output_tokens"),
        "total_tokens": n("/total_tokens").max(n("/input_tokens") + n("/output_tokens")),
        "prompt_tokens_details": {"cached_tokens": n("/input_tokens_details/cached_tokens")},
        "completion_tokens_details": {"reasoning_tokens": n("/output_tokens_details/reasoning_tokens")},
    })
}

fn finish_reason(response: Option<&Value>, any_tool: bool) -> &'static str {
    if any_tool {
        return "tool_calls";
    }
    match response
        .and_then(|r| r.pointer("/incomplete_details/reason"))
        .and_then(Value::as_str)
    {
        Some("max_output_tokens") => "length",
        Some("content_filter") => "content_filter",
        _ => "stop",
    }
}

/// Turns Responses events into chat chunks.
pub struct ChunkTranslator {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    tool_index: HashMap<u64, usize>,
    args_seen: HashSet<u64>,
    text_seen: HashSet<u64>,
    any_tool: bool,
    /// The finish chunk was sent.
    pub finished: bool,
}

impl ChunkTranslator {
    /// For one request.
    pub fn new(model: &str, include_usage: bool) -> Self {
        Self {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created: crate::now_unix(),
            model: model.to_owned(),
            include_usage,
            tool_index: HashMap::new(),
            args_seen: HashSet::new(),
            text_seen: HashSet::new(),
            any_tool: false,
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    /// The opening chunk (role).
    pub fn start(&self) -> Value {
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    fn tool_slot(&mut self, output_index: u64) -> (usize, bool) {
        let next = self.tool_index.len();
        let mut fresh = false;
        let idx = *self.tool_index.entry(output_index).or_insert_with(|| {
            fresh = true;
            next
        });
        self.any_tool = true;
        (idx, fresh)
    }

    /// Chunks for one event.
    pub fn on_event(&mut self, v: &Value) -> Vec<Value> {
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        let oi = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
        let item = v.get("item").unwrap_or(&Value::Null);
        let item_type = item.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "response.output_text.delta" => {
                self.text_seen.insert(oi);
                let d = v.get("delta").and_then(Value::as_str).unwrap_or("");
                vec![self.chunk(json!({"content": d}), None)]
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let d = v.get("delta").and_then(Value::as_str).unwrap_or("");
                vec![self.chunk(json!({"reasoning_content": d}), None)]
            }
            "response.output_item.added" if item_type == "function_call" => {
                let (idx, _) = self.tool_slot(oi);
                vec![self.chunk(
                    json!({"tool_calls": [{
                        "index": idx, "id": item.get("call_id"), "type": "function",
                        "function": {"name": item.get("name"), "arguments": ""},
                    }]}),
                    None,
                )]
            }
            "response.function_call_arguments.delta" => {
                let (idx, _) = self.tool_slot(oi);
                self.args_seen.insert(oi);
                let d = v.get("delta").and_then(Value::as_str).unwrap_or("");
                vec![self.chunk(
                    json!({"tool_calls": [{"index": idx, "function": {"arguments": d}}]}),
                    None,
                )]
            }
            "response.output_item.done" if item_type == "function_call" => {
                let (idx, fresh) = self.tool_slot(oi);
                let mut out = Vec::new();
                if fresh {
                    out.push(self.chunk(
                        json!({"tool_calls": [{
                            "index": idx, "id": item.get("call_id"), "type": "function",
                            "function": {"name": item.get("name"), "arguments": ""},
                        }]}),
                        None,
                    ));
                }
                if !self.args_seen.contains(&oi) {
                    out.push(self.chunk(
                        json!({"tool_calls": [{"index": idx, "function": {"arguments": item.get("arguments").cloned().unwrap_or(json!(""))}}]}),
                        None,
                    ));
                }
                out
            }
            "response.output_item.done"
                if item_type == "message" && !self.text_seen.contains(&oi) =>
            {
                let text = text_of(item.get("content").unwrap_or(&Value::Null));
                if text.is_empty() {
                    Vec::new()
                } else {
                    vec![self.chunk(json!({"content": text}), None)]
                }
            }
            "response.completed" | "response.incomplete" => {
                self.finished = true;
                let r = v.get("response");
                let mut out = vec![self.chunk(json!({}), Some(finish_reason(r, self.any_tool)))];
                if self.include_usage {
                    let u = r
                        .and_then(|r| r.get("usage"))
                        .map(usage)
                        .unwrap_or(Value::Null);
                    out.push(json!({
                        "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": u,
                    }));
                }
                out
            }
            _ => Vec::new(),
        }
    }
}

fn data_frame(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn error_data(e: &UpstreamError) -> Bytes {
    data_frame(&ApiError::from(e.clone()).body())
}

/// A finished Responses stream → one `chat.completion`.
pub fn completion(rec: &Recorder, model: &str) -> Value {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for item in &rec.outcome.output {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                content.push_str(&text_of(item.get("content").unwrap_or(&Value::Null)))
            }
            Some("reasoning") => {
                reasoning.push_str(&text_of(item.get("summary").unwrap_or(&Value::Null)));
            }
            Some("function_call") => tool_calls.push(json!({
                "id": item.get("call_id"), "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            })),
            _ => {}
        }
    }
    let response = rec.outcome.response.as_ref();
    let mut msg = json!({"role": "assistant", "content": if content.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(content) }});
    if !tool_calls.is_empty() {
        msg["tool_calls"] = json!(tool_calls);
    }
    if !reasoning.is_empty() {
        msg["reasoning_content"] = json!(reasoning);
    }
    json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": crate::now_unix(),
        "model": model,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish_reason(response, !tool_calls.is_empty())}],
        "usage": response.and_then(|r| r.get("usage")).map(usage).unwrap_or(Value::Null),
    })
}

/// The handler.
pub async fn handle(gw: Arc<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let chat: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::invalid(None, format!("The request body is not valid JSON: {e}"))
                .into_response();
        }
    };
    let wants_stream = chat.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = chat
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let conversation_for_log = responses::conversation_key(&headers, &chat);
    gw.record(&conversation_for_log, "gateway-chat-request", &chat);
    let generic = match to_responses(&chat, &gw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let prepared = match responses::prepare(&gw, generic, &headers).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let model = prepared.model.clone();
    let call = UpstreamCall {
        endpoint: Endpoint::Responses,
        body: prepared.body,
        conversation: prepared.conversation,
        relay_headers: Vec::new(),
    };
    gw.record(
        &conversation_for_log,
        "gateway-upstream-request",
        &call.body,
    );
    let stream = match gw.send(call).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let headers = stream.headers.clone();
    if !wants_stream {
        let rec = responses::collect(stream).await;
        gw.record_outcome(&conversation_for_log, &rec);
        if let Some(e) = rec.outcome.error.clone() {
            return ApiError::from(e).into_response();
        }
        return responses::with_headers(
            axum::Json(completion(&rec, &model)).into_response(),
            &headers,
        );
    }
    let tr = ChunkTranslator::new(&model, include_usage);
    let first = data_frame(&tr.start());
    // Records the answer in the opt-in request logs when the stream ends (or the client goes).
    let log = LogOnDrop {
        gw: gw.clone(),
        conversation: conversation_for_log,
        rec: Recorder::default(),
    };
    let body = futures_util::stream::unfold(
        (stream.events, tr, Some(first), false, log),
        |(mut events, mut tr, first, done, mut log)| async move {
            if let Some(f) = first {
                return Some((vec![f], (events, tr, None, false, log)));
            }
            if done {
                return None;
            }
            let frames = match events.next().await {
                Some(Ok(ev)) => {
                    log.rec.see(&ev);
                    let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
                        return Some((Vec::new(), (events, tr, None, false, log)));
                    };
                    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
                    if matches!(kind, "response.failed" | "error") {
                        let mut rec = Recorder::default();
                        rec.see(&ev);
                        let e = rec.outcome.error.unwrap_or_else(unfinished);
                        return Some((
                            vec![error_data(&e), Bytes::from("data: [DONE]\n\n")],
                            (events, tr, None, true, log),
                        ));
                    }
                    let mut frames: Vec<Bytes> = tr.on_event(&v).iter().map(data_frame).collect();
                    if tr.finished {
                        frames.push(Bytes::from("data: [DONE]\n\n"));
                        return Some((frames, (events, tr, None, true, log)));
                    }
                    frames
                }
                Some(Err(e)) => {
                    return Some((
                        vec![error_data(&e), Bytes::from("data: [DONE]\n\n")],
                        (events, tr, None, true, log),
                    ));
                }
                None => {
                    return Some((
                        vec![error_data(&unfinished()), Bytes::from("data: [DONE]\n\n")],
                        (events, tr, None, true, log),
                    ));
                }
            };
            Some((frames, (events, tr, None, false, log)))
        },
    )
    .flat_map(|frames| {
        futures_util::stream::iter(frames.into_iter().map(Ok::<_, std::convert::Infallible>))
    });
    sse_response(Body::from_stream(body), &headers)
}

/// What a streamed completion sent, recorded when the stream is dropped: at its end, or when
/// the client went away mid-answer.
struct LogOnDrop {
    gw: Arc<Gateway>,
    conversation: String,
    rec: Recorder,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.gw.record_outcome(&self.conversation, &self.rec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_become_input_items() {
        let assistant = json!({"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "function": {"name": "f", "arguments": "{}"}}
        ]});
        let items = message_items(0, &assistant).unwrap();
        assert_eq!(items.len(), 1, "empty assistant text is left out");
        assert_eq!(items[0]["type"], "function_call");
        assert_eq!(items[0]["call_id"], "call_1");
        let tool = json!({"role": "tool", "tool_call_id": "call_1", "content": "ok"});
        assert_eq!(
            message_items(1, &tool).unwrap()[0]["type"],
            "function_call_output"
        );
        let system = json!({"role": "system", "content": "be brief"});
        assert_eq!(message_items(2, &system).unwrap()[0]["role"], "developer");
        assert!(message_items(3, &json!({"role": "robot", "content": "x"})).is_err());
    }

    #[test]
    fn tools_choice_format_and_reasoning_map_to_responses_fields() {
        let chat = json!({
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {}}},
            "reasoning_effort": "low",
        });
        let obj = chat.as_object().unwrap();
        assert_eq!(function_tools(obj).unwrap()[0]["name"], "f");
        assert_eq!(
            tool_choice(obj).unwrap(),
            json!({"type": "function", "name": "f"})
        );
        let text = text_options(obj).unwrap();
        assert_eq!(text["format"]["type"], "json_schema");
        assert_eq!(text["format"]["name"], "s");
        assert_eq!(reasoning(obj), json!({"summary": "auto", "effort": "low"}));
        let empty = Map::new();
        assert!(function_tools(&empty).is_none());
        assert!(tool_choice(&empty).is_none());
        assert!(text_options(&empty).is_none());
        assert_eq!(reasoning(&empty), json!({"summary": "auto"}));
    }

    #[test]
    fn tool_calls_stream_as_argument_deltas_with_one_finish() {
        let mut t = ChunkTranslator::new("m", true);
        let mut chunks = Vec::new();
        for ev in [
            json!({"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":""}}),
            json!({"type":"response.function_call_arguments.delta","output_index":0,"delta":"{\"city\":"}),
            json!({"type":"response.function_call_arguments.delta","output_index":0,"delta":"\"Oslo\"}"}),
            json!({"type":"response.output_item.done","output_index":0,"item":{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}),
            json!({"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}}}),
        ] {
            chunks.extend(t.on_event(&ev));
        }
        assert_eq!(
            chunks[0]["choices"][0]["delta"]["tool_calls"][0]["id"],
            "call_1"
        );
        let args: String = chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                    .and_then(Value::as_str)
            })
            .collect();
        assert_eq!(args, "{\"city\":\"Oslo\"}");
        let finishes: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c.pointer("/choices/0/finish_reason"))
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finishes, vec![&json!("tool_calls")]);
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["total_tokens"], 8);
    }

    #[test]
    fn no_usage_chunk_unless_asked_and_text_only_in_done_is_sent() {
        let mut t = ChunkTranslator::new("m", false);
        let c = t.on_event(&json!({"type":"response.output_item.done","output_index":1,"item":{"type":"message","content":[{"type":"output_text","text":"hello"}]}}));
        assert_eq!(c[0]["choices"][0]["delta"]["content"], "hello");
        let c = t.on_event(&json!({"type":"response.completed","response":{}}));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["choices"][0]["finish_reason"], "stop");
    }
}
