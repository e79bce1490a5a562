//! The sign-in state machine behind the actor: the current credentials, single-flight refresh
//! (one refresh future shared by every caller), the proactive refresh timer, login completion
//! (account check, durable save, revoke of the replaced sign-in) and fail-closed logout.
//!
//! Ordering rule: every store write happens under `write_lock` together with a check of
//! `generation` (bumped by each login and logout), so a refresh that finishes after a logout
//! or a new sign-in can never write old credentials back. The rotated refresh token is saved
//! before the refresh future resolves, i.e. before anyone sees the new access token.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use codexd_proto::auth::{AccountSummary, AuthStatus, LogoutOutcome};
use codexd_proto::{ErrorCode, WireError};
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use tokio_util::sync::CancellationToken;

use super::Access;
use super::jwt;
use super::oauth::{OAuth, RefreshFailure, RefreshReason, TokenResponse, classify_refresh};
use super::store::{SCHEMA_VERSION, StoredCredentials, Stores};
use crate::now_unix;

type RefreshFuture = Shared<BoxFuture<'static, Result<Access, WireError>>>;

/// If a token's `exp` cannot be read, refresh when the last refresh is older than this.
const MAX_AGE_WITHOUT_EXP: u64 = 8 * 24 * 3600;
/// An access token this close to expiry is not handed out during a refresh backoff.
const MIN_VALIDITY: u64 = 10;
/// Backoff after transient refresh failures: 5 s doubling up to 5 minutes.
const BACKOFF_START: u64 = 5;
const BACKOFF_MAX: u64 = 300;

/// Mutable state, behind a std mutex held only for short, non-async sections.
#[derive(Default)]
struct State {
    creds: Option<StoredCredentials>,
    load_error: Option<String>,
    last_refresh_error: Option<String>,
    failures: u32,
    backoff_until: Option<u64>,
    generation: u64,
    refresh: Option<RefreshFuture>,
    timer: Option<tokio::task::AbortHandle>,
    login: Option<CancellationToken>,
    /// Why the current (refreshed) credentials are not saved, while they are not: the old
    /// refresh token on disk is already used up, so these must reach the store.
    unsaved: Option<String>,
    /// The timer retrying that save.
    save_retry: Option<tokio::task::AbortHandle>,
}

/// How often an unsaved refreshed sign-in is saved again.
const SAVE_RETRY: Duration = Duration::from_secs(15);

/// Shared by the actor and the futures it spawns.
pub struct Core {
    /// Issuer calls.
    pub oauth: OAuth,
    /// Where credentials live.
    pub stores: Stores,
    /// Proactive refresh margin (seconds before `exp`).
    margin: u64,
    state: Mutex<State>,
    /// Serialises store writes with the generation check.
    write_lock: tokio::sync::Mutex<()>,
    me: Weak<Core>,
}

fn err(code: ErrorCode, msg: impl Into<String>) -> WireError {
    WireError::new(code, msg)
}

/// `exp` of the access token (None when unreadable).
fn access_exp(c: &StoredCredentials) -> Option<u64> {
    jwt::parse(c.access_token.expose())
        .ok()
        .and_then(|cl| cl.exp)
}

fn access_of(c: &StoredCredentials) -> Access {
    Access {
        token: c.access_token.clone(),
        account_id: c.account_id.clone(),
    }
}

/// When a refresh is due: `exp - margin`, with the margin capped at half the token's lifetime
/// (so short-lived tokens do not refresh in a loop).
pub fn refresh_due_at(exp: Option<u64>, last_refresh: u64, margin: u64) -> u64 {
    match exp {
        Some(exp) => {
            let lifetime = exp.saturating_sub(last_refresh);
            exp.saturating_sub(margin.min(lifetime / 2))
        }
        None => last_refresh.saturating_add(MAX_AGE_WITHOUT_EXP),
    }
}

fn sign_in_again(reason: &str) -> WireError {
    err(
        ErrorCode::SignInAgain,
        format!("You must sign in again: {reason}. Run `codexctl login`."),
    )
}

impl Core {
    /// A core with nothing loaded yet.
    pub fn new(oauth: OAuth, stores: Stores, margin: u64) -> Arc<Self> {
        Arc::new_cyclic(|me| Core {
            oauth,
            stores,
            margin,
            state: Mutex::new(State::default()),
            write_lock: tokio::sync::Mutex::new(()),
            me: me.clone(),
        })
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn arc(&self) -> Option<Arc<Core>> {
        self.me.upgrade()
    }

    /// Run a store operation off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Stores) -> T + Send + 'static,
    ) -> Result<T, WireError> {
        let stores = self.stores.clone();
        tokio::task::spawn_blocking(move || f(&stores))
            .await
            .map_err(|_| {
                err(
                    ErrorCode::Internal,
                    "the credential store task failed; see `codexctl logs`",
                )
            })
    }

    /// Load the stored sign-in (called when the actor starts).
    pub async fn load(&self) {
        if let Some(note) = &self.stores.note {
            tracing::warn!("{note}");
        }
        let loaded = self.blocking(|s| s.load()).await;
        let mut st = self.st();
        match loaded {
            Ok(Ok(creds)) => {
                st.load_error = None;
                if let Some(c) = &creds {
                    tracing::info!(account = %c.account_id, store = %self.stores.primary.describe(), "loaded stored sign-in");
                } else {
                    tracing::info!(store = %self.stores.primary.describe(), "not signed in");
                }
                st.creds = creds;
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot load the stored sign-in");
                st.load_error = Some(e.0);
            }
            Err(e) => st.load_error = Some(e.message),
        }
        self.schedule(&mut st);
    }

    /// Stop timers and a running login (the actor is going away).
    pub fn shutdown(&self) {
        let mut st = self.st();
        if let Some(t) = st.timer.take() {
            t.abort();
        }
        if let Some(l) = st.login.take() {
            l.cancel();
        }
        if let Some(t) = st.save_retry.take() {
            t.abort();
        }
        // Last chance before a clean stop: a refreshed sign-in only in memory would be lost.
        if st.unsaved.is_some()
            && let Some(c) = st.creds.clone()
        {
            match self.stores.primary.save(&c) {
                Ok(()) => {
                    st.unsaved = None;
                    tracing::info!("saved the refreshed sign-in before stopping");
                }
                Err(e) => {
                    tracing::error!(error = %e, "stopping with a refreshed sign-in that could not be saved; the next start will need `codexctl login`")
                }
            }
        }
    }

    /// Save credentials that a refresh could not save, if any (under the write lock, and only
    /// when they are still the current sign-in). Called on each token use and by a timer.
    pub async fn retry_unsaved(&self) {
        if self.st().unsaved.is_none() {
            return;
        }
        let _w = self.write_lock.lock().await;
        let (creds, generation) = {
            let st = self.st();
            if st.unsaved.is_none() {
                return;
            }
            let Some(c) = st.creds.clone() else { return };
            (c, st.generation)
        };
        let saved = self.blocking(move |s| s.primary.save(&creds)).await;
        let mut st = self.st();
        if st.generation != generation {
            return;
        }
        match saved {
            Ok(Ok(())) => {
                st.unsaved = None;
                st.last_refresh_error = None;
                if let Some(t) = st.save_retry.take() {
                    t.abort();
                }
                tracing::info!("saved the refreshed sign-in that an earlier save could not store");
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the refreshed sign-in still cannot be saved; retrying");
                st.unsaved = Some(e.0);
            }
            Err(e) => st.unsaved = Some(e.message),
        }
    }

    /// Keep retrying the save every [`SAVE_RETRY`] while it fails.
    fn arm_save_retry(&self, st: &mut State) {
        if st.save_retry.is_some() {
            return;
        }
        let Some(me) = self.arc() else { return };
        let weak = Arc::downgrade(&me);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(SAVE_RETRY).await;
                let Some(core) = weak.upgrade() else { return };
                core.retry_unsaved().await;
                if core.st().unsaved.is_none() {
                    core.st().save_retry = None;
                    return;
                }
            }
        });
        st.save_retry = Some(task.abort_handle());
    }

    /// (Re)arm the proactive refresh timer from the current state.
    fn schedule(&self, st: &mut State) {
        if let Some(t) = st.timer.take() {
            t.abort();
        }
        let Some(c) = &st.creds else { return };
        if c.sign_in_again.is_some() {
            return;
        }
        let due = st
            .backoff_until
            .unwrap_or_else(|| refresh_due_at(access_exp(c), c.last_refresh, self.margin));
        let Some(me) = self.arc() else { return };
        let weak = Arc::downgrade(&me);
        let delay = Duration::from_secs(due.saturating_sub(now_unix()));
        tracing::debug!(
            in_secs = delay.as_secs(),
            "next proactive refresh scheduled"
        );
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(core) = weak.upgrade() {
                let fut = {
                    let mut st = core.st();
                    st.timer = None;
                    st.backoff_until = None;
                    core.start_refresh(&mut st, RefreshReason::ProactiveExpiry)
                };
                if let Some(fut) = fut {
                    let _ = fut.await;
                }
            }
        });
        st.timer = Some(task.abort_handle());
    }

    /// The running refresh, or a new one (None when there is nothing to refresh).
    fn start_refresh(&self, st: &mut State, reason: RefreshReason) -> Option<RefreshFuture> {
        if let Some(f) = &st.refresh {
            return Some(f.clone());
        }
        let creds = st.creds.clone()?;
        if creds.sign_in_again.is_some() {
            return None;
        }
        let me = self.arc()?;
        let generation = st.generation;
        let fut = async move { me.do_refresh(generation, creds, reason).await }
            .boxed()
            .shared();
        st.refresh = Some(fut.clone());
        // Drive it to the end even if every caller goes away: the rotated token must be saved.
        tokio::spawn(fut.clone());
        Some(fut)
    }

    async fn do_refresh(
        self: Arc<Self>,
        generation: u64,
        old: StoredCredentials,
        reason: RefreshReason,
    ) -> Result<Access, WireError> {
        tracing::info!(account = %old.account_id, "refreshing the access token");
        let result = self.oauth.refresh(&old.refresh_token, reason).await;
        let _w = self.write_lock.lock().await;
        match result {
            Ok(resp) => self.refresh_succeeded(generation, old, resp).await,
            Err(e) => {
                let (result, flagged) = self.refresh_failed(generation, &e);
                // Remember a permanent failure across restarts (best effort: the server
                // would say it again).
                if let Some(c) = flagged {
                    let _ = self.blocking(move |s| s.primary.save(&c)).await;
                }
                result
            }
        }
    }

    /// Record a failed refresh; returns the callers' result and, for a permanent failure,
    /// the flagged credentials to persist.
    fn refresh_failed(
        &self,
        generation: u64,
        e: &super::oauth::OAuthError,
    ) -> (Result<Access, WireError>, Option<StoredCredentials>) {
        let mut st = self.st();
        st.refresh = None;
        if st.generation != generation {
            return (
                Err(err(
                    ErrorCode::Internal,
                    "the sign-in changed during a refresh; try again",
                )),
                None,
            );
        }
        match classify_refresh(e) {
            RefreshFailure::Permanent(reason) => {
                tracing::error!(%reason, "refresh failed permanently; the user must sign in again");
                st.last_refresh_error = Some(e.to_string());
                if let Some(c) = &mut st.creds {
                    c.sign_in_again = Some(reason.clone());
                }
                let flagged = st.creds.clone();
                self.schedule(&mut st);
                (Err(sign_in_again(&reason)), flagged)
            }
            RefreshFailure::Transient(msg) => {
                st.failures = st.failures.saturating_add(1);
                let backoff = (BACKOFF_START << (st.failures - 1).min(10)).min(BACKOFF_MAX);
                tracing::warn!(error = %msg, retry_in_secs = backoff, "refresh failed; will retry");
                st.last_refresh_error = Some(msg.clone());
                st.backoff_until = Some(now_unix() + backoff);
                self.schedule(&mut st);
                let still_valid = st
                    .creds
                    .as_ref()
                    .filter(|c| access_exp(c).is_none_or(|exp| exp > now_unix() + MIN_VALIDITY));
                let result = match still_valid {
                    Some(c) => Ok(access_of(c)),
                    None => Err(err(
                        ErrorCode::Network,
                        format!(
                            "Refreshing the sign-in failed ({msg}) and the access token has expired. codexd retries in {backoff} s; check your network and try again."
                        ),
                    )),
                };
                (result, None)
            }
        }
    }

    async fn refresh_succeeded(
        &self,
        generation: u64,
        old: StoredCredentials,
        resp: TokenResponse,
    ) -> Result<Access, WireError> {
        let new = StoredCredentials {
            version: SCHEMA_VERSION,
            id_token: resp.id_token.unwrap_or(old.id_token),
            access_token: resp.access_token.unwrap_or(old.access_token),
            refresh_token: resp.refresh_token.unwrap_or(old.refresh_token),
            account_id: old.account_id,
            last_refresh: now_unix(),
            sign_in_again: None,
        };
        if self.st().generation != generation {
            // Logged out or replaced meanwhile: the new token must not outlive that.
            let stale = new.refresh_token.clone();
            let oauth = self.oauth.clone();
            tokio::spawn(async move {
                let _ = oauth.revoke(&stale, true).await;
            });
            self.st().refresh = None;
            return Err(err(
                ErrorCode::NotSignedIn,
                "The sign-in changed while refreshing; run the command again.",
            ));
        }
        // Persist the rotated refresh token before anyone gets the new access token.
        let to_save = new.clone();
        let saved = self.blocking(move |s| s.primary.save(&to_save)).await;
        let mut st = self.st();
        st.refresh = None;
        st.failures = 0;
        st.backoff_until = None;
        st.last_refresh_error = match saved {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "refreshed, but saving the new credentials failed; retrying until it works");
                Some(format!("saving the refreshed credentials failed: {e}"))
            }
            Err(e) => Some(e.message),
        };
        st.unsaved = st.last_refresh_error.clone();
        if st.unsaved.is_some() {
            self.arm_save_retry(&mut st);
        }
        st.creds = Some(new.clone());
        self.schedule(&mut st);
        tracing::info!(account = %new.account_id, expires_at = ?access_exp(&new), "access token refreshed");
        Ok(access_of(&new))
    }

    fn usable(st: &State) -> Result<&StoredCredentials, WireError> {
        if let Some(e) = &st.load_error {
            return Err(err(
                ErrorCode::CredentialStore,
                format!("The stored sign-in cannot be read: {e}"),
            ));
        }
        let c = st.creds.as_ref().ok_or_else(super::not_signed_in)?;
        if let Some(reason) = &c.sign_in_again {
            return Err(sign_in_again(reason));
        }
        Ok(c)
    }

    /// A valid access token, refreshing first when due (single-flight).
    pub async fn get_access(&self) -> Result<Access, WireError> {
        self.retry_unsaved().await;
        let fut = {
            let mut st = self.st();
            let c = Self::usable(&st)?;
            let now = now_unix();
            let exp = access_exp(c);
            let due = refresh_due_at(exp, c.last_refresh, self.margin) <= now;
            let valid = exp.is_none_or(|e| e > now + MIN_VALIDITY);
            let backing_off = st.backoff_until.is_some_and(|b| b > now);
            if !due || (backing_off && valid && st.refresh.is_none()) {
                return Ok(access_of(c));
            }
            self.start_refresh(&mut st, RefreshReason::ProactiveExpiry)
                .ok_or_else(super::not_signed_in)?
        };
        fut.await
    }

    /// The backend rejected `rejected`: refresh once (joining a running refresh) unless the
    /// token already changed, and return the new one.
    pub async fn refresh_after_unauthorized(
        &self,
        rejected: &crate::secret::Secret,
    ) -> Result<Access, WireError> {
        let fut = {
            let mut st = self.st();
            let c = Self::usable(&st)?;
            if c.access_token != *rejected && st.refresh.is_none() {
                return Ok(access_of(c));
            }
            self.start_refresh(&mut st, RefreshReason::UnauthorizedRecovery)
                .ok_or_else(super::not_signed_in)?
        };
        let access = fut.await?;
        if access.token == *rejected {
            let why = self.st().last_refresh_error.clone().unwrap_or_default();
            return Err(err(
                ErrorCode::Network,
                format!(
                    "The backend rejected the access token and refreshing it failed ({why}); try again shortly."
                ),
            ));
        }
        Ok(access)
    }

    /// Claim the single login slot; Err(Busy) when one is running.
    pub fn begin_login(&self) -> Result<CancellationToken, WireError> {
        let mut st = self.st();
        if st.login.as_ref().is_some_and(|t| !t.is_cancelled()) {
            return Err(err(
                ErrorCode::Busy,
                "Another sign-in is in progress (in another terminal?). Finish it or cancel it with Ctrl-C, then try again.",
            ));
        }
        let token = CancellationToken::new();
        st.login = Some(token.clone());
        Ok(token)
    }

    /// Release the login slot.
    pub fn end_login(&self, token: &CancellationToken) {
        // Only one login runs at a time, so the slot is this one's.
        self.st().login = None;
        token.cancel();
    }

    /// Finish a sign-in: check the account, save durably, revoke the replaced sign-in.
    /// Returns the account and, when an older sign-in was revoked, a notice. Runs on its own
    /// task, so a client that cancels at this point cannot leave the store and memory apart.
    pub async fn finish_login(
        self: &Arc<Self>,
        tokens: TokenResponse,
    ) -> Result<(AccountSummary, Option<String>), WireError> {
        let me = self.clone();
        tokio::spawn(async move { me.finish_login_inner(tokens).await })
            .await
            .map_err(|_| err(ErrorCode::Internal, "finishing the sign-in failed unexpectedly; see `codexctl logs` and run `codexctl login` again"))?
    }

    async fn finish_login_inner(
        &self,
        tokens: TokenResponse,
    ) -> Result<(AccountSummary, Option<String>), WireError> {
        let (Some(id), Some(access), Some(refresh)) =
            (tokens.id_token, tokens.access_token, tokens.refresh_token)
        else {
            return Err(err(
                ErrorCode::LoginFailed,
                "The sign-in server did not return all tokens; run `codexctl login` again.",
            ));
        };
        let id_claims = jwt::parse(id.expose()).map_err(|e| {
            err(ErrorCode::LoginFailed, format!("The id token from the sign-in server is unreadable: {e}. Run `codexctl login` again."))
        })?;
        let access_claims = jwt::parse(access.expose()).unwrap_or_default();
        let Some(account_id) = id_claims.account_id.clone().or(access_claims.account_id) else {
            let oauth = self.oauth.clone();
            let dead = refresh.clone();
            tokio::spawn(async move {
                let _ = oauth.revoke(&dead, true).await;
            });
            return Err(err(
                ErrorCode::LoginFailed,
                "This sign-in has no ChatGPT account id (the account has no ChatGPT workspace with Codex). \
                 Sign in with a ChatGPT account whose plan includes Codex (Plus, Pro, Business, Enterprise, Edu), \
                 choosing that workspace when asked.",
            ));
        };
        let new = StoredCredentials {
            version: SCHEMA_VERSION,
            id_token: id,
            access_token: access,
            refresh_token: refresh,
            account_id,
            last_refresh: now_unix(),
            sign_in_again: None,
        };
        let old = {
            let _w = self.write_lock.lock().await;
            let to_save = new.clone();
            match self.blocking(move |s| s.primary.save(&to_save)).await? {
                Ok(()) => {}
                Err(e) => {
                    let oauth = self.oauth.clone();
                    let dead = new.refresh_token.clone();
                    tokio::spawn(async move {
                        let _ = oauth.revoke(&dead, true).await;
                    });
                    return Err(err(
                        ErrorCode::CredentialStore,
                        format!(
                            "Signed in, but the credentials could not be saved: {e}. Nothing was kept; fix that and run `codexctl login` again."
                        ),
                    ));
                }
            }
            let mut st = self.st();
            st.generation += 1;
            st.load_error = None;
            st.last_refresh_error = None;
            st.unsaved = None;
            st.failures = 0;
            st.backoff_until = None;
            st.refresh = None;
            let old = st.creds.replace(new.clone());
            self.schedule(&mut st);
            old
        };
        tracing::info!(account = %new.account_id, store = %self.stores.primary.describe(), "signed in");
        let mut notice = None;
        if let Some(old) = old.filter(|o| o.refresh_token != new.refresh_token) {
            match self.oauth.revoke(&old.refresh_token, true).await {
                Ok(()) => {
                    tracing::info!(account = %old.account_id, "revoked the replaced sign-in");
                    notice = Some(format!(
                        "The previous sign-in (account {}) was revoked at OpenAI.",
                        old.account_id
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "revoking the replaced sign-in failed");
                    notice = Some(format!(
                        "Revoking the previous sign-in at OpenAI failed ({e}); it stays valid until it expires."
                    ));
                }
            }
        }
        let summary = self.summary(&new);
        Ok((summary, notice))
    }

    fn summary(&self, c: &StoredCredentials) -> AccountSummary {
        let claims = jwt::parse(c.id_token.expose()).unwrap_or_default();
        AccountSummary {
            email: claims.email,
            plan: claims.plan,
            account_id: c.account_id.clone(),
            access_expires_at: access_exp(c),
            last_refresh: Some(c.last_refresh),
            store: self.stores.primary.describe(),
        }
    }

    /// Revoke (unless `local_only`), then delete every local copy. Fail-closed.
    pub async fn logout(&self, local_only: bool) -> Result<LogoutOutcome, WireError> {
        // Let a running refresh finish so we revoke (and delete) its result, not its input.
        let running = self.st().refresh.clone();
        if let Some(f) = running {
            let _ = f.await;
        }
        let needs_reload = self.st().load_error.is_some();
        if needs_reload {
            self.load().await;
        }
        let _w = self.write_lock.lock().await;
        let (creds, load_error) = {
            let st = self.st();
            (st.creds.clone(), st.load_error.clone())
        };
        let forget = |core: &Core| {
            let mut st = core.st();
            st.generation += 1;
            st.creds = None;
            st.load_error = None;
            st.last_refresh_error = None;
            st.unsaved = None;
            st.failures = 0;
            st.backoff_until = None;
            core.schedule(&mut st);
        };
        if let Some(e) = load_error.filter(|_| !local_only) {
            return Err(err(
                ErrorCode::CredentialStore,
                format!(
                    "The stored sign-in cannot be read ({e}), so it cannot be revoked; nothing was deleted. Fix the store and retry, or run `codexctl logout --local-only` to delete it here without revoking."
                ),
            ));
        }
        let delete = |what: &'static str| async move {
            self.blocking(|s| s.delete_all()).await?.map_err(|e| {
                err(ErrorCode::CredentialStore, format!("{what}, but deleting the local credentials failed: {e}. Run `codexctl logout --local-only` to retry the deletion."))
            })
        };
        let Some(creds) = creds else {
            let removed = delete("Nothing to revoke").await?;
            forget(self);
            return Ok(LogoutOutcome {
                revoked: false,
                removed,
                was_signed_in: false,
            });
        };
        if local_only {
            let removed = delete("Not revoked").await?;
            forget(self);
            tracing::warn!(account = %creds.account_id, "local-only logout: tokens deleted here but not revoked");
            return Ok(LogoutOutcome {
                revoked: false,
                removed,
                was_signed_in: true,
            });
        }
        let (token, is_refresh) = if creds.refresh_token.is_empty() {
            (&creds.access_token, false)
        } else {
            (&creds.refresh_token, true)
        };
        if let Err(e) = self.oauth.revoke(token, is_refresh).await {
            tracing::error!(error = %e, "revoke failed; credentials kept");
            return Err(err(
                ErrorCode::RevokeFailed,
                format!(
                    "Revoking the sign-in at OpenAI failed: {e}. Your credentials were kept so you can retry: run `codexctl logout` again. (`codexctl logout --local-only` deletes them here without revoking; they then stay valid at OpenAI until they expire.)"
                ),
            ));
        }
        tracing::info!(account = %creds.account_id, "revoked at OpenAI");
        let removed = delete("Revoked at OpenAI").await?;
        forget(self);
        Ok(LogoutOutcome {
            revoked: true,
            removed,
            was_signed_in: true,
        })
    }

    /// The `status` part.
    pub fn status(&self) -> AuthStatus {
        let st = self.st();
        AuthStatus {
            account: st.creds.as_ref().map(|c| self.summary(c)),
            store: self.stores.primary.describe(),
            store_note: self.stores.note.clone(),
            last_refresh_error: st.last_refresh_error.clone(),
            sign_in_again: st
                .creds
                .as_ref()
                .and_then(|c| c.sign_in_again.clone())
                .or_else(|| {
                    st.load_error
                        .as_ref()
                        .map(|e| format!("the stored sign-in cannot be read: {e}"))
                }),
            login_in_progress: st.login.as_ref().is_some_and(|t| !t.is_cancelled()),
            unsaved: st.unsaved.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_time_caps_margin_at_half_lifetime() {
        assert_eq!(refresh_due_at(Some(10_000), 6_400, 300), 9_700);
        assert_eq!(refresh_due_at(Some(1_004), 1_000, 300), 1_002);
        assert_eq!(refresh_due_at(None, 100, 300), 100 + MAX_AGE_WITHOUT_EXP);
    }
}
