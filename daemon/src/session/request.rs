//! The backend request for one turn (upstream.md §5): headers and JSON body, and the input
//! items that make up a conversation. The backend keeps no state (`store: false`), so every
//! turn sends the whole history — and never an item `id`, which it could not resolve.

use codexd_proto::conversation::{Effort, Verbosity};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::auth::Access;
use crate::config::ORIGINATOR;

/// What goes into one request body.
#[derive(Debug, Clone)]
pub struct TurnBody<'a> {
    /// Model slug.
    pub model: &'a str,
    /// Base instructions of the model family.
    pub instructions: &'a str,
    /// History items followed by this turn's new items.
    pub input: &'a [Value],
    /// Reasoning effort (already clamped to what the model supports).
    pub effort: Option<Effort>,
    /// Output verbosity.
    pub verbosity: Option<Verbosity>,
    /// The conversation's UUID: the prompt cache key.
    pub session_id: &'a str,
}

/// The JSON body.
pub fn body(t: &TurnBody<'_>) -> Value {
    let mut reasoning = json!({ "summary": "auto" });
    if let Some(e) = t.effort {
        reasoning["effort"] = json!(e.as_str());
    }
    let mut body = json!({
        "model": t.model,
        "instructions": t.instructions,
        "input": t.input,
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": reasoning,
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": t.session_id,
    });
    if let Some(v) = t.verbosity {
        body["text"] = json!({ "verbosity": v.as_str() });
    }
    body
}

/// Request headers (the User-Agent comes from the shared client).
pub fn headers(access: &Access, session_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", access.token.expose())) {
        // Keeps the token out of any debug print of the headers.
        v.set_sensitive(true);
        h.insert(AUTHORIZATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&access.account_id) {
        h.insert(HeaderName::from_static("chatgpt-account-id"), v);
    }
    h.insert(
        HeaderName::from_static("originator"),
        HeaderValue::from_static(ORIGINATOR),
    );
    if let Ok(v) = HeaderValue::from_str(session_id) {
        h.insert(HeaderName::from_static("session_id"), v);
    }
    h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h
}

/// A user message; piped-in `context` goes first as its own text part.
pub fn user_message(prompt: &str, context: Option<&str>) -> Value {
    let mut parts = Vec::new();
    if let Some(ctx) = context.filter(|c| !c.trim().is_empty()) {
        parts.push(json!({
            "type": "input_text",
            "text": format!("Text piped in as context:\n\n{ctx}\n\n"),
        }));
    }
    if !prompt.trim().is_empty() || parts.is_empty() {
        parts.push(json!({ "type": "input_text", "text": prompt }));
    }
    json!({ "type": "message", "role": "user", "content": parts })
}

/// A developer message (extra instructions for this turn or mode).
pub fn developer_message(text: &str) -> Value {
    json!({
        "type": "message",
        "role": "developer",
        "content": [{ "type": "input_text", "text": text }],
    })
}

/// An assistant message echoing `text` (used when a stream finished without output items).
pub fn assistant_message(text: &str) -> Value {
    json!({
        "type": "message",
        "role": "assistant",
        "content": [{ "type": "output_text", "text": text }],
    })
}

/// Remove every `id` field (at any depth): the backend stores nothing, so an id it sees
/// makes it fail with "Item with id … not found".
pub fn strip_ids(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("id");
            m.values_mut().for_each(strip_ids);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_ids),
        _ => {}
    }
}

/// Whether a finished output item belongs in the history (messages and reasoning; anything
/// else — tool calls we never offered, item references — is dropped).
pub fn keep_in_history(item: &Value) -> bool {
    matches!(
        item.get("type").and_then(Value::as_str),
        Some("message" | "reasoning")
    )
}

/// The text of a message item (its text parts joined).
pub fn message_text(item: &Value) -> String {
    match item.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn body_has_every_required_field() {
        let input = vec![user_message("hi", None)];
        let b = body(&TurnBody {
            model: "gpt-5.2-codex",
            instructions: "be brief",
            input: &input,
            effort: Some(Effort::High),
            verbosity: Some(Verbosity::Low),
            session_id: "uuid-1",
        });
        assert_eq!(b["store"], false);
        assert_eq!(b["stream"], true);
        assert_eq!(b["tools"], json!([]));
        assert_eq!(b["tool_choice"], "auto");
        assert_eq!(b["parallel_tool_calls"], false);
        assert_eq!(b["reasoning"], json!({"effort": "high", "summary": "auto"}));
        assert_eq!(b["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(b["prompt_cache_key"], "uuid-1");
        assert_eq!(b["text"], json!({"verbosity": "low"}));
        assert_eq!(b["input"][0]["content"][0]["text"], "hi");
        let b = body(&TurnBody {
            model: "m",
            instructions: "i",
            input: &input,
            effort: None,
            verbosity: None,
            session_id: "s",
        });
        assert!(b.get("text").is_none());
        assert!(b["reasoning"].get("effort").is_none());
    }

    #[test]
    fn headers_identify_us_and_hide_the_token() {
        let access = Access {
            token: Secret::new("tok_secret"),
            account_id: "acct_1".into(),
        };
        let h = headers(&access, "uuid-1");
        assert_eq!(h["authorization"], "Bearer tok_secret");
        assert!(h["authorization"].is_sensitive());
        assert!(!format!("{h:?}").contains("tok_secret"));
        assert_eq!(h["chatgpt-account-id"], "acct_1");
        assert_eq!(h["originator"], "codexd");
        assert_eq!(h["session_id"], "uuid-1");
        assert_eq!(h["accept"], "text/event-stream");
    }

    #[test]
    fn ids_are_stripped_everywhere() {
        let mut item =
            json!({"id": "rs_1", "type": "reasoning", "summary": [{"id": "x", "text": "t"}]});
        strip_ids(&mut item);
        assert_eq!(
            item,
            json!({"type": "reasoning", "summary": [{"text": "t"}]})
        );
    }

    #[test]
    fn piped_context_comes_first() {
        let m = user_message("review this", Some("diff --git a b"));
        assert!(
            m["content"][0]["text"]
                .as_str()
                .unwrap_or("")
                .contains("diff --git")
        );
        assert_eq!(m["content"][1]["text"], "review this");
        let only = user_message("", Some("just text"));
        assert_eq!(only["content"].as_array().map(Vec::len), Some(1));
    }
}
