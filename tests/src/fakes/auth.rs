//! [`FakeAuth`]: the OpenAI OAuth issuer (`auth.openai.com`), enforcing what the real one
//! enforces.
//!
//! Endpoints (all under the issuer URL):
//! - `GET /oauth/authorize`: checks `response_type=code`, the client id, an allow-listed
//!   `originator` ([`AUTHORIZE_ORIGINATORS`]; else 400 `missing_required_parameter` like the
//!   real consent page), a loopback `http://127.0.0.1:<port>/auth/callback` (or `localhost`)
//!   redirect URI, the scopes, `state`, and an S256 `code_challenge`; then *auto-approves* (there is no user to ask) and answers
//!   `302 Location: {redirect_uri}?code=…&state=…` — or `?error=access_denied&
//!   error_description=missing_codex_entitlement&state=…` when
//!   [`FakeAuth::set_deny_entitlement`] is on. Codes are single-use, live 10 minutes and are
//!   bound to (challenge, redirect_uri, client_id).
//! - `POST /oauth/token` (form or JSON): `authorization_code` (exact redirect URI,
//!   base64url(SHA-256(verifier)) == challenge; a code is consumed by its first exchange
//!   attempt, successful or not) and `refresh_token` (single-use, rotating; see
//!   [`super::tokens`]). OAuth errors are 400 `{"error","error_description"}`; refresh errors
//!   are 401 `{"error":{"code","message",…}}`.
//! - `POST /oauth/revoke` (JSON or form): revokes the token's grant, answers 200 `{}`.
//! - `POST /api/accounts/deviceauth/usercode`, `POST /api/accounts/deviceauth/token`: the
//!   device-code flow; pending polls get 403 until [`FakeAuth::approve_device`] or
//!   [`FakeAuth::auto_approve_after_polls`].
//! - `GET /codex/device`, `GET /deviceauth/callback`, `GET /`: small pages for people.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::jwt::Identity;
use super::server::{FakeServer, Server};
use super::tokens::{DEFAULT_CLIENT_ID, TokenRegistry, TokenSet};
use super::{
    api_error, json, lock, now_unix, oauth_error, parse_params, parse_query, random_token,
};

/// Default access-token lifetime in seconds.
pub const DEFAULT_ACCESS_LIFETIME: i64 = 3600;
/// Lifetime of an authorization code in seconds.
const CODE_LIFETIME: i64 = 600;

/// Handle to a running fake issuer. Clones share the server and its state; the server stops
/// when the last clone is dropped (or on [`FakeServer::stop`]).
#[derive(Clone)]
pub struct FakeAuth {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

struct Shared {
    /// Issuer base URL (for the device-flow redirect URI).
    url: String,
    registry: TokenRegistry,
    state: Mutex<AuthState>,
}

struct AuthState {
    client_id: String,
    identity: Identity,
    access_lifetime: i64,
    deny_entitlement: bool,
    device_enabled: bool,
    device_interval: String,
    auto_approve_after: Option<u32>,
    refresh_expired: bool,
    allowed_redirect_ports: Option<Vec<u16>>,
    codes: HashMap<String, CodeGrant>,
    devices: Vec<DeviceRequest>,
    authorize_queries: Vec<String>,
    token_requests: Vec<RecordedCall>,
    revoke_requests: Vec<RecordedCall>,
    revoked_tokens: Vec<String>,
    counters: Counters,
    token_fail_next: u32,
    token_delay: Duration,
    revoke_failing: bool,
    all_failing: bool,
}

impl Default for AuthState {
    fn default() -> Self {
        AuthState {
            client_id: DEFAULT_CLIENT_ID.into(),
            identity: Identity::default(),
            access_lifetime: DEFAULT_ACCESS_LIFETIME,
            deny_entitlement: false,
            device_enabled: true,
            device_interval: "1".into(),
            auto_approve_after: None,
            refresh_expired: false,
            allowed_redirect_ports: None,
            codes: HashMap::new(),
            devices: Vec::new(),
            authorize_queries: Vec::new(),
            token_requests: Vec::new(),
            revoke_requests: Vec::new(),
            revoked_tokens: Vec::new(),
            counters: Counters::default(),
            token_fail_next: 0,
            token_delay: Duration::ZERO,
            revoke_failing: false,
            all_failing: false,
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Counters {
    authorize: u64,
    token_calls: u64,
    code_exchanges: u64,
    refreshes: u64,
    revokes: u64,
    device_polls: u64,
}

struct CodeGrant {
    challenge: String,
    redirect_uri: String,
    client_id: String,
    used: bool,
    expires_at: i64,
}

struct DeviceRequest {
    id: String,
    user_code: String,
    approved: bool,
    polls: u32,
    delivered: bool,
    verifier: String,
    challenge: String,
}

/// One recorded call to the token or revoke endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedCall {
    /// Whether the body was JSON (else form-encoded).
    pub json: bool,
    /// The parameters (JSON scalars as strings).
    pub params: BTreeMap<String, String>,
    /// The `originator` header, if sent.
    pub originator: Option<String>,
}

impl FakeAuth {
    /// Starts the issuer on `127.0.0.1:<free port>` on the current tokio runtime.
    pub async fn start() -> std::io::Result<FakeAuth> {
        Self::start_on(0).await
    }

    /// Starts the issuer on `127.0.0.1:port` (0 = any free port).
    pub async fn start_on(port: u16) -> std::io::Result<FakeAuth> {
        let listener = Server::bind(port)?;
        let url = format!("http://{}", listener.local_addr()?);
        let registry = TokenRegistry::new();
        registry.set_issuer(&url, DEFAULT_CLIENT_ID);
        let shared = Arc::new(Shared {
            url,
            registry,
            state: Mutex::new(AuthState::default()),
        });
        let router = Router::new()
            .route("/", get(index))
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/token", post(token))
            .route("/oauth/revoke", post(revoke))
            .route("/api/accounts/deviceauth/usercode", post(device_usercode))
            .route("/api/accounts/deviceauth/token", post(device_token))
            .route("/codex/device", get(device_page))
            .route("/deviceauth/callback", get(device_callback_page))
            .fallback(not_found)
            .with_state(shared.clone());
        let server = Server::serve(listener, router)?;
        Ok(FakeAuth {
            shared,
            server: Arc::new(server),
        })
    }

    /// Issuer base URL (`CODEXD_AUTH_ISSUER`), no trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The token registry (share it with a [`super::FakeBackend`]).
    pub fn registry(&self) -> TokenRegistry {
        self.shared.registry.clone()
    }

    fn with<R>(&self, f: impl FnOnce(&mut AuthState) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    // ----- configuration -------------------------------------------------------------------

    /// Who newly issued tokens say the user is.
    pub fn set_identity(&self, identity: Identity) {
        self.with(|s| s.identity = identity);
    }

    /// The identity newly issued tokens carry.
    pub fn identity(&self) -> Identity {
        self.with(|s| s.identity.clone())
    }

    /// Account id of newly issued tokens; `None` omits the `chatgpt_account_id` claim.
    pub fn set_account_id(&self, account_id: Option<&str>) {
        self.with(|s| s.identity.account_id = account_id.map(str::to_owned));
    }

    /// Lifetime of newly issued access tokens in seconds (default 3600; 0 or negative mints
    /// already-expired tokens).
    pub fn set_access_lifetime(&self, secs: i64) {
        self.with(|s| s.access_lifetime = secs);
    }

    /// Authorize redirects with `error=access_denied&error_description=
    /// missing_codex_entitlement` instead of a code.
    pub fn set_deny_entitlement(&self, deny: bool) {
        self.with(|s| s.deny_entitlement = deny);
    }

    /// Every refresh answers 401 `refresh_token_expired` while on.
    pub fn set_refresh_expired(&self, expired: bool) {
        self.with(|s| s.refresh_expired = expired);
    }

    /// Device login on/off; off makes `usercode` answer 404 (default on).
    pub fn set_device_enabled(&self, enabled: bool) {
        self.with(|s| s.device_enabled = enabled);
    }

    /// Approves every pending device request; returns how many were approved.
    pub fn approve_device(&self) -> usize {
        self.with(|s| {
            let mut n = 0;
            for d in s.devices.iter_mut().filter(|d| !d.approved) {
                d.approved = true;
                n += 1;
            }
            n
        })
    }

    /// `Some(n)`: a device request is approved automatically on its n-th poll (1 = the first
    /// poll succeeds). `None` (default): only [`FakeAuth::approve_device`] approves.
    pub fn auto_approve_after_polls(&self, n: Option<u32>) {
        self.with(|s| s.auto_approve_after = n);
    }

    /// User codes handed out so far (what a person would type on `/codex/device`).
    pub fn device_user_codes(&self) -> Vec<String> {
        self.with(|s| s.devices.iter().map(|d| d.user_code.clone()).collect())
    }

    // ----- faults --------------------------------------------------------------------------

    /// The next `n` calls to `/oauth/token` answer 500.
    pub fn fail_token_requests(&self, n: u32) {
        self.with(|s| s.token_fail_next = n);
    }

    /// Every `/oauth/token` call waits this long before answering (default 0).
    pub fn set_token_delay(&self, delay: Duration) {
        self.with(|s| s.token_delay = delay);
    }

    /// `/oauth/revoke` answers 500 while on.
    pub fn set_revoke_failing(&self, failing: bool) {
        self.with(|s| s.revoke_failing = failing);
    }

    /// Every endpoint answers 500 while on.
    pub fn set_all_failing(&self, failing: bool) {
        self.with(|s| s.all_failing = failing);
    }

    /// Turns all faults off (failure counters, delay, revoke and global failure, denied
    /// entitlement, expired refresh).
    pub fn clear_faults(&self) {
        self.with(|s| {
            s.token_fail_next = 0;
            s.token_delay = Duration::ZERO;
            s.revoke_failing = false;
            s.all_failing = false;
            s.deny_entitlement = false;
            s.refresh_expired = false;
        });
    }

    // ----- tokens --------------------------------------------------------------------------

    /// Mints a valid (id, access, refresh) set for the configured identity directly, as if a
    /// sign-in had happened (e.g. to write an `auth.json` to import: [`TokenSet::auth_json`]).
    pub fn mint_login(&self) -> TokenSet {
        let (identity, lifetime) = self.with(|s| (s.identity.clone(), s.access_lifetime));
        self.shared.registry.mint(&identity, lifetime)
    }

    /// Like [`FakeAuth::mint_login`] for another identity and access lifetime.
    pub fn mint_login_for(&self, identity: &Identity, access_lifetime: i64) -> TokenSet {
        self.shared.registry.mint(identity, access_lifetime)
    }

    /// Every secret string issued or seen (tokens, codes, verifiers, states, device ids).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.registry.issued_tokens()
    }

    /// The newest unused refresh token of a live grant.
    pub fn live_refresh_token(&self) -> Option<String> {
        self.shared.registry.live_refresh_token()
    }

    /// What the issuer knows about one refresh token (`None`: never issued here).
    pub fn refresh_token_state(&self, token: &str) -> Option<super::tokens::RefreshTokenState> {
        self.shared.registry.refresh_token_state(token)
    }

    /// Token strings passed to successful `/oauth/revoke` calls, in order.
    pub fn revoked_tokens(&self) -> Vec<String> {
        self.with(|s| s.revoked_tokens.clone())
    }

    /// Server-side expiry of every access token issued so far (JWT `exp` unchanged).
    pub fn expire_access_tokens(&self) {
        self.shared.registry.expire_access_tokens();
    }

    /// Revokes every grant (all tokens stop working).
    pub fn revoke_all(&self) {
        self.shared.registry.revoke_all();
    }

    // ----- counters and logs ---------------------------------------------------------------

    /// Calls to `/oauth/token` (any grant type, including failed and faulted ones).
    pub fn token_calls(&self) -> u64 {
        self.with(|s| s.counters.token_calls)
    }

    /// `grant_type=refresh_token` calls (successful or not, not counting injected 500s).
    pub fn refresh_count(&self) -> u64 {
        self.with(|s| s.counters.refreshes)
    }

    /// `grant_type=authorization_code` calls (not counting injected 500s).
    pub fn code_exchange_count(&self) -> u64 {
        self.with(|s| s.counters.code_exchanges)
    }

    /// Calls to `/oauth/revoke` (including failed ones).
    pub fn revoke_count(&self) -> u64 {
        self.with(|s| s.counters.revokes)
    }

    /// Calls to `/oauth/authorize`.
    pub fn authorize_count(&self) -> u64 {
        self.with(|s| s.counters.authorize)
    }

    /// Polls of `/api/accounts/deviceauth/token`.
    pub fn device_polls(&self) -> u64 {
        self.with(|s| s.counters.device_polls)
    }

    /// Raw query strings of every authorize request, in order (to check parameter order).
    pub fn authorize_queries(&self) -> Vec<String> {
        self.with(|s| s.authorize_queries.clone())
    }

    /// Parameters of every `/oauth/token` call that got past fault injection.
    pub fn token_requests(&self) -> Vec<RecordedCall> {
        self.with(|s| s.token_requests.clone())
    }

    /// Parameters of every `/oauth/revoke` call that got past fault injection.
    pub fn revoke_requests(&self) -> Vec<RecordedCall> {
        self.with(|s| s.revoke_requests.clone())
    }
}

/// A fresh PKCE pair `(verifier, challenge)`: 64 random bytes base64url (86 chars) and its S256
/// challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_token("", 64);
    let challenge = pkce_challenge(&verifier);
    (verifier, challenge)
}

/// base64url-no-pad(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn server_error() -> Response {
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "injected failure (fake issuer)",
    )
}

fn record(params: &HashMap<String, String>, headers: &HeaderMap) -> RecordedCall {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    RecordedCall {
        json,
        params: params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        originator: headers
            .get("originator")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Originators the fake's authorize endpoint accepts (the real allow-list's well-known part).
pub const AUTHORIZE_ORIGINATORS: &[&str] = &[
    "codex_cli_rs",
    "codex_vscode",
    "codex_sdk_ts",
    "Codex Desktop",
    "opencode",
];

fn check_redirect_uri(uri: &str, allowed_ports: Option<&[u16]>) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("redirect_uri is not a URL: {e}"))?;
    if parsed.scheme() != "http"
        || !matches!(parsed.host_str(), Some("localhost" | "127.0.0.1"))
        || parsed.path() != "/auth/callback"
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(format!(
            "redirect_uri {uri} is not allowed (expected http://127.0.0.1:<port>/auth/callback)"
        ));
    }
    let port = parsed.port_or_known_default().unwrap_or(80);
    if let Some(ports) = allowed_ports
        && !ports.contains(&port)
    {
        return Err(format!("redirect_uri port {port} is not on the allow-list"));
    }
    Ok(())
}

async fn index(State(shared): State<Arc<Shared>>) -> Response {
    let text = format!(
        "codexd fake OpenAI issuer at {}\n\
         GET  /oauth/authorize   (auto-approves; redirects to the callback)\n\
         POST /oauth/token\nPOST /oauth/revoke\n\
         POST /api/accounts/deviceauth/usercode\nPOST /api/accounts/deviceauth/token\n",
        shared.url
    );
    text.into_response()
}

async fn not_found() -> Response {
    oauth_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn authorize(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let q = parse_query(raw.as_deref());
    let mut st = lock(&shared.state);
    st.counters.authorize += 1;
    st.authorize_queries.push(raw.clone().unwrap_or_default());
    if st.all_failing {
        return server_error();
    }
    if let Some(state) = q.get("state") {
        shared.registry.record_secret(state);
    }
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != st.client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    }
    let redirect_uri = get("redirect_uri");
    if let Err(e) = check_redirect_uri(redirect_uri, st.allowed_redirect_ports.as_deref()) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e);
    }
    // The real server accepts only allow-listed originators for this client id and shows
    // its consent page's misleading error otherwise (upstream.md §1).
    if !AUTHORIZE_ORIGINATORS.contains(&get("originator")) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "missing_required_parameter",
            "Missing required parameter",
        );
    }
    if get("response_type") != "code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    let scopes: Vec<&str> = get("scope").split(' ').collect();
    if !scopes.contains(&"openid") || !scopes.contains(&"offline_access") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "scope must include openid and offline_access",
        );
    }
    if get("code_challenge_method") != "S256" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code_challenge_method must be S256",
        );
    }
    let challenge = get("code_challenge");
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code_challenge must be base64url(SHA-256(verifier)) without padding",
        );
    }
    let state = get("state");
    if state.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "state is required",
        );
    }
    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "bad redirect_uri",
        );
    };
    if st.deny_entitlement {
        location
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "missing_codex_entitlement")
            .append_pair("state", state);
    } else {
        let code = random_token("ac_fake_", 32);
        shared.registry.record_secret(&code);
        let client_id = st.client_id.clone();
        st.codes.insert(
            code.clone(),
            CodeGrant {
                challenge: challenge.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                client_id,
                used: false,
                expires_at: now_unix() + CODE_LIFETIME,
            },
        );
        location
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state);
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let delay = {
        let mut st = lock(&shared.state);
        st.counters.token_calls += 1;
        st.token_delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    {
        let mut st = lock(&shared.state);
        if st.all_failing {
            return server_error();
        }
        if st.token_fail_next > 0 {
            st.token_fail_next -= 1;
            return server_error();
        }
    }
    let params = match parse_params(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    lock(&shared.state)
        .token_requests
        .push(record(&params, &headers));
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&shared, &params),
        Some("refresh_token") => refresh(&shared, &params),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

fn exchange_code(shared: &Shared, params: &HashMap<String, String>) -> Response {
    let bad = |desc: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", desc);
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let (code, verifier, redirect_uri, client_id) = (
        get("code"),
        get("code_verifier"),
        get("redirect_uri"),
        get("client_id"),
    );
    shared.registry.record_secret(verifier);
    let mut st = lock(&shared.state);
    st.counters.code_exchanges += 1;
    if client_id != st.client_id {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        );
    }
    for (name, value) in [
        ("code", code),
        ("code_verifier", verifier),
        ("redirect_uri", redirect_uri),
    ] {
        if value.is_empty() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("missing {name}"),
            );
        }
    }
    let Some(grant) = st.codes.get_mut(code) else {
        return bad("unknown authorization code");
    };
    if grant.used {
        return bad("authorization code already used");
    }
    // Consumed by the first attempt, whatever its outcome (RFC 6749 §4.1.2).
    grant.used = true;
    if grant.expires_at <= now_unix() {
        return bad("authorization code expired");
    }
    if grant.client_id != client_id {
        return bad("authorization code was issued to another client");
    }
    if grant.redirect_uri != redirect_uri {
        return bad("redirect_uri does not match the one used at authorization");
    }
    if !valid_verifier(verifier) {
        return bad("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]");
    }
    if pkce_challenge(verifier) != grant.challenge {
        return bad("PKCE verification failed: code_verifier does not match code_challenge");
    }
    let (identity, lifetime) = (st.identity.clone(), st.access_lifetime);
    drop(st);
    let tokens = shared.registry.mint(&identity, lifetime);
    json(StatusCode::OK, tokens.token_response())
}

fn refresh(shared: &Shared, params: &HashMap<String, String>) -> Response {
    let unauthorized = |code: &str, msg: &str| {
        api_error(StatusCode::UNAUTHORIZED, "invalid_request_error", code, msg)
    };
    let (lifetime, expired) = {
        let mut st = lock(&shared.state);
        st.counters.refreshes += 1;
        match params.get("client_id") {
            Some(c) if *c == st.client_id => {}
            Some(_) => return unauthorized("invalid_client", "Unknown client_id."),
            None => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "invalid_request",
                    "client_id is required.",
                );
            }
        }
        (st.access_lifetime, st.refresh_expired)
    };
    let Some(rt) = params.get("refresh_token").filter(|t| !t.is_empty()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
            "refresh_token is required.",
        );
    };
    shared.registry.record_secret(rt);
    if expired {
        return unauthorized(
            "refresh_token_expired",
            "Your refresh token has expired. Please try signing in again.",
        );
    }
    match shared.registry.rotate(rt, lifetime) {
        Ok(tokens) => json(StatusCode::OK, tokens.token_response()),
        Err(e) => {
            let msg = match e {
                super::tokens::RefreshError::Reused => {
                    "Your refresh token has already been used to generate a new access token. \
                     Please try signing in again."
                }
                super::tokens::RefreshError::Invalidated => {
                    "Your refresh token has been invalidated. Please try signing in again."
                }
            };
            unauthorized(e.code(), msg)
        }
    }
}

async fn revoke(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    {
        let mut st = lock(&shared.state);
        st.counters.revokes += 1;
        if st.all_failing || st.revoke_failing {
            return server_error();
        }
    }
    let params = match parse_params(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    let mut st = lock(&shared.state);
    st.revoke_requests.push(record(&params, &headers));
    if let Some(c) = params.get("client_id")
        && *c != st.client_id
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        );
    }
    let Some(token) = params.get("token").filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    // RFC 7009: unknown tokens are not an error.
    shared.registry.revoke(token);
    st.revoked_tokens.push(token.clone());
    json(StatusCode::OK, json!({}))
}

async fn device_usercode(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared.state);
    if st.all_failing {
        return server_error();
    }
    if !st.device_enabled {
        return api_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            "Device code login is not enabled.",
        );
    }
    let params = match parse_params(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    if params.get("client_id") != Some(&st.client_id) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    }
    let id = random_token("deviceauth_fake_", 18);
    let user_code = user_code();
    let (verifier, challenge) = pkce_pair();
    shared.registry.record_secret(&id);
    shared.registry.record_secret(&verifier);
    st.devices.push(DeviceRequest {
        id: id.clone(),
        user_code: user_code.clone(),
        approved: false,
        polls: 0,
        delivered: false,
        verifier,
        challenge,
    });
    json(
        StatusCode::OK,
        json!({
            "device_auth_id": id,
            "user_code": user_code,
            "interval": st.device_interval,
            "expires_at": super::tokens::rfc3339(now_unix() + 900),
        }),
    )
}

fn user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let raw = random_token("", 8);
    let chars: String = raw
        .bytes()
        .take(8)
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

async fn device_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&shared.state);
    st.counters.device_polls += 1;
    if st.all_failing {
        return server_error();
    }
    let params = match parse_params(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &e),
    };
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let auto = st.auto_approve_after;
    let client_id = st.client_id.clone();
    let Some(dev) = st
        .devices
        .iter_mut()
        .find(|d| d.id == get("device_auth_id"))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown device_auth_id",
        );
    };
    if dev.user_code != get("user_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "user_code does not match device_auth_id",
        );
    }
    if dev.delivered {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "device authorization already completed",
        );
    }
    dev.polls += 1;
    if auto.is_some_and(|n| dev.polls >= n) {
        dev.approved = true;
    }
    if !dev.approved {
        return api_error(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            "deviceauth_authorization_pending",
            "The user has not approved this device yet.",
        );
    }
    dev.delivered = true;
    let (verifier, challenge) = (dev.verifier.clone(), dev.challenge.clone());
    let code = random_token("ac_fake_", 32);
    shared.registry.record_secret(&code);
    st.codes.insert(
        code.clone(),
        CodeGrant {
            challenge: challenge.clone(),
            redirect_uri: format!("{}/deviceauth/callback", shared.url),
            client_id,
            used: false,
            expires_at: now_unix() + CODE_LIFETIME,
        },
    );
    json(
        StatusCode::OK,
        json!({
            "authorization_code": code,
            "code_challenge": challenge,
            "code_verifier": verifier,
        }),
    )
}

async fn device_page() -> Response {
    Html(
        "<!doctype html><title>Fake device login</title>\
         <p>codexd fake issuer: device codes are approved by the test \
         (<code>approve_device()</code>) or by <code>codexd-fakes --approve-device</code>.</p>",
    )
    .into_response()
}

async fn device_callback_page() -> Response {
    Html("<!doctype html><p>Device sign-in complete (fake).</p>").into_response()
}

impl FakeServer for FakeAuth {
    fn server(&self) -> &Server {
        &self.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_s256() {
        // Reference value computed independently (Python hashlib + base64).
        assert_eq!(
            pkce_challenge("abcdefghijklmnopqrstuvwxyz0123456789-._~ABCDEFG"),
            "TDp3C-wPo3aKDK1Bg-ukP78nZ9YiqUD2ToRD96HoaHU"
        );
        let (v, c) = pkce_pair();
        assert_eq!(v.len(), 86);
        assert!(valid_verifier(&v));
        assert_eq!(pkce_challenge(&v), c);
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(check_redirect_uri("http://localhost:1455/auth/callback", None).is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:1455/auth/callback", None).is_ok());
        assert!(check_redirect_uri("http://10.0.0.1:1455/auth/callback", None).is_err());
        assert!(check_redirect_uri("http://localhost:1455/other", None).is_err());
        assert!(check_redirect_uri("http://localhost:9/auth/callback", Some(&[1455])).is_err());
    }
}
