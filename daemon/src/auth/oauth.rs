//! The issuer's HTTP endpoints: the authorize URL, code exchange, refresh, revoke, and the
//! device-code endpoints, plus error classification (permanent vs transient refresh failures).
//! Error texts carry the server's error code and message, never a token.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{AuthConfig, ORIGINATOR, RevokeEncoding};
use crate::secret::Secret;

/// Scopes every ChatGPT sign-in asks for.
pub const SCOPE: &str = "openid profile email offline_access";
/// Revoke calls give up after this long.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Token calls give up after this long.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);

/// Tokens from the token endpoint; each present one replaces the stored one.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenResponse {
    /// OpenID id token (JWT).
    pub id_token: Option<Secret>,
    /// Access token (JWT).
    pub access_token: Option<Secret>,
    /// Rotating, single-use refresh token.
    pub refresh_token: Option<Secret>,
}

/// A failed call to the issuer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// The issuer could not be reached or timed out.
    #[error("could not reach the sign-in server ({0})")]
    Network(String),
    /// The issuer answered with an error status.
    #[error("the sign-in server answered HTTP {status}{}", describe(code.as_deref(), message.as_deref()))]
    Status {
        /// HTTP status.
        status: u16,
        /// `error` or `error.code`.
        code: Option<String>,
        /// `error_description` or `error.message`.
        message: Option<String>,
    },
    /// The issuer answered 2xx with a body we cannot use.
    #[error("the sign-in server's answer was not understood ({0})")]
    Malformed(String),
}

fn describe(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!(": {c}: {m}"),
        (Some(c), None) => format!(": {c}"),
        (None, Some(m)) => format!(": {m}"),
        (None, None) => String::new(),
    }
}

impl OAuthError {
    /// The OAuth error code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            OAuthError::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// How a refresh failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The refresh token is dead: sign in again. The text says why, for a person.
    Permanent(String),
    /// Try again later; the current access token stays in use while valid.
    Transient(String),
}

/// Classify a refresh error (upstream.md §2).
pub fn classify_refresh(err: &OAuthError) -> RefreshFailure {
    let reason = match err.code() {
        Some("refresh_token_expired") => Some("your sign-in has expired"),
        Some("refresh_token_reused") => Some(
            "your refresh token was already used (another program may have refreshed the same sign-in)",
        ),
        Some("refresh_token_invalidated") => Some("your sign-in was revoked"),
        _ => None,
    };
    if let Some(r) = reason {
        return RefreshFailure::Permanent(r.into());
    }
    match err {
        // 401, or 400 `invalid_grant`: the refresh token is dead, retrying cannot help.
        OAuthError::Status { status: 401, .. } => {
            RefreshFailure::Permanent(format!("the sign-in server rejected the refresh ({err})"))
        }
        OAuthError::Status { status: 400, .. } if err.code() == Some("invalid_grant") => {
            RefreshFailure::Permanent(format!(
                "the sign-in server no longer accepts this sign-in ({err})"
            ))
        }
        _ => RefreshFailure::Transient(err.to_string()),
    }
}

/// Why a refresh happens (`refresh_reason`, as Codex CLI 0.171 sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshReason {
    /// The access token is about to expire.
    ProactiveExpiry,
    /// The backend answered 401.
    UnauthorizedRecovery,
}

impl RefreshReason {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshReason::ProactiveExpiry => "proactive_expiry",
            RefreshReason::UnauthorizedRecovery => "unauthorized_recovery",
        }
    }
}

/// The device-code flow's first answer.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    /// Identifies this device request when polling.
    pub device_auth_id: Secret,
    /// What the user types.
    pub user_code: String,
    /// Seconds between polls.
    pub interval: u64,
}

/// One device poll.
#[derive(Debug)]
pub enum DevicePoll {
    /// Not approved yet.
    Pending,
    /// Approved: exchange this code with this verifier.
    Approved {
        /// Authorization code.
        code: Secret,
        /// PKCE verifier chosen by the server.
        verifier: Secret,
    },
}

/// A device-flow start failure.
#[derive(Debug, thiserror::Error)]
pub enum DeviceStartError {
    /// The server has no device login.
    #[error("this sign-in server does not offer device-code login")]
    Disabled,
    /// Anything else.
    #[error(transparent)]
    Other(#[from] OAuthError),
}

/// Client for the issuer.
#[derive(Clone)]
pub struct OAuth {
    http: reqwest::Client,
    issuer: String,
    client_id: String,
    revoke_encoding: RevokeEncoding,
    authorize_originator: String,
}

/// Percent-encode everything but RFC 3986 unreserved characters (space becomes `%20`).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl OAuth {
    /// A client for the configured issuer.
    pub fn new(http: reqwest::Client, cfg: &AuthConfig) -> Self {
        Self {
            http,
            issuer: cfg.issuer.trim_end_matches('/').to_owned(),
            client_id: cfg.client_id.clone(),
            revoke_encoding: cfg.revoke_encoding,
            authorize_originator: cfg.authorize_originator.clone(),
        }
    }

    /// `{issuer}/oauth/authorize?...` with the parameters in upstream's order.
    pub fn authorize_url(&self, redirect_uri: &str, challenge: &str, state: &str) -> String {
        let params = [
            ("response_type", "code"),
            ("client_id", &self.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", SCOPE),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("id_token_add_organizations", "true"),
            ("codex_cli_simplified_flow", "true"),
            ("state", state),
            ("originator", &self.authorize_originator),
        ];
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        format!("{}/oauth/authorize?{}", self.issuer, query.join("&"))
    }

    /// Where the device flow sends the user.
    pub fn device_verification_url(&self) -> String {
        format!("{}/codex/device", self.issuer)
    }

    /// The redirect URI of device-flow codes.
    pub fn device_redirect_uri(&self) -> String {
        format!("{}/deviceauth/callback", self.issuer)
    }

    /// Exchange an authorization code.
    pub async fn exchange_code(
        &self,
        code: &Secret,
        redirect_uri: &str,
        verifier: &Secret,
    ) -> Result<TokenResponse, OAuthError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", redirect_uri),
            ("client_id", &self.client_id),
            ("code_verifier", verifier.expose()),
        ];
        let req = self
            .http
            .post(format!("{}/oauth/token", self.issuer))
            .timeout(TOKEN_TIMEOUT)
            .form(&form);
        let tokens: TokenResponse = parse_json(send(req).await?)?;
        if tokens.id_token.is_none()
            || tokens.access_token.is_none()
            || tokens.refresh_token.is_none()
        {
            return Err(OAuthError::Malformed(
                "the token answer lacks an id, access or refresh token".into(),
            ));
        }
        Ok(tokens)
    }

    /// Use a refresh token (single-use: the answer holds its successor).
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        reason: RefreshReason,
    ) -> Result<TokenResponse, OAuthError> {
        let body = serde_json::json!({
            "client_id": self.client_id,
            "grant_type": "refresh_token",
            "refresh_reason": reason.as_str(),
            "refresh_token": refresh_token.expose(),
        });
        let req = self
            .http
            .post(format!("{}/oauth/token", self.issuer))
            .timeout(TOKEN_TIMEOUT)
            .json(&body);
        parse_json(send(req).await?)
    }

    /// Revoke a token (RFC 7009). `is_refresh` picks the hint (and adds the client id).
    pub async fn revoke(&self, token: &Secret, is_refresh: bool) -> Result<(), OAuthError> {
        let mut fields: Vec<(&str, &str)> = vec![("token", token.expose())];
        if is_refresh {
            fields.push(("token_type_hint", "refresh_token"));
            fields.push(("client_id", &self.client_id));
        } else {
            fields.push(("token_type_hint", "access_token"));
        }
        let req = self
            .http
            .post(format!("{}/oauth/revoke", self.issuer))
            .timeout(REVOKE_TIMEOUT);
        let req = match self.revoke_encoding {
            RevokeEncoding::Json => {
                let map: serde_json::Map<String, Value> = fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                    .collect();
                req.json(&map)
            }
            RevokeEncoding::Form => req.form(&fields),
        };
        send(req).await.map(|_| ())
    }

    /// Start a device-code sign-in.
    pub async fn device_start(&self) -> Result<DeviceCode, DeviceStartError> {
        let req = self
            .http
            .post(format!("{}/api/accounts/deviceauth/usercode", self.issuer))
            .timeout(TOKEN_TIMEOUT)
            .json(&serde_json::json!({ "client_id": self.client_id }));
        let body = match send(req).await {
            Ok(b) => b,
            Err(OAuthError::Status { status: 404, .. }) => return Err(DeviceStartError::Disabled),
            Err(e) => return Err(e.into()),
        };
        let v: Value = parse_json(body)?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let id =
            s("device_auth_id").ok_or_else(|| OAuthError::Malformed("no device_auth_id".into()))?;
        let user_code = s("user_code")
            .or_else(|| s("usercode"))
            .ok_or_else(|| OAuthError::Malformed("no user_code".into()))?;
        // The interval arrives as a string ("5"); accept a number too.
        let interval = match v.get("interval") {
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        }
        .unwrap_or(5)
        .clamp(1, 60);
        Ok(DeviceCode {
            device_auth_id: Secret::new(id),
            user_code,
            interval,
        })
    }

    /// Poll a device request once.
    pub async fn device_poll(&self, dc: &DeviceCode) -> Result<DevicePoll, OAuthError> {
        let req = self
            .http
            .post(format!("{}/api/accounts/deviceauth/token", self.issuer))
            .timeout(TOKEN_TIMEOUT)
            .json(&serde_json::json!({
                "device_auth_id": dc.device_auth_id.expose(),
                "user_code": dc.user_code,
            }));
        let body = match send(req).await {
            Ok(b) => b,
            Err(OAuthError::Status {
                status: 403 | 404, ..
            }) => return Ok(DevicePoll::Pending),
            Err(e) => return Err(e),
        };
        #[derive(Deserialize)]
        struct Approved {
            authorization_code: Secret,
            code_verifier: Secret,
        }
        let a: Approved = parse_json(body)?;
        Ok(DevicePoll::Approved {
            code: a.authorization_code,
            verifier: a.code_verifier,
        })
    }
}

/// Send; a non-2xx answer becomes [`OAuthError::Status`] with the server's error fields.
async fn send(req: reqwest::RequestBuilder) -> Result<Vec<u8>, OAuthError> {
    // Every token-server call says who we are (upstream.md §1: harnesses identify themselves).
    let resp = req
        .header("originator", ORIGINATOR)
        .send()
        .await
        .map_err(|e| OAuthError::Network(network_text(&e)))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| OAuthError::Network(network_text(&e)))?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    let (code, message) = error_fields(&body);
    Err(OAuthError::Status {
        status: status.as_u16(),
        code,
        message,
    })
}

fn network_text(e: &reqwest::Error) -> String {
    // Only our own endpoint URLs appear in reqwest errors (no token is ever in a URL).
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!(
            "cannot connect to {}",
            e.url()
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default()
        )
    } else {
        "the connection failed".into()
    }
}

/// `{"error": "...", "error_description": "..."}` or `{"error": {"code", "message"}}`.
fn error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let clip = |s: &str| s.chars().take(200).collect::<String>();
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(clip);
    match v.get("error") {
        Some(Value::String(c)) => (Some(clip(c)), s(v.get("error_description"))),
        Some(obj @ Value::Object(_)) => (
            s(obj.get("code")).or_else(|| s(obj.get("type"))),
            s(obj.get("message")),
        ),
        _ => (None, None),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: impl AsRef<[u8]>) -> Result<T, OAuthError> {
    serde_json::from_slice(body.as_ref()).map_err(|e| {
        // serde's message may quote input; keep only where it failed.
        OAuthError::Malformed(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_order_and_encoding() {
        let o = OAuth::new(reqwest::Client::new(), &AuthConfig::default());
        let u = o.authorize_url("http://localhost:1455/auth/callback", "ch", "st");
        assert_eq!(
            u,
            "https://auth.openai.com/oauth/authorize?response_type=code&client_id=app_EMoamEEZ73f0CkXaXp7hrann\
             &redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback&scope=openid%20profile%20email%20offline_access\
             &code_challenge=ch&code_challenge_method=S256&id_token_add_organizations=true\
             &codex_cli_simplified_flow=true&state=st&originator=codex_cli_rs"
        );
    }

    #[test]
    fn error_shapes_and_classification() {
        let (c, m) = error_fields(br#"{"error":{"code":"refresh_token_reused","message":"m"}}"#);
        assert_eq!(c.as_deref(), Some("refresh_token_reused"));
        assert_eq!(m.as_deref(), Some("m"));
        let (c, m) = error_fields(br#"{"error":"invalid_grant","error_description":"d"}"#);
        assert_eq!(
            (c.as_deref(), m.as_deref()),
            (Some("invalid_grant"), Some("d"))
        );
        let st = |status, code: Option<&str>| OAuthError::Status {
            status,
            code: code.map(str::to_owned),
            message: None,
        };
        assert!(matches!(
            classify_refresh(&st(401, None)),
            RefreshFailure::Permanent(_)
        ));
        assert!(matches!(
            classify_refresh(&st(400, Some("refresh_token_expired"))),
            RefreshFailure::Permanent(r) if r.contains("expired")
        ));
        assert!(matches!(
            classify_refresh(&st(500, None)),
            RefreshFailure::Transient(_)
        ));
        assert!(matches!(
            classify_refresh(&OAuthError::Network("x".into())),
            RefreshFailure::Transient(_)
        ));
    }
}
