//! Typed errors on the wire. The client decides exit codes and wording from [`ErrorCode`],
//! never by parsing the message; the message is one or two human sentences that already say
//! what to do next and never contain a secret.

use serde::{Deserialize, Serialize};

/// What kind of failure a request ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The request itself is invalid (bad option, unknown name, malformed input).
    BadRequest,
    /// Something named in the request does not exist (a session, say).
    NotFound,
    /// No credentials are stored: run `codexctl login`.
    NotSignedIn,
    /// Credentials exist but can no longer be refreshed: sign in again.
    SignInAgain,
    /// The sign-in flow failed (denied, wrong state, token exchange failed, no account id).
    LoginFailed,
    /// The sign-in flow ran out of time.
    LoginTimeout,
    /// Revoking the token at OpenAI failed; local credentials were kept.
    RevokeFailed,
    /// Reading or writing local credentials failed.
    CredentialStore,
    /// The plan's usage limit is reached; see [`WireError::retry_at`].
    UsageLimit,
    /// The plan does not include Codex.
    UsageNotIncluded,
    /// The conversation is longer than the model's context window.
    ContextTooLong,
    /// The model is not available with this account.
    UnsupportedModel,
    /// The backend is overloaded; try again shortly.
    Overloaded,
    /// The backend returned an error not covered above.
    Backend,
    /// The network or the remote server could not be reached.
    Network,
    /// Something took longer than its limit.
    Timeout,
    /// The request was cancelled by the client.
    Cancelled,
    /// The daemon is busy (connection cap, another login in progress).
    Busy,
    /// The feature is switched off (e.g. test hooks).
    Disabled,
    /// Disk trouble in the daemon's own directories.
    Storage,
    /// A bug or an unexpected state in the daemon.
    Internal,
}

/// A failed request, as sent to the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    /// The kind of failure.
    pub code: ErrorCode,
    /// What happened and what to do next, for a person.
    pub message: String,
    /// Unix seconds after which retrying makes sense (usage limit reset), when known.
    pub retry_at: Option<u64>,
}

impl WireError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_at: None,
        }
    }

    /// The same error with a retry time.
    pub fn with_retry_at(mut self, at: Option<u64>) -> Self {
        self.retry_at = at;
        self
    }
}
