//! Exit codes, chosen from the daemon's typed error codes (never by parsing messages).

use codexd_proto::{ErrorCode, WireError};

/// Success.
pub const OK: u8 = 0;
/// Any other failure.
pub const FAILURE: u8 = 1;
/// The daemon could not be reached or started, or speaks another protocol version.
pub const DAEMON: u8 = 3;
/// Not signed in, or the sign-in must be renewed.
pub const SIGN_IN: u8 = 4;
/// The plan's usage limit is reached, or the plan does not include Codex.
pub const USAGE_LIMIT: u8 = 5;
/// The backend failed (server error, overload, network, timeout, context too long, model).
pub const BACKEND: u8 = 6;
/// Bad input or something named does not exist.
pub const BAD_INPUT: u8 = 7;
/// Sign-in, sign-out (revoke) or the credential store failed.
pub const AUTH_FAILED: u8 = 8;
/// Cancelled (Ctrl-C).
pub const CANCELLED: u8 = 130;

/// Text for `--help`.
pub const HELP: &str = "\
Exit codes:
  0    success
  1    other failure
  2    wrong command line
  3    daemon unreachable, failed to start, or another protocol version
  4    not signed in, or you must sign in again
  5    usage limit reached, or the plan does not include Codex
  6    backend error (server error, overloaded, network, timeout, context too long, model not available)
  7    bad input, or the named thing does not exist
  8    sign-in, sign-out (revoke) or credential storage failed
  130  cancelled (Ctrl-C)";

/// The exit code for a daemon error.
pub fn for_wire(err: &WireError) -> u8 {
    match err.code {
        ErrorCode::NotSignedIn | ErrorCode::SignInAgain => SIGN_IN,
        ErrorCode::UsageLimit | ErrorCode::UsageNotIncluded => USAGE_LIMIT,
        ErrorCode::ContextTooLong
        | ErrorCode::UnsupportedModel
        | ErrorCode::Overloaded
        | ErrorCode::Backend
        | ErrorCode::Network
        | ErrorCode::Timeout => BACKEND,
        ErrorCode::BadRequest | ErrorCode::NotFound => BAD_INPUT,
        ErrorCode::LoginFailed
        | ErrorCode::LoginTimeout
        | ErrorCode::RevokeFailed
        | ErrorCode::CredentialStore => AUTH_FAILED,
        ErrorCode::Cancelled => CANCELLED,
        ErrorCode::Busy | ErrorCode::Disabled | ErrorCode::Storage | ErrorCode::Internal => FAILURE,
    }
}

/// The client could not talk to the daemon at all.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// The exit code for any error that reached `main`.
pub fn for_error(err: &anyhow::Error) -> u8 {
    if let Some(w) = err.downcast_ref::<WireError>() {
        return for_wire(w);
    }
    if err.downcast_ref::<Unreachable>().is_some() {
        return DAEMON;
    }
    FAILURE
}
