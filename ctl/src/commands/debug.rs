//! `codexctl debug --panic ACTOR [--in-future]` (hidden): test hook for supervision tests.

use codexd_proto::Request;
use codexd_proto::message::DebugRequest;
use codexd_proto::status::ActorKind;

use super::Ctx;
use clap::Args;

/// `debug` (hidden)
#[derive(Args, Debug)]
pub struct DebugArgs {
    /// Make this actor panic: auth, instructions, sessions, log.
    #[arg(long)]
    pub panic: String,
    /// Panic inside the future an async handler returns, not in the handler itself.
    #[arg(long)]
    pub in_future: bool,
}

/// Run `debug`.
pub fn run(args: DebugArgs, ctx: &Ctx) -> anyhow::Result<u8> {
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
