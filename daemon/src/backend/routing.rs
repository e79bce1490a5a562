//! Workspace routing (upstream.md §5, last bullet): residency-constrained ChatGPT workspaces
//! are served from another origin, and some accounts need a routing override header. The
//! Codex CLI asks `GET {base}/wham/accounts/check` before sampling; codexd asks once per access
//! token (so once per sign-in and per refresh). The answer's shape is inferred, not
//! documented, so this is tolerant: a 404, an error or a body without the fields means "no
//! routing", never a failed request.

use serde_json::Value;

/// The routing override value that means "none".
const NO_CONSTRAINT: &str = "NO_CONSTRAINT";

/// How to reach the backend for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// Replaces the configured base URL (`https://eu.example/backend-api`).
    pub base: Option<String>,
    /// Sent as `x-openai-account-routing-override`.
    pub override_header: Option<String>,
}

/// Read the check's answer for `account_id`. Fields are looked up at the top level and in the
/// matching entry of an `accounts` list (or a single `account` object).
pub fn parse(body: &str, account_id: &str, configured_base: &str) -> Routing {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Routing::default();
    };
    let matching = v
        .get("accounts")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter().find(|a| {
                ["account_id", "id", "chatgpt_account_id"]
                    .iter()
                    .any(|k| a.get(*k).and_then(Value::as_str) == Some(account_id))
            })
        })
        .or_else(|| v.get("account"));
    let field = |name: &str| {
        v.get(name)
            .or_else(|| matching.and_then(|a| a.get(name)))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Routing {
        base: field("workspace_backend_origin").and_then(|o| base_for(&o, configured_base)),
        override_header: field("account_routing_override")
            .filter(|o| !o.eq_ignore_ascii_case(NO_CONSTRAINT)),
    }
}

/// The base URL for `origin`: an https origin (or plain http on a loopback address, which the
/// tests use — the same rule as every configured endpoint) keeps the configured base's path.
/// The configured origin itself means no change.
fn base_for(origin: &str, configured_base: &str) -> Option<String> {
    let o = url::Url::parse(origin).ok()?;
    if !crate::endpoint_policy::is_allowed(&o) {
        tracing::warn!(origin, "ignoring a workspace origin that is not https");
        return None;
    }
    let configured = url::Url::parse(configured_base).ok()?;
    if configured.origin() == o.origin() {
        return None;
    }
    let mut base = o.clone();
    base.set_path(configured.path());
    Some(base.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://chatgpt.com/backend-api";

    #[test]
    fn tolerant_of_every_shape() {
        assert_eq!(parse("not json", "a", BASE), Routing::default());
        assert_eq!(parse("{}", "a", BASE), Routing::default());
        let top = parse(
            r#"{"workspace_backend_origin":"https://eu.chatgpt.com","account_routing_override":"eu"}"#,
            "a",
            BASE,
        );
        assert_eq!(
            top.base.as_deref(),
            Some("https://eu.chatgpt.com/backend-api")
        );
        assert_eq!(top.override_header.as_deref(), Some("eu"));
        let listed = parse(
            r#"{"accounts":[{"id":"b","account_routing_override":"x"},{"account_id":"a","account_routing_override":"NO_CONSTRAINT","workspace_backend_origin":"https://chatgpt.com"}]}"#,
            "a",
            BASE,
        );
        assert_eq!(listed, Routing::default());
        let plain_http = parse(
            r#"{"workspace_backend_origin":"http://evil.example"}"#,
            "a",
            BASE,
        );
        assert_eq!(plain_http.base, None);
        let loopback = parse(
            r#"{"account":{"workspace_backend_origin":"http://127.0.0.1:9"}}"#,
            "a",
            "http://127.0.0.1:8/backend-api",
        );
        assert_eq!(
            loopback.base.as_deref(),
            Some("http://127.0.0.1:9/backend-api")
        );
    }
}
