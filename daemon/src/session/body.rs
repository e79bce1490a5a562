//! The backend request body for one turn, in the shape Codex CLI 0.171 sends (upstream.md §5;
//! the headers are [`crate::backend::headers`]), and the input items a conversation is made
//! of. The backend keeps no state (`store: false`), so every turn sends the whole history —
//! and never an item `id`, which it could not resolve.
//!
//! Input order: the model's base instructions as the first developer message (byte-identical
//! on every turn of a conversation, so the prompt cache hits), codexd's mode message, the
//! history, then this turn's new items. No top-level `instructions`; no `tools` key for
//! Responses-Lite models (and an empty list for classic ones: codexd offers no tools).

use codexd_proto::conversation::{Effort, Verbosity};
use serde_json::{Value, json};

/// What goes into one request body.
#[derive(Debug, Clone)]
pub struct TurnBody<'a> {
    /// Model slug.
    pub model: &'a str,
    /// The model's base instructions (first developer message).
    pub base_instructions: &'a str,
    /// codexd's developer message for the mode (shell helpers), after the base instructions.
    pub mode_message: Option<&'a str>,
    /// Every item of the previous turns.
    pub history: &'a [Value],
    /// This turn's new items (extra developer instructions, the user message).
    pub new_items: &'a [Value],
    /// Reasoning effort (already clamped to what the model supports).
    pub effort: Option<&'a Effort>,
    /// `reasoning.summary`, when summaries are wanted.
    pub summary: Option<&'a str>,
    /// `text.verbosity`.
    pub verbosity: Option<Verbosity>,
    /// A Responses-Lite model.
    pub lite: bool,
    /// The conversation's UUID: the prompt cache key.
    pub conversation: &'a str,
}

/// The JSON body.
pub fn body(t: &TurnBody<'_>) -> Value {
    let mut input = Vec::with_capacity(t.history.len() + t.new_items.len() + 2);
    input.push(developer_message(t.base_instructions));
    if let Some(m) = t.mode_message {
        input.push(developer_message(m));
    }
    input.extend(t.history.iter().cloned());
    input.extend(t.new_items.iter().cloned());
    let mut reasoning = serde_json::Map::new();
    if let Some(e) = t.effort {
        reasoning.insert("effort".into(), json!(e.as_str()));
    }
    if let Some(s) = t.summary {
        reasoning.insert("summary".into(), json!(s));
    }
    if t.lite {
        // Required with the lite header ("… requires `reasoning.context` to be `all_turns`").
        reasoning.insert("context".into(), json!("all_turns"));
    }
    let mut body = json!({
        "model": t.model,
        "stream": true,
        "input": input,
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": t.conversation,
    });
    if !reasoning.is_empty() {
        body["reasoning"] = Value::Object(reasoning);
    }
    if !t.lite {
        body["tools"] = json!([]);
    }
    if let Some(v) = t.verbosity {
        body["text"] = json!({ "verbosity": v.as_str() });
    }
    body
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

/// Whether a finished output item belongs in the history (messages and reasoning; anything
/// else — tool calls we never offered, item references — is dropped).
pub fn keep_in_history(item: &Value) -> bool {
    matches!(
        item.get("type").and_then(Value::as_str),
        Some("message" | "reasoning")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(lite: bool, history: &[Value], new_items: &[Value]) -> Value {
        let effort = Effort::parse("xhigh");
        body(&TurnBody {
            model: "gpt-6.2-sol",
            base_instructions: "base",
            mode_message: None,
            history,
            new_items,
            effort: effort.as_ref(),
            summary: None,
            verbosity: Some(Verbosity::Low),
            lite,
            conversation: "uuid-1",
        })
    }

    #[test]
    fn lite_body_matches_the_cli_shape() {
        let new_items = vec![user_message("hi", None)];
        let b = sample(true, &[], &new_items);
        assert!(b.get("instructions").is_none());
        assert!(b.get("tools").is_none(), "no tools key for lite models");
        assert_eq!(b["store"], false);
        assert_eq!(b["stream"], true);
        assert_eq!(b["tool_choice"], "auto");
        assert_eq!(b["parallel_tool_calls"], false);
        assert_eq!(
            b["reasoning"],
            json!({"effort": "xhigh", "context": "all_turns"})
        );
        assert_eq!(b["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(b["prompt_cache_key"], "uuid-1");
        assert_eq!(b["text"], json!({"verbosity": "low"}));
        assert_eq!(b["input"][0], developer_message("base"));
        assert_eq!(b["input"][1]["content"][0]["text"], "hi");
    }

    #[test]
    fn classic_body_has_tools_and_no_context() {
        let b = sample(false, &[], &[user_message("hi", None)]);
        assert_eq!(b["tools"], json!([]));
        assert_eq!(b["reasoning"], json!({"effort": "xhigh"}));
    }

    #[test]
    fn the_prefix_stays_byte_identical_across_turns() {
        let first = sample(true, &[], &[user_message("one", None)]);
        let history = vec![user_message("one", None), assistant_message("answer")];
        let second = sample(true, &history, &[user_message("two", None)]);
        let prefix = |b: &Value, n: usize| {
            b["input"]
                .as_array()
                .map(|a| a[..n].to_vec())
                .unwrap_or_default()
        };
        assert_eq!(prefix(&first, 2), prefix(&second, 2));
        assert_eq!(second["input"][3]["content"][0]["text"], "two");
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
