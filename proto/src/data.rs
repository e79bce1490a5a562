//! Data-control payloads: where codexd keeps things, and purging them.

use serde::{Deserialize, Serialize};

/// Body of `Request::Data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataRequest {
    /// List every storage location with its size.
    List,
    /// Delete the chosen kinds (credentials only go through logout).
    Purge {
        /// Log files and request logs.
        logs: bool,
        /// Instruction and model caches.
        cache: bool,
        /// Stored conversations.
        sessions: bool,
    },
}

/// One place codexd stores something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataLocation {
    /// What it is ("credentials", "logs", …).
    pub what: String,
    /// Where (a path, or "keyring: …").
    pub path: String,
    /// Size in bytes, when it is on disk.
    pub bytes: Option<u64>,
    /// Extra words for a person.
    pub note: Option<String>,
}
