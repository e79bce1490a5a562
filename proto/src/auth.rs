//! Sign-in payloads: login methods, login progress, the signed-in account, auth status.

use serde::{Deserialize, Serialize};

/// How to sign in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoginMethod {
    /// PKCE with a loopback callback listener.
    Browser {
        /// Try to open a browser (the URL is always printed too).
        open_browser: bool,
    },
    /// Device code, for SSH and headless machines.
    Device,
    /// PKCE where the user pastes the final redirect URL (sent as `ClientMessage::Input`).
    Paste,
    /// One-time import of a Codex CLI `auth.json`.
    ImportCodex {
        /// Path of the file; default `$CODEX_HOME/auth.json`, else `~/.codex/auth.json`.
        path: Option<String>,
    },
}

/// Body of `Request::Login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Which flow.
    pub method: LoginMethod,
}

/// Sign-in progress shown by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoginEvent {
    /// Open this URL in a browser.
    AuthorizeUrl {
        /// The authorize URL (holds only public PKCE values and state).
        url: String,
        /// Whether the daemon managed to launch a browser.
        browser_opened: bool,
        /// How long the daemon waits for the sign-in (`auth.login_timeout_secs`).
        timeout_secs: u64,
    },
    /// Enter this code at this URL.
    DeviceCode {
        /// Where to enter the code.
        verification_url: String,
        /// The code to enter.
        user_code: String,
        /// How long the code is valid.
        expires_in_secs: u64,
    },
    /// Waiting for the pasted redirect URL (or `code#state`) as `ClientMessage::Input`.
    AwaitingPaste,
    /// A pasted input was rejected; the flow keeps waiting for another one.
    PasteRejected {
        /// Why, for the user.
        reason: String,
    },
    /// Something worth telling the user (e.g. the previous sign-in was revoked).
    Notice(String),
}

/// The signed-in account, without any token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSummary {
    /// Email from the id token, if present.
    pub email: Option<String>,
    /// ChatGPT plan (plus, pro, business, …).
    pub plan: Option<String>,
    /// ChatGPT account (workspace) id, sent as `ChatGPT-Account-ID`.
    pub account_id: String,
    /// Access-token expiry, unix seconds.
    pub access_expires_at: Option<u64>,
    /// Last successful refresh (or sign-in), unix seconds.
    pub last_refresh: Option<u64>,
    /// Where the credentials are stored, for a person ("keyring (Secret Service)", a file path).
    pub store: String,
}

/// Result of a logout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogoutOutcome {
    /// Whether the token was revoked at OpenAI (false for `--local-only` or when nothing was stored).
    pub revoked: bool,
    /// The local stores that were deleted, for a person.
    pub removed: Vec<String>,
    /// Whether there was a sign-in at all.
    pub was_signed_in: bool,
}

/// Sign-in part of `codexctl status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthStatus {
    /// The account, when signed in.
    pub account: Option<AccountSummary>,
    /// Where credentials are (or would be) stored.
    pub store: String,
    /// Why the preferred store is not used (e.g. no Secret Service), if that is the case.
    pub store_note: Option<String>,
    /// The last refresh failure, if the last attempt failed.
    pub last_refresh_error: Option<String>,
    /// Set when refresh failed permanently: the reason the user must sign in again.
    pub sign_in_again: Option<String>,
    /// A login flow is running.
    pub login_in_progress: bool,
    /// Set while a refreshed sign-in lives only in memory (its save failed): the reason, for
    /// a loud warning. A restart now would lose it; codexd keeps retrying the save.
    #[serde(default)]
    pub unsaved: Option<String>,
}
