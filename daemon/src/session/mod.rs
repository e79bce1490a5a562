//! SessionRegistry and one SessionActor per conversation: streams answers from the Codex
//! Responses backend and keeps each conversation's history (the backend is stateless).
//! (Foundation stub: conversations arrive with the sessions issue.)

use std::sync::Arc;

use actix::prelude::*;
use codexd_proto::conversation::{
    AskOutcome, AskRequest, RateLimits, SessionsRequest, SessionsSummary,
};
use codexd_proto::status::ActorKind;
use codexd_proto::{ErrorCode, Reply, WireError};

use crate::auth::AuthActor;
use crate::config::Config;
use crate::instructions::InstructionCacheActor;
use crate::log::RequestLog;
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
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// Tokens.
    pub auth: Supervised<AuthActor>,
    /// Base instructions.
    pub instructions: Supervised<InstructionCacheActor>,
    /// Opt-in request logs.
    pub request_log: RequestLog,
}

/// Owns the session actors.
pub struct SessionRegistry {
    #[allow(dead_code)]
    deps: SessionDeps,
}

impl SessionRegistry {
    /// Build; stored sessions are indexed when it starts.
    pub fn new(deps: SessionDeps) -> Self {
        Self { deps }
    }
}

impl Actor for SessionRegistry {
    type Context = Context<Self>;
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
#[rtype(result = "Result<Reply, WireError>")]
pub struct Sessions(pub SessionsRequest);

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

impl Handler<Ask> for SessionRegistry {
    type Result = Result<AskOutcome, WireError>;
    fn handle(&mut self, _msg: Ask, _ctx: &mut Context<Self>) -> Self::Result {
        Err(WireError::new(
            ErrorCode::Disabled,
            "conversations are not implemented yet",
        ))
    }
}

impl Handler<Sessions> for SessionRegistry {
    type Result = Result<Reply, WireError>;
    fn handle(&mut self, _msg: Sessions, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(Reply::Sessions(vec![]))
    }
}

impl Handler<Summary> for SessionRegistry {
    type Result = MessageResult<Summary>;
    fn handle(&mut self, _msg: Summary, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(SessionsSummary::default())
    }
}

impl Handler<Limits> for SessionRegistry {
    type Result = Option<RateLimits>;
    fn handle(&mut self, _msg: Limits, _ctx: &mut Context<Self>) -> Self::Result {
        None
    }
}

impl Handler<PurgeSessions> for SessionRegistry {
    type Result = Result<(), WireError>;
    fn handle(&mut self, _msg: PurgeSessions, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(())
    }
}

impl Handler<PanicForTest> for SessionRegistry {
    type Result = ();
    fn handle(&mut self, _msg: PanicForTest, _ctx: &mut Context<Self>) {
        panic_for_test(ActorKind::Sessions)
    }
}
