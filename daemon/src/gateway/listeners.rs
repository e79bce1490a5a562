//! Where the gateway listens: `gateway.sock` next to the control socket (0600, peer uid
//! checked on every accept, no key) and, when turned on, loopback TCP on `127.0.0.1` and
//! `[::1]` (key required). Never any other address: there is deliberately no option for one.
//!
//! Under systemd both may be socket-activated: the descriptors arrive named
//! (`FileDescriptorName=gateway` / `gateway-tcp`) next to the control socket and are taken
//! by [`take_activated_fds`] first thing in `main`. An adopted TCP socket cannot be closed
//! by `codexctl gateway off`; the guard then refuses its requests instead.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::guard::Door;

/// Most gateway connections open at once over all listeners; more are closed on accept, so
/// no one (another user on TCP included) can exhaust the daemon's file descriptors.
pub const MAX_CONNECTIONS: usize = 1024;

static PERMITS: OnceLock<Arc<tokio::sync::Semaphore>> = OnceLock::new();

fn permits() -> Arc<tokio::sync::Semaphore> {
    PERMITS
        .get_or_init(|| Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)))
        .clone()
}

/// A connection holding one of the [`MAX_CONNECTIONS`] permits until it closes.
pub struct Permitted<T> {
    inner: T,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Permitted<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Permitted<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A listener whose connections each take a permit; at the cap, new ones are closed.
pub struct Capped<L> {
    inner: L,
}

impl<L: axum::serve::Listener> axum::serve::Listener for Capped<L>
where
    L::Io: Unpin,
{
    type Io = Permitted<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = self.inner.accept().await;
            match permits().try_acquire_owned() {
                Ok(permit) => {
                    return (
                        Permitted {
                            inner: io,
                            _permit: permit,
                        },
                        addr,
                    );
                }
                Err(_) => {
                    tracing::warn!(
                        max = MAX_CONNECTIONS,
                        "gateway: too many open connections; closing a new one"
                    );
                    drop(io);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// What is listening now (for status and on/off).
#[derive(Default)]
pub struct Listening {
    /// The Unix socket path, when served.
    pub unix: Option<PathBuf>,
    /// TCP turned on.
    pub tcp_enabled: bool,
    /// TCP addresses served.
    pub tcp_addrs: Vec<SocketAddr>,
    /// Listeners came from the service manager.
    pub activated: bool,
    /// Why TCP is not listening although on.
    pub tcp_error: Option<String>,
    tcp_stop: Option<CancellationToken>,
    tcp_activated: bool,
    state_file: Option<PathBuf>,
    shutdown: Option<CancellationToken>,
}

/// Gateway sockets passed by systemd.
#[derive(Default)]
pub struct ActivatedFds {
    /// `gateway.sock`.
    pub unix: Option<OwnedFd>,
    /// Loopback TCP sockets.
    pub tcp: Vec<OwnedFd>,
}

static ACTIVATED: OnceLock<Mutex<Option<ActivatedFds>>> = OnceLock::new();

/// Take every socket systemd passed. A descriptor named `gateway` or `gateway-tcp`
/// (`FileDescriptorName=`) is the gateway's; so is an unnamed one whose address says so (a
/// Unix socket called `gateway.sock`, or any TCP socket — `codexd.socket` carries both the
/// control and the gateway socket, and one unit names all its descriptors alike). The first
/// other one is the control socket, returned. Call first thing in `main`, while
/// single-threaded (it unsets `LISTEN_*`).
pub fn take_activated_fds() -> Option<OwnedFd> {
    let fds = sd_notify::listen_fds_with_names(true).ok()?;
    let mut control = None;
    let mut gw = ActivatedFds::default();
    for (fd, name) in fds {
        let fd: RawFd = fd;
        // SAFETY: systemd passed this descriptor to this process (LISTEN_PID matched) and
        // nothing else in the process has taken ownership of it.
        #[allow(unsafe_code)]
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let kind = match name.as_str() {
            "gateway" => Kind::Unix,
            "gateway-tcp" => Kind::Tcp,
            _ => classify(&owned),
        };
        match kind {
            Kind::Unix => gw.unix = Some(owned),
            Kind::Tcp => gw.tcp.push(owned),
            Kind::Control if control.is_none() => control = Some(owned),
            Kind::Control => {}
        }
    }
    let _ = ACTIVATED.set(Mutex::new(Some(gw)));
    control
}

enum Kind {
    Control,
    Unix,
    Tcp,
}

/// What a passed socket is, from its own address.
fn classify(fd: &OwnedFd) -> Kind {
    let Ok(dup) = fd.try_clone() else {
        return Kind::Control;
    };
    let unix = std::os::unix::net::UnixListener::from(dup);
    match unix.local_addr() {
        Ok(addr) => {
            if addr
                .as_pathname()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "gateway.sock")
            {
                Kind::Unix
            } else {
                Kind::Control
            }
        }
        // Not a Unix socket: an inet one, which only the gateway uses.
        Err(_) => Kind::Tcp,
    }
}

fn take_stashed() -> ActivatedFds {
    ACTIVATED
        .get()
        .and_then(|m| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        })
        .unwrap_or_default()
}

/// The gateway socket: `gateway.sock` in the control socket's directory.
pub fn unix_path(control_socket: &Path) -> PathBuf {
    control_socket
        .parent()
        .map_or_else(|| PathBuf::from("gateway.sock"), |d| d.join("gateway.sock"))
}

/// A Unix listener that drops connections from other users before any byte is read.
pub struct PeerChecked {
    inner: UnixListener,
    uid: u32,
}

impl axum::serve::Listener for PeerChecked {
    type Io = UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => match stream.peer_cred().map(|c| c.uid()) {
                    Ok(uid) if uid == self.uid => return (stream, addr),
                    Ok(uid) => {
                        tracing::warn!(
                            peer_uid = uid,
                            "gateway: refused a connection from another user"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "gateway: cannot read the peer's credentials; refusing the connection");
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "gateway: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another process serves {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serve the socket; `unlink` is the path to remove on shutdown (one we bound ourselves; an
/// adopted socket belongs to the service manager).
fn serve_unix(
    gw: &Arc<Gateway>,
    listener: UnixListener,
    shutdown: CancellationToken,
    unlink: Option<PathBuf>,
) {
    let app = super::router(gw.clone(), Door::Unix);
    let l = PeerChecked {
        inner: listener,
        uid: codexd_proto::socket::current_uid(),
    };
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(Capped { inner: l }, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    if let Some(path) = unlink {
        tokio::spawn(async move {
            stop.cancelled().await;
            let _ = std::fs::remove_file(&path);
        });
    }
}

fn serve_tcp(gw: &Arc<Gateway>, listener: TcpListener, port: u16, stop: CancellationToken) {
    let app = super::router(gw.clone(), Door::Tcp(port));
    tokio::spawn(async move {
        let _ = axum::serve(Capped { inner: listener }, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
}

fn tcp_state_on(state_file: &Path, default: bool) -> bool {
    match std::fs::read_to_string(state_file) {
        Ok(s) => s.trim() == "on",
        Err(_) => default,
    }
}

/// Start the listeners. `state_file` remembers `codexctl gateway on|off`.
pub async fn start(
    gw: &Arc<Gateway>,
    control_socket: &Path,
    state_file: PathBuf,
    shutdown: CancellationToken,
) {
    let fds = take_stashed();
    let activated = fds.unix.is_some() || !fds.tcp.is_empty();
    let tcp_on = tcp_state_on(&state_file, gw.config().tcp);
    {
        let mut l = gw.listening_lock();
        l.activated = activated;
        l.state_file = Some(state_file);
        l.shutdown = Some(shutdown.clone());
        l.tcp_enabled = tcp_on;
    }
    if gw.config().unix_socket || fds.unix.is_some() {
        let path = unix_path(control_socket);
        let adopted = fds.unix.is_some();
        let listener = match fds.unix {
            Some(fd) => {
                let std_l = std::os::unix::net::UnixListener::from(fd);
                std_l
                    .set_nonblocking(true)
                    .and_then(|()| UnixListener::from_std(std_l))
            }
            None => bind_unix(&path),
        };
        match listener {
            Ok(listener) => {
                tracing::info!(socket = %path.display(), "gateway listening on its Unix socket");
                gw.listening_lock().unix = Some(path.clone());
                serve_unix(gw, listener, shutdown.clone(), (!adopted).then_some(path));
            }
            Err(e) => {
                tracing::warn!(socket = %path.display(), error = %e, "gateway: cannot listen on its Unix socket")
            }
        }
    }
    if !fds.tcp.is_empty() {
        let stop = shutdown.child_token();
        let mut addrs = Vec::new();
        for fd in fds.tcp {
            let std_l = std::net::TcpListener::from(fd);
            let Ok(addr) = std_l.local_addr() else {
                continue;
            };
            if !addr.ip().is_loopback() {
                tracing::error!(%addr, "gateway: refusing a passed-in TCP socket that is not on loopback");
                continue;
            }
            match std_l
                .set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(std_l))
            {
                Ok(l) => {
                    addrs.push(addr);
                    serve_tcp(gw, l, addr.port(), stop.clone());
                }
                Err(e) => tracing::warn!(error = %e, "gateway: cannot adopt a TCP socket"),
            }
        }
        let mut l = gw.listening_lock();
        l.tcp_addrs = addrs;
        l.tcp_activated = true;
        l.tcp_stop = Some(stop);
    } else if tcp_on {
        bind_tcp(gw).await;
    }
}

async fn bind_tcp(gw: &Arc<Gateway>) {
    let port = gw.config().port;
    let shutdown = gw.listening_lock().shutdown.clone().unwrap_or_default();
    let stop = shutdown.child_token();
    let mut addrs = Vec::new();
    let mut errors = Vec::new();
    for ip in [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        let addr = SocketAddr::new(ip, port);
        match TcpListener::bind(addr).await {
            Ok(l) => {
                addrs.push(addr);
                serve_tcp(gw, l, port, stop.clone());
            }
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    let mut l = gw.listening_lock();
    if addrs.is_empty() {
        let msg = format!(
            "cannot listen on loopback port {port} ({}); choose another `port` in the [gateway] section",
            errors.join("; ")
        );
        tracing::warn!("gateway: {msg}");
        l.tcp_error = Some(msg);
    } else {
        tracing::info!(?addrs, "gateway listening on loopback TCP");
        if !errors.is_empty() {
            tracing::info!(errors = %errors.join("; "), "gateway: some loopback addresses are unavailable");
        }
        l.tcp_error = None;
    }
    l.tcp_addrs = addrs;
    l.tcp_stop = Some(stop);
}

/// `codexctl gateway on|off`: remember the choice and start or stop TCP now.
pub async fn set_tcp(gw: &Arc<Gateway>, on: bool) -> Result<(), String> {
    let (state_file, running, activated) = {
        let l = gw.listening_lock();
        (
            l.state_file.clone(),
            !l.tcp_addrs.is_empty(),
            l.tcp_activated,
        )
    };
    if let Some(f) = &state_file {
        crate::fsutil::write_atomic(f, if on { b"on\n" } else { b"off\n" }, 0o600).map_err(
            |e| {
                format!(
                    "cannot remember the gateway setting in {}: {e}",
                    f.display()
                )
            },
        )?;
    }
    gw.listening_lock().tcp_enabled = on;
    if activated {
        return Ok(());
    }
    if on && !running {
        bind_tcp(gw).await;
    } else if !on && running {
        let mut l = gw.listening_lock();
        if let Some(stop) = l.tcp_stop.take() {
            stop.cancel();
        }
        l.tcp_addrs.clear();
        l.tcp_error = None;
    }
    Ok(())
}

impl Gateway {
    pub(crate) fn listening_lock(&self) -> std::sync::MutexGuard<'_, Listening> {
        self.listening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether TCP requests are accepted now.
    pub fn tcp_enabled(&self) -> bool {
        self.listening_lock().tcp_enabled
    }
}
