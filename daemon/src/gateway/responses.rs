//! `POST /v1/responses`: the generic translation (any OpenAI Responses client) and the
//! passthrough (Codex clients), streamed or assembled into one JSON reply, and the record of
//! each finished response in the [`super::store`].
//!
//! Generic requests are reshaped into what the Codex backend accepts (upstream.md §5): a
//! string `input` becomes a user message, `system` items and `instructions` become developer
//! messages, `store: false` and an upstream stream are forced, encrypted reasoning is
//! included, unsupported parameters are dropped (each logged once at debug), efforts are
//! clamped to the model's, and lite models get their function tools in an `additional_tools`
//! item with `reasoning.context = "all_turns"`. Passthrough bodies go unchanged.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::Digest;

use super::Gateway;
use super::errors::ApiError;
use super::upstream::{Endpoint, ModelInfo, SseEvent, UpstreamCall, UpstreamError, UpstreamStream};

/// Parameters the backend answers with 400 "Unsupported parameter": dropped.
pub const DROPPED: &[&str] = &[
    "max_output_tokens",
    "temperature",
    "top_p",
    "metadata",
    "truncation",
    "previous_response_id",
];

/// Effort levels from least to most, to clamp an unsupported one to a neighbour.
const EFFORT_ORDER: &[&str] = &[
    "none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra",
];

/// Used when a request carries no instructions at all: the backend expects the first input
/// item to be a developer message.
const DEFAULT_INSTRUCTIONS: &str = "You are a helpful assistant.";

/// A request ready for the backend.
pub struct Prepared {
    /// The upstream body.
    pub body: Value,
    /// Conversation key.
    pub conversation: String,
    /// The conversation items (previous response + this input), kept for the store.
    pub conversation_items: Vec<Value>,
    /// Model slug.
    pub model: String,
}

/// Client headers relayed to the backend.
pub fn relay_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k.starts_with("x-codex-")
                || matches!(
                    k,
                    "session-id" | "session_id" | "thread-id" | "x-client-request-id"
                )
        })
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// The conversation key for prompt caching: a session header, else `prompt_cache_key`, else
/// a hash of the first user message (stable across the turns of one conversation).
pub fn conversation_key(headers: &HeaderMap, body: &Value) -> String {
    for name in ["session-id", "session_id", "x-session-id"] {
        if let Some(v) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
        {
            return v.trim().to_owned();
        }
    }
    if let Some(k) = body
        .get("prompt_cache_key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
    {
        return k.to_owned();
    }
    let first_user = match body.get("input") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .find(|i| i.get("role").and_then(Value::as_str) == Some("user"))
            .map(|i| i.get("content").map(Value::to_string).unwrap_or_default())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let hash = sha2::Sha256::digest(first_user.as_bytes());
    let b = &hash[..16];
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether a request comes from a Codex client (body goes through unchanged).
pub fn is_passthrough(headers: &HeaderMap, gateway: &Gateway) -> bool {
    let originator = headers
        .get("originator")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    originator.starts_with("codex_")
        || originator == "Codex Desktop"
        || gateway
            .config()
            .passthrough_originators
            .iter()
            .any(|o| o == originator)
}

fn text_part(role: &str, text: &str) -> Value {
    let kind = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    json!({ "type": kind, "text": text })
}

/// A message item.
pub fn message(role: &str, text: &str) -> Value {
    json!({ "type": "message", "role": role, "content": [text_part(role, text)] })
}

/// Normalise one input item: `system` → `developer`, a missing `type` on a message, string
/// content into parts.
fn normalise_item(mut item: Value) -> Value {
    let Value::Object(m) = &mut item else {
        return item;
    };
    if let Some(role) = m.get("role").and_then(Value::as_str).map(str::to_owned) {
        let role = if role == "system" {
            "developer".to_owned()
        } else {
            role
        };
        m.insert("role".into(), json!(role));
        if !m.contains_key("type") {
            m.insert("type".into(), json!("message"));
        }
        if m.get("type").and_then(Value::as_str) == Some("message")
            && let Some(Value::String(text)) = m.get("content")
        {
            let part = text_part(&role, text);
            m.insert("content".into(), json!([part]));
        }
    }
    item
}

/// Clamp `effort` to what the model lists: the nearest supported level at or below it, else
/// the lowest supported.
pub fn clamp_effort(effort: &str, model: &ModelInfo) -> String {
    if model.efforts.is_empty() || model.efforts.iter().any(|e| e == effort) {
        return effort.to_owned();
    }
    let rank = |e: &str| EFFORT_ORDER.iter().position(|x| *x == e);
    let want = rank(effort).unwrap_or(3);
    let mut supported: Vec<(usize, &String)> = model
        .efforts
        .iter()
        .filter_map(|e| Some((rank(e)?, e)))
        .collect();
    supported.sort();
    supported
        .iter()
        .rev()
        .find(|(r, _)| *r <= want)
        .or_else(|| supported.first())
        .map(|(_, e)| (*e).clone())
        .unwrap_or_else(|| model.efforts[0].clone())
}

/// Turn a generic Responses request into the backend's shape.
pub async fn prepare(
    gateway: &Gateway,
    mut body: Value,
    headers: &HeaderMap,
) -> Result<Prepared, ApiError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ApiError::invalid(
            None,
            "The request body must be a JSON object.",
        ));
    };
    let models = gateway.models().await.map_err(ApiError::from)?;
    let (model, info) = resolve_model(obj, &models)?;
    obj.insert("model".into(), json!(model));

    let items = conversation_so_far(gateway, obj)?;
    let conversation_items = items.clone();
    let mut upstream_input = leading_instructions(obj, &items);

    force_backend_parameters(gateway, obj);
    if let Some(info) = &info {
        fit_to_model(gateway, obj, info);
    }
    if info.as_ref().is_some_and(|m| m.lite) {
        shape_for_lite(gateway, obj, &mut upstream_input);
    }

    // Keyed on the whole conversation (a previous response's items included), so every turn
    // of one conversation gets the same key even when it sends only its new input.
    let conversation = conversation_key(
        headers,
        &json!({
            "prompt_cache_key": body.get("prompt_cache_key"),
            "input": conversation_items,
        }),
    );
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid(None, "bad body"))?;
    if !obj.contains_key("prompt_cache_key") {
        obj.insert("prompt_cache_key".into(), json!(conversation));
    }
    let mut sent = items;
    sent.iter_mut().for_each(crate::backend::items::strip_ids);
    upstream_input.extend(sent);
    obj.insert("input".into(), Value::Array(upstream_input));
    Ok(Prepared {
        body,
        conversation,
        conversation_items,
        model,
    })
}

/// Which model the request runs on: the one it names, else the account's first; a named
/// model the account does not offer is refused with the list it does offer. The model's
/// info is `None` only when the account lists no models at all (nothing to check against).
fn resolve_model(
    obj: &serde_json::Map<String, Value>,
    models: &[ModelInfo],
) -> Result<(String, Option<ModelInfo>), ApiError> {
    let model = match obj.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => models.first().map(|m| m.slug.clone()).ok_or_else(|| {
            ApiError::invalid(Some("model"), "Missing required parameter: 'model'.")
        })?,
    };
    let info = models.iter().find(|m| m.slug == model).cloned();
    if info.is_none() && !models.is_empty() {
        let offered: Vec<&str> = models.iter().map(|m| m.slug.as_str()).collect();
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!(
                "The model '{model}' is not offered to this ChatGPT account. Models it may use: {}.",
                offered.join(", ")
            ),
        )
        .with_param(Some("model")));
    }
    Ok((model, info))
}

/// The conversation so far: a stored previous response's items, then this request's
/// `input` (taken out of the body) with item references expanded from the store and each
/// item normalised. Unknown references and an empty conversation are refused.
fn conversation_so_far(
    gateway: &Gateway,
    obj: &mut serde_json::Map<String, Value>,
) -> Result<Vec<Value>, ApiError> {
    let mut items: Vec<Value> = Vec::new();
    if let Some(prev) = obj.get("previous_response_id").and_then(Value::as_str) {
        match gateway.store().conversation(prev) {
            Some(c) => items.extend(c.iter().cloned()),
            None => {
                return Err(ApiError::invalid(
                    Some("previous_response_id"),
                    format!(
                        "Previous response '{prev}' is not known to the codexd gateway (it keeps only recent responses in memory, and none across restarts). Send the whole conversation as `input` instead."
                    ),
                ));
            }
        }
    }
    match obj.remove("input") {
        Some(Value::String(s)) => items.push(message("user", &s)),
        Some(Value::Array(list)) => {
            for item in list {
                items.push(expand_input_item(gateway, item)?);
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                Some("input"),
                "`input` must be a string or an array of items.",
            ));
        }
    }
    if items.is_empty() {
        return Err(ApiError::invalid(
            Some("input"),
            "Missing required parameter: 'input'.",
        ));
    }
    Ok(items)
}

/// One `input` item as the backend gets it: an `item_reference` is replaced by the stored
/// item (refused when the store no longer has it), anything else is normalised.
fn expand_input_item(gateway: &Gateway, item: Value) -> Result<Value, ApiError> {
    if item.get("type").and_then(Value::as_str) != Some("item_reference") {
        return Ok(normalise_item(item));
    }
    let id = item.get("id").and_then(Value::as_str).unwrap_or("");
    gateway.store().item(id).ok_or_else(|| {
        ApiError::invalid(
            Some("input"),
            format!(
                "Item '{id}' is not known to the codexd gateway (it keeps only recent responses in memory). Send the item itself instead of a reference."
            ),
        )
    })
}

/// The developer message that opens the upstream input: the request's `instructions`
/// (taken out of the body), else a default one when the conversation carries no developer
/// message of its own (the backend expects one first), else nothing.
fn leading_instructions(obj: &mut serde_json::Map<String, Value>, items: &[Value]) -> Vec<Value> {
    let instructions = obj
        .remove("instructions")
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|s| !s.trim().is_empty());
    let has_developer = items
        .iter()
        .any(|i| i.get("role").and_then(Value::as_str) == Some("developer"));
    match instructions {
        Some(text) => vec![message("developer", &text)],
        None if !has_developer => vec![message("developer", DEFAULT_INSTRUCTIONS)],
        None => Vec::new(),
    }
}

/// What the backend insists on whatever the model: the [`DROPPED`] parameters removed
/// (each logged once), `store: false`, an upstream stream, and encrypted reasoning included.
fn force_backend_parameters(gateway: &Gateway, obj: &mut serde_json::Map<String, Value>) {
    for p in DROPPED {
        if obj.remove(*p).is_some() {
            gateway.log_drop_once(p);
        }
    }
    obj.insert("store".into(), json!(false));
    obj.insert("stream".into(), json!(true));
    let mut include: Vec<Value> = obj
        .get("include")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !include.iter().any(|v| v == "reasoning.encrypted_content") {
        include.push(json!("reasoning.encrypted_content"));
    }
    obj.insert("include".into(), json!(include));
}

/// What the model accepts: a reasoning effort it does not list is clamped to one it does
/// ([`clamp_effort`]), and `text.verbosity` is dropped for a model without verbosity.
fn fit_to_model(gateway: &Gateway, obj: &mut serde_json::Map<String, Value>, info: &ModelInfo) {
    if let Some(effort) = obj
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
        .map(str::to_owned)
    {
        let clamped = clamp_effort(&effort, info);
        if clamped != effort {
            tracing::debug!(target: "codexd::gateway", model = %info.slug, asked = %effort, sent = %clamped, "reasoning effort clamped to the model's levels");
            obj["reasoning"]["effort"] = json!(clamped);
        }
    }
    if !info.supports_verbosity
        && let Some(text) = obj.get_mut("text").and_then(Value::as_object_mut)
        && text.remove("verbosity").is_some()
    {
        gateway.log_drop_once("text.verbosity");
    }
}

/// The lite-model shape: `reasoning.context = "all_turns"`, and `tools` taken out of the
/// body, its function tools moved into an `additional_tools` item put first in the upstream
/// input (other tool kinds are dropped, logged once).
fn shape_for_lite(
    gateway: &Gateway,
    obj: &mut serde_json::Map<String, Value>,
    upstream_input: &mut Vec<Value>,
) {
    if !obj.get("reasoning").is_some_and(Value::is_object) {
        obj.insert("reasoning".into(), json!({}));
    }
    obj["reasoning"]["context"] = json!("all_turns");
    let Some(Value::Array(tools)) = obj.remove("tools") else {
        return;
    };
    let (functions, other): (Vec<Value>, Vec<Value>) = tools
        .into_iter()
        .partition(|t| t.get("type").and_then(Value::as_str) == Some("function"));
    if !other.is_empty() {
        gateway.log_drop_once("tools (non-function, lite model)");
    }
    if !functions.is_empty() {
        upstream_input.insert(0, additional_tools(functions));
    }
}

/// The `additional_tools` developer item a lite model reads its function tools from.
fn additional_tools(functions: Vec<Value>) -> Value {
    json!({
        "type": "additional_tools",
        "role": "developer",
        "tools": [{
            "type": "namespace",
            "name": "functions",
            "description": "",
            "tools": functions,
        }],
    })
}

/// What a finished stream produced.
#[derive(Default)]
pub struct Outcome {
    /// Response id.
    pub id: Option<String>,
    /// Output items from `response.output_item.done`, in order.
    pub output: Vec<Value>,
    /// The final `response` object (completed or incomplete).
    pub response: Option<Value>,
    /// A failure (`response.failed`, `error`, a transport error, or no completion).
    pub error: Option<UpstreamError>,
}

/// Follows a stream's events to learn its outcome.
#[derive(Default)]
pub struct Recorder {
    /// What is known so far.
    pub outcome: Outcome,
    /// `response.completed`/`incomplete`/`failed` or an error was seen.
    pub finished: bool,
}

/// Status for a `response.failed` / `error` code.
pub fn status_for_code(code: &str) -> u16 {
    match code {
        "context_length_exceeded" | "invalid_prompt" | "invalid_request_error" => 400,
        "rate_limit_exceeded" | "insufficient_quota" | "usage_limit_reached" => 429,
        "usage_not_included" => 403,
        "server_is_overloaded" | "slow_down" => 503,
        _ => 502,
    }
}

impl Recorder {
    /// Look at one event.
    pub fn see(&mut self, ev: &SseEvent) -> Option<Value> {
        let v: Value = serde_json::from_str(&ev.data).ok()?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or("");
        match kind {
            "response.created" | "response.in_progress" => {
                if let Some(id) = v.pointer("/response/id").and_then(Value::as_str) {
                    self.outcome.id = Some(id.to_owned());
                }
            }
            "response.output_item.done" => {
                if let Some(item) = v.get("item") {
                    self.outcome.output.push(item.clone());
                }
            }
            "response.completed" | "response.incomplete" => {
                self.finished = true;
                if let Some(r) = v.get("response") {
                    if let Some(id) = r.get("id").and_then(Value::as_str) {
                        self.outcome.id = Some(id.to_owned());
                    }
                    self.outcome.response = Some(r.clone());
                }
            }
            "response.failed" | "error" => {
                self.finished = true;
                let err = v
                    .pointer("/response/error")
                    .or_else(|| v.get("error"))
                    .unwrap_or(&v);
                let code = err.get("code").and_then(Value::as_str).map(str::to_owned);
                let message = err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("The backend could not answer this request.")
                    .to_owned();
                self.outcome.error = Some(UpstreamError {
                    status: code.as_deref().map_or(502, status_for_code),
                    code,
                    message,
                    headers: Vec::new(),
                });
            }
            _ => {}
        }
        Some(v)
    }

    /// The final response object with its output filled in from the items.
    pub fn final_response(&self) -> Option<Value> {
        let mut r = self.outcome.response.clone()?;
        let empty = r
            .get("output")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if empty && let Some(o) = r.as_object_mut() {
            o.insert("output".into(), json!(self.outcome.output));
        }
        if let Some(o) = r.as_object_mut() {
            let text: String = self
                .outcome
                .output
                .iter()
                .filter(|i| i.get("type").and_then(Value::as_str) == Some("message"))
                .flat_map(|i| {
                    i.get("content")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_owned))
                .collect();
            o.insert("output_text".into(), json!(text));
        }
        Some(r)
    }
}

/// Announces content parts the backend streamed into without announcing them: SDKs that
/// accumulate a response (the `openai` Python SDK's `responses.stream`) index into the parts
/// a `response.content_part.added` / `response.reasoning_summary_part.added` created, and
/// fail on a delta for a part they never saw.
#[derive(Default)]
pub struct PartFiller {
    text: std::collections::HashSet<(u64, u64)>,
    summary: std::collections::HashSet<(u64, u64)>,
}

impl PartFiller {
    /// The event to send before `v`, if one is missing.
    pub fn before(&mut self, v: &Value) -> Option<Value> {
        let kind = v.get("type").and_then(Value::as_str)?;
        let oi = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
        let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let base = |t: &str| {
            let mut e = json!({"type": t, "item_id": v.get("item_id"), "output_index": oi});
            if let Some(n) = v.get("sequence_number") {
                e["sequence_number"] = n.clone();
            }
            e
        };
        match kind {
            "response.content_part.added" => {
                self.text.insert((oi, num("content_index")));
                None
            }
            "response.reasoning_summary_part.added" => {
                self.summary.insert((oi, num("summary_index")));
                None
            }
            "response.output_text.delta" if self.text.insert((oi, num("content_index"))) => {
                let mut e = base("response.content_part.added");
                e["content_index"] = json!(num("content_index"));
                e["part"] = json!({"type": "output_text", "text": "", "annotations": []});
                Some(e)
            }
            "response.reasoning_summary_text.delta"
                if self.summary.insert((oi, num("summary_index"))) =>
            {
                let mut e = base("response.reasoning_summary_part.added");
                e["summary_index"] = json!(num("summary_index"));
                e["part"] = json!({"type": "summary_text", "text": ""});
                Some(e)
            }
            _ => None,
        }
    }
}

/// No completion event before the stream ended.
pub fn unfinished() -> UpstreamError {
    UpstreamError::new(
        502,
        Some("stream_incomplete"),
        "The backend's stream ended before the response completed; try again.",
    )
}

fn sse_frame(event: Option<&str>, data: &str) -> Bytes {
    let mut s = String::with_capacity(data.len() + 32);
    if let Some(e) = event {
        s.push_str("event: ");
        s.push_str(e);
        s.push('\n');
    }
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    Bytes::from(s)
}

/// An SSE `error` event for a failure after the stream began.
pub fn error_frame(e: &UpstreamError) -> Bytes {
    let data = json!({
        "type": "error",
        "code": e.code,
        "message": e.message,
        "param": null,
    });
    sse_frame(Some("error"), &data.to_string())
}

/// Add upstream headers worth relaying to a response.
pub fn with_headers(mut resp: Response, headers: &[(String, String)]) -> Response {
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// An SSE response with the usual headers.
pub fn sse_response(body: Body, headers: &[(String, String)]) -> Response {
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    with_headers(resp, headers)
}

/// What to do with a finished stream's outcome.
pub type OnDone = Box<dyn FnOnce(&Recorder) + Send>;

/// Relay a backend stream to the client as SSE, recording its outcome; `on_done` runs once
/// at the end (storing the response).
pub fn relay(stream: UpstreamStream, on_done: OnDone, fill_parts: bool) -> Response {
    let headers = stream.headers.clone();
    let filler = fill_parts.then(PartFiller::default);
    let state = (stream.events, Recorder::default(), Some(on_done), filler);
    let body = futures_util::stream::unfold(
        state,
        |(mut events, mut rec, mut done, mut filler)| async move {
            done.as_ref()?;
            match events.next().await {
                Some(Ok(ev)) => {
                    let v = rec.see(&ev);
                    let mut frame = Vec::new();
                    if let (Some(f), Some(v)) = (filler.as_mut(), v.as_ref())
                        && let Some(extra) = f.before(v)
                    {
                        let name = extra["type"].as_str().unwrap_or("").to_owned();
                        frame.extend_from_slice(&sse_frame(Some(&name), &extra.to_string()));
                    }
                    // The backend's final event may carry `output: []` (the items came one by
                    // one): generic clients read the final response from it, so fill it in.
                    let filled = match (&filler, v) {
                        (Some(_), Some(mut v)) if rec.finished && rec.outcome.error.is_none() => {
                            let empty = v
                                .pointer("/response/output")
                                .and_then(Value::as_array)
                                .is_some_and(Vec::is_empty);
                            if empty {
                                v["response"]["output"] = json!(rec.outcome.output);
                                Some(v.to_string())
                            } else {
                                None
                            }
                        }
                        _ => None,
                    };
                    frame.extend_from_slice(&sse_frame(
                        ev.event.as_deref(),
                        filled.as_deref().unwrap_or(&ev.data),
                    ));
                    Some((
                        Ok::<_, std::convert::Infallible>(Bytes::from(frame)),
                        (events, rec, done, filler),
                    ))
                }
                Some(Err(e)) => {
                    let frame = error_frame(&e);
                    rec.outcome.error = Some(e);
                    if let Some(f) = done.take() {
                        f(&rec);
                    }
                    Some((Ok(frame), (events, rec, None, filler)))
                }
                None => {
                    let f = done.take()?;
                    let frame = if rec.finished {
                        None
                    } else {
                        let e = unfinished();
                        let frame = error_frame(&e);
                        rec.outcome.error = Some(e);
                        Some(frame)
                    };
                    f(&rec);
                    frame.map(|fr| (Ok(fr), (events, rec, None, filler)))
                }
            }
        },
    );
    sse_response(Body::from_stream(body), &headers)
}

/// Read a whole stream.
pub async fn collect(mut stream: UpstreamStream) -> Recorder {
    let mut rec = Recorder::default();
    while let Some(ev) = stream.events.next().await {
        match ev {
            Ok(ev) => {
                rec.see(&ev);
            }
            Err(e) => {
                rec.outcome.error = Some(e);
                rec.finished = true;
                break;
            }
        }
    }
    if !rec.finished && rec.outcome.error.is_none() {
        rec.outcome.error = Some(unfinished());
    }
    rec
}

/// The handler.
pub async fn handle(gateway: Arc<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return ApiError::invalid(None, format!("The request body is not valid JSON: {e}"))
                .into_response();
        }
    };
    let wants_stream = parsed
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if is_passthrough(&headers, &gateway) {
        let conversation = conversation_key(&headers, &parsed);
        gateway.record(&conversation, "gateway-passthrough-request", &parsed);
        let call = UpstreamCall {
            endpoint: Endpoint::Responses,
            conversation: conversation.clone(),
            relay_headers: relay_headers(&headers),
            body: parsed,
        };
        let stream = match gateway.send(call).await {
            Ok(s) => s,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let gw = gateway.clone();
        let log = move |rec: &Recorder| gw.record_outcome(&conversation, rec);
        if wants_stream {
            return relay(stream, Box::new(log), false);
        }
        let headers = stream.headers.clone();
        let rec = collect(stream).await;
        log(&rec);
        return finish_json(rec, &headers);
    }
    let conversation_for_log = conversation_key(&headers, &parsed);
    gateway.record(&conversation_for_log, "gateway-request", &parsed);
    let prepared = match prepare(&gateway, parsed, &headers).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let call = UpstreamCall {
        endpoint: Endpoint::Responses,
        body: prepared.body,
        conversation: prepared.conversation,
        relay_headers: Vec::new(),
    };
    tracing::debug!(target: "codexd::gateway", model = %prepared.model, "responses request");
    gateway.record(
        &conversation_for_log,
        "gateway-upstream-request",
        &call.body,
    );
    let stream = match gateway.send(call).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let items = prepared.conversation_items;
    let gw = gateway.clone();
    let store = move |rec: &Recorder| {
        gw.record_outcome(&conversation_for_log, rec);
        if rec.outcome.error.is_none()
            && let Some(id) = &rec.outcome.id
        {
            gw.store().put(id, items, rec.outcome.output.clone());
        }
    };
    if wants_stream {
        return relay(stream, Box::new(store), true);
    }
    let headers = stream.headers.clone();
    let rec = collect(stream).await;
    store(&rec);
    finish_json(rec, &headers)
}

fn finish_json(rec: Recorder, headers: &[(String, String)]) -> Response {
    if let Some(e) = rec.outcome.error.clone() {
        return ApiError::from(e).into_response();
    }
    match rec.final_response() {
        Some(r) => with_headers(axum::Json(r).into_response(), headers),
        None => ApiError::from(unfinished()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(efforts: &[&str]) -> ModelInfo {
        ModelInfo {
            slug: "m".into(),
            display_name: "M".into(),
            lite: false,
            efforts: efforts.iter().map(|s| s.to_string()).collect(),
            default_effort: None,
            supports_verbosity: false,
            default_verbosity: None,
            context_window: None,
            priority: 1,
        }
    }

    #[test]
    fn efforts_clamp_down_then_up() {
        let m = model(&["low", "medium", "high"]);
        assert_eq!(clamp_effort("medium", &m), "medium");
        assert_eq!(clamp_effort("xhigh", &m), "high");
        assert_eq!(clamp_effort("minimal", &m), "low");
        assert_eq!(clamp_effort("whatever", &m), "medium");
        assert_eq!(clamp_effort("ultra", &model(&[])), "ultra");
    }

    #[test]
    fn conversation_key_prefers_headers_then_cache_key_then_hash() {
        let mut h = HeaderMap::new();
        let body = json!({"input": "hello", "prompt_cache_key": "pck"});
        assert_eq!(conversation_key(&h, &body), "pck");
        h.insert("session_id", HeaderValue::from_static("sid"));
        assert_eq!(conversation_key(&h, &body), "sid");
        let a = conversation_key(&HeaderMap::new(), &json!({"input": "hello"}));
        let b = conversation_key(
            &HeaderMap::new(),
            &json!({"input": [{"role":"user","content":"hello"}, {"role":"assistant","content":"x"}]}),
        );
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
    }

    #[test]
    fn system_items_become_developer_messages() {
        let i = normalise_item(json!({"role": "system", "content": "be nice"}));
        assert_eq!(i["role"], "developer");
        assert_eq!(i["type"], "message");
        assert_eq!(i["content"][0]["type"], "input_text");
        let a = normalise_item(json!({"role": "assistant", "content": "hi"}));
        assert_eq!(a["content"][0]["type"], "output_text");
    }

    #[test]
    fn model_is_the_named_one_else_the_first_and_unknown_is_refused() {
        let mut a = model(&[]);
        a.slug = "a".into();
        let mut b = model(&[]);
        b.slug = "b".into();
        let offered = [a, b];
        let named = json!({"model": "b"});
        let (slug, info) = resolve_model(named.as_object().unwrap(), &offered).unwrap();
        assert_eq!((slug.as_str(), info.unwrap().slug.as_str()), ("b", "b"));
        let (slug, _) = resolve_model(json!({}).as_object().unwrap(), &offered).unwrap();
        assert_eq!(slug, "a");
        let unknown = json!({"model": "zzz"});
        assert!(resolve_model(unknown.as_object().unwrap(), &offered).is_err());
        assert!(resolve_model(json!({}).as_object().unwrap(), &[]).is_err());
        let (slug, info) = resolve_model(unknown.as_object().unwrap(), &[]).unwrap();
        assert_eq!(slug, "zzz");
        assert!(info.is_none());
    }

    #[test]
    fn instructions_lead_else_a_default_unless_a_developer_message_exists() {
        let user = vec![message("user", "hi")];
        let mut obj = json!({"instructions": "be brief"})
            .as_object()
            .unwrap()
            .clone();
        let lead = leading_instructions(&mut obj, &user);
        assert_eq!(lead, vec![message("developer", "be brief")]);
        assert!(!obj.contains_key("instructions"));
        let mut obj = serde_json::Map::new();
        let lead = leading_instructions(&mut obj, &user);
        assert_eq!(lead, vec![message("developer", DEFAULT_INSTRUCTIONS)]);
        let with_dev = vec![message("developer", "mine"), message("user", "hi")];
        assert!(leading_instructions(&mut obj, &with_dev).is_empty());
    }

    #[test]
    fn lite_tools_go_in_a_functions_namespace() {
        let item = additional_tools(vec![json!({"type": "function", "name": "f"})]);
        assert_eq!(item["type"], "additional_tools");
        assert_eq!(item["tools"][0]["name"], "functions");
        assert_eq!(item["tools"][0]["tools"][0]["name"], "f");
    }

    #[test]
    fn recorder_fills_output_and_text() {
        let mut r = Recorder::default();
        let ev = |d: Value| SseEvent {
            event: None,
            data: d.to_string(),
        };
        r.see(&ev(
            json!({"type":"response.created","response":{"id":"resp_1"}}),
        ));
        r.see(&ev(json!({"type":"response.output_item.done","item":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hi"}]}})));
        r.see(&ev(
            json!({"type":"response.completed","response":{"id":"resp_1","output":[]}}),
        ));
        assert!(r.finished);
        let f = r.final_response().unwrap();
        assert_eq!(f["output_text"], "hi");
        assert_eq!(f["output"][0]["type"], "message");
        let mut r = Recorder::default();
        r.see(&ev(json!({"type":"response.failed","response":{"error":{"code":"context_length_exceeded","message":"too long"}}})));
        assert_eq!(r.outcome.error.unwrap().status, 400);
    }
}
