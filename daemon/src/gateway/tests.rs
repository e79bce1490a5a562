//! The gateway's logic against an in-memory [`Upstream`]: request shaping, the store,
//! chat translation, passthrough, errors and the guard, over real loopback HTTP.

use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::guard::Door;
use super::upstream::*;
use super::{Gateway, router};
use crate::config::GatewayConfig;

#[derive(Default)]
struct Double {
    calls: Mutex<Vec<UpstreamCall>>,
    fail: Mutex<Option<UpstreamError>>,
    tool_call: Mutex<bool>,
}

fn model(slug: &str, lite: bool) -> ModelInfo {
    ModelInfo {
        slug: slug.into(),
        display_name: slug.into(),
        lite,
        efforts: vec!["low".into(), "medium".into(), "high".into()],
        default_effort: Some("medium".into()),
        supports_verbosity: false,
        default_verbosity: None,
        context_window: Some(1000),
        priority: 1,
    }
}

fn ev(v: Value) -> Result<SseEvent, UpstreamError> {
    Ok(SseEvent {
        event: v.get("type").and_then(Value::as_str).map(str::to_owned),
        data: v.to_string(),
    })
}

impl Upstream for Arc<Double> {
    fn models(&self) -> BoxFuture<'static, Result<Vec<ModelInfo>, UpstreamError>> {
        async { Ok(vec![model("classic", false), model("lite", true)]) }.boxed()
    }
    fn codex_catalog(&self, v: Option<String>) -> BoxFuture<'static, Result<Value, UpstreamError>> {
        async move { Ok(json!({"models": [], "client_version": v})) }.boxed()
    }
    fn send(
        &self,
        call: UpstreamCall,
    ) -> BoxFuture<'static, Result<UpstreamStream, UpstreamError>> {
        let n = {
            let mut c = self.calls.lock().unwrap();
            c.push(call);
            c.len()
        };
        let fail = self.fail.lock().unwrap().take();
        let tool = *self.tool_call.lock().unwrap();
        async move {
            if let Some(e) = fail {
                return Err(e);
            }
            let rid = format!("resp_{n}");
            let item = if tool {
                json!({"id": format!("fc_{n}"), "type": "function_call", "call_id": "call_1", "name": "add", "arguments": "{\"a\":1}"})
            } else {
                json!({"id": format!("msg_{n}"), "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": format!("answer {n}")}]})
            };
            let events = vec![
                ev(json!({"type": "response.created", "response": {"id": rid}})),
                ev(json!({"type": "response.output_item.done", "output_index": 0, "item": item})),
                ev(json!({"type": "response.completed", "response": {"id": rid, "object": "response", "output": [], "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}})),
            ];
            Ok(UpstreamStream {
                headers: vec![("x-codex-primary-used-percent".into(), "12".into())],
                events: futures_util::StreamExt::boxed(futures_util::stream::iter(events)),
            })
        }
        .boxed()
    }
}

struct Running {
    base: String,
    port: u16,
    double: Arc<Double>,
    gw: Arc<Gateway>,
    _dir: tempfile::TempDir,
}

async fn start(door_tcp: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let double = Arc::new(Double::default());
    let gw = Arc::new(Gateway::new(
        GatewayConfig::default(),
        Arc::new(double.clone()),
        dir.path().join("gateway.key"),
    ));
    gw.listening_lock().tcp_enabled = true;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let door = if door_tcp {
        Door::Tcp(port)
    } else {
        Door::Unix
    };
    let app = router(gw.clone(), door);
    tokio::spawn(async move { axum::serve(l, app).await });
    Running {
        base: format!("http://127.0.0.1:{port}"),
        port,
        double,
        gw,
        _dir: dir,
    }
}

async fn post(r: &Running, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", r.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn last_body(r: &Running) -> Value {
    r.double.calls.lock().unwrap().last().unwrap().body.clone()
}

#[tokio::test]
async fn generic_request_is_reshaped_and_assembled() {
    let r = start(false).await;
    let (s, v) = post(&r, "/v1/responses", json!({
        "model": "classic", "input": "hi", "instructions": "be brief",
        "temperature": 0.2, "max_output_tokens": 9, "metadata": {"a": 1},
        "reasoning": {"effort": "xhigh"}, "tools": [{"type": "function", "name": "f", "parameters": {}}],
    })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["output_text"], "answer 1");
    assert_eq!(v["id"], "resp_1");
    let b = last_body(&r);
    assert_eq!(b["store"], false);
    assert_eq!(b["stream"], true);
    assert_eq!(b["include"], json!(["reasoning.encrypted_content"]));
    assert!(
        b.get("temperature").is_none()
            && b.get("max_output_tokens").is_none()
            && b.get("metadata").is_none()
    );
    assert!(b.get("instructions").is_none());
    assert_eq!(b["input"][0]["role"], "developer");
    assert_eq!(b["input"][0]["content"][0]["text"], "be brief");
    assert_eq!(b["input"][1]["role"], "user");
    assert_eq!(b["reasoning"]["effort"], "high");
    assert_eq!(b["tools"][0]["name"], "f");
    assert!(b["prompt_cache_key"].is_string());
}

#[tokio::test]
async fn different_conversations_get_different_cache_keys() {
    let r = start(false).await;
    post(
        &r,
        "/v1/responses",
        json!({"model": "classic", "input": "first topic"}),
    )
    .await;
    post(
        &r,
        "/v1/responses",
        json!({"model": "classic", "input": "second topic"}),
    )
    .await;
    let keys: Vec<String> = r
        .double
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.conversation.clone())
        .collect();
    assert_ne!(keys[0], keys[1]);
}

#[tokio::test]
async fn lite_models_get_tools_as_an_item_and_all_turns() {
    let r = start(false).await;
    let (s, _) = post(&r, "/v1/responses", json!({
        "model": "lite", "input": [{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}],
        "tools": [{"type": "function", "name": "f", "parameters": {}}],
    })).await;
    assert_eq!(s, 200);
    let b = last_body(&r);
    assert!(b.get("tools").is_none());
    assert_eq!(b["reasoning"]["context"], "all_turns");
    assert_eq!(b["input"][0]["type"], "additional_tools");
    assert_eq!(b["input"][0]["tools"][0]["name"], "functions");
    assert_eq!(b["input"][0]["tools"][0]["tools"][0]["name"], "f");
    assert_eq!(b["input"][1]["role"], "developer");
    assert_eq!(b["input"][1]["content"][0]["text"], "sys");
}

#[tokio::test]
async fn previous_response_id_and_item_reference_come_from_the_store() {
    let r = start(false).await;
    let (_, first) = post(
        &r,
        "/v1/responses",
        json!({"model": "classic", "input": "one"}),
    )
    .await;
    let id = first["id"].as_str().unwrap().to_owned();
    let (s, _) = post(
        &r,
        "/v1/responses",
        json!({"model": "classic", "input": "two", "previous_response_id": id}),
    )
    .await;
    assert_eq!(s, 200);
    let b = last_body(&r);
    let texts: Vec<String> = b["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| {
            i.pointer("/content/0/text")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert!(
        texts.ends_with(&["one".into(), "answer 1".into(), "two".into()]),
        "{texts:?}"
    );
    assert!(b.get("previous_response_id").is_none());
    let keys: Vec<String> = r
        .double
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.conversation.clone())
        .collect();
    assert_eq!(keys[0], keys[1], "one conversation, one cache key");
    assert_eq!(b["prompt_cache_key"], keys[1].as_str());
    assert!(
        !b.to_string().contains("\"id\":\"msg_1\""),
        "ids are stripped upstream"
    );
    let (s, _) = post(&r, "/v1/responses", json!({"model": "classic", "input": [{"type": "item_reference", "id": "msg_1"}, {"role": "user", "content": "three"}]})).await;
    assert_eq!(s, 200);
    assert_eq!(last_body(&r)["input"][1]["content"][0]["text"], "answer 1");
    let (s, v) = post(
        &r,
        "/v1/responses",
        json!({"model": "classic", "input": "x", "previous_response_id": "resp_nope"}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["param"], "previous_response_id");
    let (s, _) = post(&r, "/v1/responses", json!({"model": "nope", "input": "x"})).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn streamed_responses_are_relayed_and_stored() {
    let r = start(false).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/responses", r.base))
        .json(&json!({"model": "classic", "input": "hi", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-codex-primary-used-percent"], "12");
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: response.completed"));
    assert!(r.gw.store().conversation("resp_1").is_some());
}

#[tokio::test]
async fn upstream_errors_keep_status_and_headers() {
    let r = start(false).await;
    *r.double.fail.lock().unwrap() = Some(UpstreamError {
        status: 429,
        code: Some("usage_limit_reached".into()),
        message: "You reached the 5-hour limit; it resets at 14:00 UTC.".into(),
        headers: vec![("retry-after".into(), "60".into())],
    });
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/responses", r.base))
        .json(&json!({"model": "classic", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "60");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "usage_limit_reached");
    assert!(v["error"]["message"].as_str().unwrap().contains("resets"));
}

#[tokio::test]
async fn passthrough_leaves_the_body_alone_and_relays_headers() {
    let r = start(false).await;
    let body = json!({"model": "whatever", "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}], "stream": true, "store": false, "instructions": "kept"});
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/responses", r.base))
        .header("originator", "codex_exec")
        .header("session-id", "sess-1")
        .header("x-codex-turn-metadata", "m")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-codex-primary-used-percent"], "12");
    let _ = resp.text().await;
    let call = r.double.calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!(call.body, body);
    assert_eq!(call.conversation, "sess-1");
    assert!(
        call.relay_headers
            .contains(&("x-codex-turn-metadata".into(), "m".into()))
    );
}

#[tokio::test]
async fn chat_completions_translate_both_ways() {
    let r = start(false).await;
    let (s, v) = post(
        &r,
        "/v1/chat/completions",
        json!({"model": "classic", "n": 2, "messages": []}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["param"], "n");
    *r.double.tool_call.lock().unwrap() = true;
    let (s, v) = post(&r, "/v1/chat/completions", json!({
        "model": "classic",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "add"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "add", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "2"},
        ],
        "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "add"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
        "max_tokens": 5,
    })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "add"
    );
    assert_eq!(v["usage"]["total_tokens"], 5);
    let b = last_body(&r);
    assert_eq!(b["input"][0]["role"], "developer");
    assert_eq!(b["input"][2]["type"], "function_call");
    assert_eq!(b["input"][3]["type"], "function_call_output");
    assert_eq!(b["input"][3]["call_id"], "call_0");
    assert_eq!(b["tools"][0]["name"], "add");
    assert_eq!(b["tool_choice"], json!({"type": "function", "name": "add"}));
    assert_eq!(b["text"]["format"]["type"], "json_schema");
    assert!(b.get("max_tokens").is_none());

    *r.double.tool_call.lock().unwrap() = false;
    let text = reqwest::Client::new().post(format!("{}/v1/chat/completions", r.base))
        .json(&json!({"model": "classic", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}))
        .send().await.unwrap().text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(text.contains("\"choices\":[]"));
    assert_eq!(text.matches("\"finish_reason\":\"stop\"").count(), 1);
}

#[tokio::test]
async fn models_list_and_catalog() {
    let r = start(false).await;
    let v: Value = reqwest::get(format!("{}/v1/models", r.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"][0]["id"], "classic");
    let v: Value = reqwest::get(format!("{}/v1/models?client_version=0.171.0", r.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["client_version"], "0.171.0");
    assert_eq!(
        reqwest::get(format!("{}/v1/models/nope", r.base))
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn tcp_guard_refuses_what_it_must() {
    let r = start(true).await;
    let key = r.gw.key(false).unwrap().0;
    let c = reqwest::Client::new();
    let url = format!("{}/v1/models", r.base);
    assert_eq!(c.get(&url).send().await.unwrap().status().as_u16(), 401);
    assert_eq!(
        c.get(&url)
            .bearer_auth("codexd-gw-wrong")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        c.get(&url)
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(&key)
            .header("host", "evil.example:80")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        421
    );
    assert_eq!(
        c.get(format!("http://localhost:{}/v1/models", r.port))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(&key)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(&key)
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(&key)
            .header("sec-fetch-site", "none")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let opt = c
        .request(reqwest::Method::OPTIONS, &url)
        .send()
        .await
        .unwrap();
    assert_eq!(opt.status().as_u16(), 403);
    assert!(opt.headers().get("access-control-allow-origin").is_none());
    let p = c
        .post(format!("{}/v1/responses", r.base))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(p.status().as_u16(), 415);
    let new = r.gw.key(true).unwrap().0;
    assert_eq!(
        c.get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        c.get(&url)
            .bearer_auth(&new)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    r.gw.listening_lock().tcp_enabled = false;
    assert_eq!(
        c.get(&url)
            .bearer_auth(&new)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    assert!(r.gw.status().requests_refused >= 6);
}
