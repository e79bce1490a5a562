//! InstructionCacheActor: the Codex base instructions per model family, fetched from the
//! openai/codex GitHub release and kept fresh by ETag, and the model catalog.
//!
//! Layout:
//! - [`families`] — model slug prefix → family → prompt file, as data.
//! - [`github`] — release tag and raw file client (ETag, rate limits, redirect fallback).
//! - [`catalog`] — `GET {backend}/codex/models` and its parsing.
//! - [`cache`] — the disk cache (file + metadata, atomic writes, checksums).
//! - [`engine`] — memory, TTL, stale-while-revalidate, single flight, overrides, fallback.
//! - [`watch`] — notify watchers on the override and cache directories.
//! - [`fallback`] — codexd's own short fallback text.
//!
//! The actor is a thin shell: every handler hands its work to the [`engine::Engine`] in a
//! future, so the arbiter thread never waits on disk or network.

pub mod cache;
pub mod catalog;
pub mod engine;
pub mod fallback;
pub mod families;
pub mod github;
pub mod watch;

use std::sync::Arc;

use actix::prelude::*;
use codexd_proto::WireError;
use codexd_proto::instructions::{
    InstructionSource, InstructionsInfo, InstructionsRequest, ModelCatalog, ModelInfo,
};
use codexd_proto::status::ActorKind;

use crate::auth::{AuthActor, GetAccess};
use crate::config::Config;
use crate::paths::Paths;
use crate::supervisor::{PanicForTest, Supervised, panic_for_test};
use engine::{AccessFn, Clock, Engine, EngineDeps};

/// What the actor needs.
#[derive(Clone)]
pub struct InstructionDeps {
    /// Settings.
    pub config: Arc<Config>,
    /// Where files live.
    pub paths: Paths,
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// For the model catalog (needs a token).
    pub auth: Supervised<AuthActor>,
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
        let auth = deps.auth.clone();
        let access: AccessFn = Arc::new(move || {
            let auth = auth.clone();
            Box::pin(async move { auth.send(GetAccess).await? })
        });
        let clock: Clock = Arc::new(crate::now_unix);
        Self::with_engine(EngineDeps {
            config: deps.config,
            paths: deps.paths,
            http: deps.http,
            clock,
            access: Some(access),
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

/// Instructions ready to send, plus what the catalog knows of the model.
#[derive(Debug, Clone)]
pub struct ResolvedInstructions {
    /// The base instructions text.
    pub text: Arc<str>,
    /// Family name.
    pub family: String,
    /// Where it came from.
    pub source: InstructionSource,
    /// Catalog entry, if the model is in the catalog.
    pub model: Option<ModelInfo>,
}

/// Instructions for a model: never waits on the network when a copy exists.
#[derive(Message)]
#[rtype(result = "Result<ResolvedInstructions, WireError>")]
pub struct GetInstructions {
    /// Model slug.
    pub model: String,
}

/// `codexctl instructions`.
#[derive(Message)]
#[rtype(result = "Result<InstructionsInfo, WireError>")]
pub struct Describe(pub InstructionsRequest);

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
    type Result = ResponseFuture<Result<ResolvedInstructions, WireError>>;
    fn handle(&mut self, msg: GetInstructions, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move { Ok(engine.get(&msg.model).await) })
    }
}

impl Handler<Describe> for InstructionCacheActor {
    type Result = ResponseFuture<Result<InstructionsInfo, WireError>>;
    fn handle(&mut self, msg: Describe, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move { Ok(engine.describe(msg.0).await) })
    }
}

impl Handler<GetModels> for InstructionCacheActor {
    type Result = ResponseFuture<Result<ModelCatalog, WireError>>;
    fn handle(&mut self, msg: GetModels, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move { Ok(engine.models(msg.refresh).await) })
    }
}

impl Handler<PurgeCache> for InstructionCacheActor {
    type Result = ResponseFuture<Result<(), WireError>>;
    fn handle(&mut self, _msg: PurgeCache, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move { engine.purge().await })
    }
}

impl Handler<PanicForTest> for InstructionCacheActor {
    type Result = ();
    fn handle(&mut self, _msg: PanicForTest, _ctx: &mut Context<Self>) {
        panic_for_test(ActorKind::Instructions)
    }
}
