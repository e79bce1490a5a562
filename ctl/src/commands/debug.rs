//! `codexctl debug --panic ACTOR [--in-future]` (hidden): test hook for supervision tests.

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
    let request = if args.in_future {
        DebugRequest::PanicActorInFuture(kind)
    } else {
        DebugRequest::PanicActor(kind)
    };
    ctx.connect()?.call_simple(Request::Debug(request))?;
    Ok(crate::exit::OK)
}
