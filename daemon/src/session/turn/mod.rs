//! One turn against the backend, start to finish, in three steps: [`plan`] (model, effort,
//! instructions, request shape → one value), [`send`] (through the backend client, streaming
//! the answer to the client as it arrives), [`assemble`] (the history entry and the outcome).
//! Nothing here touches disk: the caller appends the turn only when this returns `Ok`, so a
//! cancelled or failed turn leaves no trace — except one warning in the log saying why.

pub mod assemble;
pub mod plan;
pub mod send;

use std::sync::Arc;

use codexd_proto::conversation::{AskEvent, AskOutcome, AskRequest};
use codexd_proto::{ErrorCode, Event, WireError};
use serde_json::{Value, json};

use super::history::Turn;
use crate::backend::Backend;
use crate::config::Config;
use crate::instructions::InstructionCacheActor;
use crate::request::RequestCtx;
use crate::supervisor::Supervised;

/// What every turn needs; cheap to clone.
#[derive(Clone)]
pub struct TurnEnv {
    /// Settings.
    pub config: Arc<Config>,
    /// The backend client (tokens, retries, usage windows, request logs).
    pub backend: Backend,
    /// The model catalog and instructions.
    pub instructions: Supervised<InstructionCacheActor>,
}

/// The conversation a turn continues.
#[derive(Debug, Clone)]
pub struct TurnInput {
    /// UUID: session headers and `prompt_cache_key`.
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
/// A failed turn is logged once, at warn, with its reason.
pub async fn run(
    env: &TurnEnv,
    input: TurnInput,
    req: &AskRequest,
    ctx: &RequestCtx,
) -> Result<TurnResult, WireError> {
    let session = input.session_id.clone();
    let result = tokio::select! {
        r = run_inner(env, input, req, ctx) => r,
        _ = ctx.cancel.cancelled() => Err(cancelled()),
    };
    if let Err(e) = &result {
        tracing::warn!(session = %session, code = ?e.code, reason = %e.message, "turn failed");
    }
    result
}

pub(crate) fn cancelled() -> WireError {
    WireError::new(
        ErrorCode::Cancelled,
        "cancelled; nothing was saved from this turn",
    )
}

pub(crate) async fn emit(ctx: &RequestCtx, ev: AskEvent) -> Result<(), WireError> {
    if ctx.emit(Event::Ask(ev)).await {
        Ok(())
    } else {
        Err(cancelled())
    }
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
            "The prompt is empty: give one (`codexctl ask \"…\"`) or pipe text in.",
        ));
    }
    env.backend.access().await?;
    let plan = plan::plan(
        env,
        req,
        input.last_model.as_deref(),
        &input.history,
        &input.session_id,
    )
    .await?;
    emit(
        ctx,
        AskEvent::Started {
            session: input.session_id.clone(),
            name: input.name.clone(),
            model: plan.model.clone(),
            effort: plan.effort.clone(),
        },
    )
    .await?;
    if let (Some(w), Some(e)) = (&plan.clamped_from, &plan.effort) {
        emit(
            ctx,
            AskEvent::Notice(format!(
                "{} does not support reasoning effort {w}; using {e}",
                plan.model
            )),
        )
        .await?;
    }
    let answer = send::send(env, &plan, &input.session_id, ctx).await?;
    let (turn, outcome) = assemble::assemble(
        plan,
        answer,
        req,
        &input.session_id,
        env.backend.limits(),
        crate::now_unix(),
    );
    env.backend
        .log_response(
            &input.session_id,
            &json!({ "text": turn.text, "usage": turn.usage, "items": turn.output }),
        )
        .await;
    tracing::info!(
        session = %input.session_id,
        model = %turn.model,
        input_tokens = turn.usage.map(|u| u.input).unwrap_or(0),
        output_tokens = turn.usage.map(|u| u.output).unwrap_or(0),
        "turn completed"
    );
    Ok(TurnResult { turn, outcome })
}
