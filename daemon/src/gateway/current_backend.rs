//! THE ADAPTER THE NEW BACKEND CLIENT (issue 11) REPLACES: [`Upstream`] on today's code —
//! the access token from the AuthActor (`GetAccess`, one `RefreshAfterUnauthorized` retry on
//! a 401), the shared reqwest client, and the model list from the InstructionCacheActor.
//! Deliberately small: no retries or backoff of its own (those belong to the backend
//! client), and no knowledge of lite models (today's catalog does not carry the flag).

use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use super::upstream::{
    Endpoint, ModelInfo, SseEvent, Upstream, UpstreamCall, UpstreamError, UpstreamStream,
};
use crate::auth::{Access, AuthActor, GetAccess, RefreshAfterUnauthorized};
use crate::config::{Config, ORIGINATOR};
use crate::instructions::{GetModels, InstructionCacheActor};
use crate::session::errors::{HttpFailure, classify_http};
use crate::supervisor::Supervised;

/// Today's backend, behind the port.
#[derive(Clone)]
pub struct CurrentBackend {
    http: reqwest::Client,
    config: Arc<Config>,
    auth: Supervised<AuthActor>,
    instructions: Supervised<InstructionCacheActor>,
}

impl CurrentBackend {
    /// Wrap the shared client and actors.
    pub fn new(
        http: reqwest::Client,
        config: Arc<Config>,
        auth: Supervised<AuthActor>,
        instructions: Supervised<InstructionCacheActor>,
    ) -> Self {
        Self {
            http,
            config,
            auth,
            instructions,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.backend.url.trim_end_matches('/'))
    }

    async fn access(&self) -> Result<Access, UpstreamError> {
        match self.auth.send(GetAccess).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) | Err(e) => Err(UpstreamError::new(
                401,
                Some("not_signed_in"),
                format!("{} (codexd gateway)", e.message),
            )),
        }
    }

    async fn refreshed(&self, rejected: &Access) -> Result<Access, UpstreamError> {
        match self
            .auth
            .send(RefreshAfterUnauthorized {
                rejected: rejected.token.clone(),
            })
            .await
        {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) | Err(e) => Err(UpstreamError::new(401, Some("not_signed_in"), e.message)),
        }
    }

    /// Send once with `access`; `Ok(None)` = 401.
    async fn post_once(
        &self,
        call: &UpstreamCall,
        access: &Access,
    ) -> Result<Option<reqwest::Response>, UpstreamError> {
        let path = match call.endpoint {
            Endpoint::Responses => "/codex/responses",
            Endpoint::Compact => "/codex/responses/compact",
        };
        let mut req = self
            .http
            .post(self.url(path))
            .header(AUTHORIZATION, format!("Bearer {}", access.token.expose()))
            .header("chatgpt-account-id", &access.account_id)
            .header("originator", ORIGINATOR)
            .header("session_id", &call.conversation)
            .header("session-id", &call.conversation)
            .header("thread-id", &call.conversation)
            .header("x-client-request-id", &call.conversation)
            .header(CONTENT_TYPE, "application/json")
            .header(
                ACCEPT,
                if call.endpoint == Endpoint::Responses {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            );
        for (k, v) in &call.relay_headers {
            req = req.header(k.as_str(), v.as_str());
        }
        // Never format the request or a reqwest error with headers: the token is in them.
        let resp = req.json(&call.body).send().await.map_err(|e| {
            UpstreamError::new(
                if e.is_timeout() { 504 } else { 502 },
                Some("backend_unreachable"),
                "The Codex backend cannot be reached; check the network and try again.",
            )
        })?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Ok(None);
        }
        Ok(Some(resp))
    }
}

fn relayed_headers(h: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter(|(k, _)| k.as_str().starts_with("x-codex-") || k.as_str() == "retry-after")
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

async fn error_from(resp: reqwest::Response) -> UpstreamError {
    let status = resp.status().as_u16();
    let headers = relayed_headers(resp.headers());
    let now = crate::now_unix();
    let limits = crate::session::limits::from_headers(resp.headers(), now);
    let body = resp.text().await.unwrap_or_default();
    let parsed = crate::session::errors::ErrorBody::parse(&body, now);
    let message = match classify_http(status, &body, limits.as_ref(), now) {
        HttpFailure::Fatal(w) | HttpFailure::Retryable(w) => w.message,
        HttpFailure::UnsupportedModel { message } => message,
        HttpFailure::Unauthorized => {
            "The Codex backend rejected the sign-in; run `codexctl login`.".into()
        }
    };
    let code = if message.contains("not supported when using Codex") {
        Some("model_not_supported".to_owned())
    } else {
        parsed.code.or(parsed.kind)
    };
    UpstreamError {
        status,
        code,
        message,
        headers,
    }
}

impl Upstream for CurrentBackend {
    fn models(&self) -> BoxFuture<'static, Result<Vec<ModelInfo>, UpstreamError>> {
        let this = self.clone();
        async move {
            let get = |refresh: bool| {
                let this = this.clone();
                async move {
                    match this.instructions.send(GetModels { refresh }).await {
                        Ok(Ok(c)) => Ok(c),
                        Ok(Err(e)) | Err(e) => Err(UpstreamError::new(502, None, e.message)),
                    }
                }
            };
            let mut catalog = get(false).await?;
            if catalog.models.is_empty() {
                // Loaded lazily: the first request waits (bounded) for the backend's list.
                catalog = get(true).await?;
            }
            Ok(catalog
                .models
                .into_iter()
                .enumerate()
                .map(|(i, m)| ModelInfo {
                    display_name: m.display_name.clone().unwrap_or_else(|| m.slug.clone()),
                    slug: m.slug,
                    lite: false,
                    efforts: m
                        .supported_efforts
                        .iter()
                        .map(|e| e.as_str().to_owned())
                        .collect(),
                    default_effort: m.default_effort.map(|e| e.as_str().to_owned()),
                    supports_verbosity: false,
                    default_verbosity: None,
                    context_window: m.context_window,
                    priority: i as i64 + 1,
                })
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
            let mut access = this.access().await?;
            let version = client_version.unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
            for attempt in 0..2 {
                let resp = this
                    .http
                    .get(this.url("/codex/models"))
                    .query(&[("client_version", version.as_str())])
                    .header(AUTHORIZATION, format!("Bearer {}", access.token.expose()))
                    .header("chatgpt-account-id", &access.account_id)
                    .header("originator", ORIGINATOR)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .map_err(|_| {
                        UpstreamError::new(
                            502,
                            Some("backend_unreachable"),
                            "The Codex backend cannot be reached; check the network and try again.",
                        )
                    })?;
                if resp.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                    access = this.refreshed(&access).await?;
                    continue;
                }
                if !resp.status().is_success() {
                    return Err(error_from(resp).await);
                }
                return resp.json::<Value>().await.map_err(|_| {
                    UpstreamError::new(
                        502,
                        None,
                        "The Codex backend's model list could not be read.",
                    )
                });
            }
            Err(UpstreamError::new(
                401,
                Some("not_signed_in"),
                "The Codex backend rejected the sign-in; run `codexctl login`.",
            ))
        }
        .boxed()
    }

    fn send(
        &self,
        call: UpstreamCall,
    ) -> BoxFuture<'static, Result<UpstreamStream, UpstreamError>> {
        let this = self.clone();
        async move {
            let access = this.access().await?;
            let resp = match this.post_once(&call, &access).await? {
                Some(r) => r,
                None => {
                    let access = this.refreshed(&access).await?;
                    this.post_once(&call, &access).await?.ok_or_else(|| {
                        UpstreamError::new(
                            401,
                            Some("not_signed_in"),
                            "The Codex backend rejected the sign-in even after a refresh; run `codexctl login`.",
                        )
                    })?
                }
            };
            if !resp.status().is_success() {
                return Err(error_from(resp).await);
            }
            let headers = relayed_headers(resp.headers());
            if call.endpoint == Endpoint::Compact {
                let text = resp.text().await.map_err(|_| {
                    UpstreamError::new(502, None, "The Codex backend's answer broke off; try again.")
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
            let source = resp.bytes_stream().eventsource();
            let events = futures_util::stream::unfold(Some(source), move |state| async move {
                let mut source = state?;
                match tokio::time::timeout(idle, source.next()).await {
                    Ok(Some(Ok(ev))) => Some((
                        Ok(SseEvent {
                            event: (!ev.event.is_empty() && ev.event != "message").then_some(ev.event),
                            data: ev.data,
                        }),
                        Some(source),
                    )),
                    Ok(Some(Err(_))) => Some((
                        Err(UpstreamError::new(
                            502,
                            Some("stream_broken"),
                            "The Codex backend's stream broke off; try again.",
                        )),
                        None,
                    )),
                    Ok(None) => None,
                    Err(_) => Some((
                        Err(UpstreamError::new(
                            504,
                            Some("stream_idle"),
                            "The Codex backend stopped sending; try again.",
                        )),
                        None,
                    )),
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
