//! The one Codex backend client (design.md §1a): every call codexd makes to
//! `{base}/codex/*` and `{base}/wham/*` goes through [`Backend`], so conversations, the model
//! catalog and the gateway share one set of rules — identity and compatibility headers,
//! workspace routing, retries with backoff, 401 → single-flight refresh → retry, usage
//! headers, opt-in request logs.
//!
//! Layout:
//! - this file — [`Backend`]: opening a streamed call, fetching the model catalog.
//! - [`headers`] — the request headers (CLI 0.171 shape, codexd's identity).
//! - [`compat`] — the compatibility version (`client_version`, `version`).
//! - [`routing`] — `wham/accounts/check`: workspace origin and routing override.
//! - [`stream`] — SSE parsing into typed and raw events, idle timeout.
//! - [`items`] — what input items must look like to a backend that stores nothing.
//! - [`errors`] — failures → wire errors that say what to do; [`retry`] — retry policy;
//!   [`limits`] — the `x-codex-*` usage headers.

pub mod compat;
pub(crate) mod errors;
pub(crate) mod headers;
pub mod items;
pub(crate) mod limits;
pub(crate) mod retry;
pub(crate) mod routing;
pub mod stream;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use codexd_proto::conversation::RateLimits;
use codexd_proto::{ErrorCode, WireError};
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::{ETAG, HeaderMap, IF_NONE_MATCH};
use serde_json::Value;

use self::compat::Compat;
use self::errors::HttpFailure;
use self::headers::CallHeaders;
use self::routing::Routing;
use crate::auth::{self, Access, AuthActor};
use crate::config::Config;
use crate::instructions::catalog::CatalogError;
use crate::instructions::github::Fetched;
use crate::log::RequestLog;
use crate::secret::Secret;
use crate::supervisor::Supervised;

/// Catalog and routing calls give up after this long.
const SMALL_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Where access tokens come from (the AuthActor in the daemon; a closure in tests).
pub trait Tokens: Send + Sync + 'static {
    /// A valid token (refreshed first when it expires soon).
    fn access(&self) -> BoxFuture<'static, Result<Access, WireError>>;
    /// The backend rejected `rejected`: refresh once (single-flight) and return the new one.
    fn after_unauthorized(&self, rejected: Secret)
    -> BoxFuture<'static, Result<Access, WireError>>;
}

impl Tokens for Supervised<AuthActor> {
    fn access(&self) -> BoxFuture<'static, Result<Access, WireError>> {
        let auth = self.clone();
        Box::pin(async move { auth.send(auth::GetAccess).await? })
    }

    fn after_unauthorized(
        &self,
        rejected: Secret,
    ) -> BoxFuture<'static, Result<Access, WireError>> {
        let auth = self.clone();
        Box::pin(async move {
            auth.send(auth::RefreshAfterUnauthorized { rejected })
                .await?
        })
    }
}

/// Tests hand in a plain token function; a 401 then just asks it again.
impl<F> Tokens for F
where
    F: Fn() -> BoxFuture<'static, Result<Access, WireError>> + Send + Sync + 'static,
{
    fn access(&self) -> BoxFuture<'static, Result<Access, WireError>> {
        self()
    }

    fn after_unauthorized(
        &self,
        _rejected: Secret,
    ) -> BoxFuture<'static, Result<Access, WireError>> {
        self()
    }
}

/// One streamed call (`POST {base}{path}` with a JSON body).
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// `/codex/responses` or `/codex/responses/compact`.
    pub path: &'a str,
    /// The body, sent unchanged.
    pub body: &'a Value,
    /// Conversation UUID (session headers; request-log file names).
    pub conversation: &'a str,
    /// The model is a Responses-Lite model (catalog `use_responses_lite`).
    pub lite: bool,
    /// Client headers to relay (gateway passthrough).
    pub relay: &'a [(String, String)],
    /// Whether an SSE stream is expected back.
    pub streaming: bool,
}

/// A failed call: the wire error to report, plus what a gateway needs to answer in kind.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What to tell the user (typed code, message that says what to do).
    pub error: WireError,
    /// The backend's HTTP status, when it answered at all.
    pub status: Option<u16>,
    /// The backend's response headers worth relaying (`retry-after`, `x-codex-*`).
    pub headers: Vec<(String, String)>,
    /// The backend said the model is not offered to this account (its sentence).
    pub unsupported_model: Option<String>,
}

impl Failure {
    fn plain(error: WireError) -> Self {
        Self {
            error,
            status: None,
            headers: Vec::new(),
            unsupported_model: None,
        }
    }
}

/// Called before each retry with a sentence for the user; returns false when the client left.
pub type OnRetry<'a> = &'a (dyn Fn(String) -> BoxFuture<'static, bool> + Send + Sync);

/// The backend client. Cheap to clone; clones share routing, limits and the token source.
#[derive(Clone)]
pub struct Backend {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: Arc<Config>,
    tokens: Box<dyn Tokens>,
    compat: Compat,
    request_log: RequestLog,
    /// The last usage windows seen on any response (shown by `status`).
    limits: Mutex<Option<RateLimits>>,
    /// Routing per access token: checked once per sign-in and per refresh.
    routing: tokio::sync::Mutex<Option<(Secret, Routing)>>,
}

impl Backend {
    /// A client for `config.backend.url`.
    pub fn new(
        http: reqwest::Client,
        config: Arc<Config>,
        tokens: impl Tokens,
        compat: Compat,
        request_log: RequestLog,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                config,
                tokens: Box::new(tokens),
                compat,
                request_log,
                limits: Mutex::new(None),
                routing: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// A valid access token now (refreshed first when due): a turn asks before it plans,
    /// so a signed-out user hears "sign in" rather than anything about models.
    pub async fn access(&self) -> Result<Access, WireError> {
        self.inner.tokens.access().await
    }

    /// The compatibility version in use.
    pub fn compat(&self) -> &Compat {
        &self.inner.compat
    }

    /// The usage windows last seen.
    pub fn limits(&self) -> Option<RateLimits> {
        self.inner
            .limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record_limits(&self, headers: &HeaderMap, now: u64) -> Option<RateLimits> {
        let seen = limits::from_headers(headers, now);
        if let Some(l) = &seen {
            *self
                .inner
                .limits
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(l.clone());
        }
        seen
    }

    /// The base URL for `access`'s account, and its routing override. The accounts check
    /// runs once per access token; a failure means "no routing".
    async fn route(&self, access: &Access) -> (String, Option<String>) {
        let configured = self
            .inner
            .config
            .backend
            .url
            .trim_end_matches('/')
            .to_string();
        let mut cached = self.inner.routing.lock().await;
        let routing = match &*cached {
            Some((token, r)) if *token == access.token => r.clone(),
            _ => {
                let r = self.check_account(access, &configured).await;
                if r != Routing::default() {
                    tracing::info!(base = ?r.base, routing_override = ?r.override_header, "workspace routing in effect for this account");
                }
                *cached = Some((access.token.clone(), r.clone()));
                r
            }
        };
        (routing.base.unwrap_or(configured), routing.override_header)
    }

    async fn check_account(&self, access: &Access, base: &str) -> Routing {
        let version = self.inner.compat.current().version;
        let headers = headers::build(
            access,
            &CallHeaders {
                version: &version,
                ..CallHeaders::default()
            },
        );
        let sent = self
            .inner
            .http
            .get(format!("{base}/wham/accounts/check"))
            .headers(headers)
            .timeout(SMALL_CALL_TIMEOUT)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                let body = resp.text().await.unwrap_or_default();
                routing::parse(&body, &access.account_id, base)
            }
            Ok(resp) => {
                tracing::debug!(
                    status = resp.status().as_u16(),
                    "accounts check answered an error; no workspace routing"
                );
                Routing::default()
            }
            Err(e) => {
                tracing::debug!(error = %transport_text(&e), "accounts check failed; no workspace routing");
                Routing::default()
            }
        }
    }

    /// `GET {base}/codex/models?client_version=<ours>` with `If-None-Match`: the catalog this
    /// account is offered at our compatibility version. A 401 refreshes the token once.
    pub async fn fetch_models(&self, etag: Option<&str>) -> Result<Fetched<String>, CatalogError> {
        let version = self.inner.compat.current().version;
        self.fetch_models_at(&version, etag).await
    }

    /// [`Backend::fetch_models`] at another compatibility version (a gateway client that
    /// asks for its own, as the Codex CLI does).
    pub async fn fetch_models_at(
        &self,
        version: &str,
        etag: Option<&str>,
    ) -> Result<Fetched<String>, CatalogError> {
        let to_catalog = |e: WireError| {
            if matches!(e.code, ErrorCode::NotSignedIn | ErrorCode::SignInAgain) {
                CatalogError::NotSignedIn(e.message)
            } else {
                CatalogError::Unreachable(e.message)
            }
        };
        let mut access = self.inner.tokens.access().await.map_err(to_catalog)?;
        let mut refreshed = false;
        loop {
            let (base, routing_override) = self.route(&access).await;
            let mut headers = headers::build(
                &access,
                &CallHeaders {
                    version,
                    routing_override: routing_override.as_deref(),
                    ..CallHeaders::default()
                },
            );
            if let Some(e) = etag.and_then(|e| reqwest::header::HeaderValue::from_str(e).ok()) {
                headers.insert(IF_NONE_MATCH, e);
            }
            // Never format the request or a reqwest error with headers: the token is in them.
            let resp = self
                .inner
                .http
                .get(format!("{base}/codex/models"))
                .query(&[("client_version", version)])
                .headers(headers)
                .timeout(SMALL_CALL_TIMEOUT)
                .send()
                .await
                .map_err(|e| CatalogError::Unreachable(transport_text(&e)))?;
            self.record_limits(resp.headers(), crate::now_unix());
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                access = self
                    .inner
                    .tokens
                    .after_unauthorized(access.token.clone())
                    .await
                    .map_err(to_catalog)?;
                continue;
            }
            if status == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified);
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(CatalogError::Unauthorized(status.as_u16()));
            }
            if !status.is_success() {
                return Err(CatalogError::Status(status.as_u16()));
            }
            let etag = resp
                .headers()
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp
                .text()
                .await
                .map_err(|_| CatalogError::Unreachable("the connection broke".into()))?;
            return Ok(Fetched::Fresh { value: body, etag });
        }
    }

    /// Open a call: send it, retrying transport errors and 5xx with backoff (honouring
    /// `Retry-After`) and a 401 once after a refresh, until a 2xx answer whose body the
    /// caller reads. Every other answer is a [`Failure`] that says what to do.
    pub async fn open(
        &self,
        call: &Call<'_>,
        on_retry: OnRetry<'_>,
    ) -> Result<reqwest::Response, Failure> {
        let mut access = self.inner.tokens.access().await.map_err(Failure::plain)?;
        let mut refreshed = false;
        let mut retries = 0u32;
        loop {
            let (url, sent) = self.attempt(call, &access).await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let what = transport_text(&e);
                    retries += 1;
                    if retries > retry::MAX_RETRIES {
                        return Err(Failure::plain(WireError::new(
                            ErrorCode::Network,
                            format!(
                                "Cannot reach the Codex backend at {url} ({what}), even after {} retries. Check your network connection and try again.",
                                retry::MAX_RETRIES
                            ),
                        )));
                    }
                    let wait = retry::backoff(retries, rand::random_range(-1.0..=1.0));
                    self.pause(on_retry, &what, retries, wait).await?;
                    continue;
                }
            };
            let now = crate::now_unix();
            let seen = self.record_limits(resp.headers(), now);
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                return Ok(resp);
            }
            let retry_after = retry::retry_after(resp.headers());
            let (resp_headers, text) = self.read_error_answer(call, status, resp).await;
            let failure = |error: WireError, unsupported_model: Option<String>| Failure {
                error,
                status: Some(status),
                headers: relayable(&resp_headers),
                unsupported_model,
            };
            match errors::classify_http(status, &text, seen.as_ref(), now) {
                HttpFailure::Unauthorized if !refreshed => {
                    refreshed = true;
                    access = self
                        .inner
                        .tokens
                        .after_unauthorized(access.token.clone())
                        .await
                        .map_err(Failure::plain)?;
                }
                HttpFailure::Unauthorized => {
                    return Err(failure(
                        WireError::new(
                            ErrorCode::SignInAgain,
                            "The Codex backend rejected your sign-in even after a token refresh. Sign in again with `codexctl login`.",
                        ),
                        None,
                    ));
                }
                HttpFailure::Retryable(err) => {
                    retries += 1;
                    let wait = retry::delay(retries, retry_after);
                    match wait {
                        Some(wait) if retries <= retry::MAX_RETRIES => {
                            self.pause(on_retry, &format!("HTTP {status}"), retries, wait)
                                .await?;
                        }
                        _ => return Err(failure(err, None)),
                    }
                }
                HttpFailure::UnsupportedModel { message } => {
                    return Err(failure(
                        WireError::new(ErrorCode::UnsupportedModel, message.clone()),
                        Some(message),
                    ));
                }
                HttpFailure::Fatal(err) => return Err(failure(err, None)),
            }
        }
    }

    /// One attempt at a call: the URL for the account's current route, and the backend's
    /// answer (or the transport error), with the request logged when request logging is on.
    async fn attempt(
        &self,
        call: &Call<'_>,
        access: &Access,
    ) -> (String, reqwest::Result<reqwest::Response>) {
        let (base, routing_override) = self.route(access).await;
        let url = format!("{base}{}", call.path);
        let version = self.inner.compat.current().version;
        let headers = headers::build(
            access,
            &CallHeaders {
                version: &version,
                conversation: Some(call.conversation),
                lite: call.lite,
                routing_override: routing_override.as_deref(),
                streaming: call.streaming,
                relay: call.relay,
            },
        );
        self.log_request(call, &headers).await;
        let sent = self
            .inner
            .http
            .post(&url)
            .headers(headers)
            .json(call.body)
            .send()
            .await;
        (url, sent)
    }

    /// Read an error answer in full (headers as pairs, body text) and put it in the request
    /// log and the daemon log, for [`errors::classify_http`] to judge.
    async fn read_error_answer(
        &self,
        call: &Call<'_>,
        status: u16,
        resp: reqwest::Response,
    ) -> (Vec<(String, String)>, String) {
        let resp_headers = headers::pairs(resp.headers());
        let text = resp.text().await.unwrap_or_default();
        self.inner
            .request_log
            .record_off_thread(
                call.conversation,
                &format!("response-{status}"),
                resp_headers.clone(),
                text.clone(),
            )
            .await;
        tracing::info!(conversation = %call.conversation, status, "backend answered with an error");
        (resp_headers, text)
    }

    /// Tell the client, then wait; a client that left ends the call.
    async fn pause(
        &self,
        on_retry: OnRetry<'_>,
        what: &str,
        retry: u32,
        wait: Duration,
    ) -> Result<(), Failure> {
        let still_there = on_retry(format!(
            "the Codex backend failed ({what}); retrying in {:.1} s ({retry}/{})",
            wait.as_secs_f64(),
            retry::MAX_RETRIES
        ))
        .await;
        if !still_there {
            return Err(Failure::plain(WireError::new(
                ErrorCode::Cancelled,
                "cancelled; nothing was saved from this turn",
            )));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    async fn log_request(&self, call: &Call<'_>, headers: &HeaderMap) {
        if !self.inner.request_log.enabled() {
            return;
        }
        self.inner
            .request_log
            .record_off_thread(
                call.conversation,
                "request",
                headers::pairs(headers),
                call.body.to_string(),
            )
            .await;
    }

    /// Opt-in request log of what a call produced (the log redacts it).
    pub async fn log_response(&self, conversation: &str, record: &Value) {
        if self.inner.request_log.enabled() {
            self.inner
                .request_log
                .record_off_thread(conversation, "response", Vec::new(), record.to_string())
                .await;
        }
    }
}

/// Response headers a gateway passes back: usage windows and retry hints.
fn relayable(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|(k, _)| k.starts_with("x-codex-") || k == "retry-after" || k == "retry-after-ms")
        .cloned()
        .collect()
}

/// What a transport error was, without the URL's query or anything secret.
pub fn transport_text(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "the connection failed".into()
    }
}
