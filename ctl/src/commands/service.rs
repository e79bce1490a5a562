//! `codexctl service install | uninstall | status`. (Foundation stub: filled in by the
//! service issue.)

use super::Ctx;
use crate::cli::ServiceCommand;

/// Run `service`.
pub fn run(_cmd: ServiceCommand, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("service installation is not implemented yet")
}

/// Whether an installed service manager owns starting the daemon (then codexctl does not).
pub fn defers_autostart() -> bool {
    false
}
