//! `codexctl status` payload.

use serde::{Deserialize, Serialize};

use crate::auth::AuthStatus;
use crate::conversation::{RateLimits, SessionsSummary};
use crate::instructions::InstructionsInfo;

/// The daemon's supervised actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActorKind {
    /// Sign-in and tokens.
    Auth,
    /// Instructions and the model catalog.
    Instructions,
    /// The session registry (and through it, the session actors).
    Sessions,
    /// Logging.
    Log,
}

impl ActorKind {
    /// Every kind, in display order.
    pub const ALL: [ActorKind; 4] = [
        ActorKind::Auth,
        ActorKind::Instructions,
        ActorKind::Sessions,
        ActorKind::Log,
    ];

    /// Name for people and `--json`.
    pub fn name(self) -> &'static str {
        match self {
            ActorKind::Auth => "auth",
            ActorKind::Instructions => "instructions",
            ActorKind::Sessions => "sessions",
            ActorKind::Log => "log",
        }
    }

    /// Parse [`ActorKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One actor's line in status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorStatus {
    /// Which actor.
    pub kind: ActorKind,
    /// `running` or `restarting`.
    pub state: String,
    /// How often it has been restarted since the daemon started.
    pub restarts: u32,
}

/// An endpoint whose URL differs from the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointOverride {
    /// Setting name, e.g. `auth.issuer`.
    pub name: String,
    /// The configured URL.
    pub url: String,
}

/// Everything `codexctl status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// Daemon package version.
    pub version: String,
    /// Daemon pid.
    pub pid: u32,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Socket path.
    pub socket: String,
    /// Whether the listening socket was passed in by systemd/launchd.
    pub socket_activated: bool,
    /// Config file path (whether or not it exists).
    pub config_path: String,
    /// Resident memory of the daemon, bytes, when measurable.
    pub rss_bytes: Option<u64>,
    /// Supervised actors.
    pub actors: Vec<ActorStatus>,
    /// Sign-in state.
    pub auth: Option<AuthStatus>,
    /// Instructions for the default model.
    pub instructions: Option<InstructionsInfo>,
    /// Conversations.
    pub sessions: Option<SessionsSummary>,
    /// Last seen usage windows.
    pub limits: Option<RateLimits>,
    /// Request logs directory, when request logging is on.
    pub request_logging: Option<String>,
    /// Endpoints that differ from their defaults.
    pub endpoints: Vec<EndpointOverride>,
}
