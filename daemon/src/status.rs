//! `codexctl status`: the daemon's own facts and each actor's part, gathered at once; an
//! actor that cannot answer leaves its part empty rather than failing the whole status.

use codexd_proto::status::{DaemonStatus, EndpointOverride};

use crate::services::Services;
use crate::{auth, instructions, log, session};

/// Gather `codexctl status`.
pub async fn gather(svc: &Services) -> DaemonStatus {
    let (auth, instructions, sessions, limits, request_logging) = tokio::join!(
        svc.auth.send(auth::GetStatus),
        svc.instructions.send(instructions::Describe {
            req: codexd_proto::instructions::InstructionsRequest {
                model: None,
                show: false,
                refresh: false,
            },
            wait: false,
        }),
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
