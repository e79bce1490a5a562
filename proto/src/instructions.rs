//! Instructions and model catalog payloads.

use serde::{Deserialize, Serialize};

use crate::conversation::Effort;

/// Body of `Request::Instructions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstructionsRequest {
    /// Model to resolve (default: the configured model).
    pub model: Option<String>,
    /// Include the text itself.
    pub show: bool,
    /// Revalidate with GitHub now.
    pub refresh: bool,
}

/// Where a model's base instructions came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstructionSource {
    /// The user's override file.
    Override {
        /// Its path.
        path: String,
    },
    /// The model catalog entry's `base_instructions`.
    Catalog,
    /// Fetched from GitHub and fresh.
    GitHub,
    /// Fetched from GitHub earlier; revalidation failed or is pending.
    Stale,
    /// codexd's own short fallback (no network and no cache yet).
    Fallback,
}

/// Description of the instructions for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionsInfo {
    /// The model asked about.
    pub model: String,
    /// The family it maps to.
    pub family: String,
    /// The prompt file of that family.
    pub file: String,
    /// Where the text comes from.
    pub source: InstructionSource,
    /// Release tag, for GitHub sources.
    pub tag: Option<String>,
    /// ETag of the cached file.
    pub etag: Option<String>,
    /// When the text was fetched, unix seconds.
    pub fetched_at: Option<u64>,
    /// When it was last revalidated, unix seconds.
    pub last_checked: Option<u64>,
    /// SHA-256 of the text, hex.
    pub sha256: String,
    /// Length in bytes.
    pub bytes: u64,
    /// The text, when asked for.
    pub text: Option<String>,
    /// A problem worth showing (rate-limited until …, GitHub unreachable, …).
    pub note: Option<String>,
}

/// One model from the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model slug, as sent in requests.
    pub slug: String,
    /// Display name, if the catalog has one.
    pub display_name: Option<String>,
    /// Default reasoning effort.
    pub default_effort: Option<Effort>,
    /// Supported reasoning efforts (empty: unknown).
    pub supported_efforts: Vec<Effort>,
    /// Context window in tokens.
    pub context_window: Option<u64>,
    /// Whether the catalog carries base instructions for it.
    pub has_base_instructions: bool,
}

/// The model catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCatalog {
    /// Models, in the backend's order.
    pub models: Vec<ModelInfo>,
    /// Where it came from ("backend", "cache", "built-in families").
    pub source: String,
    /// When it was fetched, unix seconds.
    pub fetched_at: Option<u64>,
    /// A problem worth showing.
    pub note: Option<String>,
}
