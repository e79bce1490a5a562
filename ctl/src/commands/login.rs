//! `codexctl login` and `codexctl logout`. (Foundation stub: filled in by the sign-in issue.)

use super::Ctx;
use crate::cli::{LoginArgs, LogoutArgs};

/// Run `login`.
pub fn login(_args: LoginArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("sign-in is not implemented yet")
}

/// Run `logout`.
pub fn logout(_args: LogoutArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("sign-out is not implemented yet")
}
