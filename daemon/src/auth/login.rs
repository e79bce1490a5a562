//! The browser and paste flows (PKCE): build the authorize URL, then wait for the code from
//! the loopback listener or from the user's pasted redirect, check the state, and exchange
//! the code. Also: opening a browser when there is a display, never blocking on it.

use std::sync::Arc;

use codexd_proto::auth::{AccountSummary, LoginEvent};
use codexd_proto::{ErrorCode, Event, WireError};

use super::callback::{self, CallbackMsg};
use super::core::Core;
use super::paste::{self, Redirect};
use super::pkce::{Pkce, constant_time_eq, new_state};
use crate::request::RequestCtx;

fn exchange_failed(e: impl std::fmt::Display) -> WireError {
    WireError::new(
        ErrorCode::LoginFailed,
        format!(
            "Exchanging the authorization code for tokens failed: {e}. Run `codexctl login` again."
        ),
    )
}

/// Whether a browser can be shown here.
fn has_display() -> bool {
    if cfg!(target_os = "macos") {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// Launch the browser detached; true when the launcher started.
fn open_browser(url: &str) -> bool {
    if !has_display() {
        return false;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            // Reap it in the background so it never becomes a zombie; never wait here.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            true
        }
        Err(e) => {
            tracing::info!(opener, error = %e, "could not launch a browser");
            false
        }
    }
}

/// The browser flow, up to and including saving the sign-in.
pub async fn browser(
    core: &Arc<Core>,
    http: &reqwest::Client,
    ports: &[u16],
    try_browser: bool,
    timeout_secs: u64,
    ctx: &RequestCtx,
) -> Result<(AccountSummary, Option<String>), WireError> {
    let pkce = Pkce::generate();
    let state = new_state();
    let mut listener = callback::start(ports, state.clone(), http)
        .await
        .map_err(|e| WireError::new(ErrorCode::LoginFailed, e))?;
    let url = core
        .oauth
        .authorize_url(&listener.redirect_uri, &pkce.challenge, state.expose());
    let opened = try_browser && open_browser(&url);
    ctx.emit(Event::Login(LoginEvent::AuthorizeUrl {
        url,
        browser_opened: opened,
        timeout_secs,
    }))
    .await;
    loop {
        let Some(msg) = listener.rx.recv().await else {
            return Err(WireError::new(
                ErrorCode::Internal,
                "the callback listener stopped; run `codexctl login` again",
            ));
        };
        match msg {
            CallbackMsg::StateMismatch => {
                tracing::warn!("callback with a wrong state rejected; still waiting");
                ctx.emit(Event::Login(LoginEvent::Notice(
                    "A callback with a wrong state was rejected (an old or forged link); still waiting for the sign-in.".into(),
                )))
                .await;
            }
            CallbackMsg::Denied(why) => {
                return Err(WireError::new(
                    ErrorCode::LoginFailed,
                    format!("Sign-in failed: {why}."),
                ));
            }
            CallbackMsg::Cancelled => {
                return Err(WireError::new(
                    ErrorCode::Cancelled,
                    "This sign-in was cancelled from the browser (its /cancel address, with this sign-in's state). Run `codexctl login` again to sign in.",
                ));
            }
            CallbackMsg::Superseded => {
                return Err(WireError::new(
                    ErrorCode::Cancelled,
                    "This sign-in was ended by a newer `codexctl login` that needed its callback port; finish the sign-in in that one.",
                ));
            }
            CallbackMsg::Code { code, reply } => {
                let result = match core
                    .oauth
                    .exchange_code(&code, &listener.redirect_uri, &pkce.verifier)
                    .await
                {
                    Ok(tokens) => core.finish_login(tokens).await,
                    Err(e) => Err(exchange_failed(e)),
                };
                let _ = reply.send(match &result {
                    Ok((a, _)) => Ok(format!(
                        "Signed in as {}",
                        a.email.as_deref().unwrap_or(&a.account_id)
                    )),
                    Err(e) => Err(e.message.clone()),
                });
                return result;
            }
        }
    }
}

/// The paste flow: print the URL, read pasted redirects until one has the right state.
pub async fn paste(
    core: &Arc<Core>,
    ports: &[u16],
    timeout_secs: u64,
    ctx: &RequestCtx,
) -> Result<(AccountSummary, Option<String>), WireError> {
    let pkce = Pkce::generate();
    let state = new_state();
    let port = ports.first().copied().unwrap_or(1455);
    let redirect_uri = format!("http://127.0.0.1:{port}/auth/callback");
    let url = core
        .oauth
        .authorize_url(&redirect_uri, &pkce.challenge, state.expose());
    ctx.emit(Event::Login(LoginEvent::AuthorizeUrl {
        url,
        browser_opened: false,
        timeout_secs,
    }))
    .await;
    ctx.emit(Event::Login(LoginEvent::AwaitingPaste)).await;
    loop {
        let Some(line) = ctx.next_input().await else {
            return Err(WireError::new(
                ErrorCode::Cancelled,
                "The sign-in was cancelled.",
            ));
        };
        let reject = |reason: String| Event::Login(LoginEvent::PasteRejected { reason });
        match paste::parse(&line) {
            Err(why) => {
                ctx.emit(reject(format!("That is not a sign-in redirect: {why}.")))
                    .await;
            }
            Ok(Redirect::Error {
                error,
                description,
                state: s,
            }) => {
                if !s.is_some_and(|s| constant_time_eq(&s, state.expose())) {
                    ctx.emit(reject("The state does not match this sign-in (an old or forged link); paste the address from this attempt.".into())).await;
                    continue;
                }
                let why = callback::denial_text(&error, description.as_deref());
                return Err(WireError::new(
                    ErrorCode::LoginFailed,
                    format!("Sign-in failed: {why}."),
                ));
            }
            Ok(Redirect::Code { code, state: s }) => {
                if !constant_time_eq(&s, state.expose()) {
                    tracing::warn!("pasted redirect with a wrong state rejected; still waiting");
                    ctx.emit(reject("The state does not match this sign-in (an old or forged link); paste the address from this attempt.".into())).await;
                    continue;
                }
                let tokens = core
                    .oauth
                    .exchange_code(&code, &redirect_uri, &pkce.verifier)
                    .await
                    .map_err(exchange_failed)?;
                return core.finish_login(tokens).await;
            }
        }
    }
}
