//! The connect policy, in one place: connect to the daemon; when nothing answers, start it —
//! through the installed service (systemd socket activation, launchd kickstart) when there
//! is one, else by spawning `codexd` ([`crate::autostart`]) — unless autostart is off, in
//! which case the error names exactly what the user did to turn it off.

use std::path::Path;

use crate::client::{Attempt, Client};
use crate::exit::Unreachable;

/// An installed service manager that starts codexd on demand (implemented by
/// `commands::service`, which knows systemd and launchd).
pub trait ServiceManager {
    /// A service is installed and should start the daemon rather than codexctl.
    fn defers_autostart(&self) -> bool;
    /// Have the service start the daemon, then connect.
    fn start_and_connect(&self, socket: &Path) -> anyhow::Result<Client>;
}

/// How to reach the daemon.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Start the daemon when nothing answers.
    pub autostart: bool,
    /// What turned autostart off, as the user would undo it.
    pub autostart_off_by: Option<&'static str>,
}

impl Policy {
    /// From `--no-autostart` and `CODEXD_NO_AUTOSTART`.
    pub fn new(no_autostart_flag: bool) -> Self {
        let env_off = std::env::var("CODEXD_NO_AUTOSTART").is_ok_and(|v| !v.is_empty() && v != "0");
        let autostart_off_by = match (no_autostart_flag, env_off) {
            (true, true) => Some("drop --no-autostart and unset CODEXD_NO_AUTOSTART"),
            (true, false) => Some("drop --no-autostart"),
            (false, true) => Some("unset CODEXD_NO_AUTOSTART"),
            (false, false) => None,
        };
        Self {
            autostart: autostart_off_by.is_none(),
            autostart_off_by,
        }
    }

    /// Always start the daemon when needed (`codexctl daemon start`).
    pub fn always_start() -> Self {
        Self {
            autostart: true,
            autostart_off_by: None,
        }
    }
}

/// Connect under `policy`; `service` starts the daemon when one is installed.
pub fn connect(policy: Policy, service: &dyn ServiceManager) -> anyhow::Result<Client> {
    let socket = codexd_proto::socket::socket_path();
    if let Attempt::Connected(c) = Client::try_connect(&socket)? {
        return Ok(c);
    }
    if !policy.autostart {
        return Err(Unreachable(format!(
            "codexd is not running (no answer on {}); start it with `codexctl daemon start`, or {} to let codexctl start it",
            socket.display(),
            policy.autostart_off_by.unwrap_or("allow autostart")
        ))
        .into());
    }
    if service.defers_autostart() {
        return service.start_and_connect(&socket);
    }
    crate::autostart::start_and_connect(&socket)
}
