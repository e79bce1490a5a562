//! The gateway's control messages: status, TCP on/off, the key.

use serde::{Deserialize, Serialize};

/// Body of `Request::Gateway`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GatewayRequest {
    /// Listeners, key file, counters.
    Status,
    /// Turn the loopback TCP listener on or off (remembered across restarts).
    SetTcp(bool),
    /// The TCP key (a new one first with `rotate`).
    Key {
        /// Replace the key; the old one stops working at once.
        rotate: bool,
    },
}

/// `codexctl gateway status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatus {
    /// The Unix socket, when served.
    pub unix_socket: Option<String>,
    /// Whether TCP is turned on.
    pub tcp_enabled: bool,
    /// The addresses TCP listens on now.
    pub tcp_listening: Vec<String>,
    /// The configured TCP port.
    pub port: u16,
    /// Listeners passed in by the service manager.
    pub activated: bool,
    /// The key file.
    pub key_file: String,
    /// Why the key cannot be used, if it cannot.
    pub key_error: Option<String>,
    /// Requests answered since start (refused ones included).
    pub requests_served: u64,
    /// Requests refused by the guard since start.
    pub requests_refused: u64,
    /// The last error answer, e.g. `HTTP 429 on /v1/responses`.
    pub last_error: Option<String>,
    /// A TCP problem (port in use …).
    pub tcp_error: Option<String>,
}

/// Answer to a `GatewayRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GatewayReply {
    /// Status (also after `SetTcp`).
    Status(GatewayStatus),
    /// The key.
    Key(KeyText),
}

/// The key text; `Debug` prints `***` so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyText(pub String);

impl std::fmt::Debug for KeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}
