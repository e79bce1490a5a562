//! `codexctl ask`. (Foundation stub: filled in by the conversations issue.)

use super::Ctx;
use crate::cli::AskArgs;

/// Run `ask`.
pub fn run(_args: AskArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("ask is not implemented yet")
}
