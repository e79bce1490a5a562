//! The headers of a backend call, as Codex CLI 0.171 sends them (upstream.md §5), with
//! codexd's own identity: `originator: codexd` and its User-Agent (set on the shared client).

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::auth::Access;
use crate::config::ORIGINATOR;

/// The Responses-Lite header every `use_responses_lite` model needs.
pub const LITE_HEADER: &str = "x-openai-internal-codex-responses-lite";
/// The workspace routing header.
pub const ROUTING_HEADER: &str = "x-openai-account-routing-override";

/// What varies per call.
#[derive(Debug, Clone, Default)]
pub struct CallHeaders<'a> {
    /// The compatibility version (`version` header).
    pub version: &'a str,
    /// The conversation's UUID → `session-id`, `thread-id`, `x-client-request-id`: prompt
    /// cache affinity follows them.
    pub conversation: Option<&'a str>,
    /// A Responses-Lite model.
    pub lite: bool,
    /// `x-openai-account-routing-override`, when the account has one.
    pub routing_override: Option<&'a str>,
    /// A streamed answer is expected.
    pub streaming: bool,
    /// Headers a gateway client asked to relay (lower-case names); never replaces ours.
    pub relay: &'a [(String, String)],
}

/// Headers for one call with `access`.
pub fn build(access: &Access, call: &CallHeaders<'_>) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in call.relay {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", access.token.expose())) {
        // Keeps the token out of any debug print of the headers.
        v.set_sensitive(true);
        h.insert(AUTHORIZATION, v);
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("chatgpt-account-id", &access.account_id);
    set("originator", ORIGINATOR);
    set("version", call.version);
    if let Some(id) = call.conversation {
        set("session-id", id);
        set("thread-id", id);
        set("x-client-request-id", id);
    }
    if call.lite {
        set(LITE_HEADER, "true");
    }
    if let Some(r) = call.routing_override {
        set(ROUTING_HEADER, r);
    }
    if call.streaming {
        h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    h
}

/// Header pairs for a request log (the log redacts them itself).
pub fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or("(binary)").to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn identity_session_lite_and_routing() {
        let access = Access {
            token: Secret::new("tok_secret"),
            account_id: "acct_1".into(),
        };
        let relay = vec![
            ("x-codex-window-id".to_string(), "w:0".to_string()),
            ("originator".to_string(), "codex_exec".to_string()),
        ];
        let h = build(
            &access,
            &CallHeaders {
                version: "0.171.0",
                conversation: Some("uuid-1"),
                lite: true,
                routing_override: Some("us"),
                streaming: true,
                relay: &relay,
            },
        );
        assert_eq!(h["authorization"], "Bearer tok_secret");
        assert!(h["authorization"].is_sensitive());
        assert!(!format!("{h:?}").contains("tok_secret"));
        assert_eq!(h["chatgpt-account-id"], "acct_1");
        assert_eq!(
            h["originator"], "codexd",
            "a relayed header never replaces ours"
        );
        assert_eq!(h["version"], "0.171.0");
        for name in ["session-id", "thread-id", "x-client-request-id"] {
            assert_eq!(h[name], "uuid-1");
        }
        assert!(h.get("session_id").is_none());
        assert_eq!(h[LITE_HEADER], "true");
        assert_eq!(h[ROUTING_HEADER], "us");
        assert_eq!(h["x-codex-window-id"], "w:0");
        assert_eq!(h["accept"], "text/event-stream");
        let classic = build(
            &access,
            &CallHeaders {
                version: "0.171.0",
                ..CallHeaders::default()
            },
        );
        assert!(classic.get(LITE_HEADER).is_none());
        assert!(classic.get("session-id").is_none());
        assert!(classic.get(ROUTING_HEADER).is_none());
    }
}
