//! The fakes' model catalog, in upstream's shape (`{"models": [...]}`, the fields of
//! upstream.md §6), shared by the fake backend's `/codex/models` and the fake GitHub's
//! `codex-rs/models-manager/models.json`. Made-up models and made-up base instructions
//! ("FAKE base instructions of …"), never upstream text. It has what today's catalog has:
//! Responses-Lite and classic models, minimal client versions (one above any real release),
//! a hidden model, and efforts up to `max` and `ultra`.

use serde_json::{Value, json};

/// The model with priority 1 that a 0.171 client is offered: the default.
pub const DEFAULT_MODEL: &str = "gpt-6.2-sol";
/// A classic (not Responses-Lite) model.
pub const CLASSIC_MODEL: &str = "gpt-5.5";
/// A lite model with fewer efforts.
pub const SMALL_MODEL: &str = "gpt-6.1-terra";
/// A model that needs a newer client than any real release (hidden from 0.171 clients).
pub const FUTURE_MODEL: &str = "gpt-7-preview";
/// A model the catalog lists as hidden.
pub const HIDDEN_MODEL: &str = "codex-auto-review";
/// Where the catalog lives in the repository.
pub const CATALOG_PATH: &str = "codex-rs/models-manager/models.json";

/// Made-up base instructions of `slug` (`tag` tells the release file's copy from the live).
pub fn fake_base_instructions(slug: &str, origin: &str) -> String {
    format!("FAKE base instructions of {slug} ({origin}). Not upstream's text.\n")
}

fn levels(efforts: &[&str]) -> Vec<Value> {
    efforts
        .iter()
        .map(|e| json!({ "effort": e, "description": format!("{e} reasoning") }))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn entry(
    slug: &str,
    priority: i64,
    lite: bool,
    min: &str,
    visibility: &str,
    efforts: &[&str],
    default: &str,
    origin: &str,
) -> Value {
    json!({
        "slug": slug,
        "display_name": slug.to_uppercase(),
        "description": format!("Fake model {slug}."),
        "default_reasoning_level": default,
        "supported_reasoning_levels": levels(efforts),
        "shell_type": "unified_exec",
        "visibility": visibility,
        "supported_in_api": true,
        "priority": priority,
        "minimal_client_version": min,
        "upgrade": null,
        "base_instructions": fake_base_instructions(slug, origin),
        "default_reasoning_summary": "none",
        "support_verbosity": true,
        "default_verbosity": "low",
        "context_window": if lite { 500000 } else { 272000 },
        "use_responses_lite": lite,
        "input_modalities": ["text", "image"],
    })
}

/// The catalog entries; `origin` goes into the base instructions (e.g. `live`, or a tag).
pub fn models(origin: &str) -> Vec<Value> {
    let all = ["low", "medium", "high", "xhigh", "max", "ultra"];
    vec![
        entry(FUTURE_MODEL, 0, true, "9.0.0", "list", &all, "low", origin),
        entry(
            DEFAULT_MODEL,
            1,
            true,
            "0.142.2",
            "list",
            &all,
            "low",
            origin,
        ),
        entry(
            SMALL_MODEL,
            3,
            true,
            "0.124.0",
            "list",
            &["low", "medium", "high", "xhigh"],
            "medium",
            origin,
        ),
        entry(
            CLASSIC_MODEL,
            13,
            false,
            "0.124.0",
            "list",
            &["low", "medium", "high", "xhigh"],
            "medium",
            origin,
        ),
        entry(
            HIDDEN_MODEL,
            43,
            true,
            "0.124.0",
            "hide",
            &["low", "medium", "high", "xhigh", "max"],
            "medium",
            origin,
        ),
    ]
}

/// The catalog file body (`{"models": [...]}`).
pub fn file_body(origin: &str) -> String {
    json!({ "models": models(origin) }).to_string()
}

/// `minimal_client_version` of an entry.
pub fn minimal_version(entry: &Value) -> Option<&str> {
    entry.get("minimal_client_version").and_then(Value::as_str)
}

/// Whether `have` ≥ `want` (dotted numbers; a missing part counts as 0).
pub fn version_at_least(have: &str, want: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|p| p.trim().parse().unwrap_or(0))
            .collect()
    };
    let (h, w) = (parts(have), parts(want));
    for i in 0..h.len().max(w.len()) {
        let (a, b) = (
            h.get(i).copied().unwrap_or(0),
            w.get(i).copied().unwrap_or(0),
        );
        if a != b {
            return a > b;
        }
    }
    true
}
