//! `codexctl instructions` and `codexctl models`. (Foundation stub: filled in by the
//! instructions issue.)

use codexd_proto::instructions::InstructionSource;

use super::Ctx;
use crate::cli::{InstructionsArgs, ModelsArgs};

/// Run `instructions`.
pub fn run(_args: InstructionsArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("instructions are not implemented yet")
}

/// Run `models`.
pub fn models(_args: ModelsArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("models are not implemented yet")
}

/// One phrase for where instructions come from.
pub fn source_text(source: &InstructionSource, tag: Option<&str>) -> String {
    match source {
        InstructionSource::Override { path } => format!("your override {path}"),
        InstructionSource::Catalog => "model catalog".into(),
        InstructionSource::GitHub => format!("GitHub {}", tag.unwrap_or("?")),
        InstructionSource::Stale => format!("GitHub {}, stale", tag.unwrap_or("?")),
        InstructionSource::Fallback => "codexd fallback".into(),
    }
}
