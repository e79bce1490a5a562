//! [`FakeBackend`]: the ChatGPT backend (`https://chatgpt.com/backend-api`) for a ChatGPT-plan
//! Codex client.
//!
//! - `POST /backend-api/codex/responses` validates like the real one (bearer token from the
//!   shared [`TokenRegistry`], `ChatGPT-Account-ID`, `originator`, the hyphenated
//!   `session-id`, `store:false`, `stream:true`, `include` with `reasoning.encrypted_content`,
//!   `prompt_cache_key`, no server-issued item `id`s, no `item_reference`s and no `role:
//!   "system"` items, none of the unsupported parameters of upstream.md §5, valid content part
//!   types per role, reasoning effort supported by the model, a `version` header not below the
//!   model's `minimal_client_version`, and the Responses-Lite contract: a lite model needs the
//!   lite header, which needs `reasoning.context = "all_turns"`, no `tools`, no
//!   `instructions`) and streams SSE (`event:` + `data:` lines):
//!   `response.created` → [reasoning `output_item.added`, `reasoning_summary_text.delta`×k,
//!   `output_item.done`] → message `output_item.added` → `output_text.delta`×N →
//!   `output_item.done` → `response.completed` (with usage).
//!   The answer is [`default_answer`] (`"turn <n>: <last user text>"`) unless scripted.
//! - `GET /backend-api/codex/models?client_version=…`: the catalog ([`super::catalog`]) without
//!   the models whose minimal version is above `client_version`, with an `ETag`, 304 on a
//!   matching `If-None-Match`.
//! - `GET /backend-api/wham/accounts/check`: what [`FakeBackend::set_accounts_check`] set (404
//!   by default); `GET /backend-api/wham/usage`: a usage snapshot; any other
//!   `/backend-api/wham/*`: `{}`.
//!
//! Every response carries the `x-codex-*` usage headers ([`UsageHeaders`]). Faults
//! ([`BackendFault`]) are queued per request; streams are counted, including the ones whose
//! client went away ([`FakeBackend::cancelled_streams`]).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use super::catalog;
use super::server::Server;
use super::tokens::{AccessError, AccessInfo, TokenRegistry};
use super::{api_error, etag_matches, etag_of, json, lock, now_unix, random_hex};

/// Prefix of the `encrypted_content` the fake hands out; reasoning items echoed back must carry
/// one (the real server cannot decrypt anything it did not encrypt either).
pub const ENCRYPTED_PREFIX: &str = "enc_fake_";

/// Handle to a running fake backend. Clones share the server and its state.
#[derive(Clone)]
pub struct FakeBackend {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

struct Shared {
    registry: TokenRegistry,
    state: Mutex<BackendState>,
    streams: Arc<StreamStats>,
}

#[derive(Default)]
struct StreamStats {
    open: AtomicU64,
    cancelled: AtomicU64,
    finished: AtomicU64,
}

struct BackendState {
    requests: Vec<RecordedRequest>,
    response_count: u64,
    models_count: u64,
    usage_count: u64,
    script: Script,
    noise: bool,
    faults: VecDeque<(BackendFault, Option<u32>)>,
    models: Vec<Value>,
    rejected_models: Vec<String>,
    strict_models: bool,
    usage: UsageHeaders,
    /// prompt_cache_key → input tokens of the previous request with that key.
    cache_keys: HashMap<String, u64>,
    seq: u64,
    /// What `GET /wham/accounts/check` answers (404 when `None`).
    accounts_check: Option<Value>,
    /// `GET /wham/accounts/check` calls.
    accounts_checks: u64,
    /// `(client_version query, version header)` of every `/codex/models` call.
    models_calls: Vec<(String, Option<String>)>,
}

/// One accepted `POST /codex/responses` request.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// Request headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `input` items.
    pub fn input(&self) -> &[Value] {
        self.body
            .get("input")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Texts of the `input` messages with `role`, in order (parts of one message joined).
    pub fn texts_of(&self, role: &str) -> Vec<String> {
        self.input()
            .iter()
            .filter(|i| i.get("role").and_then(Value::as_str) == Some(role))
            .map(message_text)
            .collect()
    }

    /// The `model` field.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }
}

/// What the backend answers with.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// Fixed answer text; `None` = [`default_answer`].
    pub text: Option<String>,
    /// Number of `response.output_text.delta` events; `None` = one per 4 characters.
    pub deltas: Option<usize>,
    /// Pause before each text delta (a slow stream).
    pub delta_delay: Duration,
    /// Emit a reasoning item (summary deltas + `encrypted_content`) before the message.
    pub reasoning: bool,
    /// Reasoning summary text; `None` = `"Thinking about turn <n>."`.
    pub reasoning_text: Option<String>,
    /// Suggest mode: answer with exactly this command text (wins over `text`).
    pub suggest_command: Option<String>,
    /// When the request offers a function tool (`tools` or an `additional_tools` item) and
    /// its last input item is not a `function_call_output`, call the first tool (arguments
    /// `{"query":"<last user text>"}`) instead of answering; the answer after the tool's
    /// output is the usual text. For the gateway's function-calling tests.
    pub call_tools: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            text: None,
            deltas: None,
            delta_delay: Duration::ZERO,
            reasoning: true,
            reasoning_text: None,
            suggest_command: None,
            call_tools: false,
        }
    }
}

/// A fault injected into `POST /codex/responses` (queued with [`FakeBackend::push_fault`]).
///
/// HTTP faults answer before any validation; stream faults apply to requests that pass
/// validation (an invalid request does not use them up).
#[derive(Clone, Debug, PartialEq)]
pub enum BackendFault {
    /// 401 `token_expired`, even with a valid token.
    Unauthorized,
    /// 500, optionally with `Retry-After: <secs>`.
    ServerError {
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
    },
    /// 429 `usage_limit_reached` with `plan_type` and `resets_at`.
    UsageLimit {
        /// `error.plan_type`.
        plan_type: String,
        /// `error.resets_at` (unix s).
        resets_at: i64,
    },
    /// 429 `rate_limit_exceeded`, optionally with `Retry-After`.
    RateLimited {
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
    },
    /// 400 `{"detail":"The '<model>' model is not supported when using Codex with a ChatGPT
    /// account."}`.
    ModelNotSupported,
    /// 503 `server_is_overloaded`.
    Overloaded,
    /// Stream: send the first K events, then end the body cleanly (no `response.completed`).
    CutAfter(usize),
    /// Stream: send the first K events, then abort the connection (transport error).
    ResetAfter(usize),
    /// Stream: send the first K events, then nothing more, keeping the connection open.
    HangAfter(usize),
    /// Stream: `response.created` then `response.failed` with this `error.code`/`message`.
    Failed {
        /// `response.error.code`, e.g. `context_length_exceeded`, `insufficient_quota`,
        /// `usage_not_included`, `rate_limit_exceeded`.
        code: String,
        /// `response.error.message`, e.g. "Rate limit reached … Please try again in 5s."
        message: String,
    },
    /// Stream: replay one of the upstream CLI fixture shapes.
    Fixture(Fixture),
}

impl BackendFault {
    /// 429 usage limit resetting `secs` from now, plan `plus`.
    pub fn usage_limit_in(secs: i64) -> Self {
        BackendFault::UsageLimit {
            plan_type: "plus".into(),
            resets_at: now_unix() + secs,
        }
    }

    /// `response.failed` with `code` and `message`.
    pub fn failed(code: &str, message: &str) -> Self {
        BackendFault::Failed {
            code: code.into(),
            message: message.into(),
        }
    }

    fn is_http(&self) -> bool {
        matches!(
            self,
            BackendFault::Unauthorized
                | BackendFault::ServerError { .. }
                | BackendFault::UsageLimit { .. }
                | BackendFault::RateLimited { .. }
                | BackendFault::ModelNotSupported
                | BackendFault::Overloaded
        )
    }
}

/// Stream shapes of the upstream CLI's test fixtures (written from their description).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixture {
    /// `response.created` → one assistant `output_item.done` (no item id) →
    /// `response.completed` with `output: []` and no usage.
    CliHello,
    /// A lone `{"type":"response.output_item.done"}` without an item, then the stream ends:
    /// never completes.
    Incomplete,
    /// Like `CliHello` but `response.completed` has a zero usage block with null details.
    ZeroUsage,
}

/// Values of the `x-codex-*` usage headers sent on every response.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageHeaders {
    /// `x-codex-primary-used-percent`.
    pub primary_used_percent: f64,
    /// `x-codex-primary-window-minutes` (300).
    pub primary_window_minutes: u64,
    /// `x-codex-primary-reset-at` (unix s).
    pub primary_reset_at: i64,
    /// `x-codex-secondary-used-percent`.
    pub secondary_used_percent: f64,
    /// `x-codex-secondary-window-minutes` (10080).
    pub secondary_window_minutes: u64,
    /// `x-codex-secondary-reset-at` (unix s).
    pub secondary_reset_at: i64,
    /// `x-codex-credits-has-credits`.
    pub credits_has_credits: bool,
    /// `x-codex-credits-unlimited`.
    pub credits_unlimited: bool,
    /// `x-codex-credits-balance`.
    pub credits_balance: String,
}

impl Default for UsageHeaders {
    fn default() -> Self {
        let now = now_unix();
        UsageHeaders {
            primary_used_percent: 12.5,
            primary_window_minutes: 300,
            primary_reset_at: now + 3 * 3600,
            secondary_used_percent: 40.0,
            secondary_window_minutes: 10_080,
            secondary_reset_at: now + 4 * 86_400,
            credits_has_credits: false,
            credits_unlimited: false,
            credits_balance: "0".into(),
        }
    }
}

impl UsageHeaders {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "x-codex-primary-used-percent",
                self.primary_used_percent.to_string(),
            ),
            (
                "x-codex-primary-window-minutes",
                self.primary_window_minutes.to_string(),
            ),
            (
                "x-codex-primary-reset-at",
                self.primary_reset_at.to_string(),
            ),
            (
                "x-codex-secondary-used-percent",
                self.secondary_used_percent.to_string(),
            ),
            (
                "x-codex-secondary-window-minutes",
                self.secondary_window_minutes.to_string(),
            ),
            (
                "x-codex-secondary-reset-at",
                self.secondary_reset_at.to_string(),
            ),
            (
                "x-codex-credits-has-credits",
                self.credits_has_credits.to_string(),
            ),
            (
                "x-codex-credits-unlimited",
                self.credits_unlimited.to_string(),
            ),
            ("x-codex-credits-balance", self.credits_balance.clone()),
        ]
    }
}

/// The answer text when no script is set: `"turn <n>: <last user text>"`, where n is the number
/// of user messages in `input` (so multi-turn tests see the history grow) and the text is the
/// last `input_text` part of the last user message (context parts before it are ignored).
pub fn default_answer(user_messages: usize, last_user_text: &str) -> String {
    format!("turn {user_messages}: {last_user_text}")
}

/// The default `/codex/models` entries: the shared fake catalog ([`catalog::models`]) with
/// base instructions marked `live`.
pub fn default_models() -> Vec<Value> {
    catalog::models("live")
}

const KNOWN_EFFORTS: &[&str] = &["low", "medium", "high", "xhigh", "max", "ultra"];
/// Parameters the real backend answers with 400 "Unsupported parameter" (upstream.md §5).
const UNSUPPORTED_PARAMS: &[&str] = &[
    "max_output_tokens",
    "temperature",
    "top_p",
    "metadata",
    "truncation",
    "previous_response_id",
];
const KNOWN_ITEM_TYPES: &[&str] = &[
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "local_shell_call",
    "local_shell_call_output",
    "web_search_call",
    // Sent by the Codex CLI 0.171 (its tool list for the turn).
    "additional_tools",
];

impl FakeBackend {
    /// Starts a backend with its own (empty) token registry; mint tokens with
    /// [`FakeBackend::registry`] or use [`FakeBackend::start_with_registry`].
    pub async fn start() -> io::Result<FakeBackend> {
        Self::start_with_registry(TokenRegistry::new()).await
    }

    /// Starts a backend that accepts the access tokens of `registry` (e.g.
    /// `FakeAuth::registry()`), on `127.0.0.1:<free port>`.
    pub async fn start_with_registry(registry: TokenRegistry) -> io::Result<FakeBackend> {
        Self::start_on(0, registry).await
    }

    /// Like [`FakeBackend::start_with_registry`] on `127.0.0.1:port` (0 = any free port).
    pub async fn start_on(port: u16, registry: TokenRegistry) -> io::Result<FakeBackend> {
        let listener = Server::bind(port)?;
        let shared = Arc::new(Shared {
            registry,
            state: Mutex::new(BackendState {
                requests: Vec::new(),
                response_count: 0,
                models_count: 0,
                usage_count: 0,
                script: Script::default(),
                noise: false,
                faults: VecDeque::new(),
                models: default_models(),
                rejected_models: Vec::new(),
                strict_models: false,
                usage: UsageHeaders::default(),
                cache_keys: HashMap::new(),
                seq: 0,
                accounts_check: None,
                accounts_checks: 0,
                models_calls: Vec::new(),
            }),
            streams: Arc::new(StreamStats::default()),
        });
        let router = Router::new()
            .route("/backend-api/codex/responses", post(responses))
            .route("/backend-api/codex/models", get(models))
            .route("/backend-api/wham/usage", get(wham_usage))
            .route("/backend-api/wham/accounts/check", get(accounts_check))
            .route("/backend-api/wham/{*rest}", any(wham_other))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .layer(middleware::from_fn_with_state(
                shared.clone(),
                add_usage_headers,
            ))
            .with_state(shared.clone());
        let server = Server::serve(listener, router)?;
        Ok(FakeBackend {
            shared,
            server: Arc::new(server),
        })
    }

    /// Server base URL, no trailing slash (paths start with `/backend-api`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `url() + "/backend-api"`: the value for `CODEXD_BACKEND_URL`.
    pub fn base_url(&self) -> String {
        format!("{}/backend-api", self.server.url())
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// The registry whose access tokens are accepted.
    pub fn registry(&self) -> TokenRegistry {
        self.shared.registry.clone()
    }

    /// Stops listening and kills open connections (including hanging streams).
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Listens again on the same port.
    pub fn restart(&self) -> io::Result<()> {
        self.server.restart()
    }

    /// Whether the server is listening.
    pub fn is_running(&self) -> bool {
        self.server.is_running()
    }

    fn with<R>(&self, f: impl FnOnce(&mut BackendState) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    // ----- scripting -----------------------------------------------------------------------

    /// Replaces the answer script.
    pub fn set_script(&self, script: Script) {
        self.with(|s| s.script = script);
    }

    /// The current script.
    pub fn script(&self) -> Script {
        self.with(|s| s.script.clone())
    }

    /// Fixed answer text (`None`: back to [`default_answer`]).
    pub fn set_answer(&self, text: Option<&str>) {
        self.with(|s| s.script.text = text.map(str::to_owned));
    }

    /// Number of text deltas (`None`: one per 4 characters).
    pub fn set_deltas(&self, n: Option<usize>) {
        self.with(|s| s.script.deltas = n);
    }

    /// Pause before each text delta.
    pub fn set_delta_delay(&self, delay: Duration) {
        self.with(|s| s.script.delta_delay = delay);
    }

    /// Reasoning item on/off (default on).
    pub fn set_reasoning(&self, on: bool) {
        self.with(|s| s.script.reasoning = on);
    }

    /// Suggest mode: answer every request with exactly `command` (`None`: off).
    pub fn set_suggest_command(&self, command: Option<&str>) {
        self.with(|s| s.script.suggest_command = command.map(str::to_owned));
    }

    /// Interleave unknown event types (`response.in_progress`, `codex.fake_unknown`), an SSE
    /// comment and an unparseable `data:` line into every stream (clients must skip them).
    pub fn set_noise(&self, on: bool) {
        self.with(|s| s.noise = on);
    }

    /// Values of the `x-codex-*` headers.
    pub fn set_usage_headers(&self, usage: UsageHeaders) {
        self.with(|s| s.usage = usage);
    }

    /// Current values of the `x-codex-*` headers.
    pub fn usage_headers(&self) -> UsageHeaders {
        self.with(|s| s.usage.clone())
    }

    // ----- faults --------------------------------------------------------------------------

    /// Queues `fault` for the next `times` matching requests (after faults queued earlier).
    pub fn push_fault(&self, fault: BackendFault, times: u32) {
        if times > 0 {
            self.with(|s| s.faults.push_back((fault, Some(times))));
        }
    }

    /// Queues `fault` for every matching request until [`FakeBackend::clear_faults`]
    /// (faults queued after it are never reached).
    pub fn set_fault_forever(&self, fault: BackendFault) {
        self.with(|s| s.faults.push_back((fault, None)));
    }

    /// Removes all queued faults.
    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }

    /// Number of queued fault entries.
    pub fn pending_faults(&self) -> usize {
        self.with(|s| s.faults.len())
    }

    // ----- models --------------------------------------------------------------------------

    /// Replaces the `/codex/models` list.
    pub fn set_models(&self, models: Vec<Value>) {
        self.with(|s| s.models = models);
    }

    /// The current model list.
    pub fn models(&self) -> Vec<Value> {
        self.with(|s| s.models.clone())
    }

    /// Sets (or with `None` removes) `base_instructions` of the entry `slug`; false if absent.
    pub fn set_base_instructions(&self, slug: &str, text: Option<&str>) -> bool {
        self.with(|s| {
            let Some(Value::Object(m)) = s
                .models
                .iter_mut()
                .find(|m| m.get("slug").and_then(Value::as_str) == Some(slug))
            else {
                return false;
            };
            match text {
                Some(t) => m.insert("base_instructions".into(), json!(t)),
                None => m.remove("base_instructions"),
            };
            true
        })
    }

    /// The current ETag of the model list.
    pub fn models_etag(&self) -> String {
        self.with(|s| models_body_and_etag(&s.models).1)
    }

    /// What `GET /wham/accounts/check` answers (`None`: 404, the default).
    pub fn set_accounts_check(&self, body: Option<Value>) {
        self.with(|s| s.accounts_check = body);
    }

    /// `GET /wham/accounts/check` calls so far.
    pub fn accounts_checks(&self) -> u64 {
        self.with(|s| s.accounts_checks)
    }

    /// `(client_version, version header)` of every `/codex/models` call so far.
    pub fn models_calls(&self) -> Vec<(String, Option<String>)> {
        self.with(|s| s.models_calls.clone())
    }

    /// Models that `/codex/responses` answers with 400 "model is not supported".
    pub fn set_rejected_models(&self, slugs: &[&str]) {
        self.with(|s| s.rejected_models = slugs.iter().map(|x| (*x).to_owned()).collect());
    }

    /// When on, any model not in the model list is rejected as not supported (default off:
    /// any model is accepted).
    pub fn set_strict_models(&self, strict: bool) {
        self.with(|s| s.strict_models = strict);
    }

    // ----- observation ---------------------------------------------------------------------

    /// Accepted `/codex/responses` requests (validated, including those answered with a
    /// stream fault), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.requests.clone())
    }

    /// The last accepted request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.with(|s| s.requests.last().cloned())
    }

    /// Forgets recorded requests (counters stay).
    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear());
    }

    /// All `POST /codex/responses` calls, including rejected and faulted ones.
    pub fn response_count(&self) -> u64 {
        self.with(|s| s.response_count)
    }

    /// `GET /codex/models` calls (including 304s and rejected ones).
    pub fn models_count(&self) -> u64 {
        self.with(|s| s.models_count)
    }

    /// `GET /wham/usage` calls.
    pub fn usage_count(&self) -> u64 {
        self.with(|s| s.usage_count)
    }

    /// SSE bodies currently open.
    pub fn open_streams(&self) -> u64 {
        self.shared.streams.open.load(Ordering::SeqCst)
    }

    /// SSE bodies dropped before the fake finished sending them (the client went away, or
    /// the server was stopped).
    pub fn cancelled_streams(&self) -> u64 {
        self.shared.streams.cancelled.load(Ordering::SeqCst)
    }

    /// SSE bodies the fake sent to their (scripted) end, including cut/reset ones.
    pub fn finished_streams(&self) -> u64 {
        self.shared.streams.finished.load(Ordering::SeqCst)
    }
}

// ----- handlers ----------------------------------------------------------------------------

async fn add_usage_headers(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let usage = lock(&shared.state).usage.clone();
    for (name, value) in usage.pairs() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    resp
}

async fn not_found() -> Response {
    json(StatusCode::NOT_FOUND, json!({ "detail": "Not Found" }))
}

fn detail(status: StatusCode, msg: &str) -> Response {
    json(status, json!({ "detail": msg }))
}

fn invalid(msg: &str, param: Option<&str>, code: Option<&str>) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        json!({
            "error": {
                "message": msg, "type": "invalid_request_error", "param": param, "code": code,
            }
        }),
    )
}

/// Checks the bearer token; `Err` is the 401 to send.
fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<AccessInfo, Box<Response>> {
    let unauthorized = |code: &str, msg: &str| {
        Box::new(api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            code,
            msg,
        ))
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized(
            "missing_authorization",
            "Missing bearer authentication in header.",
        ));
    };
    shared.registry.check_access(token).map_err(|e| match e {
        AccessError::Expired => unauthorized(
            "token_expired",
            "Provided authentication token is expired. Please try signing in again.",
        ),
        AccessError::Unknown | AccessError::Revoked => unauthorized(
            "token_invalidated",
            "Your authentication token has been invalidated. Please try signing in again.",
        ),
    })
}

fn http_fault(fault: &BackendFault, model: &str) -> Response {
    match fault {
        BackendFault::Unauthorized => api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "token_expired",
            "Provided authentication token is expired. Please try signing in again.",
        ),
        BackendFault::ServerError { retry_after } => {
            let mut r = api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
                "An error occurred while processing your request (injected by the fake).",
            );
            if let Some(s) = retry_after
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        BackendFault::UsageLimit {
            plan_type,
            resets_at,
        } => json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({
                "error": {
                    "type": "usage_limit_reached",
                    "message": "The usage limit has been reached",
                    "plan_type": plan_type,
                    "resets_at": resets_at,
                    "resets_in_seconds": (resets_at - now_unix()).max(0),
                }
            }),
        ),
        BackendFault::RateLimited { retry_after } => {
            let mut r = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                "Rate limit reached. Please try again later.",
            );
            if let Some(s) = retry_after
                && let Ok(v) = HeaderValue::from_str(&s.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        BackendFault::ModelNotSupported => model_not_supported(model),
        BackendFault::Overloaded => json(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "error": {
                    "code": "server_is_overloaded",
                    "message": "Our servers are currently overloaded. Please try again later.",
                    "type": "server_error",
                }
            }),
        ),
        // Stream faults never get here.
        _ => detail(StatusCode::INTERNAL_SERVER_ERROR, "misrouted fault"),
    }
}

fn model_not_supported(model: &str) -> Response {
    detail(
        StatusCode::BAD_REQUEST,
        &format!("The '{model}' model is not supported when using Codex with a ChatGPT account."),
    )
}

/// Pops the front fault if `want` accepts it.
fn take_fault(s: &mut BackendState, want: impl Fn(&BackendFault) -> bool) -> Option<BackendFault> {
    let (fault, remaining) = s.faults.front_mut()?;
    if !want(fault) {
        return None;
    }
    let fault = fault.clone();
    if let Some(n) = remaining {
        *n = n.saturating_sub(1);
        if *n == 0 {
            s.faults.pop_front();
        }
    }
    Some(fault)
}

async fn responses(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let model = parsed
        .as_ref()
        .and_then(|b| b.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    {
        let mut s = lock(&shared.state);
        s.response_count += 1;
        if let Some(f) = take_fault(&mut s, BackendFault::is_http) {
            return http_fault(&f, &model);
        }
    }
    let info = match authorize(&shared, &headers) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    if let Some(acct) = &info.identity.account_id {
        let sent = headers
            .get("chatgpt-account-id")
            .and_then(|v| v.to_str().ok());
        if sent != Some(acct.as_str()) {
            return api_error(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                "account_mismatch",
                "ChatGPT-Account-ID header is missing or does not match the token's account.",
            );
        }
    }
    let present = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty())
    };
    for name in ["originator", "session-id"] {
        if !present(name) {
            return invalid(
                &format!("Missing required header: {name}"),
                Some(name),
                Some("missing_header"),
            );
        }
    }
    let Some(body) = parsed else {
        return invalid(
            "We could not parse the JSON body of your request.",
            None,
            Some("invalid_json"),
        );
    };
    let (script, noise, models) = {
        let s = lock(&shared.state);
        if model.is_empty() {
            return invalid("Missing required parameter: 'model'.", Some("model"), None);
        }
        let entry = s
            .models
            .iter()
            .find(|m| m.get("slug").and_then(Value::as_str) == Some(model.as_str()));
        if s.rejected_models.contains(&model) || (s.strict_models && entry.is_none()) {
            return model_not_supported(&model);
        }
        // A `version` below the model's minimum is refused, as the real backend does.
        let version = headers.get("version").and_then(|v| v.to_str().ok());
        if let (Some(v), Some(min)) = (version, entry.and_then(catalog::minimal_version))
            && !catalog::version_at_least(v, min)
        {
            return invalid(
                &format!(
                    "The '{model}' model requires a newer version of Codex (minimal {min}, got {v})."
                ),
                Some("model"),
                Some("model_requires_newer_client"),
            );
        }
        let lite_model = entry
            .and_then(|m| m.get("use_responses_lite"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let lite_header = headers
            .get("x-openai-internal-codex-responses-lite")
            .and_then(|v| v.to_str().ok())
            == Some("true");
        if let Err(r) = validate_lite(&body, lite_model, lite_header) {
            return *r;
        }
        (s.script.clone(), s.noise, s.models.clone())
    };
    if let Err(r) = validate_body(&body, &model, &models) {
        return *r;
    }

    // Accepted: record, pick a stream fault, build the stream.
    let recorded = RecordedRequest {
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    };
    let input = body
        .get("input")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let user_msgs: Vec<&Value> = input
        .iter()
        .filter(|i| i.get("role").and_then(Value::as_str) == Some("user"))
        .collect();
    let turn = user_msgs.len();
    let last_user = user_msgs
        .last()
        .map(|m| last_text_part(m))
        .unwrap_or_default();
    let input_tokens = (body.to_string().len() as u64 / 4).max(1);
    let cache_key = body
        .get("prompt_cache_key")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let (fault, seq, cached) = {
        let mut s = lock(&shared.state);
        s.requests.push(recorded);
        s.seq += 1;
        let cached = s
            .cache_keys
            .insert(cache_key, input_tokens)
            .map_or(0, |prev| prev.min(input_tokens));
        (take_fault(&mut s, |f| !f.is_http()), s.seq, cached)
    };
    let ctx = TurnCtx {
        seq,
        tool: offered_tool(&body),
        model,
        turn,
        last_user,
        input_tokens,
        cached_tokens: cached,
    };
    let frames = plan(&script, &ctx, noise, fault.as_ref());
    sse_response(frames, &shared.streams)
}

/// The Responses-Lite contract: the header goes with `reasoning.context = "all_turns"`, no
/// `tools` key and no `instructions`; a lite model is only served with the header (the
/// fake's rule, so a client that forgets it is caught).
fn validate_lite(body: &Value, lite_model: bool, lite_header: bool) -> Result<(), Box<Response>> {
    let fail = |r: Response| Err(Box::new(r));
    if lite_model && !lite_header {
        return fail(invalid(
            "This model is served only with the Responses-Lite protocol \
             (x-openai-internal-codex-responses-lite: true) (fake backend rule).",
            None,
            Some("responses_lite_required"),
        ));
    }
    if !lite_header {
        return Ok(());
    }
    let context = body
        .get("reasoning")
        .and_then(|r| r.get("context"))
        .and_then(Value::as_str);
    if context != Some("all_turns") {
        return fail(invalid(
            "X-OpenAI-Internal-Codex-Responses-Lite requires `reasoning.context` to be `all_turns`.",
            Some("reasoning.context"),
            None,
        ));
    }
    for key in ["tools", "instructions"] {
        if body.get(key).is_some() {
            return fail(invalid(
                &format!("Unsupported parameter with Responses-Lite: '{key}'."),
                Some(key),
                Some("unsupported_parameter"),
            ));
        }
    }
    Ok(())
}

/// The first function tool `body` offers (in `tools` or an `additional_tools` item), unless
/// the last input item already answers a call.
fn offered_tool(body: &Value) -> Option<String> {
    let input = body.get("input").and_then(Value::as_array)?;
    if input
        .last()
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str)
        == Some("function_call_output")
    {
        return None;
    }
    let name_of = |tools: &Value| -> Option<String> {
        tools
            .as_array()?
            .iter()
            .find_map(|t| match t.get("type").and_then(Value::as_str) {
                Some("function") => t.get("name").and_then(Value::as_str).map(str::to_owned),
                Some("namespace") => t.get("tools").and_then(|ts| {
                    ts.as_array()?.iter().find_map(|t| {
                        (t.get("type").and_then(Value::as_str) == Some("function"))
                            .then(|| t.get("name").and_then(Value::as_str).map(str::to_owned))
                            .flatten()
                    })
                }),
                _ => None,
            })
    };
    body.get("tools").and_then(name_of).or_else(|| {
        input
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("additional_tools"))
            .find_map(|i| i.get("tools").and_then(name_of))
    })
}

fn validate_body(body: &Value, model: &str, models: &[Value]) -> Result<(), Box<Response>> {
    let fail = |r: Response| Err(Box::new(r));
    if !body.is_object() {
        return fail(invalid(
            "The request body must be a JSON object.",
            None,
            None,
        ));
    }
    for param in UNSUPPORTED_PARAMS {
        if body.get(*param).is_some() {
            return fail(invalid(
                &format!("Unsupported parameter: '{param}'."),
                Some(param),
                Some("unsupported_parameter"),
            ));
        }
    }
    // Today's clients send the base instructions as the first developer message; an
    // `instructions` field, when present, must at least be text.
    if let Some(i) = body.get("instructions")
        && i.as_str().is_none_or(|t| t.trim().is_empty())
    {
        return fail(detail(
            StatusCode::BAD_REQUEST,
            "Instructions are not valid",
        ));
    }
    if body.get("store") != Some(&Value::Bool(false)) {
        return fail(detail(
            StatusCode::BAD_REQUEST,
            "Store must be set to false",
        ));
    }
    if body.get("stream") != Some(&Value::Bool(true)) {
        return fail(detail(
            StatusCode::BAD_REQUEST,
            "Stream must be set to true",
        ));
    }
    let includes_reasoning = body
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "reasoning.encrypted_content"));
    if !includes_reasoning {
        return fail(invalid(
            "include must contain \"reasoning.encrypted_content\" when store is false \
             (fake backend rule: reasoning could not be carried across turns otherwise).",
            Some("include"),
            None,
        ));
    }
    match body.get("prompt_cache_key").and_then(Value::as_str) {
        Some(k) if !k.is_empty() => {}
        _ => {
            return fail(invalid(
                "prompt_cache_key is required (fake backend rule).",
                Some("prompt_cache_key"),
                None,
            ));
        }
    }
    if let Some(tools) = body.get("tools")
        && !tools.is_array()
    {
        return fail(invalid(
            "Invalid type for 'tools': expected an array.",
            Some("tools"),
            Some("invalid_type"),
        ));
    }
    if let Some(effort) = body
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
    {
        let supported: Option<Vec<&str>> = models
            .iter()
            .find(|m| m.get("slug").and_then(Value::as_str) == Some(model))
            .and_then(|m| m.get("supported_reasoning_levels"))
            .and_then(Value::as_array)
            .map(|levels| {
                levels
                    .iter()
                    .filter_map(|l| l.get("effort").and_then(Value::as_str))
                    .collect()
            });
        let ok = KNOWN_EFFORTS.contains(&effort)
            && supported.is_none_or(|s| s.is_empty() || s.contains(&effort));
        if !ok {
            return fail(invalid(
                &format!(
                    "Unsupported value: '{effort}' is not supported with the '{model}' model."
                ),
                Some("reasoning.effort"),
                Some("unsupported_value"),
            ));
        }
    }
    let Some(input) = body.get("input").and_then(Value::as_array) else {
        return fail(invalid(
            "Invalid type for 'input': expected an array.",
            Some("input"),
            Some("invalid_type"),
        ));
    };
    for (i, item) in input.iter().enumerate() {
        if let Some(id) = find_id_where(item, &is_server_id) {
            return fail(invalid(
                &format!(
                    "Item with id '{id}' not found. Items are not persisted when `store` is set \
                     to false. Try again with `store` set to true, or remove this item from \
                     your input."
                ),
                Some("input"),
                None,
            ));
        }
        validate_item(i, item)?;
    }
    Ok(())
}

/// An `id` anywhere inside `v` (or an `item_reference`), as the real backend cannot resolve
/// item ids when nothing is stored.
#[cfg(test)]
fn find_id(v: &Value) -> Option<String> {
    find_id_where(v, &|_| true)
}

/// Ids this fake issued on output items (`msg_fake_…`, `rs_fake_…`): with `store: false`
/// nothing is persisted, so echoing one fails like the real backend ("Item with id … not
/// found"). Client-made ids (the Codex CLI 0.171 sends its own `msg_…`/`at_…` ids) are
/// accepted. codexd sends no ids at all (asserted in tests/tests/ask.rs).
fn is_server_id(id: &str) -> bool {
    id.contains("_fake_") || id == "(item_reference)"
}

fn find_id_where(v: &Value, keep: &dyn Fn(&str) -> bool) -> Option<String> {
    match v {
        Value::Object(m) => {
            if let Some(id) = m.get("id") {
                let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
                if keep(&id) {
                    return Some(id);
                }
            }
            if m.get("type").and_then(Value::as_str) == Some("item_reference")
                && keep("(item_reference)")
            {
                return Some("(item_reference)".into());
            }
            m.values().find_map(|v| find_id_where(v, keep))
        }
        Value::Array(a) => a.iter().find_map(|v| find_id_where(v, keep)),
        _ => None,
    }
}

fn validate_item(i: usize, item: &Value) -> Result<(), Box<Response>> {
    let Some(obj) = item.as_object() else {
        return Err(Box::new(invalid(
            &format!("Invalid type for 'input[{i}]': expected an object."),
            Some(&format!("input[{i}]")),
            Some("invalid_type"),
        )));
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("message");
    if kind == "item_reference" {
        return Err(Box::new(invalid(
            "Unsupported parameter: 'item_reference' (items are not persisted).",
            Some(&format!("input[{i}]")),
            Some("unsupported_parameter"),
        )));
    }
    if !KNOWN_ITEM_TYPES.contains(&kind) {
        return Err(Box::new(invalid(
            &format!("Invalid value: '{kind}'. Unknown input item type."),
            Some(&format!("input[{i}].type")),
            Some("invalid_value"),
        )));
    }
    match kind {
        "message" => {
            let role = obj.get("role").and_then(Value::as_str).unwrap_or("");
            let allowed: &[&str] = match role {
                "assistant" => &["output_text", "refusal"],
                "user" | "developer" => &["input_text", "input_image", "input_file"],
                "system" => {
                    return Err(Box::new(invalid(
                        "Invalid value: 'system'. System messages are not allowed; use a \
                         developer message.",
                        Some(&format!("input[{i}].role")),
                        Some("invalid_value"),
                    )));
                }
                _ => {
                    return Err(Box::new(invalid(
                        &format!(
                            "Invalid value: '{role}'. Supported values are: 'assistant', \
                             'developer', and 'user'."
                        ),
                        Some(&format!("input[{i}].role")),
                        Some("invalid_value"),
                    )));
                }
            };
            match obj.get("content") {
                Some(Value::String(_)) => {}
                Some(Value::Array(parts)) => {
                    for (j, part) in parts.iter().enumerate() {
                        let t = part.get("type").and_then(Value::as_str).unwrap_or("");
                        if !allowed.contains(&t) {
                            let list = allowed
                                .iter()
                                .map(|a| format!("'{a}'"))
                                .collect::<Vec<_>>()
                                .join(", ");
                            return Err(Box::new(invalid(
                                &format!(
                                    "Invalid value: '{t}'. Supported values for role '{role}' \
                                     are: {list}."
                                ),
                                Some(&format!("input[{i}].content[{j}]")),
                                Some("invalid_value"),
                            )));
                        }
                    }
                }
                _ => {
                    return Err(Box::new(invalid(
                        &format!("Missing required parameter: 'input[{i}].content'."),
                        Some(&format!("input[{i}].content")),
                        Some("missing_required_parameter"),
                    )));
                }
            }
        }
        "reasoning" => {
            if !obj.get("summary").is_some_and(Value::is_array) {
                return Err(Box::new(invalid(
                    &format!("Missing required parameter: 'input[{i}].summary'."),
                    Some(&format!("input[{i}].summary")),
                    Some("missing_required_parameter"),
                )));
            }
            let enc = obj.get("encrypted_content").and_then(Value::as_str);
            if !enc.is_some_and(|e| e.starts_with(ENCRYPTED_PREFIX)) {
                return Err(Box::new(invalid(
                    "The encrypted content for a reasoning item could not be verified.",
                    Some(&format!("input[{i}].encrypted_content")),
                    Some("invalid_encrypted_content"),
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The last text part of a message item (or its string content).
fn last_text_part(item: &Value) -> String {
    match item.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .rev()
            .find_map(|p| p.get("text").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned(),
        _ => String::new(),
    }
}

/// Text of a message item (string content, or its text parts joined).
fn message_text(item: &Value) -> String {
    match item.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

async fn models(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    lock(&shared.state).models_count += 1;
    if let Err(r) = authorize(&shared, &headers) {
        return *r;
    }
    let q = super::parse_query(raw.as_deref());
    if q.get("client_version").is_none_or(String::is_empty) {
        return invalid(
            "Missing required parameter: 'client_version'.",
            Some("client_version"),
            Some("missing_required_parameter"),
        );
    }
    // The backend hides models whose minimal client version is above the caller's.
    let client = q.get("client_version").cloned().unwrap_or_default();
    lock(&shared.state).models_calls.push((
        client.clone(),
        headers
            .get("version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    ));
    let visible: Vec<Value> = lock(&shared.state)
        .models
        .iter()
        .filter(|m| {
            catalog::minimal_version(m).is_none_or(|min| catalog::version_at_least(&client, min))
        })
        .cloned()
        .collect();
    let (body, etag) = models_body_and_etag(&visible);
    if etag_matches(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}

fn models_body_and_etag(models: &[Value]) -> (String, String) {
    let body = json!({ "models": models }).to_string();
    let etag = etag_of(&[body.as_bytes()]);
    (body, etag)
}

async fn wham_usage(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    lock(&shared.state).usage_count += 1;
    let info = match authorize(&shared, &headers) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let u = lock(&shared.state).usage.clone();
    let now = now_unix();
    let window = |used: f64, minutes: u64, reset_at: i64| {
        json!({
            "used_percent": used,
            "limit_window_seconds": minutes * 60,
            "reset_after_seconds": (reset_at - now).max(0),
            "reset_at": reset_at,
        })
    };
    json(
        StatusCode::OK,
        json!({
            "plan_type": info.identity.plan_type,
            "rate_limit": {
                "allowed": true,
                "limit_reached": false,
                "primary_window":
                    window(u.primary_used_percent, u.primary_window_minutes, u.primary_reset_at),
                "secondary_window": window(
                    u.secondary_used_percent,
                    u.secondary_window_minutes,
                    u.secondary_reset_at,
                ),
            },
            "credits": {
                "has_credits": u.credits_has_credits,
                "unlimited": u.credits_unlimited,
                "balance": u.credits_balance,
            },
        }),
    )
}

async fn accounts_check(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    lock(&shared.state).accounts_checks += 1;
    if let Err(r) = authorize(&shared, &headers) {
        return *r;
    }
    match lock(&shared.state).accounts_check.clone() {
        Some(v) => json(StatusCode::OK, v),
        None => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn wham_other() -> Response {
    json(StatusCode::OK, json!({}))
}

// ----- SSE ---------------------------------------------------------------------------------

struct TurnCtx {
    seq: u64,
    /// The first function tool offered, when the last input item is not a tool's output.
    tool: Option<String>,
    model: String,
    turn: usize,
    last_user: String,
    input_tokens: u64,
    cached_tokens: u64,
}

/// One step of a scripted SSE body.
enum Step {
    /// Bytes to send.
    Send(Bytes),
    /// Wait before the next step.
    Sleep(Duration),
    /// Send nothing more, keep the connection open.
    Hang,
    /// Abort the body with an error (the connection is reset).
    Reset,
}

/// An SSE event frame: `event: <type>\ndata: <json>\n\n`.
fn frame(event: &Value) -> Bytes {
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    Bytes::from(format!("event: {kind}\ndata: {event}\n\n"))
}

/// Splits `text` into `n` pieces (or 4-character pieces), on char boundaries.
fn split_deltas(text: &str, n: Option<usize>) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = match n {
        Some(n) => chars.len().div_ceil(n.clamp(1, chars.len())),
        None => 4,
    };
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// Builds the step list for one response.
fn plan(script: &Script, ctx: &TurnCtx, noise: bool, fault: Option<&BackendFault>) -> Vec<Step> {
    let rid = format!("resp_fake_{:04}{}", ctx.seq, random_hex("", 12));
    let created = json!({
        "type": "response.created",
        "response": {
            "id": rid, "object": "response", "created_at": now_unix(),
            "status": "in_progress", "model": ctx.model, "output": [],
        },
    });
    let mut events: Vec<(Value, Duration)> = Vec::new();
    let mut seqno = 0u64;
    let mut push = |mut e: Value, pause: Duration, events: &mut Vec<(Value, Duration)>| {
        if let Value::Object(m) = &mut e {
            m.insert("sequence_number".into(), json!(seqno));
        }
        seqno += 1;
        events.push((e, pause));
    };

    match fault {
        Some(BackendFault::Failed { code, message }) => {
            push(created, Duration::ZERO, &mut events);
            push(
                json!({
                    "type": "response.failed",
                    "response": {
                        "id": rid, "object": "response", "status": "failed", "model": ctx.model,
                        "error": { "code": code, "message": message },
                        "output": [], "usage": null,
                    },
                }),
                Duration::ZERO,
                &mut events,
            );
            return to_steps(events, noise, None);
        }
        Some(BackendFault::Fixture(f)) => return fixture_steps(*f, &rid),
        _ => {}
    }

    push(created, Duration::ZERO, &mut events);
    let text = script
        .suggest_command
        .clone()
        .or_else(|| script.text.clone())
        .unwrap_or_else(|| default_answer(ctx.turn, &ctx.last_user));
    let mut output_index = 0;
    let mut reasoning_tokens = 0u64;
    if script.reasoning {
        let rs_id = format!("rs_fake_{}", random_hex("", 16));
        let summary = script
            .reasoning_text
            .clone()
            .unwrap_or_else(|| format!("Thinking about turn {}.", ctx.turn));
        reasoning_tokens = (summary.len() as u64 / 4) + 8;
        push(
            json!({
                "type": "response.output_item.added", "output_index": output_index,
                "item": { "id": rs_id, "type": "reasoning", "summary": [] },
            }),
            Duration::ZERO,
            &mut events,
        );
        for d in split_deltas(&summary, Some(2)) {
            push(
                json!({
                    "type": "response.reasoning_summary_text.delta", "item_id": rs_id,
                    "output_index": output_index, "summary_index": 0, "delta": d,
                }),
                Duration::ZERO,
                &mut events,
            );
        }
        push(
            json!({
                "type": "response.output_item.done", "output_index": output_index,
                "item": {
                    "id": rs_id, "type": "reasoning",
                    "summary": [{ "type": "summary_text", "text": summary }],
                    "encrypted_content":
                        format!("{ENCRYPTED_PREFIX}t{}_{}", ctx.turn, random_hex("", 24)),
                },
            }),
            Duration::ZERO,
            &mut events,
        );
        output_index += 1;
    }
    if script.call_tools
        && let Some(name) = &ctx.tool
    {
        let fc_id = format!("fc_fake_{}", random_hex("", 16));
        let call_id = format!("call_fake_{}", random_hex("", 12));
        let args = json!({ "query": ctx.last_user }).to_string();
        let item = |args: &str, status: &str| {
            json!({
                "id": fc_id, "type": "function_call", "status": status,
                "call_id": call_id, "name": name, "arguments": args,
            })
        };
        push(
            json!({"type": "response.output_item.added", "output_index": output_index, "item": item("", "in_progress")}),
            Duration::ZERO,
            &mut events,
        );
        for d in split_deltas(&args, Some(2)) {
            push(
                json!({
                    "type": "response.function_call_arguments.delta", "item_id": fc_id,
                    "output_index": output_index, "delta": d,
                }),
                Duration::ZERO,
                &mut events,
            );
        }
        push(
            json!({"type": "response.output_item.done", "output_index": output_index, "item": item(&args, "completed")}),
            Duration::ZERO,
            &mut events,
        );
        let output_tokens = 8 + reasoning_tokens;
        push(
            json!({
                "type": "response.completed",
                "response": {
                    "id": rid, "object": "response", "status": "completed", "model": ctx.model,
                    "output": [],
                    "usage": {
                        "input_tokens": ctx.input_tokens,
                        "input_tokens_details": { "cached_tokens": ctx.cached_tokens },
                        "output_tokens": output_tokens,
                        "output_tokens_details": { "reasoning_tokens": reasoning_tokens },
                        "total_tokens": ctx.input_tokens + output_tokens,
                    },
                },
            }),
            Duration::ZERO,
            &mut events,
        );
        return to_steps(events, noise, None);
    }
    let msg_id = format!("msg_fake_{}", random_hex("", 16));
    push(
        json!({
            "type": "response.output_item.added", "output_index": output_index,
            "item": {
                "id": msg_id, "type": "message", "status": "in_progress", "role": "assistant",
                "content": [],
            },
        }),
        Duration::ZERO,
        &mut events,
    );
    for d in split_deltas(&text, script.deltas) {
        push(
            json!({
                "type": "response.output_text.delta", "item_id": msg_id,
                "output_index": output_index, "content_index": 0, "delta": d,
            }),
            script.delta_delay,
            &mut events,
        );
    }
    push(
        json!({
            "type": "response.output_item.done", "output_index": output_index,
            "item": {
                "id": msg_id, "type": "message", "status": "completed", "role": "assistant",
                "content": [{ "type": "output_text", "text": text, "annotations": [] }],
            },
        }),
        Duration::ZERO,
        &mut events,
    );
    let output_tokens = (text.len() as u64 / 4).max(1) + reasoning_tokens;
    push(
        json!({
            "type": "response.completed",
            "response": {
                "id": rid, "object": "response", "status": "completed", "model": ctx.model,
                "output": [],
                "usage": {
                    "input_tokens": ctx.input_tokens,
                    "input_tokens_details": { "cached_tokens": ctx.cached_tokens },
                    "output_tokens": output_tokens,
                    "output_tokens_details": { "reasoning_tokens": reasoning_tokens },
                    "total_tokens": ctx.input_tokens + output_tokens,
                },
            },
        }),
        Duration::ZERO,
        &mut events,
    );
    let tail = match fault {
        Some(BackendFault::CutAfter(k)) => Some((*k, None)),
        Some(BackendFault::ResetAfter(k)) => Some((*k, Some(Step::Reset))),
        Some(BackendFault::HangAfter(k)) => Some((*k, Some(Step::Hang))),
        _ => None,
    };
    to_steps(events, noise, tail)
}

/// Turns events into steps: pauses, optional noise, and an optional cut after K events.
fn to_steps(
    events: Vec<(Value, Duration)>,
    noise: bool,
    cut: Option<(usize, Option<Step>)>,
) -> Vec<Step> {
    let limit = cut.as_ref().map_or(usize::MAX, |(k, _)| *k);
    let mut steps = Vec::new();
    for (i, (event, pause)) in events.into_iter().enumerate() {
        if i >= limit {
            break;
        }
        if !pause.is_zero() {
            steps.push(Step::Sleep(pause));
        }
        steps.push(Step::Send(frame(&event)));
        if noise {
            match i {
                0 => {
                    steps.push(Step::Send(frame(&json!({
                        "type": "response.in_progress", "response": { "status": "in_progress" },
                    }))));
                    steps.push(Step::Send(Bytes::from_static(
                        b": fake keep-alive comment\n\n",
                    )));
                }
                1 => {
                    steps.push(Step::Send(Bytes::from_static(
                        b"data: {this is not json\n\n",
                    )));
                    steps.push(Step::Send(frame(&json!({
                        "type": "codex.fake_unknown", "payload": { "ignored": true },
                    }))));
                }
                _ => {}
            }
        }
    }
    if let Some((_, Some(last))) = cut {
        steps.push(last);
    }
    steps
}

fn fixture_steps(fixture: Fixture, rid: &str) -> Vec<Step> {
    let created = json!({ "type": "response.created", "response": { "id": rid } });
    let message = json!({
        "type": "response.output_item.done",
        "item": {
            "type": "message", "role": "assistant",
            "content": [{ "type": "output_text", "text": "fake fixture hello" }],
        },
    });
    let events = match fixture {
        Fixture::CliHello => vec![
            created,
            message,
            json!({ "type": "response.completed", "response": { "id": rid, "output": [] } }),
        ],
        Fixture::Incomplete => vec![json!({ "type": "response.output_item.done" })],
        Fixture::ZeroUsage => vec![
            created,
            message,
            json!({
                "type": "response.completed",
                "response": {
                    "id": rid,
                    "usage": {
                        "input_tokens": 0, "input_tokens_details": null,
                        "output_tokens": 0, "output_tokens_details": null,
                        "total_tokens": 0,
                    },
                    "output": [],
                },
            }),
        ],
    };
    events.iter().map(|e| Step::Send(frame(e))).collect()
}

/// Counts a stream as open while alive; on drop, as finished (sent to its scripted end) or
/// cancelled (dropped early: the client went away or the server stopped).
struct StreamGuard {
    stats: Arc<StreamStats>,
    finished: bool,
}

impl StreamGuard {
    fn new(stats: &Arc<StreamStats>) -> Self {
        stats.open.fetch_add(1, Ordering::SeqCst);
        StreamGuard {
            stats: stats.clone(),
            finished: false,
        }
    }

    /// The body reached its scripted end (it is not a cancellation when it drops).
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::SeqCst);
        let counter = if self.finished {
            &self.stats.finished
        } else {
            &self.stats.cancelled
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

fn sse_response(steps: Vec<Step>, stats: &Arc<StreamStats>) -> Response {
    let state = (VecDeque::from(steps), StreamGuard::new(stats));
    let stream = futures_util::stream::unfold(state, |(mut steps, mut guard)| async move {
        loop {
            match steps.pop_front() {
                None => {
                    guard.finish();
                    return None;
                }
                Some(Step::Send(b)) => return Some((Ok::<Bytes, io::Error>(b), (steps, guard))),
                Some(Step::Sleep(d)) => tokio::time::sleep(d).await,
                Some(Step::Hang) => std::future::pending::<()>().await,
                Some(Step::Reset) => {
                    guard.finish();
                    let err = io::Error::new(io::ErrorKind::ConnectionReset, "injected reset");
                    return Some((Err(err), (steps, guard)));
                }
            }
        }
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_split_on_chars() {
        assert_eq!(split_deltas("abcdefghij", None), ["abcd", "efgh", "ij"]);
        assert_eq!(split_deltas("abcdef", Some(3)), ["ab", "cd", "ef"]);
        assert_eq!(split_deltas("äöü", Some(10)), ["ä", "ö", "ü"]);
        assert!(split_deltas("", Some(3)).is_empty());
    }

    #[test]
    fn ids_are_found_anywhere() {
        assert_eq!(
            find_id(&json!({"type":"message","id":"msg_1"})),
            Some("msg_1".into())
        );
        assert_eq!(
            find_id(&json!({"type":"message","content":[{"type":"output_text","id":"x"}]})),
            Some("x".into())
        );
        assert!(find_id(&json!({"type":"item_reference"})).is_some());
        assert_eq!(
            find_id(&json!({"type":"function_call_output","call_id":"c"})),
            None
        );
    }

    #[test]
    fn fault_queue_order() {
        let mut s = BackendState {
            requests: Vec::new(),
            response_count: 0,
            models_count: 0,
            usage_count: 0,
            script: Script::default(),
            noise: false,
            faults: VecDeque::from([
                (BackendFault::Unauthorized, Some(1)),
                (BackendFault::CutAfter(2), Some(2)),
            ]),
            models: Vec::new(),
            rejected_models: Vec::new(),
            strict_models: false,
            usage: UsageHeaders::default(),
            cache_keys: HashMap::new(),
            seq: 0,
            accounts_check: None,
            accounts_checks: 0,
            models_calls: Vec::new(),
        };
        assert_eq!(take_fault(&mut s, |f| !f.is_http()), None);
        assert_eq!(
            take_fault(&mut s, BackendFault::is_http),
            Some(BackendFault::Unauthorized)
        );
        assert_eq!(take_fault(&mut s, BackendFault::is_http), None);
        assert_eq!(
            take_fault(&mut s, |f| !f.is_http()),
            Some(BackendFault::CutAfter(2))
        );
        assert_eq!(
            take_fault(&mut s, |f| !f.is_http()),
            Some(BackendFault::CutAfter(2))
        );
        assert!(s.faults.is_empty());
    }
}
