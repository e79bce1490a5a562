//! Reading ChatGPT JWT claims WITHOUT verifying the signature: we only need the account id,
//! email, plan and expiry of tokens we received straight from the issuer over TLS.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

const AUTH_CLAIM: &str = "https://api.openai.com/auth";
const PROFILE_CLAIM: &str = "https://api.openai.com/profile";

/// What codexd reads from a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `email`, or the profile claim's email.
    pub email: Option<String>,
    /// `chatgpt_plan_type`.
    pub plan: Option<String>,
    /// `chatgpt_account_id`.
    pub account_id: Option<String>,
    /// `chatgpt_user_id` or `user_id`.
    pub user_id: Option<String>,
    /// `exp`, unix seconds.
    pub exp: Option<u64>,
}

/// Why a token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three dot-separated parts.
    #[error("it is not a JWT (expected three dot-separated parts)")]
    Shape,
    /// The payload is not base64url.
    #[error("its payload is not base64url")]
    Base64,
    /// The payload is not a JSON object.
    #[error("its payload is not a JSON object")]
    Json,
}

/// Decode the claims of `token`.
pub fn parse(token: &str) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Shape);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| JwtError::Base64)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Json)?;
    if !v.is_object() {
        return Err(JwtError::Json);
    }
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let auth = v.get(AUTH_CLAIM);
    Ok(Claims {
        email: s(v.get("email")).or_else(|| s(v.get(PROFILE_CLAIM).and_then(|p| p.get("email")))),
        plan: s(auth.and_then(|a| a.get("chatgpt_plan_type"))),
        account_id: s(auth.and_then(|a| a.get("chatgpt_account_id"))),
        user_id: s(auth.and_then(|a| a.get("chatgpt_user_id")))
            .or_else(|| s(auth.and_then(|a| a.get("user_id")))),
        exp: v.get("exp").and_then(Value::as_u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!("h.{}.s", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_chatgpt_claims() {
        let t = token(
            r#"{"exp":123,"https://api.openai.com/profile":{"email":"a@b.c"},
               "https://api.openai.com/auth":{"chatgpt_account_id":"acc","chatgpt_plan_type":"pro","user_id":"u"}}"#,
        );
        let c = parse(&t).expect("claims");
        assert_eq!(c.email.as_deref(), Some("a@b.c"));
        assert_eq!(c.plan.as_deref(), Some("pro"));
        assert_eq!(c.account_id.as_deref(), Some("acc"));
        assert_eq!(c.user_id.as_deref(), Some("u"));
        assert_eq!(c.exp, Some(123));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse("abc"), Err(JwtError::Shape));
        assert_eq!(parse("a.!!.c"), Err(JwtError::Base64));
        assert_eq!(parse(&token("[1]")), Err(JwtError::Json));
        assert_eq!(parse(&token("{}")).expect("empty").account_id, None);
    }
}
