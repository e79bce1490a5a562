//! SessionActor: one per live conversation. It owns the conversation's history (loaded from
//! disk on the first turn after it starts, so a restarted or re-created actor picks up where
//! the last one left off) and runs its turns one after the other: a second `ask` to the same
//! conversation waits for the first (a conversation is a sequence; answering two questions
//! against the same history at once would fork it). Each turn runs in its own tokio task, so
//! the actor's handler stays thin and a slow stream never delays any other conversation.
//! After `sessions.idle_stop_secs` without a turn the actor stops; the registry starts a new
//! one when the conversation is addressed again.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use codexd_proto::conversation::{AskEvent, AskOutcome, AskRequest};
use codexd_proto::{ErrorCode, Event, WireError};

use super::history::{self, History};
use super::turn::{self, TurnEnv, TurnInput};
use crate::request::RequestCtx;

/// Shared between the actor and the registry: is a turn running, when was the last one.
#[derive(Debug)]
pub struct Activity {
    inflight: AtomicUsize,
    last_active: std::sync::Mutex<Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            inflight: AtomicUsize::new(0),
            last_active: std::sync::Mutex::new(Instant::now()),
        }
    }
}

impl Activity {
    /// Turns running or queued.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    fn touch(&self) {
        *self.last_active.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }
}

/// Decrements the in-flight count however the turn ends.
struct InflightGuard(Arc<Activity>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One conversation.
pub struct SessionActor {
    id: String,
    env: TurnEnv,
    dir: PathBuf,
    /// `None` until loaded from disk; the lock is also the turn queue (tokio's mutex is fair).
    history: Arc<tokio::sync::Mutex<Option<History>>>,
    activity: Arc<Activity>,
    idle_stop: Duration,
}

impl SessionActor {
    /// Build for conversation `id` whose file lives in `dir`.
    pub fn new(
        id: String,
        env: TurnEnv,
        dir: PathBuf,
        idle_stop: Duration,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            id,
            env,
            dir,
            history: Arc::new(tokio::sync::Mutex::new(None)),
            activity,
            idle_stop,
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule_idle_check(ctx, self.idle_stop);
    }
}

impl SessionActor {
    /// One timer per actor, not a polling interval: an idle daemon with many conversations
    /// must not wake up. When it fires, either the conversation has been idle long enough
    /// (stop) or it checks again when it would be.
    fn schedule_idle_check(&mut self, ctx: &mut Context<Self>, after: Duration) {
        ctx.run_later(after, |act, ctx| {
            let idle = act.activity.idle_for();
            if act.activity.inflight() == 0 && idle >= act.idle_stop {
                tracing::debug!(session = %act.id, "conversation idle; stopping its actor");
                ctx.stop();
            } else {
                let next = if act.activity.inflight() > 0 {
                    act.idle_stop
                } else {
                    act.idle_stop
                        .saturating_sub(idle)
                        .max(Duration::from_millis(100))
                };
                act.schedule_idle_check(ctx, next);
            }
        });
    }
}

/// Run one turn of this conversation.
#[derive(Message, Clone)]
#[rtype(result = "Result<TurnDone, WireError>")]
pub struct RunTurn {
    /// The turn.
    pub req: AskRequest,
    /// Client channel.
    pub ctx: RequestCtx,
    /// Conversation name, for the client.
    pub name: Option<String>,
    /// Model of the last turn, from the index (used before the history is loaded).
    pub last_model: Option<String>,
    /// When the conversation was created (header of a new history file).
    pub created_at: u64,
}

/// A completed and saved turn.
#[derive(Debug, Clone)]
pub struct TurnDone {
    /// For the client.
    pub outcome: AskOutcome,
    /// Model used.
    pub model: String,
    /// Completed at.
    pub at: u64,
    /// Turns now stored.
    pub turns: u32,
    /// Tokens over all turns.
    pub tokens: u64,
    /// History file size now.
    pub bytes: u64,
}

/// Stop now (the conversation was deleted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopSession;

impl Handler<StopSession> for SessionActor {
    type Result = ();
    fn handle(&mut self, _msg: StopSession, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A history read or write failed: name the file, since the fix (free space, a file in the
/// way of the directory, permissions) is the user's to make there.
fn storage(what: &str, path: &std::path::Path, e: impl std::fmt::Display) -> WireError {
    WireError::new(
        ErrorCode::Storage,
        format!(
            "Cannot {what} the conversation history {} ({e}); check free space on that disk and that {} is a directory you can write to. Earlier turns are kept.",
            path.display(),
            path.parent().unwrap_or(path).display(),
        ),
    )
}

impl Handler<RunTurn> for SessionActor {
    type Result = ResponseFuture<Result<TurnDone, WireError>>;

    fn handle(&mut self, msg: RunTurn, _ctx: &mut Context<Self>) -> Self::Result {
        self.activity.inflight.fetch_add(1, Ordering::SeqCst);
        self.activity.touch();
        let guard = InflightGuard(self.activity.clone());
        let id = self.id.clone();
        let env = self.env.clone();
        let path = history::path(&self.dir, &self.id);
        let history = self.history.clone();
        let task = tokio::spawn(async move {
            let _guard = guard;
            let RunTurn {
                req,
                ctx,
                name,
                last_model,
                created_at,
            } = msg;
            // Queue behind a running turn of the same conversation.
            let mut slot = match history.try_lock() {
                Ok(g) => g,
                Err(_) => {
                    let _ = ctx
                        .emit(Event::Ask(AskEvent::Notice(
                            "waiting for the previous question in this conversation to finish"
                                .into(),
                        )))
                        .await;
                    tokio::select! {
                        g = history.lock() => g,
                        _ = ctx.cancel.cancelled() => {
                            return Err(WireError::new(ErrorCode::Cancelled, "cancelled while waiting for the previous question"));
                        }
                    }
                }
            };
            if slot.is_none() {
                let p = path.clone();
                let loaded = tokio::task::spawn_blocking(move || history::load(&p))
                    .await
                    .map_err(|e| storage("read", &path, e))?
                    .map_err(|e| {
                        crate::hardening::fd_shortage_error(&e)
                            .unwrap_or_else(|| storage("read", &path, e))
                    })?;
                *slot = Some(loaded);
            }
            let Some(hist) = slot.as_mut() else {
                return Err(storage("read", &path, "not loaded"));
            };
            let input = TurnInput {
                session_id: id.clone(),
                name,
                history: hist.items(),
                last_model: hist.turns.last().map(|t| t.model.clone()).or(last_model),
            };
            let result = turn::run(&env, input, &req, &ctx).await?;
            if ctx.is_cancelled() {
                // The client gave up at the last moment: keep nothing, as promised.
                return Err(WireError::new(
                    ErrorCode::Cancelled,
                    "cancelled; nothing was saved from this turn",
                ));
            }
            let created = if hist.created_at != 0 {
                hist.created_at
            } else {
                created_at
            };
            let (p, t, i) = (path.clone(), result.turn.clone(), id.clone());
            let bytes = tokio::task::spawn_blocking(move || history::append(&p, &i, created, &t))
                .await
                .map_err(|e| storage("write", &path, e))?
                .map_err(|e| {
                    crate::hardening::fd_shortage_error(&e)
                        .unwrap_or_else(|| storage("write", &path, e))
                })?;
            hist.created_at = created;
            hist.bytes = bytes;
            hist.turns.push(result.turn.clone());
            Ok(TurnDone {
                outcome: result.outcome,
                model: result.turn.model,
                at: result.turn.at,
                turns: u32::try_from(hist.turns.len()).unwrap_or(u32::MAX),
                tokens: hist.tokens(),
                bytes,
            })
        });
        Box::pin(async move {
            task.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "a conversation turn crashed");
                Err(WireError::new(
                    ErrorCode::Internal,
                    "The turn failed inside codexd (a bug; see `codexctl logs`). Nothing was saved; ask again.",
                ))
            })
        })
    }
}
