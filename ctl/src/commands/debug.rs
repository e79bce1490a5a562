//! `codexctl debug --panic ACTOR` (hidden): test hook for supervision tests.

use codexd_proto::Request;
use codexd_proto::message::DebugRequest;
use codexd_proto::status::ActorKind;

use super::Ctx;

/// Run `debug`.
pub fn run(args: crate::cli::DebugArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let kind = ActorKind::parse(&args.panic).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown actor {:?}; use auth, instructions, sessions or log",
            args.panic
        )
    })?;
    ctx.connect()?
        .call_simple(Request::Debug(DebugRequest::PanicActor(kind)))?;
    Ok(crate::exit::OK)
}
