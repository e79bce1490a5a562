//! The model catalog: `GET {backend}/codex/models?client_version=<ours>` with a bearer token
//! and `If-None-Match`, and parsing its `{"models": [...]}` body into [`ModelInfo`] plus any
//! `base_instructions`. Unknown fields are ignored; an entry without a slug is skipped.

use std::sync::Arc;
use std::time::Duration;

use codexd_proto::conversation::Effort;
use codexd_proto::instructions::ModelInfo;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, ETAG, IF_NONE_MATCH};
use serde::Deserialize;

use super::github::Fetched;
use crate::auth::Access;
use crate::config::ORIGINATOR;

/// The catalog call gives up after this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

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
    default_reasoning_level: Option<String>,
    #[serde(default)]
    supported_reasoning_levels: Vec<Level>,
    #[serde(default)]
    context_window: Option<u64>,
    #[serde(default)]
    base_instructions: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Level {
    Object { effort: String },
    Plain(String),
}

/// Parse a catalog body. Entries that do not parse are skipped, not fatal.
pub fn parse(body: &str) -> Result<Vec<CatalogModel>, CatalogError> {
    let body: Body =
        serde_json::from_str(body).map_err(|e| CatalogError::Invalid(e.to_string()))?;
    Ok(body
        .models
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Entry>(v).ok())
        .filter(|e| !e.slug.is_empty())
        .map(|e| {
            let base = e
                .base_instructions
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
                },
                base_instructions: base,
            }
        })
        .collect())
}

/// `GET {backend}/codex/models?client_version=..` with `If-None-Match: etag`.
pub async fn fetch(
    http: &reqwest::Client,
    backend_url: &str,
    access: &Access,
    etag: Option<&str>,
) -> Result<Fetched<String>, CatalogError> {
    let url = format!("{}/codex/models", backend_url.trim_end_matches('/'));
    let mut req = http
        .get(url)
        .query(&[("client_version", env!("CARGO_PKG_VERSION"))])
        .timeout(CALL_TIMEOUT)
        .header(AUTHORIZATION, format!("Bearer {}", access.token.expose()))
        .header("ChatGPT-Account-ID", &access.account_id)
        .header("originator", ORIGINATOR);
    if let Some(e) = etag {
        req = req.header(IF_NONE_MATCH, e);
    }
    // Never format the request or a reqwest error with headers: the token is in them.
    let resp = req.send().await.map_err(|e| {
        CatalogError::Unreachable(if e.is_timeout() {
            "timed out".into()
        } else {
            "cannot connect".into()
        })
    })?;
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(CatalogError::Unauthorized(status.as_u16()));
    }
    if !status.is_success() {
        return Err(CatalogError::Status(status.as_u16()));
    }
    let etag = resp
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp
        .text()
        .await
        .map_err(|_| CatalogError::Unreachable("the connection broke".into()))?;
    parse(&body)?;
    Ok(Fetched::Fresh { value: body, etag })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_shape_and_skips_junk() {
        let body = r#"{"models":[
            {"slug":"gpt-5.2-codex","display_name":"GPT-5.2 Codex","default_reasoning_level":"medium",
             "supported_reasoning_levels":[{"effort":"low","description":"x"},{"effort":"xhigh"},{"effort":"none"}],
             "context_window":272000,"base_instructions":"Be brief.","extra":1},
            {"no_slug":true},
            {"slug":"m2","supported_reasoning_levels":["high"]}
        ]}"#;
        let models = parse(body).unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].info.slug, "gpt-5.2-codex");
        assert_eq!(
            models[0].info.supported_efforts,
            vec![Effort::Low, Effort::XHigh]
        );
        assert_eq!(models[0].info.default_effort, Some(Effort::Medium));
        assert!(models[0].info.has_base_instructions);
        assert_eq!(models[1].info.supported_efforts, vec![Effort::High]);
        assert!(parse("not json").is_err());
    }
}
