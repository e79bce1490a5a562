//! One turn against the backend, start to finish: resolve model, effort and instructions, get a
//! token, send the request (retrying per [`super::retry`]), stream the answer to the client as
//! it arrives, and hand back the finished turn for the history. Nothing here touches disk: the
//! caller appends the turn only when this returns `Ok`, so a cancelled or failed turn leaves no
//! trace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use codexd_proto::conversation::{
    AskEvent, AskMode, AskOutcome, AskRequest, Effort, RateLimits, TokenUsage, Verbosity,
};
use codexd_proto::{ErrorCode, Event, WireError};
use serde_json::Value;

use super::errors::{self, HttpFailure};
use super::history::Turn;
use super::limits;
use super::prompts;
use super::request::{self, TurnBody};
use super::retry;
use super::stream::{EventSource, StreamBreak, StreamEvent};
use crate::auth::{self, Access, AuthActor};
use crate::config::Config;
use crate::instructions::{self, InstructionCacheActor};
use crate::log::RequestLog;
use crate::request::RequestCtx;
use crate::supervisor::Supervised;

/// What every turn needs; cheap to clone.
#[derive(Clone)]
pub struct TurnEnv {
    /// Settings.
    pub config: Arc<Config>,
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// Tokens.
    pub auth: Supervised<AuthActor>,
    /// Instructions and the model catalog.
    pub instructions: Supervised<InstructionCacheActor>,
    /// The last usage windows seen on any response (shown by `status`).
    pub limits: Arc<Mutex<Option<RateLimits>>>,
    /// Opt-in request logs (off by default).
    pub request_log: RequestLog,
}

/// The conversation a turn continues.
#[derive(Debug, Clone)]
pub struct TurnInput {
    /// UUID: `session_id` header and `prompt_cache_key`.
    pub session_id: String,
    /// Name, for the `Started` event.
    pub name: Option<String>,
    /// Every item of the previous turns.
    pub history: Vec<Value>,
    /// The model of the previous turn (a conversation keeps its model unless told otherwise).
    pub last_model: Option<String>,
}

/// A successful turn.
#[derive(Debug, Clone)]
pub struct TurnResult {
    /// For the history file.
    pub turn: Turn,
    /// For the client.
    pub outcome: AskOutcome,
}

/// Run one turn; cancelled as soon as `ctx.cancel` fires (the upstream request is dropped).
pub async fn run(
    env: &TurnEnv,
    input: TurnInput,
    req: &AskRequest,
    ctx: &RequestCtx,
) -> Result<TurnResult, WireError> {
    tokio::select! {
        r = run_inner(env, input, req, ctx) => r,
        _ = ctx.cancel.cancelled() => Err(cancelled()),
    }
}

fn cancelled() -> WireError {
    WireError::new(
        ErrorCode::Cancelled,
        "cancelled; nothing was saved from this turn",
    )
}

async fn emit(ctx: &RequestCtx, ev: AskEvent) -> Result<(), WireError> {
    if ctx.emit(Event::Ask(ev)).await {
        Ok(())
    } else {
        Err(cancelled())
    }
}

/// Clamp `wanted` to `supported` (empty = anything goes): the highest supported level not
/// above it, else the lowest supported one.
pub fn clamp_effort(wanted: Effort, supported: &[Effort]) -> Effort {
    if supported.is_empty() || supported.contains(&wanted) {
        return wanted;
    }
    supported
        .iter()
        .copied()
        .filter(|e| *e <= wanted)
        .max()
        .or_else(|| supported.iter().copied().min())
        .unwrap_or(wanted)
}

async fn run_inner(
    env: &TurnEnv,
    input: TurnInput,
    req: &AskRequest,
    ctx: &RequestCtx,
) -> Result<TurnResult, WireError> {
    if req.prompt.trim().is_empty() && req.context.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err(WireError::new(
            ErrorCode::BadRequest,
            "The prompt is empty; pass it as arguments or pipe text in.",
        ));
    }
    let cfg = &env.config.backend;
    let model = req
        .model
        .clone()
        .or(input.last_model.clone())
        .unwrap_or_else(|| cfg.model.clone());
    let resolved = env
        .instructions
        .send(instructions::GetInstructions {
            model: model.clone(),
        })
        .await??;

    // Effort: asked for, else configured, else the model's default; then clamped.
    let wanted = req
        .effort
        .or_else(|| cfg.effort.as_deref().and_then(Effort::parse))
        .or_else(|| resolved.model.as_ref().and_then(|m| m.default_effort));
    let mut model_info = resolved.model.clone();
    if model_info.is_none() && wanted.is_some() {
        // The catalog loads in the background; on a cold start ask for it once, so an effort
        // the model does not support is clamped instead of being refused by the backend.
        model_info = env
            .instructions
            .send(instructions::GetModels { refresh: false })
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|c| c.models.into_iter().find(|m| m.slug == model));
    }
    let supported = model_info
        .as_ref()
        .map(|m| m.supported_efforts.clone())
        .unwrap_or_default();
    let effort = wanted.map(|w| clamp_effort(w, &supported));
    let verbosity = req
        .verbosity
        .or_else(|| cfg.verbosity.as_deref().and_then(Verbosity::parse));

    // This turn's new items.
    let mut new_items = Vec::new();
    if let Some(m) = prompts::mode_message(&req.mode) {
        new_items.push(request::developer_message(&m));
    }
    if let Some(extra) = req
        .developer_instructions
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        new_items.push(request::developer_message(extra));
    }
    new_items.push(request::user_message(&req.prompt, req.context.as_deref()));
    let mut all_items = input.history.clone();
    all_items.extend(new_items.iter().cloned());

    let mut access: Access = env.auth.send(auth::GetAccess).await??;

    emit(
        ctx,
        AskEvent::Started {
            session: input.session_id.clone(),
            name: input.name.clone(),
            model: model.clone(),
            effort,
        },
    )
    .await?;
    if let (Some(w), Some(e)) = (wanted, effort)
        && w != e
    {
        emit(
            ctx,
            AskEvent::Notice(format!(
                "{model} does not support reasoning effort {}; using {}",
                w.as_str(),
                e.as_str()
            )),
        )
        .await?;
    }

    let body = request::body(&TurnBody {
        model: &model,
        instructions: &resolved.text,
        input: &all_items,
        effort,
        verbosity,
        session_id: &input.session_id,
    });
    let url = format!(
        "{}/codex/responses",
        env.config.backend.url.trim_end_matches('/')
    );
    let idle = Duration::from_secs(env.config.backend.idle_timeout_secs.max(1));

    let mut refreshed = false;
    let mut retries = 0u32;
    let mut resends = 0u32;
    let mut acc: Answer;
    let usage = loop {
        let headers = request::headers(&access, &input.session_id);
        if env.request_log.enabled() {
            let pairs = header_pairs(&headers);
            let pairs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            env.request_log
                .record(&input.session_id, "request", &pairs, &body.to_string());
        }
        let sent = env
            .http
            .post(&url)
            .headers(headers)
            .json(&body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let what = transport_text(&e);
                retries += 1;
                if retries > retry::MAX_RETRIES {
                    return Err(WireError::new(
                        ErrorCode::Network,
                        format!(
                            "Cannot reach the Codex backend at {url} ({what}), even after {} retries. Check your network connection and try again.",
                            retry::MAX_RETRIES
                        ),
                    ));
                }
                let wait = retry::backoff(retries, rand::random_range(-1.0..=1.0));
                notice_retry(ctx, &what, retries, wait).await?;
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let now = crate::now_unix();
        let seen = limits::from_headers(resp.headers(), now);
        if let Some(l) = &seen {
            *env.limits.lock().unwrap_or_else(|p| p.into_inner()) = Some(l.clone());
        }
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let retry_after = retry::retry_after(resp.headers());
            let resp_headers = header_pairs(resp.headers());
            let text = resp.text().await.unwrap_or_default();
            if env.request_log.enabled() {
                let pairs: Vec<(&str, &str)> = resp_headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                env.request_log.record(
                    &input.session_id,
                    &format!("response-{status}"),
                    &pairs,
                    &text,
                );
            }
            tracing::info!(session = %input.session_id, status, "backend answered with an error");
            match errors::classify_http(status, &text, seen.as_ref(), now) {
                HttpFailure::Unauthorized if !refreshed => {
                    refreshed = true;
                    access = env
                        .auth
                        .send(auth::RefreshAfterUnauthorized {
                            rejected: access.token.clone(),
                        })
                        .await??;
                    continue;
                }
                HttpFailure::Unauthorized => {
                    return Err(WireError::new(
                        ErrorCode::SignInAgain,
                        "The Codex backend rejected your sign-in even after a token refresh. Sign in again with `codexctl login`.",
                    ));
                }
                HttpFailure::Retryable(err) => {
                    retries += 1;
                    if retries > retry::MAX_RETRIES {
                        return Err(err);
                    }
                    let Some(wait) = retry::delay(retries, retry_after) else {
                        return Err(err);
                    };
                    notice_retry(ctx, &format!("HTTP {status}"), retries, wait).await?;
                    tokio::time::sleep(wait).await;
                    continue;
                }
                HttpFailure::UnsupportedModel { message } => {
                    return Err(unsupported_model(env, &model, &message).await);
                }
                HttpFailure::Fatal(err) => return Err(err),
            }
        }

        // 2xx: stream it.
        let mut events = EventSource::new(resp, idle);
        acc = Answer::default();
        match stream_answer(&mut events, &mut acc, ctx, now).await {
            Ok(usage) => break usage,
            Err(Stop::Error(e)) => return Err(e),
            Err(Stop::Broken(b)) => {
                let resendable = !acc.shown && resends < retry::MAX_STREAM_RESENDS;
                if resendable {
                    resends += 1;
                    emit(
                        ctx,
                        AskEvent::Notice(format!(
                            "the answer stream broke ({}); sending the turn again ({resends}/{})",
                            break_text(&b),
                            retry::MAX_STREAM_RESENDS
                        )),
                    )
                    .await?;
                    continue;
                }
                return Err(broken_error(&b, acc.shown, resends));
            }
        }
    };

    // Finished: build the history turn (ids stripped) and the outcome.
    let mut output: Vec<Value> = acc
        .items
        .into_iter()
        .filter(request::keep_in_history)
        .map(|mut item| {
            request::strip_ids(&mut item);
            item
        })
        .collect();
    let mut text = acc.text;
    if text.is_empty() {
        text = output
            .iter()
            .filter(|i| i.get("role").and_then(Value::as_str) == Some("assistant"))
            .map(request::message_text)
            .collect::<Vec<_>>()
            .join("\n");
    }
    let has_assistant = output
        .iter()
        .any(|i| i.get("type").and_then(Value::as_str) == Some("message"));
    if !has_assistant && !text.is_empty() {
        output.push(request::assistant_message(&text));
    }
    if matches!(req.mode, AskMode::SuggestCommand(_)) {
        text = prompts::clean_suggestion(&text);
    }
    let user = match req.context.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => format!("{}\n\n[piped context]\n{c}", req.prompt),
        None => req.prompt.clone(),
    };
    if env.request_log.enabled() {
        let record = serde_json::json!({ "text": text, "usage": usage, "items": output });
        env.request_log
            .record(&input.session_id, "response", &[], &record.to_string());
    }
    let at = crate::now_unix();
    let limits_now = env.limits.lock().unwrap_or_else(|p| p.into_inner()).clone();
    tracing::info!(
        session = %input.session_id,
        model = %model,
        input_tokens = usage.map(|u| u.input).unwrap_or(0),
        output_tokens = usage.map(|u| u.output).unwrap_or(0),
        "turn completed"
    );
    Ok(TurnResult {
        turn: Turn {
            at,
            model: model.clone(),
            user,
            input: new_items,
            output,
            text: text.clone(),
            usage,
        },
        outcome: AskOutcome {
            session: input.session_id,
            text,
            usage,
            limits: limits_now,
        },
    })
}

/// Header pairs for a request log (redacted by the log itself).
fn header_pairs(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or("(binary)").to_string(),
            )
        })
        .collect()
}

async fn notice_retry(
    ctx: &RequestCtx,
    what: &str,
    retry: u32,
    wait: Duration,
) -> Result<(), WireError> {
    emit(
        ctx,
        AskEvent::Notice(format!(
            "the Codex backend failed ({what}); retrying in {:.1} s ({retry}/{})",
            wait.as_secs_f64(),
            retry::MAX_RETRIES
        )),
    )
    .await
}

/// What a transport error was, without the URL's query or anything secret.
fn transport_text(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "the connection failed".into()
    }
}

/// The answer as it accumulates.
#[derive(Default)]
struct Answer {
    text: String,
    items: Vec<Value>,
    /// Something reached the client (then a broken stream cannot be resent silently).
    shown: bool,
    reasoning_part: Option<i64>,
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

async fn stream_answer(
    events: &mut EventSource,
    acc: &mut Answer,
    ctx: &RequestCtx,
    now: u64,
) -> Result<Option<TokenUsage>, Stop> {
    loop {
        let ev = events.next().await.map_err(Stop::Broken)?;
        match ev {
            StreamEvent::TextDelta(d) => {
                acc.text.push_str(&d);
                acc.shown = true;
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
                emit(ctx, AskEvent::ReasoningDelta(d)).await?;
            }
            StreamEvent::ItemDone(item) => acc.items.push(item),
            StreamEvent::Completed { usage } => return Ok(usage),
            StreamEvent::Failed { code, message } => {
                return Err(Stop::Error(errors::classify_failed(
                    code.as_deref(),
                    message.as_deref(),
                    None,
                    now,
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

async fn unsupported_model(env: &TurnEnv, model: &str, server_says: &str) -> WireError {
    let listed = env
        .instructions
        .send(instructions::GetModels { refresh: false })
        .await
        .ok()
        .and_then(Result::ok)
        .map(|c| c.models.into_iter().map(|m| m.slug).collect::<Vec<_>>())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_is_clamped_to_the_supported_levels() {
        use Effort::*;
        assert_eq!(clamp_effort(XHigh, &[]), XHigh);
        assert_eq!(clamp_effort(XHigh, &[Low, Medium, High]), High);
        assert_eq!(clamp_effort(Minimal, &[Low, Medium]), Low);
        assert_eq!(clamp_effort(Medium, &[Low, Medium]), Medium);
    }
}
