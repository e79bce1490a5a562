//! InstructionCacheActor: which model a turn uses and its base instructions, from the model
//! catalogs — the account's live `/codex/models` and the openai/codex release's `models.json`
//! (kept fresh by ETag) — with the legacy prompt files for models no catalog knows.
//!
//! Layout:
//! - [`catalog`] — the catalog's shape and its parsing; [`merge`] — live + release merged,
//!   the default model.
//! - [`families`] — model slug prefix → family → legacy prompt file, as data.
//! - [`github`] — release tag and raw file client (ETag, rate limits, redirect fallback).
//! - [`cache`] — the disk cache (file + metadata, atomic writes, checksums).
//! - [`engine`] — memory, TTL, stale-while-revalidate, single flight, overrides, fallback.
//! - [`watch`] — notify watchers on the override and cache directories.
//! - [`fallback`] — codexd's own short fallback text.
//!
//! The actor is a thin shell: every handler hands its work to the [`engine::Engine`] in a
//! future, so the arbiter thread never waits on disk or network.

pub(crate) mod cache;
pub(crate) mod catalog;
pub mod engine;
pub mod fallback;
pub(crate) mod families;
pub(crate) mod github;
pub(crate) mod merge;
pub(crate) mod watch;

use std::sync::Arc;

use actix::prelude::*;
use codexd_proto::WireError;
use codexd_proto::instructions::{
    ClientVersion, InstructionSource, InstructionsInfo, InstructionsRequest, ModelCatalog,
    ModelInfo,
};
use codexd_proto::status::ActorKind;

use crate::backend::Backend;
use crate::config::Config;
use crate::paths::Paths;
use crate::supervisor::{PanicForTest, panic_for_test};
use engine::{Clock, Engine, EngineDeps};

/// What the actor needs.
#[derive(Clone)]
pub struct InstructionDeps {
    /// Settings.
    pub config: Arc<Config>,
    /// Where files live.
    pub paths: Paths,
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// The backend client, for the account's live catalog.
    pub backend: Backend,
}

/// The instructions cache.
pub struct InstructionCacheActor {
    engine: Engine,
    /// Keeps the file watchers alive as long as the actor.
    watcher: Option<watch::Watcher>,
}

impl InstructionCacheActor {
    /// Build with the system clock and the AuthActor as token source; the disk cache is
    /// loaded when it starts.
    pub fn new(deps: InstructionDeps) -> Self {
        let clock: Clock = Arc::new(crate::now_unix);
        Self::with_engine(EngineDeps {
            config: deps.config,
            paths: deps.paths,
            http: deps.http,
            clock,
            compat: deps.backend.compat().clone(),
            backend: Some(deps.backend),
        })
    }

    /// Build from engine parts (tests inject a clock and a token source).
    pub fn with_engine(deps: EngineDeps) -> Self {
        Self {
            engine: Engine::new(deps),
            watcher: None,
        }
    }

    /// The engine (shared with background tasks).
    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }
}

impl Actor for InstructionCacheActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        let engine = self.engine.clone();
        tokio::spawn(async move { engine.load().await });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        match watch::start(
            self.engine.override_dir(),
            self.engine.cache_dir(),
            move |c| {
                let _ = tx.send(c);
            },
        ) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the instruction override and cache directories; override edits need a daemon restart")
            }
        }
        let engine = self.engine.clone();
        // Ends when the watcher (and with it the sender) is dropped with the actor.
        tokio::spawn(async move {
            while let Some((overrides, cache)) = watch::next_batch(&mut rx).await {
                if overrides {
                    engine.reload_overrides().await;
                }
                if cache {
                    engine.check_cache().await;
                }
            }
        });
    }
}

/// The model a turn uses, its base instructions, and what the catalogs know of it.
#[derive(Debug, Clone)]
pub struct ResolvedInstructions {
    /// The model slug.
    pub model: String,
    /// Not asked for: the configured or the catalog's default.
    pub default_model: bool,
    /// The base instructions text.
    pub text: Arc<str>,
    /// Family name (legacy prompt files and override files).
    pub family: String,
    /// Where the text came from.
    pub source: InstructionSource,
    /// The merged catalog's facts, if any catalog lists the model.
    pub info: Option<ModelInfo>,
    /// Whether the account is offered the model (false for a model no catalog lists).
    pub offered: bool,
    /// The compatibility version in use.
    pub client_version: ClientVersion,
}

/// The model and instructions for a turn: never waits on the network when a copy exists.
#[derive(Message)]
#[rtype(result = "Result<ResolvedInstructions, WireError>")]
pub struct GetInstructions {
    /// Model slug; `None` = the default model.
    pub model: Option<String>,
}

/// `codexctl instructions` (and the status line, which does not wait).
#[derive(Message)]
#[rtype(result = "Result<InstructionsInfo, WireError>")]
pub struct Describe {
    /// What is asked.
    pub req: InstructionsRequest,
    /// Resolve like a turn (wait for a cold cache) rather than answer from memory.
    pub wait: bool,
}

/// `codexctl models`.
#[derive(Message)]
#[rtype(result = "Result<ModelCatalog, WireError>")]
pub struct GetModels {
    /// Revalidate now.
    pub refresh: bool,
}

/// Delete the caches (`codexctl data purge --cache`).
#[derive(Message)]
#[rtype(result = "Result<(), WireError>")]
pub struct PurgeCache;

impl Handler<GetInstructions> for InstructionCacheActor {
    type Result = ResponseActFuture<Self, Result<ResolvedInstructions, WireError>>;
    fn handle(&mut self, msg: GetInstructions, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move { engine.resolve(msg.model.as_deref()).await }.into_actor(self))
    }
}

impl Handler<Describe> for InstructionCacheActor {
    type Result = ResponseActFuture<Self, Result<InstructionsInfo, WireError>>;
    fn handle(&mut self, msg: Describe, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move { engine.describe(msg.req, msg.wait).await }.into_actor(self))
    }
}

impl Handler<GetModels> for InstructionCacheActor {
    type Result = ResponseActFuture<Self, Result<ModelCatalog, WireError>>;
    fn handle(&mut self, msg: GetModels, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move { Ok(engine.models(msg.refresh).await) }.into_actor(self))
    }
}

impl Handler<PurgeCache> for InstructionCacheActor {
    type Result = ResponseActFuture<Self, Result<(), WireError>>;
    fn handle(&mut self, _msg: PurgeCache, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move { engine.purge().await }.into_actor(self))
    }
}

impl Handler<PanicForTest> for InstructionCacheActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: PanicForTest, _ctx: &mut Context<Self>) -> Self::Result {
        panic_for_test(ActorKind::Instructions, msg)
    }
}
