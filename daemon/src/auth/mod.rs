//! AuthActor: Sign in with ChatGPT, the credential store, refresh, and revoke on logout.
//!
//! Nothing but this actor ever holds a refresh token, so there is exactly one refresher.
//! The actor is thin: each handler hands its work to [`core::Core`] in a future.
//!
//! Layout: [`core`] (state, single-flight refresh, timer, login completion, logout),
//! [`login`] (browser and paste flows), [`callback`] (loopback listener), [`device`]
//! (device-code flow), [`paste`] (parsing pasted redirects), [`import`] (Codex CLI
//! `auth.json`), [`oauth`] (issuer HTTP calls), [`pkce`], [`jwt`] (claims, unverified),
//! [`store`] (keyring / file / memory).
//!
//! Only one login runs at a time: a second one gets `Busy` (cancel the first with Ctrl-C).

pub(crate) mod callback;
pub(crate) mod core;
pub(crate) mod device;
pub(crate) mod import;
pub(crate) mod jwt;
pub(crate) mod login;
pub(crate) mod oauth;
pub(crate) mod paste;
pub(crate) mod pkce;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use codexd_proto::auth::{AccountSummary, AuthStatus, LoginEvent, LoginMethod, LogoutOutcome};
use codexd_proto::status::ActorKind;
use codexd_proto::{ErrorCode, Event, WireError};

use crate::config::Config;
use crate::paths::Paths;
use crate::request::RequestCtx;
use crate::secret::Secret;
use crate::supervisor::{PanicForTest, panic_for_test};

use self::core::Core;
use self::oauth::OAuth;
use self::store::Stores;

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
    deps: AuthDeps,
    /// Set by tests to use a given store instead of opening the configured one.
    stores: Option<Stores>,
    core: Option<Arc<Core>>,
}

impl AuthActor {
    /// Build the actor; credentials are loaded from the store when it starts.
    pub fn new(deps: AuthDeps) -> Self {
        Self {
            deps,
            stores: None,
            core: None,
        }
    }

    /// Build the actor on given stores (tests: a [`store::MemoryStore`]).
    pub fn with_stores(deps: AuthDeps, stores: Stores) -> Self {
        Self {
            deps,
            stores: Some(stores),
            core: None,
        }
    }

    fn core(&self) -> Result<Arc<Core>, WireError> {
        self.core.clone().ok_or_else(|| {
            WireError::new(
                ErrorCode::Internal,
                "the sign-in component is still starting; try again",
            )
        })
    }
}

impl Actor for AuthActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let deps = self.deps.clone();
        let preset = self.stores.clone();
        // `wait` holds back every message until the stored sign-in is loaded.
        ctx.wait(
            actix::fut::wrap_future::<_, Self>(async move {
                let stores = match preset {
                    Some(s) => s,
                    None => {
                        let mode = deps.config.auth.credentials_store;
                        let data_dir = deps.paths.data_dir.clone();
                        let file = deps.paths.credentials_file();
                        let opened = tokio::task::spawn_blocking(move || {
                            store::open(mode, &data_dir, file)
                        });
                        match tokio::time::timeout(Duration::from_secs(10), opened).await {
                            Ok(Ok(s)) => s,
                            _ => {
                                // The keyring hung or failed badly: use the file and say so.
                                let mut s = Stores::single(Arc::new(store::FileStore::new(
                                    deps.paths.credentials_file(),
                                )));
                                s.note = Some(format!(
                                    "the OS keyring did not answer in time; credentials are kept in {} (mode 0600) instead",
                                    deps.paths.credentials_file().display()
                                ));
                                s
                            }
                        }
                    }
                };
                let core = Core::new(
                    OAuth::new(deps.http.clone(), &deps.config.auth),
                    stores,
                    deps.config.auth.refresh_margin_secs,
                );
                core.load().await;
                core
            })
            .map(|core, act: &mut Self, _| act.core = Some(core)),
        );
    }
}

impl Drop for AuthActor {
    fn drop(&mut self) {
        if let Some(core) = &self.core {
            core.shutdown();
        }
    }
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

const IMPORT_WARNING: &str = "Importing the Codex CLI sign-in. Sign the Codex CLI out afterwards (`codex logout`) \
or stop using it with this account: refresh tokens are single-use, and two programs refreshing the same \
sign-in race each other until one of them is signed out. The source file is not modified.";

async fn run_login(
    core: Arc<Core>,
    deps: AuthDeps,
    method: LoginMethod,
    ctx: RequestCtx,
) -> Result<AccountSummary, WireError> {
    let slot = core.begin_login()?;
    let cfg = &deps.config.auth;
    let limit = Duration::from_secs(cfg.login_timeout_secs.max(1));
    let timeout_msg = format!(
        "The sign-in timed out after {} without an answer. Run `codexctl login` again (or `--device` / `--paste`).",
        if limit.as_secs().is_multiple_of(60) {
            format!("{} minutes", limit.as_secs() / 60)
        } else {
            format!("{} seconds", limit.as_secs())
        }
    );
    let flow = async {
        match method {
            LoginMethod::Browser { open_browser } => tokio::time::timeout(
                limit,
                login::browser(
                    &core,
                    &deps.http,
                    &cfg.callback_ports,
                    open_browser,
                    limit.as_secs(),
                    &ctx,
                ),
            )
            .await
            .unwrap_or_else(|_| Err(WireError::new(ErrorCode::LoginTimeout, timeout_msg.clone()))),
            LoginMethod::Paste => tokio::time::timeout(
                limit,
                login::paste(&core, &cfg.callback_ports, limit.as_secs(), &ctx),
            )
            .await
            .unwrap_or_else(|_| Err(WireError::new(ErrorCode::LoginTimeout, timeout_msg.clone()))),
            LoginMethod::Device => {
                let tokens = device::run(&core.oauth, &ctx).await?;
                core.finish_login(tokens).await
            }
            LoginMethod::ImportCodex { path } => {
                ctx.emit(Event::Login(LoginEvent::Notice(IMPORT_WARNING.into())))
                    .await;
                let path = import::default_path(path.as_deref())
                    .map_err(|e| WireError::new(ErrorCode::BadRequest, e))?;
                let tokens = tokio::task::spawn_blocking(move || import::read(&path))
                    .await
                    .map_err(|_| {
                        WireError::new(ErrorCode::Internal, "reading the file failed unexpectedly")
                    })?
                    .map_err(|e| {
                        WireError::new(ErrorCode::BadRequest, format!("{e}. Nothing was imported."))
                    })?;
                core.finish_login(tokens).await
            }
        }
    };
    let result = tokio::select! {
        r = flow => r,
        _ = ctx.cancel.cancelled() => Err(WireError::new(ErrorCode::Cancelled, "The sign-in was cancelled.")),
        _ = slot.cancelled() => Err(WireError::new(ErrorCode::Cancelled, "The sign-in was interrupted (the daemon's sign-in component restarted); run `codexctl login` again.")),
    };
    core.end_login(&slot);
    match result {
        Ok((account, notice)) => {
            if let Some(n) = notice {
                ctx.emit(Event::Login(LoginEvent::Notice(n))).await;
            }
            Ok(account)
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "sign-in failed");
            Err(e)
        }
    }
}

impl Handler<Login> for AuthActor {
    type Result = ResponseActFuture<Self, Result<AccountSummary, WireError>>;
    fn handle(&mut self, msg: Login, _ctx: &mut Context<Self>) -> Self::Result {
        let core = self.core();
        let deps = self.deps.clone();
        Box::pin(async move { run_login(core?, deps, msg.method, msg.ctx).await }.into_actor(self))
    }
}

impl Handler<Logout> for AuthActor {
    type Result = ResponseActFuture<Self, Result<LogoutOutcome, WireError>>;
    fn handle(&mut self, msg: Logout, _ctx: &mut Context<Self>) -> Self::Result {
        let core = self.core();
        Box::pin(async move { core?.logout(msg.local_only).await }.into_actor(self))
    }
}

impl Handler<GetStatus> for AuthActor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _msg: GetStatus, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(match &self.core {
            Some(core) => core.status(),
            None => AuthStatus {
                account: None,
                store: "(starting)".into(),
                store_note: None,
                last_refresh_error: None,
                sign_in_again: None,
                login_in_progress: false,
                unsaved: None,
            },
        })
    }
}

impl Handler<GetAccess> for AuthActor {
    type Result = ResponseActFuture<Self, Result<Access, WireError>>;
    fn handle(&mut self, _msg: GetAccess, _ctx: &mut Context<Self>) -> Self::Result {
        let core = self.core();
        Box::pin(async move { core?.get_access().await }.into_actor(self))
    }
}

impl Handler<RefreshAfterUnauthorized> for AuthActor {
    type Result = ResponseActFuture<Self, Result<Access, WireError>>;
    fn handle(&mut self, msg: RefreshAfterUnauthorized, _ctx: &mut Context<Self>) -> Self::Result {
        let core = self.core();
        Box::pin(
            async move { core?.refresh_after_unauthorized(&msg.rejected).await }.into_actor(self),
        )
    }
}

/// Test hook behind `DebugRequest::Access`: get a token (after reporting the current one as
/// rejected, when asked) and answer with its fingerprint only.
pub async fn debug_access(
    auth: &crate::supervisor::Supervised<AuthActor>,
    after_unauthorized: bool,
) -> Result<codexd_proto::Reply, WireError> {
    use sha2::{Digest, Sha256};
    let mut access = auth.send(GetAccess).await??;
    if after_unauthorized {
        access = auth
            .send(RefreshAfterUnauthorized {
                rejected: access.token,
            })
            .await??;
    }
    let digest = Sha256::digest(access.token.expose().as_bytes());
    Ok(codexd_proto::Reply::DebugAccess {
        account_id: access.account_id,
        token_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

impl Handler<PanicForTest> for AuthActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: PanicForTest, _ctx: &mut Context<Self>) -> Self::Result {
        panic_for_test(ActorKind::Auth, msg)
    }
}
