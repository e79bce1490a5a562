//! The gateway: an OpenAI-compatible HTTP endpoint so other tools on this machine (OpenCode,
//! the Codex CLI, SDKs) use codexd's one sign-in instead of each refreshing its own.
//!
//! Layout (follow the names):
//! - [`upstream`] — the port to the Codex backend client (what the gateway needs of it);
//!   [`backend_port`] implements it on codexd's one backend client ([`crate::backend`]).
//! - [`listeners`] — `gateway.sock` (peer uid checked) and loopback TCP, bound or adopted.
//! - [`guard`] — key, `Host`, `Origin`/`Sec-Fetch-Site`, content type, `OPTIONS`.
//! - [`key`] — the TCP key file.
//! - [`responses`] — `POST /v1/responses`: generic translation and passthrough.
//! - [`chat`] — `POST /v1/chat/completions`, translated both ways.
//! - [`models`] — `GET /v1/models`, the Codex catalog, `POST /v1/responses/compact`.
//! - [`store`] — recent responses for `previous_response_id` / `item_reference`.
//! - [`errors`] — OpenAI's error shape.
//!
//! The gateway keeps no history beyond its small store and never refreshes or retries on
//! its own: that is the backend client's job, shared with the conversations.

pub mod backend_port;
pub mod chat;
pub mod errors;
pub mod guard;
pub mod key;
pub mod listeners;
pub mod models;
pub mod responses;
pub mod store;
pub mod upstream;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use codexd_proto::gateway::{GatewayStatus, KeyText};
use futures_util::future::BoxFuture;

use crate::config::GatewayConfig;
use guard::{Door, GuardState};
use key::GatewayKey;
use store::ResponseStore;
use upstream::{ModelInfo, Upstream, UpstreamCall, UpstreamError, UpstreamStream};

/// The gateway's shared state.
pub struct Gateway {
    config: GatewayConfig,
    upstream: Arc<dyn Upstream>,
    key: Result<GatewayKey, String>,
    key_path: PathBuf,
    store: ResponseStore,
    served: AtomicU64,
    refused: AtomicU64,
    last_error: Mutex<Option<String>>,
    dropped: Mutex<HashSet<String>>,
    request_log: Option<crate::log::RequestLog>,
    /// Set by [`listeners`]: what is listening now.
    pub(crate) listening: Mutex<listeners::Listening>,
}

impl Gateway {
    /// A gateway on `upstream` with the key at `key_path` (created when missing).
    pub fn new(config: GatewayConfig, upstream: Arc<dyn Upstream>, key_path: PathBuf) -> Self {
        let key = GatewayKey::load_or_create(&key_path).map_err(|e| {
            tracing::warn!(error = %e, "the gateway key cannot be used; TCP requests will be refused");
            e.to_string()
        });
        Self {
            store: ResponseStore::new(config.store_responses, config.store_items),
            config,
            upstream,
            key,
            key_path,
            served: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            last_error: Mutex::new(None),
            dropped: Mutex::new(HashSet::new()),
            request_log: None,
            listening: Mutex::new(listeners::Listening::default()),
        }
    }

    /// Write gateway requests to the opt-in request logs too (redacted like the rest).
    pub fn with_request_log(mut self, log: crate::log::RequestLog) -> Self {
        self.request_log = Some(log);
        self
    }

    /// One stage of a request into the opt-in request logs (nothing when they are off). The
    /// file is written and fsynced on a blocking thread, never on the async workers.
    pub fn record(&self, conversation: &str, stage: &str, body: &serde_json::Value) {
        if let Some(log) = self.request_log.clone().filter(|l| l.enabled()) {
            let (conversation, stage, body) =
                (conversation.to_owned(), stage.to_owned(), body.to_string());
            tokio::task::spawn_blocking(move || log.record(&conversation, &stage, &[], &body));
        }
    }

    /// A finished response into the opt-in request logs.
    pub fn record_outcome(&self, conversation: &str, rec: &responses::Recorder) {
        if self.request_log.as_ref().is_some_and(|l| l.enabled()) {
            let body = serde_json::json!({
                "id": rec.outcome.id,
                "output": rec.outcome.output,
                "usage": rec.outcome.response.as_ref().and_then(|r| r.get("usage")),
                "error": rec.outcome.error.as_ref().map(|e| serde_json::json!({"status": e.status, "code": e.code, "message": e.message})),
            });
            self.record(conversation, "gateway-response", &body);
        }
    }

    /// Settings.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The response store.
    pub fn store(&self) -> &ResponseStore {
        &self.store
    }

    /// Models offered to this account.
    pub fn models(&self) -> BoxFuture<'static, Result<Vec<ModelInfo>, UpstreamError>> {
        self.upstream.models()
    }

    /// The Codex catalog.
    pub fn codex_catalog(
        &self,
        v: Option<String>,
    ) -> BoxFuture<'static, Result<serde_json::Value, UpstreamError>> {
        self.upstream.codex_catalog(v)
    }

    /// Send to the backend.
    pub fn send(
        &self,
        call: UpstreamCall,
    ) -> BoxFuture<'static, Result<UpstreamStream, UpstreamError>> {
        self.upstream.send(call)
    }

    /// Whether a browser origin is configured as allowed.
    pub fn allowed_origin(&self, origin: &str) -> bool {
        self.config.allowed_origins.iter().any(|o| {
            o.trim_end_matches('/')
                .eq_ignore_ascii_case(origin.trim_end_matches('/'))
        })
    }

    /// Whether `candidate` is the TCP key.
    pub fn key_matches(&self, candidate: &str) -> bool {
        self.key.as_ref().is_ok_and(|k| k.verify(candidate))
    }

    /// The key, rotated first when asked.
    pub fn key(&self, rotate: bool) -> Result<KeyText, String> {
        let k = self.key.as_ref().map_err(Clone::clone)?;
        let s = if rotate {
            let s = k.rotate().map_err(|e| e.to_string())?;
            tracing::info!("gateway key rotated");
            s
        } else {
            k.current()
        };
        Ok(KeyText(s.expose().to_owned()))
    }

    pub(crate) fn note_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Log a dropped parameter once per daemon run (at debug).
    pub fn log_drop_once(&self, param: &str) {
        let mut d = self
            .dropped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if d.insert(param.to_owned()) {
            tracing::debug!(target: "codexd::gateway", param, "dropped a parameter the Codex backend does not accept (logged once)");
        }
    }

    /// `codexctl gateway status`.
    pub fn status(&self) -> GatewayStatus {
        let l = self
            .listening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        GatewayStatus {
            unix_socket: l.unix.as_ref().map(|p| p.display().to_string()),
            tcp_enabled: l.tcp_enabled,
            tcp_listening: l.tcp_addrs.iter().map(ToString::to_string).collect(),
            port: self.config.port,
            activated: l.activated,
            key_file: self.key_path.display().to_string(),
            key_error: self.key.as_ref().err().cloned(),
            requests_served: self.served.load(Ordering::Relaxed),
            requests_refused: self.refused.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            tcp_error: l.tcp_error.clone(),
        }
    }
}

/// Answer a `codexctl gateway …` request.
pub async fn control(
    gw: &Arc<Gateway>,
    req: codexd_proto::gateway::GatewayRequest,
) -> Result<codexd_proto::gateway::GatewayReply, codexd_proto::WireError> {
    use codexd_proto::gateway::{GatewayReply, GatewayRequest};
    use codexd_proto::{ErrorCode, WireError};
    match req {
        GatewayRequest::Status => Ok(GatewayReply::Status(gw.status())),
        GatewayRequest::SetTcp(on) => {
            listeners::set_tcp(gw, on)
                .await
                .map_err(|e| WireError::new(ErrorCode::Internal, e))?;
            tracing::info!(
                on,
                "gateway TCP listener turned {}",
                if on { "on" } else { "off" }
            );
            Ok(GatewayReply::Status(gw.status()))
        }
        GatewayRequest::Key { rotate } => gw
            .key(rotate)
            .map(GatewayReply::Key)
            .map_err(|e| WireError::new(ErrorCode::Internal, e)),
    }
}

/// One log line per request; counts and remembers the last error.
async fn log_request(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    gw.served.fetch_add(1, Ordering::Relaxed);
    if status >= 400 {
        *gw.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(format!("HTTP {status} on {method} {path}"));
    }
    tracing::info!(target: "codexd::gateway", %method, %path, status, ms = start.elapsed().as_millis() as u64, "gateway request");
    resp
}

/// The routes, behind the guard for `door`.
pub fn router(gateway: Arc<Gateway>, door: Door) -> Router {
    let api = Router::new()
        .route(
            "/v1/responses",
            post({
                let gw = gateway.clone();
                move |headers, body| responses::handle(gw.clone(), headers, body)
            }),
        )
        .route(
            "/v1/responses/compact",
            post({
                let gw = gateway.clone();
                move |headers, body| models::compact(gw.clone(), headers, body)
            }),
        )
        .route(
            "/v1/chat/completions",
            post({
                let gw = gateway.clone();
                move |headers, body| chat::handle(gw.clone(), headers, body)
            }),
        )
        .route(
            "/v1/models",
            get({
                let gw = gateway.clone();
                move |query| models::list(gw.clone(), query)
            }),
        )
        .route(
            "/v1/models/{id}",
            get({
                let gw = gateway.clone();
                move |path| models::one(gw.clone(), path)
            }),
        )
        .fallback(models::not_found)
        // Codex CLI bodies carry whole conversations; the 2 MB default is too small.
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    api.layer(axum::middleware::from_fn_with_state(
        GuardState {
            gateway: gateway.clone(),
            door,
        },
        guard::guard,
    ))
    .layer(axum::middleware::from_fn_with_state(gateway, log_request))
}

#[cfg(test)]
mod tests;
