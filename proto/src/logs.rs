//! Log payloads.

use serde::{Deserialize, Serialize};

/// Body of `Request::Logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsRequest {
    /// After the recent lines, keep streaming new ones until the client leaves.
    pub follow: bool,
    /// Minimum level: `error`, `warn`, `info`, `debug`, `trace`.
    pub level: Option<String>,
    /// Only lines at or after this time, unix seconds.
    pub since: Option<u64>,
    /// At most this many recent lines (default 100).
    pub lines: Option<u32>,
}

/// One log line, already redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Unix milliseconds.
    pub at_ms: u64,
    /// Level name.
    pub level: String,
    /// Module target.
    pub target: String,
    /// Message and fields.
    pub message: String,
}
