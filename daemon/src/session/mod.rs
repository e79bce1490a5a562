//! SessionRegistry and one SessionActor per conversation: streams answers from the Codex
//! Responses backend and keeps each conversation's history (the backend is stateless).
//!
//! Layout:
//! - this file — [`SessionRegistry`]: picks the conversation for each `ask` (current one of
//!   a terminal, named, new, or ephemeral), starts its [`actor::SessionActor`] on demand,
//!   keeps the [`index`], answers `codexctl sessions …`, and remembers the last usage windows.
//!   It only routes: turns run in the session actors' tasks, so 100 asks never queue here.
//! - [`actor`] — one conversation: turn queue, history in memory, idle stop.
//! - [`turn`] — one turn: plan it (model, effort, instructions, shape), send it through the
//!   [`crate::backend`] client, stream the answer, assemble the history entry.
//! - [`body`] — the request body and its input items (CLI 0.171 shape);
//!   [`history`] — the JSON-lines files; [`index`] — names, scopes, counters;
//!   [`prompts`] — developer messages of the shell helpers.

pub mod actor;
pub mod body;
pub mod history;
pub mod index;
pub mod prompts;
pub mod turn;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use codexd_proto::conversation::{
    AskOutcome, AskRequest, RateLimits, SessionDetail, SessionSelector, SessionsRequest,
    SessionsSummary, TurnSummary,
};
use codexd_proto::status::ActorKind;
use codexd_proto::{ErrorCode, WireError};

use self::actor::{Activity, RunTurn, SessionActor, StopSession, TurnDone};
use self::index::{Entry, Index, IndexWriter, Lookup};
use self::turn::{TurnEnv, TurnInput};
use crate::backend::Backend;
use crate::config::Config;
use crate::instructions::InstructionCacheActor;
use crate::paths::Paths;
use crate::request::RequestCtx;
use crate::supervisor::{PanicForTest, Supervised, panic_for_test};

/// What the registry and its sessions need.
#[derive(Clone)]
pub struct SessionDeps {
    /// Settings.
    pub config: Arc<Config>,
    /// Where files live.
    pub paths: Paths,
    /// The backend client.
    pub backend: Backend,
    /// The model catalog and base instructions.
    pub instructions: Supervised<InstructionCacheActor>,
}

/// Starts session actors (also from inside a future, when a stopped one must be replaced).
#[derive(Clone)]
struct Spawner {
    env: TurnEnv,
    dir: PathBuf,
    idle_stop: Duration,
}

impl Spawner {
    fn start(&self, id: &str) -> RunningSession {
        let activity = Arc::new(Activity::default());
        let actor = SessionActor::new(
            id.to_owned(),
            self.env.clone(),
            self.dir.clone(),
            self.idle_stop,
            activity.clone(),
        );
        RunningSession {
            addr: actor.start(),
            activity,
        }
    }
}

/// A running session actor and what it shares with the registry.
#[derive(Clone)]
struct RunningSession {
    addr: Addr<SessionActor>,
    /// Turns in flight and the last activity (the actor updates it; `sessions rm` reads it).
    activity: Arc<Activity>,
}

/// Owns the session actors and the index.
pub struct SessionRegistry {
    spawner: Spawner,
    index: Index,
    writer: Option<IndexWriter>,
    /// Session actors by conversation id (some may have stopped since).
    running: HashMap<String, RunningSession>,
}

impl SessionRegistry {
    /// Build; stored sessions are indexed (and reconciled with their files) when the actor
    /// starts, on a blocking thread, before it handles any message.
    pub fn new(deps: SessionDeps) -> Self {
        let dir = deps.paths.sessions_dir();
        let env = TurnEnv {
            config: deps.config.clone(),
            backend: deps.backend.clone(),
            instructions: deps.instructions.clone(),
        };
        Self {
            spawner: Spawner {
                env,
                dir,
                idle_stop: Duration::from_secs(deps.config.sessions.idle_stop_secs.max(1)),
            },
            index: Index::default(),
            writer: None,
            running: HashMap::new(),
        }
    }

    fn save(&mut self) {
        let dir = self.spawner.dir.clone();
        self.writer
            .get_or_insert_with(|| IndexWriter::start(dir))
            .save(&self.index);
    }

    fn is_active(&self, id: &str) -> bool {
        self.running.get(id).is_some_and(|l| l.addr.connected())
    }

    /// The live actor of a conversation, started when missing or stopped.
    fn session(&mut self, id: &str) -> RunningSession {
        if let Some(l) = self.running.get(id).filter(|l| l.addr.connected()) {
            return l.clone();
        }
        let l = self.spawner.start(id);
        self.running.insert(id.to_owned(), l.clone());
        l
    }

    fn create(&mut self, name: Option<String>) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.index.sessions.insert(
            id.clone(),
            Entry {
                name,
                created_at: crate::now_unix(),
                ..Entry::default()
            },
        );
        id
    }

    /// Which conversation a selector means (created when needed).
    fn resolve(&mut self, sel: &SessionSelector) -> Result<String, WireError> {
        let id = match sel {
            SessionSelector::Current { scope } => {
                match self
                    .index
                    .scopes
                    .get(scope)
                    .filter(|id| self.index.sessions.contains_key(*id))
                {
                    Some(id) => return Ok(id.clone()),
                    None => {
                        let id = self.create(None);
                        self.index.scopes.insert(scope.clone(), id.clone());
                        id
                    }
                }
            }
            SessionSelector::Named(name) => {
                check_name(name)?;
                match self.index.by_name(name) {
                    Some(id) => return Ok(id),
                    None => self.create(Some(name.clone())),
                }
            }
            SessionSelector::New { scope, name } => {
                if let Some(n) = name {
                    check_name(n)?;
                    if self.index.by_name(n).is_some() {
                        return Err(WireError::new(
                            ErrorCode::BadRequest,
                            format!(
                                "A conversation named '{n}' already exists; continue it with `--session {n}`, or pick another name."
                            ),
                        ));
                    }
                }
                let id = self.create(name.clone());
                self.index.scopes.insert(scope.clone(), id.clone());
                id
            }
            SessionSelector::Ephemeral => {
                return Err(WireError::new(
                    ErrorCode::Internal,
                    "ephemeral turns have no session",
                ));
            }
        };
        self.save();
        Ok(id)
    }

    fn lookup(&self, key: &str) -> Result<String, WireError> {
        match self.index.lookup(key) {
            Lookup::Found(id) => Ok(id),
            Lookup::Missing => Err(WireError::new(
                ErrorCode::NotFound,
                format!(
                    "No conversation is named '{key}' or has an id starting with it; `codexctl sessions list` shows them."
                ),
            )),
            Lookup::Ambiguous(ids) => Err(WireError::new(
                ErrorCode::BadRequest,
                format!(
                    "'{key}' matches {} conversations ({}); give more of the id.",
                    ids.len(),
                    ids.iter()
                        .map(|i| &i[..8.min(i.len())])
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    fn record(&mut self, id: &str, done: &TurnDone) {
        if let Some(e) = self.index.sessions.get_mut(id) {
            e.turns = done.turns;
            e.tokens = done.tokens;
            e.model = done.model.clone();
            e.last_used = done.at;
            e.bytes = done.bytes;
        } else {
            // Deleted while the turn ran: the turn recreated the file; forget it again.
            let path = history::path(&self.spawner.dir, id);
            tokio::task::spawn_blocking(move || history::remove(&path));
            return;
        }
        self.save();
    }
}

fn check_name(name: &str) -> Result<(), WireError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= 64
        && !name.chars().any(|c| c.is_control() || c == '/');
    if ok {
        Ok(())
    } else {
        Err(WireError::new(
            ErrorCode::BadRequest,
            format!(
                "'{name}' is not a usable conversation name; use 1–64 characters without '/' or control characters."
            ),
        ))
    }
}

impl Actor for SessionRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.writer = Some(IndexWriter::start(self.spawner.dir.clone()));
        let dir = self.spawner.dir.clone();
        // `wait`: no message is handled before the index is loaded; the directory walk and
        // reconciliation run on a blocking thread, not on the arbiter.
        ctx.wait(
            async move {
                tokio::task::spawn_blocking(move || Index::load(&dir))
                    .await
                    .unwrap_or_default()
            }
            .into_actor(self)
            .map(|index, act, _| {
                tracing::debug!(stored = index.stored(), "sessions indexed");
                act.index = index;
            }),
        );
    }
}

/// Run one turn, streaming to the client.
#[derive(Message)]
#[rtype(result = "Result<AskOutcome, WireError>")]
pub struct Ask {
    /// The turn.
    pub req: AskRequest,
    /// Client channel.
    pub ctx: RequestCtx,
}

/// `codexctl sessions …`.
#[derive(Message)]
#[rtype(result = "Result<SessionsOutcome, WireError>")]
pub struct Sessions(pub SessionsRequest);

/// What a `sessions` request produced.
#[derive(Debug)]
pub enum SessionsOutcome {
    /// `list`
    List(Vec<codexd_proto::conversation::SessionInfo>),
    /// `show`
    Show(SessionDetail),
    /// `rm`, `rename`
    Done,
}

/// Counts for `status`.
#[derive(Message)]
#[rtype(result = "SessionsSummary")]
pub struct Summary;

/// Last seen usage windows for `status`.
#[derive(Message)]
#[rtype(result = "Option<RateLimits>")]
pub struct Limits;

/// Delete every stored conversation (`codexctl data purge --sessions`).
#[derive(Message)]
#[rtype(result = "Result<(), WireError>")]
pub struct PurgeSessions;

fn internal_gone() -> WireError {
    WireError::new(
        ErrorCode::Internal,
        "The conversation's worker stopped unexpectedly; ask again.",
    )
}

impl Handler<Ask> for SessionRegistry {
    type Result = ResponseActFuture<Self, Result<AskOutcome, WireError>>;

    fn handle(&mut self, msg: Ask, _ctx: &mut Context<Self>) -> Self::Result {
        let Ask { req, ctx } = msg;
        if req.session == SessionSelector::Ephemeral {
            // Shell helpers: one-off, never stored, no actor needed.
            let env = self.spawner.env.clone();
            let task = tokio::spawn(async move {
                let input = TurnInput {
                    session_id: uuid::Uuid::new_v4().to_string(),
                    name: None,
                    history: Vec::new(),
                    last_model: None,
                };
                turn::run(&env, input, &req, &ctx).await.map(|r| r.outcome)
            });
            return Box::pin(
                async move { task.await.unwrap_or_else(|_| Err(internal_gone())) }.into_actor(self),
            );
        }
        let id = match self.resolve(&req.session) {
            Ok(id) => id,
            Err(e) => return Box::pin(actix::fut::ready(Err(e))),
        };
        let entry = self.index.sessions.get(&id).cloned().unwrap_or_default();
        let turn = RunTurn {
            req,
            ctx,
            name: entry.name.clone(),
            last_model: (!entry.model.is_empty()).then(|| entry.model.clone()),
            created_at: entry.created_at,
        };
        let live = self.session(&id);
        let spawner = self.spawner.clone();
        let id2 = id.clone();
        let fut = async move {
            let again = turn.clone();
            match live.addr.send(turn).await {
                Ok(r) => (r, None),
                // It stopped (idle) between our check and its mailbox: start a fresh one.
                Err(_) => {
                    let fresh = spawner.start(&id2);
                    let r = fresh
                        .addr
                        .send(again)
                        .await
                        .unwrap_or_else(|_| Err(internal_gone()));
                    (r, Some(fresh))
                }
            }
        };
        Box::pin(fut.into_actor(self).map(move |(res, fresh), act, _ctx| {
            if let Some(f) = fresh {
                act.running.insert(id.clone(), f);
            }
            match res {
                Ok(done) => {
                    act.record(&id, &done);
                    Ok(done.outcome)
                }
                Err(e) => Err(e),
            }
        }))
    }
}

impl Handler<Sessions> for SessionRegistry {
    type Result = ResponseActFuture<Self, Result<SessionsOutcome, WireError>>;

    fn handle(&mut self, msg: Sessions, _ctx: &mut Context<Self>) -> Self::Result {
        let result: Result<SessionsOutcome, WireError> = match msg.0 {
            SessionsRequest::List => {
                let list = self.index.list(|id| self.is_active(id));
                Ok(SessionsOutcome::List(list))
            }
            SessionsRequest::Show(key) => {
                let id = match self.lookup(&key) {
                    Ok(id) => id,
                    Err(e) => return Box::pin(async move { Err(e) }.into_actor(self)),
                };
                let entry = self.index.sessions.get(&id).cloned().unwrap_or_default();
                let info = index::info(&id, &entry, self.is_active(&id));
                let path = history::path(&self.spawner.dir, &id);
                return Box::pin(async move {
                    let shown = path.display().to_string();
                    let h = tokio::task::spawn_blocking(move || history::load(&path))
                        .await
                        .map_err(|e| WireError::new(ErrorCode::Internal, e.to_string()))?
                        .map_err(|e| {
                            crate::hardening::fd_shortage_error(&e).unwrap_or_else(|| WireError::new(
                                ErrorCode::Storage,
                                format!("Cannot read the conversation history {shown} ({e}); check that the file and its directory are readable."),
                            ))
                        })?;
                    let turns = h
                        .turns
                        .into_iter()
                        .map(|t| TurnSummary {
                            user: t.user,
                            assistant: t.text,
                            at: t.at,
                            model: t.model,
                            usage: t.usage,
                        })
                        .collect();
                    Ok(SessionsOutcome::Show(SessionDetail { info, turns }))
                }.into_actor(self));
            }
            SessionsRequest::Remove(key) => match self.lookup(&key) {
                Err(e) => Err(e),
                Ok(id) => {
                    if self
                        .running
                        .get(&id)
                        .is_some_and(|l| l.addr.connected() && l.activity.inflight() > 0)
                    {
                        Err(WireError::new(
                            ErrorCode::Busy,
                            "That conversation is answering a question right now; remove it when the answer is done.",
                        ))
                    } else {
                        if let Some(l) = self.running.remove(&id) {
                            l.addr.do_send(StopSession);
                        }
                        self.index.remove(&id);
                        self.save();
                        let path = history::path(&self.spawner.dir, &id);
                        return Box::pin(
                            async move {
                                tokio::task::spawn_blocking(move || history::remove(&path))
                                    .await
                                    .map_err(|e| {
                                        WireError::new(ErrorCode::Internal, e.to_string())
                                    })?
                                    .map_err(|e| {
                                        WireError::new(
                                            ErrorCode::Storage,
                                            format!(
                                                "Cannot delete the conversation history ({e})."
                                            ),
                                        )
                                    })?;
                                Ok(SessionsOutcome::Done)
                            }
                            .into_actor(self),
                        );
                    }
                }
            },
            SessionsRequest::Rename { from, to } => (|| {
                let id = self.lookup(&from)?;
                check_name(&to)?;
                if let Some(other) = self.index.by_name(&to)
                    && other != id
                {
                    return Err(WireError::new(
                        ErrorCode::BadRequest,
                        format!(
                            "Another conversation is already named '{to}'; pick another name or remove that one first."
                        ),
                    ));
                }
                if let Some(e) = self.index.sessions.get_mut(&id) {
                    e.name = Some(to.clone());
                }
                self.save();
                Ok(SessionsOutcome::Done)
            })(),
        };
        Box::pin(async move { result }.into_actor(self))
    }
}

impl Handler<Summary> for SessionRegistry {
    type Result = MessageResult<Summary>;
    fn handle(&mut self, _msg: Summary, _ctx: &mut Context<Self>) -> Self::Result {
        let active = self.running.values().filter(|l| l.addr.connected()).count();
        MessageResult(SessionsSummary {
            active: u32::try_from(active).unwrap_or(u32::MAX),
            stored: self.index.stored(),
        })
    }
}

impl Handler<Limits> for SessionRegistry {
    type Result = Option<RateLimits>;
    fn handle(&mut self, _msg: Limits, _ctx: &mut Context<Self>) -> Self::Result {
        self.spawner.env.backend.limits()
    }
}

impl Handler<PurgeSessions> for SessionRegistry {
    type Result = ResponseActFuture<Self, Result<(), WireError>>;
    fn handle(&mut self, _msg: PurgeSessions, _ctx: &mut Context<Self>) -> Self::Result {
        for (_, l) in self.running.drain() {
            l.addr.do_send(StopSession);
        }
        let ids: Vec<String> = self.index.sessions.keys().cloned().collect();
        self.index = Index::default();
        self.save();
        let dir = self.spawner.dir.clone();
        Box::pin(
            async move {
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    for id in ids {
                        history::remove(&history::path(&dir, &id))?;
                    }
                    // Files the index did not know about.
                    if let Ok(entries) = std::fs::read_dir(&dir) {
                        for e in entries.flatten() {
                            if e.path().extension().is_some_and(|x| x == "jsonl") {
                                history::remove(&e.path())?;
                            }
                        }
                    }
                    Ok(())
                })
                .await
                .map_err(|e| WireError::new(ErrorCode::Internal, e.to_string()))?
                .map_err(|e| {
                    WireError::new(
                        ErrorCode::Storage,
                        format!("Cannot delete the stored conversations ({e})."),
                    )
                })
            }
            .into_actor(self),
        )
    }
}

impl Handler<PanicForTest> for SessionRegistry {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: PanicForTest, _ctx: &mut Context<Self>) -> Self::Result {
        panic_for_test(ActorKind::Sessions, msg)
    }
}
