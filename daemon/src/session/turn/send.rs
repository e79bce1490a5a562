//! Sending a planned turn and streaming its answer to the client: the backend client does
//! the retries before an answer starts (5xx, transport, 401 → refresh); here a stream that
//! breaks before anything reached the user is sent again with the same backoff, text that
//! arrives only in a finished item is still shown, and failures become wire errors.

use std::time::Duration;

use codexd_proto::conversation::{AskEvent, TokenUsage};
use codexd_proto::{ErrorCode, Event, WireError};
use futures_util::FutureExt as _;
use serde_json::Value;

use super::plan::TurnPlan;
use super::{TurnEnv, cancelled, emit};
use crate::backend::stream::{EventSource, StreamBreak, StreamEvent};
use crate::backend::{Call, Failure, errors, items, retry};
use crate::instructions;
use crate::request::RequestCtx;

/// What the backend answered.
#[derive(Debug, Default)]
pub struct Answer {
    /// The text shown, in order.
    pub text: String,
    /// Every finished output item.
    pub items: Vec<Value>,
    /// Token usage, when reported.
    pub usage: Option<TokenUsage>,
}

/// The answer as it accumulates.
#[derive(Default)]
struct Progress {
    answer: Answer,
    /// Something reached the client (then a broken stream cannot be resent silently).
    shown: bool,
    reasoning_part: Option<i64>,
    /// Text deltas arrived since the last finished message item.
    text_since_item: bool,
    /// Reasoning deltas arrived since the last finished reasoning item.
    reasoning_since_item: bool,
}

enum Stop {
    Broken(StreamBreak),
    Error(WireError),
}

impl From<WireError> for Stop {
    fn from(e: WireError) -> Self {
        Stop::Error(e)
    }
}

/// Send `plan` and stream the answer to `ctx`.
pub async fn send(
    env: &TurnEnv,
    plan: &TurnPlan,
    conversation: &str,
    ctx: &RequestCtx,
) -> Result<Answer, WireError> {
    let idle = Duration::from_secs(env.config.backend.idle_timeout_secs.max(1));
    let call = Call {
        path: "/codex/responses",
        body: &plan.body,
        conversation,
        lite: plan.lite,
        relay: &[],
        streaming: true,
    };
    let notify_ctx = ctx.clone();
    let on_retry = move |msg: String| {
        let ctx = notify_ctx.clone();
        async move { ctx.emit(Event::Ask(AskEvent::Notice(msg))).await }.boxed()
    };
    let mut resends = 0u32;
    loop {
        let resp = match env.backend.open(&call, &on_retry).await {
            Ok(r) => r,
            Err(f) => return Err(failure(env, &plan.model, f).await),
        };
        let mut events = EventSource::new(resp, idle);
        let mut progress = Progress::default();
        match stream_answer(&mut events, &mut progress, env, ctx).await {
            Ok(usage) => {
                progress.answer.usage = usage;
                return Ok(progress.answer);
            }
            Err(Stop::Error(e)) => return Err(e),
            Err(Stop::Broken(b)) if !progress.shown && resends < retry::MAX_STREAM_RESENDS => {
                resends += 1;
                let wait = retry::backoff(resends, rand::random_range(-1.0..=1.0));
                emit(
                    ctx,
                    AskEvent::Notice(format!(
                        "the answer stream broke ({}); sending the turn again in {:.1} s ({resends}/{})",
                        break_text(&b),
                        wait.as_secs_f64(),
                        retry::MAX_STREAM_RESENDS
                    )),
                )
                .await?;
                tokio::time::sleep(wait).await;
            }
            Err(Stop::Broken(b)) => return Err(broken_error(&b, progress.shown, resends)),
        }
    }
}

async fn stream_answer(
    events: &mut EventSource,
    acc: &mut Progress,
    env: &TurnEnv,
    ctx: &RequestCtx,
) -> Result<Option<TokenUsage>, Stop> {
    loop {
        let ev = events.next().await.map_err(Stop::Broken)?;
        match ev {
            StreamEvent::TextDelta(d) => {
                acc.answer.text.push_str(&d);
                acc.shown = true;
                acc.text_since_item = true;
                emit(ctx, AskEvent::TextDelta(d)).await?;
            }
            StreamEvent::ReasoningDelta {
                delta,
                summary_index,
            } => {
                let mut d = String::new();
                if acc.reasoning_part.is_some_and(|p| p != summary_index) {
                    d.push_str("\n\n");
                }
                acc.reasoning_part = Some(summary_index);
                d.push_str(&delta);
                acc.shown = true;
                acc.reasoning_since_item = true;
                emit(ctx, AskEvent::ReasoningDelta(d)).await?;
            }
            StreamEvent::ItemDone(item) => {
                item_done(&item, acc, ctx).await?;
                acc.answer.items.push(item);
            }
            StreamEvent::Completed { usage } => return Ok(usage),
            StreamEvent::Failed { code, message } => {
                return Err(Stop::Error(errors::classify_failed(
                    code.as_deref(),
                    message.as_deref(),
                    env.backend.limits().as_ref(),
                    crate::now_unix(),
                )));
            }
            StreamEvent::Incomplete { reason } => {
                return Err(Stop::Error(WireError::new(
                    ErrorCode::Backend,
                    format!(
                        "The Codex backend stopped the answer early ({}); nothing was saved. Ask again, perhaps for a shorter answer.",
                        reason.as_deref().unwrap_or("no reason given")
                    ),
                )));
            }
        }
    }
}

/// A finished item whose text never came as deltas is shown now (the backend may send text
/// only in `response.output_item.done`).
async fn item_done(item: &Value, acc: &mut Progress, ctx: &RequestCtx) -> Result<(), Stop> {
    match item.get("type").and_then(Value::as_str) {
        Some("message") if item.get("role").and_then(Value::as_str) == Some("assistant") => {
            let text = items::message_text(item);
            if !acc.text_since_item && !text.is_empty() {
                if !acc.answer.text.is_empty() {
                    acc.answer.text.push('\n');
                }
                acc.answer.text.push_str(&text);
                acc.shown = true;
                emit(ctx, AskEvent::TextDelta(text)).await?;
            }
            acc.text_since_item = false;
        }
        Some("reasoning") => {
            let summary: Vec<&str> = item
                .get("summary")
                .and_then(Value::as_array)
                .map(|parts| {
                    parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            if !acc.reasoning_since_item && !summary.is_empty() {
                acc.shown = true;
                emit(ctx, AskEvent::ReasoningDelta(summary.join("\n\n"))).await?;
            }
            acc.reasoning_since_item = false;
        }
        _ => {}
    }
    Ok(())
}

/// A failed call as the user should see it; an unsupported model gets the list of models
/// the account is offered.
async fn failure(env: &TurnEnv, model: &str, f: Failure) -> WireError {
    let Some(server_says) = f.unsupported_model else {
        if f.error.code == ErrorCode::Cancelled {
            return cancelled();
        }
        return f.error;
    };
    let listed = env
        .instructions
        .send(instructions::GetModels { refresh: false })
        .await
        .ok()
        .and_then(Result::ok)
        .map(|c| {
            c.models
                .into_iter()
                .filter(|m| m.visible)
                .map(|m| m.slug)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let available = if listed.is_empty() {
        "Run `codexctl models` to see the models your plan offers".to_string()
    } else {
        format!("Models available to you: {}", listed.join(", "))
    };
    tracing::info!(model, server_says, "model not supported for this account");
    WireError::new(
        ErrorCode::UnsupportedModel,
        format!(
            "The model '{model}' is not available with your ChatGPT account. {available}; pick one with --model or set backend.model in config.toml."
        ),
    )
}

fn break_text(b: &StreamBreak) -> String {
    match b {
        StreamBreak::Closed => "stream closed before response.completed".into(),
        StreamBreak::Transport(e) => format!("connection lost: {e}"),
        StreamBreak::Idle(d) => format!("no data for {} s", d.as_secs()),
    }
}

fn broken_error(b: &StreamBreak, shown: bool, resends: u32) -> WireError {
    let code = match b {
        StreamBreak::Closed => ErrorCode::Backend,
        StreamBreak::Transport(_) => ErrorCode::Network,
        StreamBreak::Idle(_) => ErrorCode::Timeout,
    };
    let what = break_text(b);
    let msg = if shown {
        format!(
            "The answer from the Codex backend broke off ({what}). The partial answer above was not saved to the conversation; ask again."
        )
    } else {
        format!(
            "The answer from the Codex backend kept breaking off ({what}), even after sending the turn {resends} more times. Try again in a minute."
        )
    };
    WireError::new(code, msg)
}
