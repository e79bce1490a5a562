//! The fake backend's SSE side: the planner that turns a [`Script`], a turn and an optional
//! stream fault into [`Step`]s, the canned [`Fixture`] streams, and the body that plays the
//! steps while counting open, finished and cancelled streams.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::*;

// ----- SSE ---------------------------------------------------------------------------------

pub(super) struct TurnCtx {
    pub(super) seq: u64,
    /// The first function tool offered, when the last input item is not a tool's output.
    pub(super) tool: Option<String>,
    pub(super) model: String,
    pub(super) turn: usize,
    pub(super) last_user: String,
    pub(super) input_tokens: u64,
    pub(super) cached_tokens: u64,
}

/// One step of a scripted SSE body.
pub(super) enum Step {
    /// Bytes to send.
    Send(Bytes),
    /// Wait before the next step.
    Sleep(Duration),
    /// Send nothing more, keep the connection open.
    Hang,
    /// Abort the body with an error (the connection is reset).
    Reset,
}

/// An SSE event frame: `event: <type>\ndata: <json>\n\n`.
pub(super) fn frame(event: &Value) -> Bytes {
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    Bytes::from(format!("event: {kind}\ndata: {event}\n\n"))
}

/// Splits `text` into `n` pieces (or 4-character pieces), on char boundaries.
pub(super) fn split_deltas(text: &str, n: Option<usize>) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = match n {
        Some(n) => chars.len().div_ceil(n.clamp(1, chars.len())),
        None => 4,
    };
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// Builds the step list for one response.
pub(super) fn plan(
    script: &Script,
    ctx: &TurnCtx,
    noise: bool,
    fault: Option<&BackendFault>,
) -> Vec<Step> {
    let rid = format!("resp_fake_{:04}{}", ctx.seq, random_hex("", 12));
    let created = json!({
        "type": "response.created",
        "response": {
            "id": rid, "object": "response", "created_at": now_unix(),
            "status": "in_progress", "model": ctx.model, "output": [],
        },
    });
    let mut events: Vec<(Value, Duration)> = Vec::new();
    let mut seqno = 0u64;
    let mut push = |mut e: Value, pause: Duration, events: &mut Vec<(Value, Duration)>| {
        if let Value::Object(m) = &mut e {
            m.insert("sequence_number".into(), json!(seqno));
        }
        seqno += 1;
        events.push((e, pause));
    };

    match fault {
        Some(BackendFault::Failed { code, message }) => {
            push(created, Duration::ZERO, &mut events);
            push(
                json!({
                    "type": "response.failed",
                    "response": {
                        "id": rid, "object": "response", "status": "failed", "model": ctx.model,
                        "error": { "code": code, "message": message },
                        "output": [], "usage": null,
                    },
                }),
                Duration::ZERO,
                &mut events,
            );
            return to_steps(events, noise, None);
        }
        Some(BackendFault::Fixture(f)) => return fixture_steps(*f, &rid),
        _ => {}
    }

    push(created, Duration::ZERO, &mut events);
    let text = script
        .suggest_command
        .clone()
        .or_else(|| script.text.clone())
        .unwrap_or_else(|| default_answer(ctx.turn, &ctx.last_user));
    let mut output_index = 0;
    let mut reasoning_tokens = 0u64;
    if script.reasoning {
        let rs_id = format!("rs_fake_{}", random_hex("", 16));
        let summary = script
            .reasoning_text
            .clone()
            .unwrap_or_else(|| format!("Thinking about turn {}.", ctx.turn));
        reasoning_tokens = (summary.len() as u64 / 4) + 8;
        push(
            json!({
                "type": "response.output_item.added", "output_index": output_index,
                "item": { "id": rs_id, "type": "reasoning", "summary": [] },
            }),
            Duration::ZERO,
            &mut events,
        );
        for d in split_deltas(&summary, Some(2)) {
            push(
                json!({
                    "type": "response.reasoning_summary_text.delta", "item_id": rs_id,
                    "output_index": output_index, "summary_index": 0, "delta": d,
                }),
                Duration::ZERO,
                &mut events,
            );
        }
        push(
            json!({
                "type": "response.output_item.done", "output_index": output_index,
                "item": {
                    "id": rs_id, "type": "reasoning",
                    "summary": [{ "type": "summary_text", "text": summary }],
                    "encrypted_content":
                        format!("{ENCRYPTED_PREFIX}t{}_{}", ctx.turn, random_hex("", 24)),
                },
            }),
            Duration::ZERO,
            &mut events,
        );
        output_index += 1;
    }
    if script.call_tools
        && let Some(name) = &ctx.tool
    {
        let fc_id = format!("fc_fake_{}", random_hex("", 16));
        let call_id = format!("call_fake_{}", random_hex("", 12));
        let args = json!({ "query": ctx.last_user }).to_string();
        let item = |args: &str, status: &str| {
            json!({
                "id": fc_id, "type": "function_call", "status": status,
                "call_id": call_id, "name": name, "arguments": args,
            })
        };
        push(
            json!({"type": "response.output_item.added", "output_index": output_index, "item": item("", "in_progress")}),
            Duration::ZERO,
            &mut events,
        );
        for d in split_deltas(&args, Some(2)) {
            push(
                json!({
                    "type": "response.function_call_arguments.delta", "item_id": fc_id,
                    "output_index": output_index, "delta": d,
                }),
                Duration::ZERO,
                &mut events,
            );
        }
        push(
            json!({"type": "response.output_item.done", "output_index": output_index, "item": item(&args, "completed")}),
            Duration::ZERO,
            &mut events,
        );
        let output_tokens = 8 + reasoning_tokens;
        push(
            completed(&rid, ctx, output_tokens, reasoning_tokens),
            Duration::ZERO,
            &mut events,
        );
        return to_steps(events, noise, None);
    }
    let msg_id = format!("msg_fake_{}", random_hex("", 16));
    push(
        json!({
            "type": "response.output_item.added", "output_index": output_index,
            "item": {
                "id": msg_id, "type": "message", "status": "in_progress", "role": "assistant",
                "content": [],
            },
        }),
        Duration::ZERO,
        &mut events,
    );
    for d in split_deltas(&text, script.deltas) {
        push(
            json!({
                "type": "response.output_text.delta", "item_id": msg_id,
                "output_index": output_index, "content_index": 0, "delta": d,
            }),
            script.delta_delay,
            &mut events,
        );
    }
    push(
        json!({
            "type": "response.output_item.done", "output_index": output_index,
            "item": {
                "id": msg_id, "type": "message", "status": "completed", "role": "assistant",
                "content": [{ "type": "output_text", "text": text, "annotations": [] }],
            },
        }),
        Duration::ZERO,
        &mut events,
    );
    let output_tokens = (text.len() as u64 / 4).max(1) + reasoning_tokens;
    push(
        completed(&rid, ctx, output_tokens, reasoning_tokens),
        Duration::ZERO,
        &mut events,
    );
    let tail = match fault {
        Some(BackendFault::CutAfter(k)) => Some((*k, None)),
        Some(BackendFault::ResetAfter(k)) => Some((*k, Some(Step::Reset))),
        Some(BackendFault::HangAfter(k)) => Some((*k, Some(Step::Hang))),
        _ => None,
    };
    to_steps(events, noise, tail)
}

/// Turns events into steps: pauses, optional noise, and an optional cut after K events.
pub(super) fn to_steps(
    events: Vec<(Value, Duration)>,
    noise: bool,
    cut: Option<(usize, Option<Step>)>,
) -> Vec<Step> {
    let limit = cut.as_ref().map_or(usize::MAX, |(k, _)| *k);
    let mut steps = Vec::new();
    for (i, (event, pause)) in events.into_iter().enumerate() {
        if i >= limit {
            break;
        }
        if !pause.is_zero() {
            steps.push(Step::Sleep(pause));
        }
        steps.push(Step::Send(frame(&event)));
        if noise {
            match i {
                0 => {
                    steps.push(Step::Send(frame(&json!({
                        "type": "response.in_progress", "response": { "status": "in_progress" },
                    }))));
                    steps.push(Step::Send(Bytes::from_static(
                        b": fake keep-alive comment\n\n",
                    )));
                }
                1 => {
                    steps.push(Step::Send(Bytes::from_static(
                        b"data: {this is not json\n\n",
                    )));
                    steps.push(Step::Send(frame(&json!({
                        "type": "codex.fake_unknown", "payload": { "ignored": true },
                    }))));
                }
                _ => {}
            }
        }
    }
    if let Some((_, Some(last))) = cut {
        steps.push(last);
    }
    steps
}

pub(super) fn fixture_steps(fixture: Fixture, rid: &str) -> Vec<Step> {
    let created = json!({ "type": "response.created", "response": { "id": rid } });
    let message = json!({
        "type": "response.output_item.done",
        "item": {
            "type": "message", "role": "assistant",
            "content": [{ "type": "output_text", "text": "fake fixture hello" }],
        },
    });
    let events = match fixture {
        Fixture::CliHello => vec![
            created,
            message,
            json!({ "type": "response.completed", "response": { "id": rid, "output": [] } }),
        ],
        Fixture::Incomplete => vec![json!({ "type": "response.output_item.done" })],
        Fixture::ZeroUsage => vec![
            created,
            message,
            json!({
                "type": "response.completed",
                "response": {
                    "id": rid,
                    "usage": {
                        "input_tokens": 0, "input_tokens_details": null,
                        "output_tokens": 0, "output_tokens_details": null,
                        "total_tokens": 0,
                    },
                    "output": [],
                },
            }),
        ],
    };
    events.iter().map(|e| Step::Send(frame(e))).collect()
}

/// Counts a stream as open while alive; on drop, as finished (sent to its scripted end) or
/// cancelled (dropped early: the client went away or the server stopped).
pub(super) struct StreamGuard {
    stats: Arc<StreamStats>,
    finished: bool,
}

impl StreamGuard {
    fn new(stats: &Arc<StreamStats>) -> Self {
        stats.open.fetch_add(1, Ordering::SeqCst);
        StreamGuard {
            stats: stats.clone(),
            finished: false,
        }
    }

    /// The body reached its scripted end (it is not a cancellation when it drops).
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::SeqCst);
        let counter = if self.finished {
            &self.stats.finished
        } else {
            &self.stats.cancelled
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

pub(super) fn sse_response(steps: Vec<Step>, stats: &Arc<StreamStats>) -> Response {
    let state = (VecDeque::from(steps), StreamGuard::new(stats));
    let stream = futures_util::stream::unfold(state, |(mut steps, mut guard)| async move {
        loop {
            match steps.pop_front() {
                None => {
                    guard.finish();
                    return None;
                }
                Some(Step::Send(b)) => return Some((Ok::<Bytes, io::Error>(b), (steps, guard))),
                Some(Step::Sleep(d)) => tokio::time::sleep(d).await,
                Some(Step::Hang) => std::future::pending::<()>().await,
                Some(Step::Reset) => {
                    guard.finish();
                    let err = io::Error::new(io::ErrorKind::ConnectionReset, "injected reset");
                    return Some((Err(err), (steps, guard)));
                }
            }
        }
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The `response.completed` event of a turn, with its token usage.
fn completed(rid: &str, ctx: &TurnCtx, output_tokens: u64, reasoning_tokens: u64) -> Value {
    json!({
        "type": "response.completed",
        "response": {
            "id": rid, "object": "response", "status": "completed", "model": ctx.model,
            "output": [],
            "usage": {
                "input_tokens": ctx.input_tokens,
                "input_tokens_details": { "cached_tokens": ctx.cached_tokens },
                "output_tokens": output_tokens,
                "output_tokens_details": { "reasoning_tokens": reasoning_tokens },
                "total_tokens": ctx.input_tokens + output_tokens,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_split_on_chars() {
        assert_eq!(split_deltas("abcdefghij", None), ["abcd", "efgh", "ij"]);
        assert_eq!(split_deltas("abcdef", Some(3)), ["ab", "cd", "ef"]);
        assert_eq!(split_deltas("äöü", Some(10)), ["ä", "ö", "ü"]);
        assert!(split_deltas("", Some(3)).is_empty());
    }
}
