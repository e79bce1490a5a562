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
//!
//! Layout: this module owns the [`FakeBackend`] handle, its state and the control API tests
//! call; `routes` holds the axum handlers, `validate` what a request must look like, `sse` the
//! stream planner and fixtures.

mod routes;
mod sse;
mod validate;

use validate::message_text;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::catalog;
use super::server::{FakeServer, Server};
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
                usage: UsageHeaders::default(),
                cache_keys: HashMap::new(),
                seq: 0,
                accounts_check: None,
                accounts_checks: 0,
                models_calls: Vec::new(),
            }),
            streams: Arc::new(StreamStats::default()),
        });
        let router = routes::router(shared.clone());
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

    /// The registry whose access tokens are accepted.
    pub fn registry(&self) -> TokenRegistry {
        self.shared.registry.clone()
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

impl FakeServer for FakeBackend {
    fn server(&self) -> &Server {
        &self.server
    }
}

#[cfg(test)]
mod tests {
    use super::routes::take_fault;
    use super::*;

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
