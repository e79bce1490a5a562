//! AuthActor: Sign in with ChatGPT, the credential store, refresh, and revoke on logout.
//!
//! Nothing but this actor ever holds a refresh token, so there is exactly one refresher.
//! (Foundation stub: the flows arrive with the sign-in issue.)

use std::sync::Arc;

use actix::prelude::*;
use codexd_proto::auth::{AccountSummary, AuthStatus, LoginMethod, LogoutOutcome};
use codexd_proto::status::ActorKind;
use codexd_proto::{ErrorCode, WireError};

use crate::config::Config;
use crate::paths::Paths;
use crate::request::RequestCtx;
use crate::secret::Secret;
use crate::supervisor::{PanicForTest, panic_for_test};

/// What the AuthActor needs from the outside world.
#[derive(Clone)]
pub struct AuthDeps {
    /// Settings (issuer, client id, ports, store choice).
    pub config: Arc<Config>,
    /// Where files live.
    pub paths: Paths,
    /// Shared HTTP client.
    pub http: reqwest::Client,
}

/// The sign-in owner.
pub struct AuthActor {
    #[allow(dead_code)]
    deps: AuthDeps,
}

impl AuthActor {
    /// Build the actor; credentials are loaded from the store when it starts.
    pub fn new(deps: AuthDeps) -> Self {
        Self { deps }
    }
}

impl Actor for AuthActor {
    type Context = Context<Self>;
}

/// A valid access token and the account it belongs to.
#[derive(Debug, Clone)]
pub struct Access {
    /// Bearer token.
    pub token: Secret,
    /// `ChatGPT-Account-ID` header value.
    pub account_id: String,
}

fn not_signed_in() -> WireError {
    WireError::new(
        ErrorCode::NotSignedIn,
        "You are not signed in. Run `codexctl login` to sign in with ChatGPT.",
    )
}

/// Run a sign-in flow; progress goes to the client through `ctx`.
#[derive(Message)]
#[rtype(result = "Result<AccountSummary, WireError>")]
pub struct Login {
    /// Which flow.
    pub method: LoginMethod,
    /// Client channel.
    pub ctx: RequestCtx,
}

/// Revoke (unless `local_only`), then delete every local copy.
#[derive(Message)]
#[rtype(result = "Result<LogoutOutcome, WireError>")]
pub struct Logout {
    /// Skip revocation.
    pub local_only: bool,
}

/// Sign-in state for `status`.
#[derive(Message)]
#[rtype(result = "AuthStatus")]
pub struct GetStatus;

/// A valid access token, refreshed first when it expires soon (single-flight).
#[derive(Message)]
#[rtype(result = "Result<Access, WireError>")]
pub struct GetAccess;

/// The backend answered 401 to `rejected`: refresh once (unless already done) and return the new token.
#[derive(Message)]
#[rtype(result = "Result<Access, WireError>")]
pub struct RefreshAfterUnauthorized {
    /// The token the backend rejected.
    pub rejected: Secret,
}

impl Handler<Login> for AuthActor {
    type Result = Result<AccountSummary, WireError>;
    fn handle(&mut self, _msg: Login, _ctx: &mut Context<Self>) -> Self::Result {
        Err(WireError::new(
            ErrorCode::Disabled,
            "sign-in is not implemented yet",
        ))
    }
}

impl Handler<Logout> for AuthActor {
    type Result = Result<LogoutOutcome, WireError>;
    fn handle(&mut self, _msg: Logout, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(LogoutOutcome {
            revoked: false,
            removed: vec![],
            was_signed_in: false,
        })
    }
}

impl Handler<GetStatus> for AuthActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _msg: GetStatus, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(AuthStatus {
            account: None,
            store: "none".into(),
            store_note: None,
            last_refresh_error: None,
            sign_in_again: None,
            login_in_progress: false,
        })
    }
}

impl Handler<GetAccess> for AuthActor {
    type Result = Result<Access, WireError>;
    fn handle(&mut self, _msg: GetAccess, _ctx: &mut Context<Self>) -> Self::Result {
        Err(not_signed_in())
    }
}

impl Handler<RefreshAfterUnauthorized> for AuthActor {
    type Result = Result<Access, WireError>;
    fn handle(&mut self, _msg: RefreshAfterUnauthorized, _ctx: &mut Context<Self>) -> Self::Result {
        Err(not_signed_in())
    }
}

impl Handler<PanicForTest> for AuthActor {
    type Result = ();
    fn handle(&mut self, _msg: PanicForTest, _ctx: &mut Context<Self>) {
        panic_for_test(ActorKind::Auth)
    }
}
