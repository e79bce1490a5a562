//! What every request may need: settings, paths, the daemon's identity, and the handles of
//! the supervised actors. Built once by [`crate::run`], shared by the server, the router and
//! the modules that answer requests without an actor of their own ([`crate::data`],
//! [`crate::status`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::auth::AuthActor;
use crate::config::Config;
use crate::instructions::InstructionCacheActor;
use crate::log::LogActor;
use crate::paths::Paths;
use crate::session::SessionRegistry;
use crate::supervisor::Supervised;

/// Everything a request may need.
pub struct Services {
    /// Settings.
    pub config: Arc<Config>,
    /// Config file path (shown in status).
    pub config_path: PathBuf,
    /// Where files live.
    pub paths: Paths,
    /// Socket path.
    pub socket: PathBuf,
    /// Socket passed in by a service manager.
    pub socket_activated: bool,
    /// When the daemon started.
    pub started: Instant,
    /// Honour `Request::Debug` (`CODEXD_TEST_HOOKS=1`).
    pub test_hooks: bool,
    /// Fired by `Request::Shutdown` and by signals.
    pub shutdown: CancellationToken,
    /// Sign-in.
    pub auth: Supervised<AuthActor>,
    /// Instructions and models.
    pub instructions: Supervised<InstructionCacheActor>,
    /// Conversations.
    pub sessions: Supervised<SessionRegistry>,
    /// Logging.
    pub log: Supervised<LogActor>,
    /// The OpenAI-compatible gateway.
    pub gateway: Arc<crate::gateway::Gateway>,
}
