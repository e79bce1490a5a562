//! Request validation of the fake backend: what `POST /codex/responses` accepts, as the real
//! backend does (headers, item shapes, the Responses-Lite contract, the unsupported parameters
//! of upstream.md §5, efforts supported by the model), and the error bodies it answers with.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::*;

pub(super) const KNOWN_EFFORTS: &[&str] = &["low", "medium", "high", "xhigh", "max", "ultra"];
/// Parameters the real backend answers with 400 "Unsupported parameter" (upstream.md §5).
pub(super) const UNSUPPORTED_PARAMS: &[&str] = &[
    "max_output_tokens",
    "temperature",
    "top_p",
    "metadata",
    "truncation",
    "previous_response_id",
];
pub(super) const KNOWN_ITEM_TYPES: &[&str] = &[
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "local_shell_call",
    "local_shell_call_output",
    "web_search_call",
    // Sent by the Codex CLI 0.171 (its tool list for the turn).
    "additional_tools",
];

pub(super) fn detail(status: StatusCode, msg: &str) -> Response {
    json(status, json!({ "detail": msg }))
}

pub(super) fn invalid(msg: &str, param: Option<&str>, code: Option<&str>) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        json!({
            "error": {
                "message": msg, "type": "invalid_request_error", "param": param, "code": code,
            }
        }),
    )
}

/// The Responses-Lite contract: the header goes with `reasoning.context = "all_turns"`, no
/// `tools` key and no `instructions`; a lite model is only served with the header (the
/// fake's rule, so a client that forgets it is caught).
pub(super) fn validate_lite(
    body: &Value,
    lite_model: bool,
    lite_header: bool,
) -> Result<(), Box<Response>> {
    let fail = |r: Response| Err(Box::new(r));
    if lite_model && !lite_header {
        return fail(invalid(
            "This model is served only with the Responses-Lite protocol \
             (x-openai-internal-codex-responses-lite: true) (fake backend rule).",
            None,
            Some("responses_lite_required"),
        ));
    }
    if !lite_header {
        return Ok(());
    }
    let context = body
        .get("reasoning")
        .and_then(|r| r.get("context"))
        .and_then(Value::as_str);
    if context != Some("all_turns") {
        return fail(invalid(
            "X-OpenAI-Internal-Codex-Responses-Lite requires `reasoning.context` to be `all_turns`.",
            Some("reasoning.context"),
            None,
        ));
    }
    for key in ["tools", "instructions"] {
        if body.get(key).is_some() {
            return fail(invalid(
                &format!("Unsupported parameter with Responses-Lite: '{key}'."),
                Some(key),
                Some("unsupported_parameter"),
            ));
        }
    }
    Ok(())
}

/// The first function tool `body` offers (in `tools` or an `additional_tools` item), unless
/// the last input item already answers a call.
pub(super) fn offered_tool(body: &Value) -> Option<String> {
    let input = body.get("input").and_then(Value::as_array)?;
    if input
        .last()
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str)
        == Some("function_call_output")
    {
        return None;
    }
    let name_of = |tools: &Value| -> Option<String> {
        tools
            .as_array()?
            .iter()
            .find_map(|t| match t.get("type").and_then(Value::as_str) {
                Some("function") => t.get("name").and_then(Value::as_str).map(str::to_owned),
                Some("namespace") => t.get("tools").and_then(|ts| {
                    ts.as_array()?.iter().find_map(|t| {
                        (t.get("type").and_then(Value::as_str) == Some("function"))
                            .then(|| t.get("name").and_then(Value::as_str).map(str::to_owned))
                            .flatten()
                    })
                }),
                _ => None,
            })
    };
    body.get("tools").and_then(name_of).or_else(|| {
        input
            .iter()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("additional_tools"))
            .find_map(|i| i.get("tools").and_then(name_of))
    })
}

pub(super) fn validate_body(
    body: &Value,
    model: &str,
    models: &[Value],
) -> Result<(), Box<Response>> {
    let fail = |r: Response| Err(Box::new(r));
    if !body.is_object() {
        return fail(invalid(
            "The request body must be a JSON object.",
            None,
            None,
        ));
    }
    for param in UNSUPPORTED_PARAMS {
        if body.get(*param).is_some() {
            return fail(invalid(
                &format!("Unsupported parameter: '{param}'."),
                Some(param),
                Some("unsupported_parameter"),
            ));
        }
    }
    // Today's clients send the base instructions as the first developer message; an
    // `instructions` field, when present, must at least be text.
    if let Some(i) = body.get("instructions")
        && i.as_str().is_none_or(|t| t.trim().is_empty())
    {
        return fail(detail(
            StatusCode::BAD_REQUEST,
            "Instructions are not valid",
        ));
    }
    if body.get("store") != Some(&Value::Bool(false)) {
        return fail(detail(
            StatusCode::BAD_REQUEST,
            "Store must be set to false",
        ));
    }
    if body.get("stream") != Some(&Value::Bool(true)) {
        return fail(detail(
            StatusCode::BAD_REQUEST,
            "Stream must be set to true",
        ));
    }
    let includes_reasoning = body
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "reasoning.encrypted_content"));
    if !includes_reasoning {
        return fail(invalid(
            "include must contain \"reasoning.encrypted_content\" when store is false \
             (fake backend rule: reasoning could not be carried across turns otherwise).",
            Some("include"),
            None,
        ));
    }
    match body.get("prompt_cache_key").and_then(Value::as_str) {
        Some(k) if !k.is_empty() => {}
        _ => {
            return fail(invalid(
                "prompt_cache_key is required (fake backend rule).",
                Some("prompt_cache_key"),
                None,
            ));
        }
    }
    if let Some(tools) = body.get("tools")
        && !tools.is_array()
    {
        return fail(invalid(
            "Invalid type for 'tools': expected an array.",
            Some("tools"),
            Some("invalid_type"),
        ));
    }
    if let Some(effort) = body
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
    {
        let supported: Option<Vec<&str>> = models
            .iter()
            .find(|m| m.get("slug").and_then(Value::as_str) == Some(model))
            .and_then(|m| m.get("supported_reasoning_levels"))
            .and_then(Value::as_array)
            .map(|levels| {
                levels
                    .iter()
                    .filter_map(|l| l.get("effort").and_then(Value::as_str))
                    .collect()
            });
        let ok = KNOWN_EFFORTS.contains(&effort)
            && supported.is_none_or(|s| s.is_empty() || s.contains(&effort));
        if !ok {
            return fail(invalid(
                &format!(
                    "Unsupported value: '{effort}' is not supported with the '{model}' model."
                ),
                Some("reasoning.effort"),
                Some("unsupported_value"),
            ));
        }
    }
    let Some(input) = body.get("input").and_then(Value::as_array) else {
        return fail(invalid(
            "Invalid type for 'input': expected an array.",
            Some("input"),
            Some("invalid_type"),
        ));
    };
    for (i, item) in input.iter().enumerate() {
        if let Some(id) = find_id_where(item, &is_server_id) {
            return fail(invalid(
                &format!(
                    "Item with id '{id}' not found. Items are not persisted when `store` is set \
                     to false. Try again with `store` set to true, or remove this item from \
                     your input."
                ),
                Some("input"),
                None,
            ));
        }
        validate_item(i, item)?;
    }
    Ok(())
}

/// An `id` anywhere inside `v` (or an `item_reference`), as the real backend cannot resolve
/// item ids when nothing is stored.
#[cfg(test)]
pub(super) fn find_id(v: &Value) -> Option<String> {
    find_id_where(v, &|_| true)
}

/// Ids this fake issued on output items (`msg_fake_…`, `rs_fake_…`): with `store: false`
/// nothing is persisted, so echoing one fails like the real backend ("Item with id … not
/// found"). Client-made ids (the Codex CLI 0.171 sends its own `msg_…`/`at_…` ids) are
/// accepted. codexd sends no ids at all (asserted in tests/tests/ask.rs).
pub(super) fn is_server_id(id: &str) -> bool {
    id.contains("_fake_") || id == "(item_reference)"
}

pub(super) fn find_id_where(v: &Value, keep: &dyn Fn(&str) -> bool) -> Option<String> {
    match v {
        Value::Object(m) => {
            if let Some(id) = m.get("id") {
                let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
                if keep(&id) {
                    return Some(id);
                }
            }
            if m.get("type").and_then(Value::as_str) == Some("item_reference")
                && keep("(item_reference)")
            {
                return Some("(item_reference)".into());
            }
            m.values().find_map(|v| find_id_where(v, keep))
        }
        Value::Array(a) => a.iter().find_map(|v| find_id_where(v, keep)),
        _ => None,
    }
}

pub(super) fn validate_item(i: usize, item: &Value) -> Result<(), Box<Response>> {
    let Some(obj) = item.as_object() else {
        return Err(Box::new(invalid(
            &format!("Invalid type for 'input[{i}]': expected an object."),
            Some(&format!("input[{i}]")),
            Some("invalid_type"),
        )));
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("message");
    if kind == "item_reference" {
        return Err(Box::new(invalid(
            "Unsupported parameter: 'item_reference' (items are not persisted).",
            Some(&format!("input[{i}]")),
            Some("unsupported_parameter"),
        )));
    }
    if !KNOWN_ITEM_TYPES.contains(&kind) {
        return Err(Box::new(invalid(
            &format!("Invalid value: '{kind}'. Unknown input item type."),
            Some(&format!("input[{i}].type")),
            Some("invalid_value"),
        )));
    }
    match kind {
        "message" => {
            let role = obj.get("role").and_then(Value::as_str).unwrap_or("");
            let allowed: &[&str] = match role {
                "assistant" => &["output_text", "refusal"],
                "user" | "developer" => &["input_text", "input_image", "input_file"],
                "system" => {
                    return Err(Box::new(invalid(
                        "Invalid value: 'system'. System messages are not allowed; use a \
                         developer message.",
                        Some(&format!("input[{i}].role")),
                        Some("invalid_value"),
                    )));
                }
                _ => {
                    return Err(Box::new(invalid(
                        &format!(
                            "Invalid value: '{role}'. Supported values are: 'assistant', \
                             'developer', and 'user'."
                        ),
                        Some(&format!("input[{i}].role")),
                        Some("invalid_value"),
                    )));
                }
            };
            match obj.get("content") {
                Some(Value::String(_)) => {}
                Some(Value::Array(parts)) => {
                    for (j, part) in parts.iter().enumerate() {
                        let t = part.get("type").and_then(Value::as_str).unwrap_or("");
                        if !allowed.contains(&t) {
                            let list = allowed
                                .iter()
                                .map(|a| format!("'{a}'"))
                                .collect::<Vec<_>>()
                                .join(", ");
                            return Err(Box::new(invalid(
                                &format!(
                                    "Invalid value: '{t}'. Supported values for role '{role}' \
                                     are: {list}."
                                ),
                                Some(&format!("input[{i}].content[{j}]")),
                                Some("invalid_value"),
                            )));
                        }
                    }
                }
                _ => {
                    return Err(Box::new(invalid(
                        &format!("Missing required parameter: 'input[{i}].content'."),
                        Some(&format!("input[{i}].content")),
                        Some("missing_required_parameter"),
                    )));
                }
            }
        }
        "reasoning" => {
            if !obj.get("summary").is_some_and(Value::is_array) {
                return Err(Box::new(invalid(
                    &format!("Missing required parameter: 'input[{i}].summary'."),
                    Some(&format!("input[{i}].summary")),
                    Some("missing_required_parameter"),
                )));
            }
            let enc = obj.get("encrypted_content").and_then(Value::as_str);
            if !enc.is_some_and(|e| e.starts_with(ENCRYPTED_PREFIX)) {
                return Err(Box::new(invalid(
                    "The encrypted content for a reasoning item could not be verified.",
                    Some(&format!("input[{i}].encrypted_content")),
                    Some("invalid_encrypted_content"),
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The last text part of a message item (or its string content).
pub(super) fn last_text_part(item: &Value) -> String {
    match item.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .rev()
            .find_map(|p| p.get("text").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned(),
        _ => String::new(),
    }
}

/// Text of a message item (string content, or its text parts joined): the daemon's own reading.
pub(super) use codexd::backend::items::message_text;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_anywhere() {
        assert_eq!(
            find_id(&json!({"type":"message","id":"msg_1"})),
            Some("msg_1".into())
        );
        assert_eq!(
            find_id(&json!({"type":"message","content":[{"type":"output_text","id":"x"}]})),
            Some("x".into())
        );
        assert!(find_id(&json!({"type":"item_reference"})).is_some());
        assert_eq!(
            find_id(&json!({"type":"function_call_output","call_id":"c"})),
            None
        );
    }
}
