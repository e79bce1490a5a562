//! Local fakes of the three remote services codexd talks to, so no test touches the network.
//!
//! Layout:
//! - [`jwt`]: unsigned but well-formed JWTs with the ChatGPT claims.
//! - [`tokens`]: the token registry, which tokens exist and whether they are still valid;
//!   shared by the issuer (which mints and revokes) and the backend (which checks).
//! - [`auth`]: [`FakeAuth`], the OpenAI OAuth issuer (authorize + PKCE, token, refresh,
//!   revoke, device code).
//! - [`backend`]: [`FakeBackend`], the ChatGPT backend (`/backend-api/codex/responses` SSE,
//!   `/codex/models`, `/wham/*`); a folder split by job (handle and control API, routes,
//!   request validation, SSE planner).
//! - [`github`]: [`FakeGitHub`], api.github.com, github.com and raw.githubusercontent.com paths
//!   on one server.
//! - [`catalog`]: the model catalog both serve (lite and classic models, minimal versions).
//! - `server` (private): bind 127.0.0.1, serve, stop/restart on the same port; its
//!   [`FakeServer`] trait gives every fake the same `stop` / `restart` / `is_running`.
//!
//! Every fake binds `127.0.0.1:0`, serves on a task of the tokio runtime it was started on,
//! and keeps its state behind `std::sync::Mutex`, so all methods except `start` are synchronous
//! and callable from plain `#[test]`s as well as async tests. Faults are switched at runtime.
//!
//! Plain `#[test]`s (which block their thread while codexd runs) should use
//! [`FakeStack::start_blocking`]: it owns a multi-thread runtime, so the fakes keep answering
//! while the test thread blocks. An async test can use [`FakeStack::start`] — but then the
//! test must not block its runtime's threads (a current-thread `#[tokio::test]` that calls
//! `std::process::Command::output` would starve the fakes).

pub mod auth;
pub mod backend;
pub mod catalog;
pub mod github;
pub mod jwt;
pub mod tokens;

mod server;

#[cfg(test)]
mod selftest;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde_json::Value;

pub use auth::FakeAuth;
pub use backend::FakeBackend;
pub use github::FakeGitHub;
pub use server::FakeServer;

/// All three fakes, started together and wired so that the backend accepts exactly the access
/// tokens the issuer handed out (and stops accepting revoked ones).
pub struct FakeStack {
    /// The OAuth issuer.
    pub auth: FakeAuth,
    /// The ChatGPT backend; shares `auth`'s token registry.
    pub backend: FakeBackend,
    /// GitHub (API, web and raw paths on one server).
    pub github: FakeGitHub,
    /// The runtime the servers run on when started with [`FakeStack::start_blocking`];
    /// `None` when started on the caller's runtime.
    rt: Option<tokio::runtime::Runtime>,
}

impl FakeStack {
    /// Starts all three fakes on the current tokio runtime.
    pub async fn start() -> std::io::Result<FakeStack> {
        let auth = FakeAuth::start().await?;
        let backend = FakeBackend::start_with_registry(auth.registry()).await?;
        let github = FakeGitHub::start().await?;
        Ok(FakeStack {
            auth,
            backend,
            github,
            rt: None,
        })
    }

    /// Starts all three fakes on a dedicated multi-thread runtime that this stack owns, so the
    /// servers keep running on background threads while the calling thread blocks.
    ///
    /// Works from plain `#[test]`s and from inside an async context alike (the runtime is
    /// built on a helper thread). Panics if a port cannot be bound — it is a test helper; use
    /// [`FakeStack::try_start_blocking`] to handle the error.
    pub fn start_blocking() -> FakeStack {
        Self::try_start_blocking().expect("starting the fake servers on 127.0.0.1")
    }

    /// Like [`FakeStack::start_blocking`], returning binding errors instead of panicking.
    pub fn try_start_blocking() -> std::io::Result<FakeStack> {
        let joined = std::thread::Builder::new()
            .name("codexd-fakes-start".into())
            .spawn(|| -> std::io::Result<FakeStack> {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("codexd-fakes")
                    .enable_all()
                    .build()?;
                let mut stack = rt.block_on(FakeStack::start())?;
                stack.rt = Some(rt);
                Ok(stack)
            })?
            .join();
        match joined {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::other("fake stack start thread panicked")),
        }
    }

    /// Environment variables that point codexd at these fakes.
    pub fn env(&self) -> Vec<(String, String)> {
        let gh = self.github.url();
        vec![
            ("CODEXD_AUTH_ISSUER".into(), self.auth.url()),
            ("CODEXD_BACKEND_URL".into(), self.backend.base_url()),
            ("CODEXD_GITHUB_API_URL".into(), gh.clone()),
            ("CODEXD_GITHUB_URL".into(), gh.clone()),
            ("CODEXD_GITHUB_RAW_URL".into(), gh),
        ]
    }

    /// The runtime the fakes run on, if this stack owns one (started with
    /// [`FakeStack::start_blocking`]); handy for running async client code from a sync test.
    pub fn runtime(&self) -> Option<&tokio::runtime::Runtime> {
        self.rt.as_ref()
    }
}

impl Drop for FakeStack {
    fn drop(&mut self) {
        // Stop the servers explicitly (clones of the handles may outlive the stack), then let
        // the runtime go without blocking: dropping a runtime inside an async context panics.
        self.auth.stop();
        self.backend.stop();
        self.github.stop();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Polls `cond` every 10 ms until it is true or `timeout` passes; returns the last result.
/// For synchronous tests waiting on a fake's counters.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Locks a std mutex, ignoring poisoning (a panicking test thread must not take the fakes
/// down with it; the state stays usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `prefix` + `bytes` random bytes, base64url without padding.
pub(crate) fn random_token(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(buf))
}

/// `prefix` + `n` random lowercase hex digits.
pub(crate) fn random_hex(prefix: &str, n: usize) -> String {
    let mut buf = vec![0u8; n.div_ceil(2)];
    rand::rng().fill_bytes(&mut buf);
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    for b in buf {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(prefix.len() + n);
    s
}

/// A JSON response with a status.
pub(crate) fn json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// OAuth-style error: `{"error": code, "error_description": description}`.
pub(crate) fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    json(
        status,
        serde_json::json!({ "error": code, "error_description": description }),
    )
}

/// OpenAI-style nested error: `{"error": {"message", "type", "code", "param": null}}`.
pub(crate) fn api_error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({
            "error": { "message": message, "type": kind, "code": code, "param": null }
        }),
    )
}

/// Parses a request body as JSON object or as `application/x-www-form-urlencoded`, chosen by
/// `Content-Type` (form when absent). JSON scalars become strings; nulls are dropped.
pub(crate) fn parse_params(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, String> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.contains("json") {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("JSON body must be an object".into());
        };
        Ok(map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Null => None,
                Value::String(s) => Some((k, s)),
                other => Some((k, other.to_string())),
            })
            .collect())
    } else {
        Ok(url::form_urlencoded::parse(body).into_owned().collect())
    }
}

/// Parses a raw query string into a map (last value wins).
pub(crate) fn parse_query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Whether an `If-None-Match` header matches `etag` (handles lists, `W/` and `*`).
pub(crate) fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches("W/").to_string();
    let want = strip(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let c = candidate.trim();
            c == "*" || strip(c) == want
        })
}

/// A quoted strong ETag from the SHA-256 of `parts`.
pub(crate) fn etag_of(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}
