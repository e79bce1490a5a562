//! The port between the gateway and the Codex backend client: what the gateway asks of the
//! backend, and nothing about how it gets there. The backend client (auth, account id,
//! identity headers, compatibility `version`, routing, the lite header, retries and 401 →
//! refresh → retry) implements [`Upstream`] in [`super::backend_port`].

use futures_util::future::BoxFuture;

/// What the gateway needs to know of a model (from the merged catalog).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    /// Model slug, as sent in requests.
    pub slug: String,
    /// Human name.
    pub display_name: String,
    /// `use_responses_lite`: no `tools` key, `reasoning.context = "all_turns"`.
    pub lite: bool,
    /// Supported reasoning efforts (empty: unknown).
    pub efforts: Vec<String>,
    /// The catalog's default effort.
    pub default_effort: Option<String>,
    /// Whether `text.verbosity` is accepted.
    pub supports_verbosity: bool,
    /// The catalog's default verbosity.
    pub default_verbosity: Option<String>,
    /// Context window in tokens.
    pub context_window: Option<u64>,
    /// Lower is preferred; the first model is the default.
    pub priority: i64,
}

/// Which backend endpoint a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST {base}/codex/responses` (SSE).
    Responses,
    /// `POST {base}/codex/responses/compact` (one JSON body).
    Compact,
}

/// One call to the backend. The backend client adds auth, account id, originator/UA,
/// `version`, routing and the lite header (from the catalog, by `body.model`); it never
/// changes the body.
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    /// Where to.
    pub endpoint: Endpoint,
    /// The request body, final.
    pub body: serde_json::Value,
    /// Conversation key → `session-id`, `thread-id`, `x-client-request-id`.
    pub conversation: String,
    /// Client headers to relay as they are (lower-case names): `session-id`, `x-codex-*`, …
    pub relay_headers: Vec<(String, String)>,
}

/// A raw SSE event from the backend (`event:` name and `data:` text), relayed or translated.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` field.
    pub event: Option<String>,
    /// The `data:` text.
    pub data: String,
}

/// An answer that started: headers, then events.
pub struct UpstreamStream {
    /// Response headers worth relaying (`x-codex-*` usage/rate-limit headers).
    pub headers: Vec<(String, String)>,
    /// The events, in order; an `Err` ends the stream.
    pub events: futures_util::stream::BoxStream<'static, Result<SseEvent, UpstreamError>>,
}

/// A failure with the upstream status kept (429 usage limits name window + reset time).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct UpstreamError {
    /// Upstream status, or 502/504 for transport failures, 401 when signed out.
    pub status: u16,
    /// e.g. `usage_limit_reached`, `model_not_supported`, `not_signed_in`.
    pub code: Option<String>,
    /// User-facing, no secrets.
    pub message: String,
    /// `retry-after`, `x-codex-*-reset-*` …
    pub headers: Vec<(String, String)>,
}

impl UpstreamError {
    /// An error without headers.
    pub fn new(status: u16, code: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.map(str::to_owned),
            message: message.into(),
            headers: Vec::new(),
        }
    }
}

/// The Codex backend as the gateway sees it.
pub trait Upstream: Send + Sync + 'static {
    /// Models this account is offered, by priority.
    fn models(&self) -> BoxFuture<'static, Result<Vec<ModelInfo>, UpstreamError>>;
    /// The Codex catalog JSON (`{"models": [...]}`) as the backend serves it for
    /// `?client_version=` — what the Codex CLI fetches from a custom provider.
    fn codex_catalog(
        &self,
        client_version: Option<String>,
    ) -> BoxFuture<'static, Result<serde_json::Value, UpstreamError>>;
    /// Send; retries and 401-refresh happen inside, before the first event.
    fn send(&self, call: UpstreamCall)
    -> BoxFuture<'static, Result<UpstreamStream, UpstreamError>>;
}
