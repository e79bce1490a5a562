//! Supervision: an actor that panics or stops is started again, with its state reloaded.
//!
//! actix's own `Supervisor` restarts only after `ctx.stop()`; a panic in a handler just drops
//! the actor's task and closes its mailbox. So every supervised actor gets a guard future in
//! its context: when the context is dropped — by a panic's unwinding or a normal stop — the
//! guard's `Drop` tells the supervisor, which builds a fresh actor from its factory (the
//! factory reloads state from disk) on the system arbiter. Callers go through
//! [`Supervised::send`], which waits for a restart in progress instead of failing.
//!
//! Handlers that wait on something return `ResponseActFuture`: their futures run inside the
//! actor's context, so a panic there ends the actor and restarts it like a panic in the
//! handler itself (a detached `ResponseFuture` would die alone and leave the actor running).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use codexd_proto::status::{ActorKind, ActorStatus};
use codexd_proto::{ErrorCode, WireError};
use tokio::sync::watch;

/// How long a caller waits for a crashed actor to come back.
const RESTART_WAIT: Duration = Duration::from_secs(5);

/// A handle to a supervised actor. Cheap to clone.
pub struct Supervised<A: Actor<Context = Context<A>>> {
    inner: Arc<Inner<A>>,
}

impl<A: Actor<Context = Context<A>>> Clone for Supervised<A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<A: Actor<Context = Context<A>>> {
    kind: ActorKind,
    /// Builds a fresh actor; state is loaded from disk by the actor itself.
    factory: Box<dyn Fn() -> A + Send + Sync>,
    /// Current address, tagged with its generation (`None` only before the first start).
    addr: watch::Sender<(u64, Option<Addr<A>>)>,
    restarts: AtomicU32,
    /// Set during daemon shutdown so stopping actors are not restarted.
    stopping: AtomicBool,
    arbiter: ArbiterHandle,
    /// Serialises restarts.
    restart_lock: Mutex<()>,
}

/// Dropped together with the actor's context; reports the death.
struct DeathGuard<A: Actor<Context = Context<A>>> {
    inner: std::sync::Weak<Inner<A>>,
    generation: u64,
}

impl<A: Actor<Context = Context<A>>> Drop for DeathGuard<A> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        let generation = self.generation;
        // Restart from a fresh task: we may be inside a panic's unwinding right now.
        let arbiter = inner.arbiter.clone();
        arbiter.spawn(async move { Inner::restart(&inner, generation) });
    }
}

impl<A: Actor<Context = Context<A>>> Inner<A> {
    fn start_actor(self: &Arc<Self>, generation: u64) -> Addr<A> {
        let me = self.clone();
        A::start_in_arbiter(&self.arbiter, move |ctx: &mut Context<A>| {
            let guard = DeathGuard {
                inner: Arc::downgrade(&me),
                generation,
            };
            ctx.spawn(actix::fut::wrap_future(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            }));
            (me.factory)()
        })
    }

    fn restart(self: &Arc<Self>, dead_generation: u64) {
        let _serial = self.restart_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.stopping.load(Ordering::SeqCst) || self.addr.borrow().0 != dead_generation {
            return;
        }
        let restarts = self.restarts.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::warn!(
            actor = self.kind.name(),
            restarts,
            "actor stopped unexpectedly; restarting it with state reloaded from disk"
        );
        let generation = dead_generation + 1;
        let addr = self.start_actor(generation);
        self.addr.send_replace((generation, Some(addr)));
    }
}

impl<A: Actor<Context = Context<A>>> Supervised<A> {
    /// Start an actor under supervision. Must be called inside the actix system.
    pub fn start(kind: ActorKind, factory: impl Fn() -> A + Send + Sync + 'static) -> Self {
        let arbiter = Arbiter::current();
        let inner = Arc::new(Inner {
            kind,
            factory: Box::new(factory),
            addr: watch::channel((0, None)).0,
            restarts: AtomicU32::new(0),
            stopping: AtomicBool::new(false),
            arbiter,
            restart_lock: Mutex::new(()),
        });
        let addr = inner.start_actor(1);
        inner.addr.send_replace((1, Some(addr)));
        Self { inner }
    }

    /// Send a message, waiting through a restart in progress. The message is sent once: if the
    /// actor dies while handling it, the caller gets an `Internal` error saying to retry.
    pub async fn send<M>(&self, msg: M) -> Result<M::Result, WireError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let (generation, addr) = self.live_addr().await?;
        let name = self.inner.kind.name();
        match addr.send(msg).await {
            Ok(r) => Ok(r),
            // Say what really happened: the actor died (and is being restarted), or it lives
            // on and only this request was dropped. The death is reported by the guard a
            // moment after the caller's answer channel closes, so wait for it briefly.
            Err(_) if self.restarted_since(generation).await => Err(WireError::new(
                ErrorCode::Internal,
                format!(
                    "the {name} component failed while handling this request and was restarted; please try again"
                ),
            )),
            Err(_) => {
                tracing::error!(actor = name, "a request was dropped without an answer");
                Err(WireError::new(
                    ErrorCode::Internal,
                    format!(
                        "the {name} component dropped this request without an answer (see `codexctl logs`); please try again"
                    ),
                ))
            }
        }
    }

    /// Whether the actor of `generation` died and was replaced (waiting up to a second).
    async fn restarted_since(&self, generation: u64) -> bool {
        let mut rx = self.inner.addr.subscribe();
        tokio::time::timeout(
            Duration::from_secs(1),
            rx.wait_for(|(g, _)| *g != generation),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    /// Wait (bounded) until the current address is connected.
    async fn live_addr(&self) -> Result<(u64, Addr<A>), WireError> {
        let mut rx = self.inner.addr.subscribe();
        let wait = async {
            loop {
                let (generation, addr) = rx.borrow_and_update().clone();
                if let Some(addr) = addr.filter(|a| a.connected()) {
                    return Some((generation, addr));
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        match tokio::time::timeout(RESTART_WAIT, wait).await {
            Ok(Some(found)) => Ok(found),
            _ => Err(WireError::new(
                ErrorCode::Internal,
                format!(
                    "the {} component is not running; see `codexctl logs` and restart the daemon",
                    self.inner.kind.name()
                ),
            )),
        }
    }

    /// This actor's line in `codexctl status`.
    pub fn status(&self) -> ActorStatus {
        let running = self
            .inner
            .addr
            .borrow()
            .1
            .as_ref()
            .is_some_and(|a| a.connected());
        ActorStatus {
            kind: self.inner.kind,
            state: if running { "running" } else { "restarting" }.into(),
            restarts: self.inner.restarts.load(Ordering::SeqCst),
        }
    }

    /// Turn restarts off: the daemon is shutting down and its actors stop for good.
    pub fn disable_restarts(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
    }
}

/// Test hook: the receiving actor panics inside its handler, or inside the future its
/// handler returns (only sent when the daemon runs with `CODEXD_TEST_HOOKS=1`). Every
/// supervised actor handles it with [`panic_for_test`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct PanicForTest {
    /// Panic after the handler returned, in its future (an async handler's body).
    pub in_future: bool,
}

/// The body of every actor's `PanicForTest` handler.
pub fn panic_for_test<A: Actor<Context = Context<A>>>(
    kind: ActorKind,
    msg: PanicForTest,
) -> ResponseActFuture<A, ()> {
    if !msg.in_future {
        panic!("test hook: {} actor panicking on purpose", kind.name());
    }
    Box::pin(actix::fut::wrap_future(async move {
        tokio::task::yield_now().await;
        panic!(
            "test hook: {} actor panicking on purpose in an async handler",
            kind.name()
        );
    }))
}
