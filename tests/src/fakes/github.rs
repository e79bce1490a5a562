//! [`FakeGitHub`]: the three GitHub hosts codexd reads Codex instructions from, on one server.
//!
//! - API (`api.github.com`): `GET /repos/openai/codex/releases/latest` → `{"tag_name", …}`
//!   with an `ETag`; 304 on a matching `If-None-Match`. Unauthenticated rate limit like the real
//!   one: `x-ratelimit-*` headers, a budget of 60 requests per hour where 304s are free, and a
//!   403 "API rate limit exceeded" once the budget is spent.
//! - Web (`github.com`): `GET /openai/codex/releases/latest` → 302 to
//!   `/openai/codex/releases/tag/<tag>` (absolute URL on this server), which serves a page.
//! - Raw (`raw.githubusercontent.com`): `GET /openai/codex/<tag>/codex-rs/core/<file>` (a
//!   prompt file, named by its file name) and `GET /openai/codex/<tag>/<path>` (any other
//!   file, named by its path: the model catalog [`CATALOG_PATH`]) → the file with an ETag
//!   derived from tag, name and content; 304 on match; 404 when unknown.
//!
//! Content is made up ("FAKE prompt.md for rust-v0.171.0"), never real prompt text. Faults:
//! 500 on everything, a forced 403/429 rate limit, and [`FakeServer::stop`]/
//! [`FakeServer::restart`] for "unreachable".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::catalog::{self, CATALOG_PATH};
use super::server::{FakeServer, Server};
use super::{etag_matches, etag_of, json, lock, now_unix};

/// The release tag served by default.
pub const DEFAULT_TAG: &str = "rust-v0.171.0";

/// The prompt files upstream ships (upstream.md section 6); each gets made-up content.
pub const PROMPT_FILES: &[&str] = &[
    "prompt.md",
    "gpt_5_codex_prompt.md",
    "gpt-5.2-codex_prompt.md",
    "gpt-5.1-codex-max_prompt.md",
    "gpt_5_2_prompt.md",
    "gpt_5_1_prompt.md",
];

/// Requests per hour of the unauthenticated API budget.
pub const DEFAULT_RATE_BUDGET: u32 = 60;

/// Handle to a running fake GitHub. Clones share the server and its state.
#[derive(Clone)]
pub struct FakeGitHub {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

struct Shared {
    url: String,
    state: Mutex<GhState>,
}

struct GhState {
    tag: String,
    /// (tag, file name) → content.
    files: HashMap<(String, String), String>,
    requests: Vec<GhRequest>,
    failing: bool,
    /// Every answer waits this long (a GitHub that hangs).
    delay: std::time::Duration,
    forced_limit: Option<RateLimitFault>,
    budget: u32,
    remaining: u32,
    reset_at: i64,
}

/// One request the fake saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhRequest {
    /// Request path (no query).
    pub path: String,
    /// The `If-None-Match` header, if sent.
    pub if_none_match: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// A forced rate-limit answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateLimitFault {
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset: <reset_at>`.
    Forbidden {
        /// `x-ratelimit-reset` (unix s).
        reset_at: i64,
    },
    /// 429 with `Retry-After: <retry_after>`.
    TooMany {
        /// `Retry-After` seconds.
        retry_after: u64,
    },
}

/// Made-up content of `file` for `tag`.
pub fn fake_prompt(tag: &str, file: &str) -> String {
    format!(
        "FAKE {file} for {tag}\n\nYou are a fake assistant used by codexd's tests. \
         This text is not upstream's.\n"
    )
}

impl FakeGitHub {
    /// Starts the fake on `127.0.0.1:<free port>` with tag [`DEFAULT_TAG`] and fake prompt
    /// files for every name in [`PROMPT_FILES`].
    pub async fn start() -> std::io::Result<FakeGitHub> {
        Self::start_on(0).await
    }

    /// Like [`FakeGitHub::start`] on `127.0.0.1:port` (0 = any free port).
    pub async fn start_on(port: u16) -> std::io::Result<FakeGitHub> {
        let listener = Server::bind(port)?;
        let url = format!("http://{}", listener.local_addr()?);
        let mut state = GhState {
            tag: DEFAULT_TAG.into(),
            files: HashMap::new(),
            requests: Vec::new(),
            failing: false,
            delay: std::time::Duration::ZERO,
            forced_limit: None,
            budget: DEFAULT_RATE_BUDGET,
            remaining: DEFAULT_RATE_BUDGET,
            reset_at: now_unix() + 3600,
        };
        add_default_files(&mut state, DEFAULT_TAG);
        let shared = Arc::new(Shared {
            url,
            state: Mutex::new(state),
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let server = Server::serve(listener, router)?;
        Ok(FakeGitHub {
            shared,
            server: Arc::new(server),
        })
    }

    /// Base URL, no trailing slash (for `CODEXD_GITHUB_API_URL`, `_URL` and `_RAW_URL`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    fn with<R>(&self, f: impl FnOnce(&mut GhState) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// Makes `tag` the latest release. If no file exists for it yet, fake prompt files for
    /// every name in [`PROMPT_FILES`] and the model catalog are added.
    pub fn set_tag(&self, tag: &str) {
        self.with(|s| {
            s.tag = tag.to_owned();
            if !s.files.keys().any(|(t, _)| t == tag) {
                add_default_files(s, tag);
            }
        });
    }

    /// The latest release tag.
    pub fn tag(&self) -> String {
        self.with(|s| s.tag.clone())
    }

    /// Sets the content of `name` under `tag`.
    pub fn set_file(&self, tag: &str, name: &str, text: &str) {
        self.with(|s| {
            s.files
                .insert((tag.to_owned(), name.to_owned()), text.to_owned());
        });
    }

    /// Removes `name` under `tag` (it then answers 404).
    pub fn remove_file(&self, tag: &str, name: &str) {
        self.with(|s| {
            s.files.remove(&(tag.to_owned(), name.to_owned()));
        });
    }

    /// The content of `name` under `tag`.
    pub fn file(&self, tag: &str, name: &str) -> Option<String> {
        self.with(|s| s.files.get(&(tag.to_owned(), name.to_owned())).cloned())
    }

    /// The ETag the raw endpoint sends for `name` under `tag`.
    pub fn file_etag(&self, tag: &str, name: &str) -> Option<String> {
        self.file(tag, name).map(|text| file_etag(tag, name, &text))
    }

    /// Every request seen (since the last [`FakeGitHub::reset_requests`]).
    pub fn requests(&self) -> Vec<GhRequest> {
        self.with(|s| s.requests.clone())
    }

    /// Number of requests whose path starts with `path_prefix`.
    pub fn count(&self, path_prefix: &str) -> usize {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.path.starts_with(path_prefix))
                .count()
        })
    }

    /// Forgets the request log.
    pub fn reset_requests(&self) {
        self.with(|s| s.requests.clear());
    }

    /// Every answer waits `delay` first (zero: answer at once).
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.with(|s| s.delay = delay);
    }

    /// Every request answers 500 while on.
    pub fn set_failing(&self, failing: bool) {
        self.with(|s| s.failing = failing);
    }

    /// Forces a rate-limit answer on every path while `Some`.
    pub fn set_rate_limited(&self, fault: Option<RateLimitFault>) {
        self.with(|s| s.forced_limit = fault);
    }

    /// Sets the API budget (requests per window that are not 304) and refills it; the window
    /// resets one hour from now.
    pub fn set_rate_budget(&self, budget: u32) {
        self.with(|s| {
            s.budget = budget;
            s.remaining = budget;
            s.reset_at = now_unix() + 3600;
        });
    }

    /// Turns off `failing` and the forced rate limit, and refills the budget.
    pub fn clear_faults(&self) {
        self.with(|s| {
            s.failing = false;
            s.delay = std::time::Duration::ZERO;
            s.forced_limit = None;
            s.remaining = s.budget;
        });
    }
}

fn add_default_files(s: &mut GhState, tag: &str) {
    for name in PROMPT_FILES {
        s.files
            .insert((tag.to_owned(), (*name).to_owned()), fake_prompt(tag, name));
    }
    s.files.insert(
        (tag.to_owned(), CATALOG_PATH.to_owned()),
        catalog::file_body(tag),
    );
}

fn file_etag(tag: &str, name: &str, text: &str) -> String {
    etag_of(&[tag.as_bytes(), name.as_bytes(), text.as_bytes()])
}

fn set_header(resp: &mut Response, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(name, v);
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let delay = lock(&shared.state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let method = req.method().clone();
    let mut s = lock(&shared.state);
    let resp = route(&shared.url, &mut s, &method, &path, &headers);
    s.requests.push(GhRequest {
        path,
        if_none_match: headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        status: resp.status().as_u16(),
    });
    resp
}

fn route(
    base: &str,
    s: &mut GhState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    if s.failing {
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "message": "Server Error (injected by the fake)" }),
        );
    }
    if let Some(limit) = &s.forced_limit {
        return match limit {
            RateLimitFault::Forbidden { reset_at } => rate_limited(s.budget, *reset_at),
            RateLimitFault::TooMany { retry_after } => {
                let mut r = json(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({ "message": "Too many requests (injected by the fake)" }),
                );
                set_header(&mut r, "retry-after", retry_after.to_string());
                r
            }
        };
    }
    if method != Method::GET && method != Method::HEAD {
        return json(StatusCode::NOT_FOUND, json!({ "message": "Not Found" }));
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["repos", "openai", "codex", "releases", "latest"] => api_latest(s, headers),
        ["openai", "codex", "releases", "latest"] => {
            let location = format!("{base}/openai/codex/releases/tag/{}", s.tag);
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        ["openai", "codex", "releases", "tag", tag] => Html(format!(
            "<!doctype html><title>Release {tag} · openai/codex (fake)</title><h1>{tag}</h1>"
        ))
        .into_response(),
        ["openai", "codex", tag, "codex-rs", "core", file] => raw_file(s, tag, file, headers),
        ["openai", "codex", tag, rest @ ..] if !rest.is_empty() => {
            raw_file(s, tag, &rest.join("/"), headers)
        }
        _ if path.starts_with("/repos/") => json(
            StatusCode::NOT_FOUND,
            json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest" }),
        ),
        _ => (StatusCode::NOT_FOUND, "404: Not Found").into_response(),
    }
}

fn rate_limited(budget: u32, reset_at: i64) -> Response {
    let mut r = json(
        StatusCode::FORBIDDEN,
        json!({
            "message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: \
                        Authenticated requests get a higher rate limit.)",
            "documentation_url":
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        }),
    );
    set_header(&mut r, "x-ratelimit-limit", budget.to_string());
    set_header(&mut r, "x-ratelimit-remaining", "0".into());
    set_header(&mut r, "x-ratelimit-reset", reset_at.to_string());
    set_header(&mut r, "x-ratelimit-used", budget.to_string());
    set_header(&mut r, "x-ratelimit-resource", "core".into());
    r
}

fn api_latest(s: &mut GhState, headers: &HeaderMap) -> Response {
    let now = now_unix();
    if now >= s.reset_at {
        s.remaining = s.budget;
        s.reset_at = now + 3600;
    }
    let etag = etag_of(&[b"release", s.tag.as_bytes()]);
    let not_modified = etag_matches(headers, &etag);
    if !not_modified {
        if s.remaining == 0 {
            return rate_limited(s.budget, s.reset_at);
        }
        s.remaining -= 1;
    }
    let mut r = if not_modified {
        (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response()
    } else {
        let tag = &s.tag;
        let mut r = json(
            StatusCode::OK,
            json!({
                "tag_name": tag,
                "name": tag,
                "html_url": format!("https://github.com/openai/codex/releases/tag/{tag}"),
                "draft": false,
                "prerelease": false,
                "published_at": super::tokens::rfc3339(now - 86_400),
            }),
        );
        set_header(&mut r, "etag", etag);
        r
    };
    set_header(&mut r, "x-ratelimit-limit", s.budget.to_string());
    set_header(&mut r, "x-ratelimit-remaining", s.remaining.to_string());
    set_header(&mut r, "x-ratelimit-reset", s.reset_at.to_string());
    set_header(
        &mut r,
        "x-ratelimit-used",
        (s.budget - s.remaining).to_string(),
    );
    set_header(&mut r, "x-ratelimit-resource", "core".into());
    r
}

fn raw_file(s: &GhState, tag: &str, file: &str, headers: &HeaderMap) -> Response {
    let Some(text) = s.files.get(&(tag.to_owned(), file.to_owned())) else {
        return (StatusCode::NOT_FOUND, "404: Not Found").into_response();
    };
    let etag = file_etag(tag, file, text);
    if etag_matches(headers, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "max-age=300".to_owned()),
        ],
        text.clone(),
    )
        .into_response()
}

impl FakeServer for FakeGitHub {
    fn server(&self) -> &Server {
        &self.server
    }
}
