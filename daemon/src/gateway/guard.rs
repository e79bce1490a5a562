//! Who may use the gateway. Every request passes these checks before any handler runs:
//!
//! - `OPTIONS` → 403: no CORS preflight ever succeeds, so no browser page gets a reply.
//! - TCP only: `Host` must be `127.0.0.1:<port>`, `localhost:<port>` or `[::1]:<port>`
//!   (else 421) — a DNS-rebinding page sends its own host name.
//! - An `Origin`, or `Sec-Fetch-Site` other than `none`, → 403 unless the origin is
//!   configured: browsers add these, command-line tools and SDKs do not.
//! - TCP only: the key, as `Authorization: Bearer <key>` or `x-api-key: <key>` (else 401).
//! - A `POST` must be `application/json` (else 415): a form or `text/plain` POST is what a
//!   page can send without a preflight.
//!
//! The Unix socket needs no key: only this user can connect (0600 socket in a 0700
//! directory, peer uid checked on accept).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Gateway;
use super::errors::ApiError;

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The Unix socket.
    Unix,
    /// Loopback TCP on this port.
    Tcp(u16),
}

/// State of the guard middleware.
#[derive(Clone)]
pub struct GuardState {
    /// The gateway.
    pub gateway: Arc<Gateway>,
    /// The listener.
    pub door: Door,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::FORBIDDEN | StatusCode::MISDIRECTED_REQUEST => "permission_error",
        _ => "invalid_request_error",
    };
    let mut r = ApiError::new(status, kind, Some(code), message).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    r
}

/// The checks, in order; `None` = let it through.
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    door: Door,
    gateway: &Gateway,
) -> Option<Response> {
    if method == Method::OPTIONS {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "cors_refused",
            "The codexd gateway does not answer cross-origin requests.",
        ));
    }
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Door::Tcp(port) = door {
        if !gateway.tcp_enabled() {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "gateway_off",
                "The codexd gateway's TCP listener is turned off; turn it on with `codexctl gateway on`.",
            ));
        }
        let host = get("host").unwrap_or("");
        let ok = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host));
        if !ok {
            return Some(refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "host_refused",
                &format!(
                    "The codexd gateway only answers requests for 127.0.0.1:{port}, localhost:{port} or [::1]:{port}."
                ),
            ));
        }
    }
    let origin = get("origin");
    let allowed = origin.is_some_and(|o| gateway.allowed_origin(o));
    let fetch_site = get("sec-fetch-site").filter(|s| !s.eq_ignore_ascii_case("none"));
    if (origin.is_some() || fetch_site.is_some()) && !allowed {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "origin_refused",
            "The codexd gateway refuses requests from web pages. To allow one origin, add it to `allowed_origins` in the [gateway] section of codexd's config.",
        ));
    }
    if let Door::Tcp(_) = door {
        let bearer = get("authorization").and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
                .map(str::trim)
        });
        let key = bearer.or_else(|| get("x-api-key").map(str::trim));
        match key {
            Some(k) if gateway.key_matches(k) => {}
            Some(_) => {
                return Some(refuse(
                    StatusCode::UNAUTHORIZED,
                    "invalid_api_key",
                    "Wrong gateway key. Print the current one with `codexctl gateway key`.",
                ));
            }
            None => {
                return Some(refuse(
                    StatusCode::UNAUTHORIZED,
                    "missing_api_key",
                    "The codexd gateway needs its key (`Authorization: Bearer <key>` or `x-api-key`). Print it with `codexctl gateway key`.",
                ));
            }
        }
    }
    if method == Method::POST {
        let ct = get("content-type").unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Some(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The codexd gateway takes JSON bodies only (Content-Type: application/json).",
            ));
        }
    }
    None
}

/// The middleware.
pub async fn guard(State(st): State<GuardState>, req: Request, next: Next) -> Response {
    if let Some(r) = check(req.method(), req.headers(), st.door, &st.gateway) {
        tracing::info!(target: "codexd::gateway", method = %req.method(), path = %req.uri().path(), status = r.status().as_u16(), "gateway request refused");
        st.gateway.note_refused();
        return r;
    }
    next.run(req).await
}
