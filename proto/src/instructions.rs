//! Instructions and model catalog payloads.

use serde::{Deserialize, Serialize};

use crate::conversation::{Effort, Verbosity};

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
    /// The account's live catalog (`/codex/models`): its entry's `base_instructions`.
    LiveCatalog,
    /// The catalog file of the openai/codex release (`models.json` at this tag).
    CatalogFile {
        /// The release tag.
        tag: String,
    },
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
    /// The compatibility version sent as `client_version` / `version` (see [`ClientVersion`]).
    pub client_version: ClientVersion,
    /// The model was not asked for: it is the default (configured or the catalog's first).
    pub default_model: bool,
}

/// The protocol-compatibility level codexd claims to the backend, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientVersion {
    /// `0.171.0`
    pub version: String,
    /// `backend.client_version`, `release rust-v0.171.0` or `built-in floor`.
    pub source: String,
}

/// Which catalog an entry's facts came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelSource {
    /// The account's live `/codex/models` (authoritative for what the account may use).
    Live,
    /// The catalog file of the openai/codex release at this tag.
    CatalogFile(String),
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
    /// One-line description.
    pub description: Option<String>,
    /// `use_responses_lite`: the Responses-Lite request shape.
    pub lite: bool,
    /// `minimal_client_version`: the compatibility version the backend wants for it.
    pub minimal_client_version: Option<String>,
    /// `visibility == "list"`: offered to people (hidden ones are internal).
    pub visible: bool,
    /// `priority`: lower comes first; the lowest listed one is the default model.
    pub priority: Option<i64>,
    /// `support_verbosity`
    pub supports_verbosity: bool,
    /// `default_verbosity`
    pub default_verbosity: Option<Verbosity>,
    /// `default_reasoning_summary` (`none`, `auto`, `concise`, `detailed`).
    pub default_summary: Option<String>,
    /// Where these facts came from.
    pub source: ModelSource,
}

impl ModelInfo {
    /// Whether the backend will take this model at compatibility version `client`.
    pub fn usable_at(&self, client: &str) -> bool {
        self.minimal_client_version
            .as_deref()
            .is_none_or(|min| crate::version::at_least(client, min))
    }
}

/// The model catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCatalog {
    /// Models by priority (hidden ones included; clients filter on [`ModelInfo::visible`]).
    pub models: Vec<ModelInfo>,
    /// The default model (configured, else the listed model with the lowest priority).
    pub default_model: Option<String>,
    /// The compatibility version in use.
    pub client_version: ClientVersion,
    /// Where it came from (`live catalog`, `catalog file at rust-v…`, both, or `none`).
    pub source: String,
    /// When it was fetched, unix seconds.
    pub fetched_at: Option<u64>,
    /// A problem worth showing.
    pub note: Option<String>,
}
