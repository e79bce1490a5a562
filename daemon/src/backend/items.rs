//! Input and output items as the stateless backend needs them, shared by conversations and
//! the gateway.

use serde_json::Value;

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
    use serde_json::json;

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
}
