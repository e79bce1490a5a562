//! The device-code flow for SSH and headless machines: ask for a user code, show it with the
//! verification URL, poll at the server's interval until approved (15-minute cap), then
//! exchange the code like the browser flow does.

use std::time::Duration;

use codexd_proto::auth::LoginEvent;
use codexd_proto::{ErrorCode, Event, WireError};

use super::oauth::{DevicePoll, DeviceStartError, OAuth, OAuthError, TokenResponse};
use crate::request::RequestCtx;

/// How long a device code is valid.
pub const DEVICE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Poll errors worth retrying: the issuer unreachable, timing out, overloaded or failing
/// (5xx, 408, 429), or answering garbage. Anything else (a 4xx with a reason) is final.
pub fn is_transient(e: &OAuthError) -> bool {
    match e {
        OAuthError::Network(_) | OAuthError::Malformed(_) => true,
        OAuthError::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
    }
}

/// Run the device flow up to the token exchange.
pub async fn run(oauth: &OAuth, ctx: &RequestCtx) -> Result<TokenResponse, WireError> {
    let dc = oauth.device_start().await.map_err(|e| match e {
        DeviceStartError::Disabled => WireError::new(
            ErrorCode::LoginFailed,
            "This sign-in server does not offer device-code login. Use the browser flow: `codexctl login` \
             (or `codexctl login --paste` when the browser runs on another machine).",
        ),
        DeviceStartError::Other(e) => WireError::new(
            ErrorCode::LoginFailed,
            format!("Starting the device-code sign-in failed: {e}. Try again, or use `codexctl login`."),
        ),
    })?;
    ctx.emit(Event::Login(LoginEvent::DeviceCode {
        verification_url: oauth.device_verification_url(),
        user_code: dc.user_code.clone(),
        expires_in_secs: DEVICE_TIMEOUT.as_secs(),
    }))
    .await;
    let poll = async {
        loop {
            tokio::time::sleep(Duration::from_secs(dc.interval)).await;
            match oauth.device_poll(&dc).await {
                Ok(DevicePoll::Pending) => continue,
                Ok(DevicePoll::Approved { code, verifier }) => return Ok((code, verifier)),
                // A network drop or a server hiccup must not end a 15-minute sign-in: keep
                // polling until the deadline.
                Err(e) if is_transient(&e) => {
                    tracing::warn!(error = %e, "device-code poll failed; retrying until the code expires");
                    continue;
                }
                Err(e) => {
                    return Err(WireError::new(
                        ErrorCode::LoginFailed,
                        format!(
                            "The device-code sign-in failed: {e}. Run `codexctl login --device` again."
                        ),
                    ));
                }
            }
        }
    };
    let (code, verifier) = match tokio::time::timeout(DEVICE_TIMEOUT, poll).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(WireError::new(
                ErrorCode::LoginTimeout,
                "The device code expired after 15 minutes without approval. Run `codexctl login --device` again.",
            ));
        }
    };
    oauth
        .exchange_code(&code, &oauth.device_redirect_uri(), &verifier)
        .await
        .map_err(|e| {
            WireError::new(
                ErrorCode::LoginFailed,
                format!("Exchanging the device code for tokens failed: {e}. Run `codexctl login --device` again."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_drops_and_server_errors_are_retried_refusals_are_not() {
        let status = |status| OAuthError::Status {
            status,
            code: None,
            message: None,
        };
        assert!(is_transient(&OAuthError::Network("timed out".into())));
        assert!(is_transient(&status(500)));
        assert!(is_transient(&status(503)));
        assert!(is_transient(&status(429)));
        assert!(!is_transient(&status(400)));
        assert!(!is_transient(&status(401)));
    }
}
