//! `codexctl shell-init SHELL` and the hidden `suggest` the widgets call. (Foundation stub:
//! filled in by the shell issue.)

use super::Ctx;
use crate::cli::{ShellInitArgs, SuggestArgs};

/// Run `shell-init`.
pub fn init(_args: ShellInitArgs) -> anyhow::Result<u8> {
    anyhow::bail!("shell integration is not implemented yet")
}

/// Run `suggest`.
pub fn suggest(_args: SuggestArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("suggest is not implemented yet")
}
