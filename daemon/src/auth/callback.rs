//! The loopback callback listener of the browser flow (axum on `127.0.0.1`): receives
//! `/auth/callback?code&state`, checks the state first (a mismatch is answered 400 and the
//! login keeps waiting), hands the code to the flow and shows the flow's outcome in our own
//! small HTML pages. `/cancel?state=…` ends a waiting login, but only with that login's own
//! state (an `<img>` on any web page, or another user, cannot end it); `/success` is the final
//! page. Every request must name us in its `Host` header (`127.0.0.1:<port>` or
//! `localhost:<port>`), else 421: that keeps DNS-rebinding pages out. A port held by someone
//! else (e.g. the Codex CLI's own sign-in on 1455) is never poked: we take the next port.
//! Every answer says `Connection: close`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::paste::{self, Redirect};
use super::pkce::constant_time_eq;
use crate::secret::Secret;

/// What the listener tells the waiting flow.
#[derive(Debug)]
pub enum CallbackMsg {
    /// A code with the right state: exchange it and answer `reply` (Ok: account line, Err: why).
    Code {
        /// Authorization code.
        code: Secret,
        /// The browser's page waits for this.
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// A callback whose state did not match (ignored; the login keeps waiting).
    StateMismatch,
    /// The server refused the sign-in.
    Denied(String),
    /// `/cancel` with this login's state was requested.
    Cancelled,
    /// A newer sign-in of this daemon needs the port.
    Superseded,
}

/// A running listener; it stops when dropped.
pub struct Listener {
    /// The port it listens on.
    pub port: u16,
    /// `http://127.0.0.1:{port}/auth/callback` (what Codex CLI 0.171 registers).
    pub redirect_uri: String,
    /// Messages for the flow.
    pub rx: mpsc::Receiver<CallbackMsg>,
    stop: CancellationToken,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
        ours().retain(|(port, _, stop)| !(*port == self.port && stop.is_cancelled()));
    }
}

struct CbState {
    expected_state: Secret,
    tx: mpsc::Sender<CallbackMsg>,
    code_taken: AtomicBool,
    port: u16,
}

/// Our own listeners, by port: a newer sign-in may end an older one of ours that still holds
/// a port, and only ours (anything else on the port belongs to another program).
static OURS: std::sync::Mutex<Vec<(u16, mpsc::Sender<CallbackMsg>, CancellationToken)>> =
    std::sync::Mutex::new(Vec::new());

fn ours() -> std::sync::MutexGuard<'static, Vec<(u16, mpsc::Sender<CallbackMsg>, CancellationToken)>>
{
    OURS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Bind the first free port of `ports` (asking a stale listener of ours to cancel first) and
/// serve until the returned [`Listener`] drops.
pub async fn start(
    ports: &[u16],
    expected_state: Secret,
    _http: &reqwest::Client,
) -> Result<Listener, String> {
    let mut last_err = String::from("no callback ports are configured");
    for &port in ports {
        match bind(port).await {
            Ok(tcp) => {
                let (tx, rx) = mpsc::channel(8);
                let stop = CancellationToken::new();
                let state = Arc::new(CbState {
                    expected_state: expected_state.clone(),
                    tx: tx.clone(),
                    code_taken: AtomicBool::new(false),
                    port,
                });
                let app = Router::new()
                    .route("/auth/callback", get(callback))
                    .route("/success", get(success))
                    .route("/cancel", get(cancel))
                    .fallback(not_found)
                    .layer(axum::middleware::from_fn_with_state(
                        state.clone(),
                        host_guard,
                    ))
                    .with_state(state);
                let stopped = stop.clone();
                tokio::spawn(async move {
                    let _ = axum::serve(tcp, app)
                        .with_graceful_shutdown(async move { stopped.cancelled().await })
                        .await;
                });
                ours().push((port, tx, stop.clone()));
                tracing::info!(port, "sign-in callback listener started");
                return Ok(Listener {
                    port,
                    redirect_uri: format!("http://127.0.0.1:{port}/auth/callback"),
                    rx,
                    stop,
                });
            }
            Err(e) => {
                tracing::warn!(port, error = %e, "callback port unavailable; trying the next one");
                last_err = format!("port {port}: {e}");
            }
        }
    }
    Err(format!(
        "cannot listen for the browser's callback ({last_err}); close the program using the port, set other callback_ports, or use `codexctl login --device` or `--paste`"
    ))
}

async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => return Ok(l),
        Err(e) if e.kind() != std::io::ErrorKind::AddrInUse => return Err(e),
        Err(_) => {}
    }
    // Busy. An older sign-in of ours may still hold it: end that one (directly, not over
    // HTTP). Anyone else's listener — the Codex CLI's own login, say — is left alone.
    let older: Vec<_> = ours()
        .iter()
        .filter(|(p, _, _)| *p == port)
        .map(|(_, tx, stop)| (tx.clone(), stop.clone()))
        .collect();
    if older.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "in use by another program (left alone)",
        ));
    }
    for (tx, stop) in older {
        let _ = tx.try_send(CallbackMsg::Superseded);
        stop.cancel();
    }
    let mut last = None;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("port busy")))
}

/// Answer 421 unless the request names this listener as its host: a page on another origin
/// that rebinds its DNS name to 127.0.0.1 still sends its own name.
async fn host_guard(
    State(st): State<Arc<CbState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if host_is_ours(host, st.port) {
        next.run(req).await
    } else {
        tracing::warn!(
            port = st.port,
            "callback request for another host refused (421)"
        );
        page(
            StatusCode::MISDIRECTED_REQUEST,
            "Wrong address",
            "This is codexd's sign-in listener; it only answers to 127.0.0.1 and localhost.",
        )
    }
}

/// `127.0.0.1:<port>` or `localhost:<port>` (any case).
fn host_is_ours(host: &str, port: u16) -> bool {
    let Some((name, p)) = host.rsplit_once(':') else {
        return false;
    };
    p == port.to_string() && (name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost"))
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>codexd — {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}\
         h1{{font-size:1.4rem}}</style></head><body><h1>{title}</h1><p>{body}</p></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONNECTION, "close"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn callback(State(st): State<Arc<CbState>>, RawQuery(q): RawQuery) -> Response {
    let parsed = paste::from_pairs(
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes()).into_owned(),
    );
    // The state is checked before anything else is looked at.
    let state = match &parsed {
        Ok(Redirect::Code { state, .. }) => Some(state.as_str()),
        Ok(Redirect::Error { state, .. }) => state.as_deref(),
        Err(_) => None,
    };
    if !state.is_some_and(|s| constant_time_eq(s, st.expected_state.expose())) {
        let _ = st.tx.send(CallbackMsg::StateMismatch).await;
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not the one codexd is waiting for",
            "The state value does not match (an old tab or a forged link). codexd is still waiting: \
             finish the sign-in from the address <code>codexctl login</code> printed.",
        );
    }
    match parsed {
        Ok(Redirect::Error {
            error, description, ..
        }) => {
            let why = denial_text(&error, description.as_deref());
            let _ = st.tx.send(CallbackMsg::Denied(why.clone())).await;
            page(StatusCode::OK, "Sign-in failed", &escape(&why))
        }
        Ok(Redirect::Code { code, .. }) => {
            if st.code_taken.swap(true, Ordering::SeqCst) {
                return page(
                    StatusCode::BAD_REQUEST,
                    "Already handled",
                    "This sign-in was already completed or is being completed.",
                );
            }
            let (reply, wait) = oneshot::channel();
            if st.tx.send(CallbackMsg::Code { code, reply }).await.is_err() {
                return page(
                    StatusCode::GONE,
                    "Sign-in no longer running",
                    "Run <code>codexctl login</code> again.",
                );
            }
            match tokio::time::timeout(Duration::from_secs(90), wait).await {
                Ok(Ok(Ok(who))) => page(
                    StatusCode::OK,
                    "Signed in to codexd",
                    &format!(
                        "{}. You can close this tab and go back to the terminal.",
                        escape(&who)
                    ),
                ),
                Ok(Ok(Err(why))) => page(StatusCode::OK, "Sign-in failed", &escape(&why)),
                _ => page(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Sign-in did not finish",
                    "codexd did not finish the sign-in; see the terminal and <code>codexctl logs</code>.",
                ),
            }
        }
        Err(_) => page(
            StatusCode::BAD_REQUEST,
            "Incomplete callback",
            "The address lacks the code.",
        ),
    }
}

/// A person's sentence for an OAuth error redirect.
pub fn denial_text(error: &str, description: Option<&str>) -> String {
    let clip = |s: &str| s.chars().take(200).collect::<String>();
    if error == "access_denied"
        && description.is_some_and(|d| d.contains("missing_codex_entitlement"))
    {
        return "Codex is not enabled for this ChatGPT workspace; ask its admin to enable Codex, or sign in with another account".into();
    }
    match description {
        Some(d) => format!("the sign-in server refused: {} ({})", clip(error), clip(d)),
        None => format!("the sign-in server refused: {}", clip(error)),
    }
}

async fn success() -> Response {
    page(
        StatusCode::OK,
        "Signed in to codexd",
        "You can close this tab.",
    )
}

async fn cancel(State(st): State<Arc<CbState>>, RawQuery(q): RawQuery) -> Response {
    let state = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    if !state.is_some_and(|s| constant_time_eq(&s, st.expected_state.expose())) {
        tracing::warn!("a /cancel without this sign-in's state was ignored");
        return page(
            StatusCode::FORBIDDEN,
            "Not cancelled",
            "Only the sign-in itself can cancel it; codexd is still waiting.",
        );
    }
    let _ = st.tx.send(CallbackMsg::Cancelled).await;
    page(
        StatusCode::OK,
        "Sign-in cancelled",
        "This sign-in attempt was cancelled.",
    )
}

async fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, "Not found", "Nothing here.")
}

#[cfg(test)]
mod tests {
    use super::host_is_ours;

    #[test]
    fn only_our_own_host_names() {
        assert!(host_is_ours("127.0.0.1:1455", 1455));
        assert!(host_is_ours("localhost:1455", 1455));
        assert!(host_is_ours("LocalHost:1455", 1455));
        assert!(!host_is_ours("localhost:1456", 1455));
        assert!(!host_is_ours("localhost", 1455));
        assert!(!host_is_ours("evil.example:1455", 1455));
        assert!(!host_is_ours("127.0.0.1.evil.example:1455", 1455));
        assert!(!host_is_ours("", 1455));
    }
}
