//! `codexctl sessions`. (Foundation stub: filled in by the conversations issue.)

use super::Ctx;
use crate::cli::SessionsCommand;

/// Run `sessions`.
pub fn run(_cmd: SessionsCommand, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("sessions are not implemented yet")
}
