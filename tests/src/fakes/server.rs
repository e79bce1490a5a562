//! The HTTP plumbing every fake shares: bind `127.0.0.1`, serve an axum [`Router`] on a
//! spawned tokio task, and stop or restart it on the same port.
//!
//! Stopping must make the server really unreachable, including for a client that still holds
//! a pooled keep-alive connection: the listener is dropped (new connections are refused) and
//! every accepted connection is killed through [`KillableStream`] (its next read or write fails,
//! and idle connections are woken up to notice). A never-ending SSE stream is ended the same way.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::lock;

/// One running (or stopped) HTTP server of a fake.
pub struct Server {
    /// Where the server listens; kept across stop/restart so URLs stay valid.
    addr: SocketAddr,
    /// The runtime the server task runs on, so `restart` works from any thread.
    handle: Handle,
    /// The app; cloned into each new life of the server.
    router: Router,
    /// `Some` while serving.
    life: Mutex<Option<Life>>,
}

/// A serving period between `start`/`restart` and `stop`.
struct Life {
    /// The `axum::serve` task (owns the listener).
    task: JoinHandle<()>,
    /// Flipping this to `true` kills every connection accepted during this life.
    kill: watch::Sender<bool>,
}

impl Server {
    /// Binds `127.0.0.1:port` (0 = any free port) without serving yet, so the caller can
    /// build its router knowing its own URL.
    pub(crate) fn bind(port: u16) -> io::Result<StdTcpListener> {
        StdTcpListener::bind((Ipv4Addr::LOCALHOST, port))
    }

    /// Starts serving `router` on `listener` on the current tokio runtime.
    ///
    /// Must be called from within a tokio runtime (errors otherwise).
    pub(crate) fn serve(listener: StdTcpListener, router: Router) -> io::Result<Server> {
        let handle = Handle::try_current().map_err(|_| {
            io::Error::other("the fakes must be started from within a tokio runtime")
        })?;
        let addr = listener.local_addr()?;
        let life = spawn_life(&handle, listener, router.clone())?;
        Ok(Server {
            addr,
            handle,
            router,
            life: Mutex::new(Some(life)),
        })
    }

    /// Base URL, no trailing slash.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Whether the server is currently accepting connections.
    pub(crate) fn is_running(&self) -> bool {
        lock(&self.life).is_some()
    }

    /// Stops listening and kills every open connection. Idempotent.
    pub(crate) fn stop(&self) {
        if let Some(life) = lock(&self.life).take() {
            life.task.abort();
            // Receivers also see a closed channel when the sender drops; send for clarity.
            let _ = life.kill.send(true);
        }
    }

    /// Listens again on the same port after [`Server::stop`]. Idempotent.
    pub(crate) fn restart(&self) -> io::Result<()> {
        let mut life = lock(&self.life);
        if life.is_some() {
            return Ok(());
        }
        let listener = StdTcpListener::bind(self.addr)?;
        *life = Some(spawn_life(&self.handle, listener, self.router.clone())?);
        Ok(())
    }
}

/// Switching a fake off and on again, written once for every fake over its `Server`: tests
/// use it to make the issuer, the backend or GitHub unreachable and reachable again.
pub trait FakeServer {
    /// The fake's HTTP server.
    fn server(&self) -> &Server;

    /// Stops listening and kills open connections (including hanging streams): the fake
    /// becomes unreachable (connection refused). Idempotent.
    fn stop(&self) {
        self.server().stop();
    }

    /// Listens again on the same port after [`FakeServer::stop`]. Idempotent.
    fn restart(&self) -> io::Result<()> {
        self.server().restart()
    }

    /// Whether the fake is listening.
    fn is_running(&self) -> bool {
        self.server().is_running()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_life(handle: &Handle, listener: StdTcpListener, router: Router) -> io::Result<Life> {
    listener.set_nonblocking(true)?;
    let _guard = handle.enter();
    let listener = TcpListener::from_std(listener)?;
    let (kill, kill_rx) = watch::channel(false);
    let listener = KillableListener {
        inner: listener,
        kill: kill_rx,
    };
    let task = handle.spawn(async move {
        // `serve` only returns on a fatal listener error; nothing useful to do with it here.
        let _ = axum::serve(listener, router).await;
    });
    Ok(Life { task, kill })
}

/// A listener whose accepted connections can all be killed at once.
struct KillableListener {
    inner: TcpListener,
    kill: watch::Receiver<bool>,
}

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((io, addr)) => {
                    // Small SSE chunks should leave at once.
                    let _ = io.set_nodelay(true);
                    let mut kill = self.kill.clone();
                    let killed = Box::pin(async move {
                        // Err = sender gone = the life ended: also a kill.
                        let _ = kill.wait_for(|k| *k).await;
                    });
                    return (
                        KillableStream {
                            io,
                            killed,
                            dead: false,
                        },
                        addr,
                    );
                }
                // EMFILE and friends: back off briefly, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A TCP stream that fails every read and write once its server was stopped.
struct KillableStream {
    io: TcpStream,
    /// Completes when the server is stopped; polled on every read/write so idle
    /// connections are woken up too.
    killed: Pin<Box<dyn Future<Output = ()> + Send>>,
    dead: bool,
}

impl KillableStream {
    fn is_dead(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.dead && self.killed.as_mut().poll(cx).is_ready() {
            self.dead = true;
        }
        self.dead
    }
}

fn killed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "fake server stopped")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
