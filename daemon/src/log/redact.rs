//! Redaction that is structural, not best-effort: secrets travel as [`crate::secret::Secret`]
//! (prints `***`), URLs are logged only through [`url`], which masks sensitive query keys, and
//! headers only through [`headers`], which drops credentials entirely.

/// Query keys whose values never reach a log line.
const SENSITIVE_KEYS: &[&str] = &[
    "code",
    "state",
    "code_verifier",
    "code_challenge",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "device_auth_id",
    "user_code",
    "client_secret",
    "authorization_code",
];

/// Headers that are never logged, not even masked.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-api-key",
];

/// Whether a query or JSON key holds a secret.
pub fn is_sensitive_key(key: &str) -> bool {
    SENSITIVE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// Headers fit for a log: credentials removed, everything else kept.
pub fn headers<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            let v = if SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(k)) {
                "***"
            } else {
                v
            };
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A JSON value with every sensitive key's value replaced by `***`, recursively.
pub fn json(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let v = if is_sensitive_key(k) || k.eq_ignore_ascii_case("encrypted_content") {
                    serde_json::Value::String("***".into())
                } else {
                    json(v)
                };
                (k.clone(), v)
            })
            .collect(),
        serde_json::Value::Array(items) => items.iter().map(json).collect(),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_credential_headers_and_masks_json() {
        let h = headers([("Authorization", "Bearer t"), ("session_id", "u")]);
        assert_eq!(h[0].1, "***");
        assert_eq!(h[1].1, "u");
        let j = json(
            &serde_json::json!({"refresh_token": "r", "nested": [{"access_token": "a", "ok": 1}]}),
        );
        assert_eq!(
            j.to_string(),
            r#"{"nested":[{"access_token":"***","ok":1}],"refresh_token":"***"}"#
        );
    }
}
