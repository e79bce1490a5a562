//! Routing: each [`Request`] goes to the actor (or module) that owns it, and its domain
//! result becomes a [`Reply`] here — the only place that knows which actor answers what and
//! how an answer is put on the wire.

use std::sync::Arc;

use codexd_proto::message::DebugRequest;
use codexd_proto::status::ActorKind;
use codexd_proto::{ErrorCode, Reply, Request, WireError};

use crate::request::RequestCtx;
use crate::services::Services;
use crate::supervisor::PanicForTest;
use crate::{auth, instructions, log, session};

/// Answer one request.
pub async fn handle(
    request: Request,
    ctx: RequestCtx,
    svc: Arc<Services>,
) -> Result<Reply, WireError> {
    match request {
        Request::Ping => Ok(Reply::Pong),
        Request::Status => Ok(Reply::Status(Box::new(crate::status::gather(&svc).await))),
        Request::Shutdown => {
            tracing::info!("shutdown requested by a client");
            svc.shutdown.cancel();
            Ok(Reply::Done)
        }
        Request::Login(req) => svc
            .auth
            .send(auth::Login {
                method: req.method,
                ctx,
            })
            .await?
            .map(Reply::LoggedIn),
        Request::Logout { local_only } => svc
            .auth
            .send(auth::Logout { local_only })
            .await?
            .map(Reply::LoggedOut),
        Request::Ask(req) => svc
            .sessions
            .send(session::Ask { req, ctx })
            .await?
            .map(Reply::Answer),
        Request::Sessions(req) => svc
            .sessions
            .send(session::Sessions(req))
            .await?
            .map(|outcome| match outcome {
                session::SessionsOutcome::List(list) => Reply::Sessions(list),
                session::SessionsOutcome::Show(detail) => Reply::Session(detail),
                session::SessionsOutcome::Done => Reply::Done,
            }),
        Request::Instructions(req) => svc
            .instructions
            .send(instructions::Describe { req, wait: true })
            .await?
            .map(Reply::Instructions),
        Request::Models { refresh } => svc
            .instructions
            .send(instructions::GetModels { refresh })
            .await?
            .map(Reply::Models),
        Request::Logs(req) => svc
            .log
            .send(log::Logs { req, ctx })
            .await?
            .map(|()| Reply::Done),
        Request::SetRequestLogging { enabled } => {
            let (enabled, dir) = svc.log.send(log::SetRequestLogging(enabled)).await??;
            Ok(Reply::RequestLogging { enabled, dir })
        }
        Request::Data(req) => crate::data::handle(req, &svc).await.map(Reply::Data),
        Request::Gateway(req) => crate::gateway::control(&svc.gateway, req)
            .await
            .map(Reply::Gateway),
        Request::Debug(DebugRequest::Access { after_unauthorized }) => {
            if !svc.test_hooks {
                return Err(WireError::new(
                    ErrorCode::Disabled,
                    "test hooks are off (start the daemon with CODEXD_TEST_HOOKS=1)",
                ));
            }
            auth::debug_access(&svc.auth, after_unauthorized).await
        }
        Request::Debug(
            ref debug @ (DebugRequest::PanicActor(kind) | DebugRequest::PanicActorInFuture(kind)),
        ) => {
            let in_future = matches!(debug, DebugRequest::PanicActorInFuture(_));
            if !svc.test_hooks {
                return Err(WireError::new(
                    ErrorCode::Disabled,
                    "test hooks are off (start the daemon with CODEXD_TEST_HOOKS=1)",
                ));
            }
            // The send fails because the actor dies while handling it; that is the point, and
            // the caller hears what the supervisor says happened.
            let msg = PanicForTest { in_future };
            match kind {
                ActorKind::Auth => svc.auth.send(msg).await,
                ActorKind::Instructions => svc.instructions.send(msg).await,
                ActorKind::Sessions => svc.sessions.send(msg).await,
                ActorKind::Log => svc.log.send(msg).await,
            }
            .map(|()| Reply::Done)
        }
    }
}
