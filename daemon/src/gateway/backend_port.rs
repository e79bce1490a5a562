//! The gateway's [`Upstream`] port on codexd's one backend client ([`crate::backend`]): the
//! same headers, compatibility version, workspace routing, retries and 401 → single-flight
//! refresh → retry as a conversation turn, and the same merged model catalog. Nothing here
//! retries or refreshes on its own.

use std::sync::Arc;
use std::time::Duration;

use codexd_proto::ErrorCode;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt as _, StreamExt as _};
use serde_json::Value;

use super::upstream::{
    Endpoint, ModelInfo, SseEvent, Upstream, UpstreamCall, UpstreamError, UpstreamStream,
};
use crate::backend::stream::{EventSource, StreamBreak};
use crate::backend::{Backend, Call, Failure};
use crate::config::Config;
use crate::instructions::catalog::CatalogError;
use crate::instructions::github::Fetched;
use crate::instructions::{GetModels, InstructionCacheActor};
use crate::supervisor::Supervised;

/// The backend client and the catalog, behind the gateway's port.
#[derive(Clone)]
pub struct BackendPort {
    backend: Backend,
    instructions: Supervised<InstructionCacheActor>,
    config: Arc<Config>,
}

impl BackendPort {
    /// Wrap the shared backend client and the catalog actor.
    pub fn new(
        backend: Backend,
        instructions: Supervised<InstructionCacheActor>,
        config: Arc<Config>,
    ) -> Self {
        Self {
            backend,
            instructions,
            config,
        }
    }

    /// Every model the merged catalog knows (offered or not), by priority.
    async fn catalog(&self) -> Result<Vec<(ModelInfo, bool)>, UpstreamError> {
        let catalog = match self.instructions.send(GetModels { refresh: false }).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) | Err(e) => return Err(UpstreamError::new(502, None, e.message)),
        };
        Ok(catalog
            .models
            .into_iter()
            .map(|m| {
                let offered = m.visible;
                (
                    ModelInfo {
                        display_name: m.display_name.clone().unwrap_or_else(|| m.slug.clone()),
                        slug: m.slug,
                        lite: m.lite,
                        efforts: m
                            .supported_efforts
                            .iter()
                            .map(|e| e.as_str().to_owned())
                            .collect(),
                        default_effort: m.default_effort.map(String::from),
                        supports_verbosity: m.supports_verbosity,
                        default_verbosity: m.default_verbosity.map(|v| v.as_str().to_owned()),
                        context_window: m.context_window,
                        priority: m.priority.unwrap_or(i64::MAX),
                    },
                    offered,
                )
            })
            .collect())
    }
}

/// A backend failure in the gateway's terms: the upstream status when there was one, else
/// the status that fits the error, and a machine-readable code.
fn upstream_error(f: Failure) -> UpstreamError {
    let (fallback_status, code) = match f.error.code {
        ErrorCode::NotSignedIn | ErrorCode::SignInAgain => (401, "not_signed_in"),
        ErrorCode::UsageLimit => (429, "usage_limit_reached"),
        ErrorCode::UsageNotIncluded => (403, "usage_not_included"),
        ErrorCode::ContextTooLong => (400, "context_length_exceeded"),
        ErrorCode::UnsupportedModel => (400, "model_not_supported"),
        ErrorCode::Overloaded => (503, "server_is_overloaded"),
        ErrorCode::Network => (502, "backend_unreachable"),
        ErrorCode::Timeout => (504, "backend_timeout"),
        ErrorCode::BadRequest => (400, "invalid_request"),
        ErrorCode::Cancelled => (499, "cancelled"),
        _ => (502, "backend_error"),
    };
    let mut headers = f.headers;
    if let Some(at) = f.error.retry_at {
        let wait = at.saturating_sub(crate::now_unix());
        if !headers.iter().any(|(k, _)| k == "retry-after") {
            headers.push(("retry-after".into(), wait.to_string()));
        }
    }
    UpstreamError {
        status: f.status.unwrap_or(fallback_status),
        code: Some(code.into()),
        message: f.error.message,
        headers,
    }
}

fn catalog_error(e: CatalogError) -> UpstreamError {
    let status = match &e {
        CatalogError::NotSignedIn(_) => 401,
        CatalogError::Unauthorized(s) | CatalogError::Status(s) => *s,
        CatalogError::Unreachable(_) | CatalogError::Invalid(_) => 502,
    };
    UpstreamError::new(status, None, e.to_string())
}

fn break_error(b: StreamBreak) -> UpstreamError {
    match b {
        StreamBreak::Idle(d) => UpstreamError::new(
            504,
            Some("stream_idle"),
            format!(
                "The Codex backend sent nothing for {} s; try again.",
                d.as_secs()
            ),
        ),
        StreamBreak::Closed | StreamBreak::Transport(_) => UpstreamError::new(
            502,
            Some("stream_broken"),
            "The Codex backend's stream broke off; try again.",
        ),
    }
}

impl Upstream for BackendPort {
    fn models(&self) -> BoxFuture<'static, Result<Vec<ModelInfo>, UpstreamError>> {
        let this = self.clone();
        async move {
            Ok(this
                .catalog()
                .await?
                .into_iter()
                .filter(|(_, offered)| *offered)
                .map(|(m, _)| m)
                .collect())
        }
        .boxed()
    }

    fn codex_catalog(
        &self,
        client_version: Option<String>,
    ) -> BoxFuture<'static, Result<Value, UpstreamError>> {
        let this = self.clone();
        async move {
            let version = client_version.unwrap_or_else(|| this.backend.compat().current().version);
            match this.backend.fetch_models_at(&version, None).await {
                Ok(Fetched::Fresh { value, .. }) => serde_json::from_str(&value).map_err(|_| {
                    UpstreamError::new(
                        502,
                        None,
                        "The Codex backend's model list could not be read.",
                    )
                }),
                Ok(Fetched::NotModified) => Err(UpstreamError::new(
                    502,
                    None,
                    "The Codex backend answered 304 to an unconditional request.",
                )),
                Err(e) => Err(catalog_error(e)),
            }
        }
        .boxed()
    }

    fn send(
        &self,
        call: UpstreamCall,
    ) -> BoxFuture<'static, Result<UpstreamStream, UpstreamError>> {
        let this = self.clone();
        async move {
            // The lite header follows the catalog's flag for the model in the body.
            let model = call.body.get("model").and_then(Value::as_str).unwrap_or("");
            let lite = this
                .catalog()
                .await
                .ok()
                .and_then(|c| c.into_iter().find(|(m, _)| m.slug == model))
                .is_some_and(|(m, _)| m.lite);
            let streaming = call.endpoint == Endpoint::Responses;
            let path = match call.endpoint {
                Endpoint::Responses => "/codex/responses",
                Endpoint::Compact => "/codex/responses/compact",
            };
            let backend_call = Call {
                path,
                body: &call.body,
                conversation: &call.conversation,
                lite,
                relay: &call.relay_headers,
                streaming,
            };
            let quiet = |_msg: String| async { true }.boxed();
            let resp = this
                .backend
                .open(&backend_call, &quiet)
                .await
                .map_err(upstream_error)?;
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter(|(k, _)| k.as_str().starts_with("x-codex-"))
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            if !streaming {
                let text = resp.text().await.map_err(|_| {
                    UpstreamError::new(
                        502,
                        None,
                        "The Codex backend's answer broke off; try again.",
                    )
                })?;
                let one = futures_util::stream::iter([Ok(SseEvent {
                    event: None,
                    data: text,
                })]);
                return Ok(UpstreamStream {
                    headers,
                    events: one.boxed(),
                });
            }
            let idle = Duration::from_secs(this.config.backend.idle_timeout_secs.max(1));
            let source = EventSource::new(resp, idle);
            let events = futures_util::stream::unfold(Some(source), |state| async move {
                let mut source = state?;
                match source.next_raw().await {
                    Ok(ev) => Some((
                        Ok(SseEvent {
                            event: ev.event,
                            data: ev.data,
                        }),
                        Some(source),
                    )),
                    Err(StreamBreak::Closed) => None,
                    Err(b) => Some((Err(break_error(b)), None)),
                }
            });
            Ok(UpstreamStream {
                headers,
                events: events.boxed(),
            })
        }
        .boxed()
    }
}
