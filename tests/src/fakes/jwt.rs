//! Unsigned-but-well-formed JWTs carrying the claims ChatGPT tokens carry.
//!
//! `header.payload.signature`, each part base64url without padding. The header claims RS256
//! and the signature is random bytes: clients read these tokens without verifying them
//! (upstream does the same), so a real signature would buy nothing. Claims:
//! `iss`, `sub`, `aud`, `iat`, `exp`, `jti`, `email`,
//! `"https://api.openai.com/auth": {chatgpt_account_id?, chatgpt_plan_type, chatgpt_user_id,
//! user_id}` and `"https://api.openai.com/profile": {email, email_verified}`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::random_token;

/// Name of the claim object holding the ChatGPT account data.
pub const AUTH_CLAIM: &str = "https://api.openai.com/auth";
/// Name of the claim object holding the profile (email).
pub const PROFILE_CLAIM: &str = "https://api.openai.com/profile";

/// Who a token says the user is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `email` claim (top level and in the profile claim).
    pub email: String,
    /// `chatgpt_plan_type` (free, plus, pro, team, …).
    pub plan_type: String,
    /// `chatgpt_account_id`; `None` omits the claim (a token without a workspace account).
    pub account_id: Option<String>,
    /// `chatgpt_user_id` / `user_id` / `sub`.
    pub user_id: String,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            email: "fake.user@example.com".into(),
            plan_type: "plus".into(),
            account_id: Some("acct-00000000-fake-4000-8000-000000000001".into()),
            user_id: "user-FAKE0000000000000001".into(),
        }
    }
}

/// Which kind of token to mint (they differ in `aud` and a few claims).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// OpenID Connect id token (`aud` = the client id).
    Id,
    /// Access token for the backend (`aud` = the API, `scp` = scopes).
    Access,
}

/// Builds the claims of a ChatGPT token for `identity`, valid from `iat` to `exp` (unix s).
pub fn claims(
    identity: &Identity,
    kind: TokenKind,
    issuer: &str,
    client_id: &str,
    iat: i64,
    exp: i64,
) -> Value {
    let mut auth = Map::new();
    if let Some(acct) = &identity.account_id {
        auth.insert("chatgpt_account_id".into(), json!(acct));
    }
    auth.insert("chatgpt_plan_type".into(), json!(identity.plan_type));
    auth.insert("chatgpt_user_id".into(), json!(identity.user_id));
    auth.insert("user_id".into(), json!(identity.user_id));
    let mut c = json!({
        "iss": issuer,
        "sub": format!("auth0|{}", identity.user_id),
        "iat": iat,
        "exp": exp,
        "jti": random_token("", 12),
        "email": identity.email,
        AUTH_CLAIM: Value::Object(auth),
        PROFILE_CLAIM: { "email": identity.email, "email_verified": true },
    });
    if let Value::Object(m) = &mut c {
        match kind {
            TokenKind::Id => {
                m.insert("aud".into(), json!([client_id]));
                m.insert("auth_time".into(), json!(iat));
            }
            TokenKind::Access => {
                m.insert("aud".into(), json!(["https://api.openai.com/v1"]));
                m.insert("client_id".into(), json!(client_id));
                m.insert(
                    "scp".into(),
                    json!(["openid", "profile", "email", "offline_access"]),
                );
            }
        }
    }
    c
}

/// Encodes `claims` as `header.payload.signature` (signature: random bytes).
pub fn encode(claims: &Value) -> String {
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "codexd-fake" });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        random_token("", 64)
    )
}

/// Decodes the payload of a JWT without verifying anything; `None` if it is not a JWT.
pub fn decode(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_h, p, _s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `exp` claim of a JWT.
pub fn exp(token: &str) -> Option<i64> {
    decode(token)?.get("exp")?.as_i64()
}

/// The `chatgpt_account_id` inside the auth claim of a JWT.
pub fn account_id(token: &str) -> Option<String> {
    decode(token)?
        .get(AUTH_CLAIM)?
        .get("chatgpt_account_id")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = Identity::default();
        let c = claims(&id, TokenKind::Access, "http://iss", "cid", 10, 20);
        let t = encode(&c);
        assert_eq!(t.split('.').count(), 3);
        assert!(!t.contains('='));
        assert_eq!(decode(&t), Some(c));
        assert_eq!(exp(&t), Some(20));
        assert_eq!(account_id(&t), id.account_id);
        assert_eq!(decode("not.a-jwt"), None);
    }

    #[test]
    fn account_id_can_be_omitted() {
        let id = Identity {
            account_id: None,
            ..Identity::default()
        };
        let t = encode(&claims(&id, TokenKind::Id, "i", "c", 1, 2));
        assert_eq!(account_id(&t), None);
        let payload = decode(&t).expect("payload");
        assert_eq!(payload[AUTH_CLAIM]["chatgpt_plan_type"], "plus");
        assert_eq!(payload[PROFILE_CLAIM]["email"], "fake.user@example.com");
    }
}
