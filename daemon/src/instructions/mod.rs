//! InstructionCacheActor: the Codex base instructions per model family, fetched from the
//! openai/codex GitHub release and kept fresh by ETag, and the model catalog.
//! (Foundation stub: fetching arrives with the instructions issue.)

use std::sync::Arc;

use actix::prelude::*;
use codexd_proto::WireError;
use codexd_proto::instructions::{
    InstructionSource, InstructionsInfo, InstructionsRequest, ModelCatalog, ModelInfo,
};
use codexd_proto::status::ActorKind;

use crate::auth::AuthActor;
use crate::config::Config;
use crate::paths::Paths;
use crate::supervisor::{PanicForTest, Supervised, panic_for_test};

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
    deps: InstructionDeps,
}

impl InstructionCacheActor {
    /// Build; the disk cache is loaded when it starts.
    pub fn new(deps: InstructionDeps) -> Self {
        Self { deps }
    }
}

impl Actor for InstructionCacheActor {
    type Context = Context<Self>;
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

const STUB_TEXT: &str =
    "You are a coding assistant reached through codexd. (Fallback instructions.)";

impl Handler<GetInstructions> for InstructionCacheActor {
    type Result = Result<ResolvedInstructions, WireError>;
    fn handle(&mut self, _msg: GetInstructions, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(ResolvedInstructions {
            text: STUB_TEXT.into(),
            family: "default".into(),
            source: InstructionSource::Fallback,
            model: None,
        })
    }
}

impl Handler<Describe> for InstructionCacheActor {
    type Result = Result<InstructionsInfo, WireError>;
    fn handle(&mut self, msg: Describe, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(InstructionsInfo {
            model: msg
                .0
                .model
                .unwrap_or_else(|| self.deps.config.backend.model.clone()),
            family: "default".into(),
            file: "prompt.md".into(),
            source: InstructionSource::Fallback,
            tag: None,
            etag: None,
            fetched_at: None,
            last_checked: None,
            sha256: String::new(),
            bytes: STUB_TEXT.len() as u64,
            text: msg.0.show.then(|| STUB_TEXT.to_string()),
            note: None,
        })
    }
}

impl Handler<GetModels> for InstructionCacheActor {
    type Result = Result<ModelCatalog, WireError>;
    fn handle(&mut self, _msg: GetModels, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(ModelCatalog {
            models: vec![],
            source: "none".into(),
            fetched_at: None,
            note: None,
        })
    }
}

impl Handler<PurgeCache> for InstructionCacheActor {
    type Result = Result<(), WireError>;
    fn handle(&mut self, _msg: PurgeCache, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(())
    }
}

impl Handler<PanicForTest> for InstructionCacheActor {
    type Result = ();
    fn handle(&mut self, _msg: PanicForTest, _ctx: &mut Context<Self>) {
        panic_for_test(ActorKind::Instructions)
    }
}
