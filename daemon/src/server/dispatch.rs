//! Routing: each [`Request`] goes to the actor that owns it. This is the only place that
//! knows which actor answers what.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use codexd_proto::message::DebugRequest;
use codexd_proto::status::{ActorKind, DaemonStatus, EndpointOverride};
use codexd_proto::{ErrorCode, Reply, Request, WireError};
use tokio_util::sync::CancellationToken;

use crate::auth::{self, AuthActor};
use crate::config::Config;
use crate::instructions::{self, InstructionCacheActor};
use crate::log::{self, LogActor};
use crate::paths::Paths;
use crate::request::RequestCtx;
use crate::session::{self, SessionRegistry};
use crate::supervisor::{PanicForTest, Supervised};

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

/// Answer one request.
pub async fn handle(
    request: Request,
    ctx: RequestCtx,
    svc: Arc<Services>,
) -> Result<Reply, WireError> {
    match request {
        Request::Ping => Ok(Reply::Pong),
        Request::Status => Ok(Reply::Status(Box::new(status(&svc).await))),
        Request::Shutdown => {
            tracing::info!("shutdown requested by a client");
            svc.shutdown.cancel();
            Ok(Reply::Done)
        }
        Request::Login(req) => svc
            .auth
            .send(auth::Login {
                method: req.method,
                ctx,
            })
            .await?
            .map(Reply::LoggedIn),
        Request::Logout { local_only } => svc
            .auth
            .send(auth::Logout { local_only })
            .await?
            .map(Reply::LoggedOut),
        Request::Ask(req) => svc
            .sessions
            .send(session::Ask { req, ctx })
            .await?
            .map(Reply::Answer),
        Request::Sessions(req) => svc.sessions.send(session::Sessions(req)).await?,
        Request::Instructions(req) => svc
            .instructions
            .send(instructions::Describe(req))
            .await?
            .map(Reply::Instructions),
        Request::Models { refresh } => svc
            .instructions
            .send(instructions::GetModels { refresh })
            .await?
            .map(Reply::Models),
        Request::Logs(req) => svc
            .log
            .send(log::Logs { req, ctx })
            .await?
            .map(|()| Reply::Done),
        Request::SetRequestLogging { enabled } => {
            let (enabled, dir) = svc.log.send(log::SetRequestLogging(enabled)).await??;
            Ok(Reply::RequestLogging { enabled, dir })
        }
        Request::Data(req) => crate::data::handle(req, &svc).await,
        Request::Gateway(req) => crate::gateway::control(&svc.gateway, req)
            .await
            .map(Reply::Gateway),
        Request::Debug(DebugRequest::Access { after_unauthorized }) => {
            if !svc.test_hooks {
                return Err(WireError::new(
                    ErrorCode::Disabled,
                    "test hooks are off (start the daemon with CODEXD_TEST_HOOKS=1)",
                ));
            }
            auth::debug_access(&svc.auth, after_unauthorized).await
        }
        Request::Debug(DebugRequest::PanicActor(kind)) => {
            if !svc.test_hooks {
                return Err(WireError::new(
                    ErrorCode::Disabled,
                    "test hooks are off (start the daemon with CODEXD_TEST_HOOKS=1)",
                ));
            }
            // The send fails because the actor dies while handling it; that is the point.
            let _ = match kind {
                ActorKind::Auth => svc.auth.send(PanicForTest).await,
                ActorKind::Instructions => svc.instructions.send(PanicForTest).await,
                ActorKind::Sessions => svc.sessions.send(PanicForTest).await,
                ActorKind::Log => svc.log.send(PanicForTest).await,
            };
            Ok(Reply::Done)
        }
    }
}

/// Gather `codexctl status`; an actor that cannot answer leaves its part empty.
async fn status(svc: &Services) -> DaemonStatus {
    let (auth, instructions, sessions, limits, request_logging) = tokio::join!(
        svc.auth.send(auth::GetStatus),
        svc.instructions.send(instructions::Describe(
            codexd_proto::instructions::InstructionsRequest {
                model: None,
                show: false,
                refresh: false,
            }
        )),
        svc.sessions.send(session::Summary),
        svc.sessions.send(session::Limits),
        svc.log.send(log::RequestLoggingState),
    );
    DaemonStatus {
        version: codexd_proto::VERSION.into(),
        pid: std::process::id(),
        uptime_secs: svc.started.elapsed().as_secs(),
        socket: svc.socket.display().to_string(),
        socket_activated: svc.socket_activated,
        config_path: svc.config_path.display().to_string(),
        rss_bytes: rss_bytes(),
        actors: vec![
            svc.auth.status(),
            svc.instructions.status(),
            svc.sessions.status(),
            svc.log.status(),
        ],
        auth: auth.ok(),
        instructions: instructions.ok().and_then(Result::ok),
        sessions: sessions.ok(),
        limits: limits.ok().flatten(),
        request_logging: request_logging.ok().flatten(),
        endpoints: svc
            .config
            .endpoint_overrides()
            .into_iter()
            .map(|(name, url)| EndpointOverride { name, url })
            .collect(),
    }
}

/// Resident set size of this process (Linux), bytes.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
