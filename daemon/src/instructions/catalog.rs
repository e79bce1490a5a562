//! The model catalog's shape: parsing a `{"models": [...]}` body — the account's live
//! `/codex/models` (fetched by [`crate::backend::Backend::fetch_models`]) or the release's
//! `models.json` — into [`ModelInfo`] plus each entry's base instructions. Unknown fields are
//! ignored; an entry without a slug is skipped.

use std::sync::Arc;

use codexd_proto::conversation::{Effort, Verbosity};
use codexd_proto::instructions::{ModelInfo, ModelSource};
use serde::Deserialize;

/// One catalog entry.
#[derive(Debug, Clone)]
pub struct CatalogModel {
    /// What clients see.
    pub info: ModelInfo,
    /// Base instructions carried by the entry; they win over the prompt file.
    pub base_instructions: Option<Arc<str>>,
}

/// Why the catalog call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// No usable sign-in (the catalog is per account).
    #[error("{0}")]
    NotSignedIn(String),
    /// The backend rejected the token.
    #[error("the backend rejected the sign-in (HTTP {0}); run `codexctl login` if this persists")]
    Unauthorized(u16),
    /// Network trouble.
    #[error("the backend is unreachable ({0})")]
    Unreachable(String),
    /// Another error status.
    #[error("the backend answered HTTP {0} for the model list")]
    Status(u16),
    /// A body we could not read.
    #[error("the backend's model list could not be read: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    models: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Entry {
    slug: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    default_reasoning_level: Option<String>,
    #[serde(default)]
    supported_reasoning_levels: Vec<Level>,
    #[serde(default)]
    context_window: Option<u64>,
    #[serde(default)]
    base_instructions: Option<String>,
    #[serde(default)]
    model_messages: Option<ModelMessages>,
    #[serde(default)]
    use_responses_lite: bool,
    #[serde(default)]
    minimal_client_version: Option<String>,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    support_verbosity: bool,
    #[serde(default)]
    default_verbosity: Option<String>,
    #[serde(default)]
    default_reasoning_summary: Option<String>,
}

#[derive(Deserialize)]
struct ModelMessages {
    #[serde(default)]
    instructions_template: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Level {
    Object { effort: String },
    Plain(String),
}

/// Parse a catalog body (`{"models": [...]}`, as the backend and the release's `models.json`
/// both have it). Entries that do not parse are skipped, not fatal; so are efforts that are
/// not plain words.
pub fn parse(body: &str, source: &ModelSource) -> Result<Vec<CatalogModel>, CatalogError> {
    let body: Body =
        serde_json::from_str(body).map_err(|e| CatalogError::Invalid(e.to_string()))?;
    Ok(body
        .models
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Entry>(v).ok())
        .filter(|e| !e.slug.is_empty())
        .map(|e| {
            // `base_instructions` is the entry's prompt; older catalogs carried it only as the
            // messages template.
            let base = e
                .base_instructions
                .or(e.model_messages.and_then(|m| m.instructions_template))
                .filter(|b| !b.trim().is_empty())
                .map(Arc::<str>::from);
            CatalogModel {
                info: ModelInfo {
                    slug: e.slug,
                    display_name: e.display_name,
                    default_effort: e.default_reasoning_level.as_deref().and_then(Effort::parse),
                    supported_efforts: e
                        .supported_reasoning_levels
                        .iter()
                        .filter_map(|l| match l {
                            Level::Object { effort } | Level::Plain(effort) => {
                                Effort::parse(effort)
                            }
                        })
                        .collect(),
                    context_window: e.context_window,
                    has_base_instructions: base.is_some(),
                    description: e.description,
                    lite: e.use_responses_lite,
                    minimal_client_version: e.minimal_client_version.filter(|v| !v.is_empty()),
                    // Entries without a visibility are offered (older catalogs had none).
                    visible: e.visibility.as_deref().is_none_or(|v| v == "list"),
                    priority: e.priority,
                    supports_verbosity: e.support_verbosity,
                    default_verbosity: e.default_verbosity.as_deref().and_then(Verbosity::parse),
                    default_summary: e.default_reasoning_summary,
                    source: source.clone(),
                },
                base_instructions: base,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn efforts(list: &[&str]) -> Vec<Effort> {
        list.iter().filter_map(|e| Effort::parse(e)).collect()
    }

    #[test]
    fn parses_upstream_shape_and_skips_junk() {
        let body = r#"{"models":[
            {"slug":"gpt-6.2-sol","display_name":"GPT-6.2-Sol","default_reasoning_level":"low",
             "supported_reasoning_levels":[{"effort":"low","description":"x"},{"effort":"max"},{"effort":"ultra"},{"effort":"not a word"}],
             "context_window":500000,"base_instructions":"Be brief.","extra":1,
             "use_responses_lite":true,"minimal_client_version":"0.142.2","visibility":"list",
             "priority":1,"support_verbosity":true,"default_verbosity":"low",
             "default_reasoning_summary":"none"},
            {"no_slug":true},
            {"slug":"m2","supported_reasoning_levels":["high"],"visibility":"hide",
             "model_messages":{"instructions_template":"from the template"}}
        ]}"#;
        let models = parse(body, &ModelSource::Live).unwrap();
        assert_eq!(models.len(), 2);
        let m = &models[0].info;
        assert_eq!(m.slug, "gpt-6.2-sol");
        assert_eq!(m.supported_efforts, efforts(&["low", "max", "ultra"]));
        assert_eq!(m.default_effort, Effort::parse("low"));
        assert!(m.has_base_instructions && m.lite && m.visible && m.supports_verbosity);
        assert_eq!(m.minimal_client_version.as_deref(), Some("0.142.2"));
        assert_eq!(m.priority, Some(1));
        assert_eq!(m.default_verbosity, Some(Verbosity::Low));
        assert_eq!(m.default_summary.as_deref(), Some("none"));
        let m2 = &models[1];
        assert_eq!(m2.info.supported_efforts, efforts(&["high"]));
        assert!(!m2.info.visible && !m2.info.lite);
        assert_eq!(m2.base_instructions.as_deref(), Some("from the template"));
        assert!(parse("not json", &ModelSource::Live).is_err());
    }
}
