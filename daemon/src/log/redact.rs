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

/// A URL with sensitive query values replaced by `***` (fragment dropped).
pub fn url(raw: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(raw) else {
        // Not a URL we can parse: keep only what precedes any query.
        return raw.split(['?', '#']).next().unwrap_or_default().to_string();
    };
    parsed.set_fragment(None);
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_sensitive_key(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
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
    fn masks_secret_query_values_and_keeps_the_rest() {
        let u =
            url("http://localhost:1455/auth/callback?code=abc123&state=s3cr3t&scope=openid#frag");
        assert!(
            !u.contains("abc123") && !u.contains("s3cr3t") && !u.contains("frag"),
            "{u}"
        );
        assert!(u.contains("scope=openid"), "{u}");
        assert_eq!(url("not a url?token=x"), "not a url");
    }

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
