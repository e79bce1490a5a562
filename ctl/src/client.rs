//! The synchronous client: find the socket, check its directory, connect (starting the daemon
//! when needed), shake hands, send one request at a time and read its events and reply.

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use codexd_proto::frame::{encode_request, read_message, write_message};
use codexd_proto::{
    ClientMessage, Event, Hello, HelloReply, PROTOCOL_VERSION, Reply, Request, ServerMessage,
};

use crate::exit::Unreachable;

/// Set once the user pressed Ctrl-C: a `Cancelled` error is then theirs, and any other one
/// (a sign-in ended by the browser or a newer login) must be shown with its reason.
static CTRL_C_PRESSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the user pressed Ctrl-C during this run.
pub fn ctrl_c_pressed() -> bool {
    CTRL_C_PRESSED.load(std::sync::atomic::Ordering::SeqCst)
}

/// A connection to the daemon after a successful handshake.
pub struct Client {
    reader: UnixStream,
    /// Shared with the Ctrl-C thread and input senders, so frames never interleave.
    writer: Arc<Mutex<UnixStream>>,
    /// The daemon's pid (from the handshake).
    pub daemon_pid: u32,
    /// The daemon's version.
    pub daemon_version: String,
    /// The socket path.
    pub socket: PathBuf,
}

/// Sends input lines (the pasted redirect URL) to the running request.
#[derive(Clone)]
pub struct InputSender(Arc<Mutex<UnixStream>>);

impl InputSender {
    /// Send one line.
    pub fn send(&self, line: String) -> anyhow::Result<()> {
        send_frame(&self.0, &ClientMessage::Input(line))
    }
}

/// A request over the one-frame limit, refused before anything was sent.
#[derive(Debug, thiserror::Error)]
#[error(
    "this request is {size} bytes, over codexd's {limit}-byte limit for one request; send less (trim the piped input or the prompt)"
)]
pub struct RequestTooLarge {
    /// The request's size.
    pub size: u64,
    /// The limit.
    pub limit: u64,
}

fn send_frame(writer: &Mutex<UnixStream>, msg: &ClientMessage) -> anyhow::Result<()> {
    let frame = encode_request(msg).map_err(|e| match e {
        codexd_proto::frame::FrameError::MessageTooLarge { size, limit } => {
            anyhow::Error::new(RequestTooLarge { size, limit })
        }
        e => e.into(),
    })?;
    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
    w.write_all(&frame)
        .context("the daemon closed the connection")?;
    Ok(())
}

/// Outcome of one connection attempt.
pub enum Attempt {
    /// Connected and shook hands.
    Connected(Client),
    /// No socket, or nobody listening on it.
    NoDaemon,
}

impl Client {
    /// One attempt: `NoDaemon` when nothing answers; an error for everything worse.
    pub fn try_connect(socket: &Path) -> anyhow::Result<Attempt> {
        match codexd_proto::socket::check_socket_dir(socket) {
            Ok(()) => {}
            Err(codexd_proto::socket::SocketDirError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(Attempt::NoDaemon);
            }
            Err(e) => return Err(Unreachable(e.to_string()).into()),
        }
        let stream = match connect_within(socket, CONNECT_TIMEOUT) {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Ok(Attempt::NoDaemon);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Unreachable(format!(
                    "codexd is busy: its connection queue on {} stayed full for {} seconds; try again shortly, or see `codexctl logs` (a runaway client may be holding connections)",
                    socket.display(),
                    CONNECT_TIMEOUT.as_secs()
                ))
                .into());
            }
            Err(e) => {
                return Err(
                    Unreachable(format!("cannot connect to {}: {e}", socket.display())).into(),
                );
            }
        };
        // Before a single byte goes out: is the answering process really us?
        check_peer(&stream, socket)?;
        let stream = UnixStream::from(std::os::fd::OwnedFd::from(stream));
        stream.set_nonblocking(false)?;
        Self::handshake(stream, socket).map(Attempt::Connected)
    }

    fn handshake(mut stream: UnixStream, socket: &Path) -> anyhow::Result<Client> {
        let unreachable =
            |what: String| Unreachable(format!("{what} (socket {})", socket.display()));
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write_message(
            &mut stream,
            &Hello {
                protocol: PROTOCOL_VERSION,
                client: format!("codexctl {}", codexd_proto::VERSION),
            },
        )
        .map_err(|e| {
            // A daemon over its cap may answer Busy and close before our Hello is through.
            if let Ok(Some(HelloReply::Busy {
                connections,
                limit,
                pid,
            })) = read_message(&mut stream)
            {
                return busy(connections, limit, pid);
            }
            unreachable(format!("the daemon did not accept the connection: {e}"))
        })?;
        let reply: HelloReply = read_message(&mut stream)
            .map_err(|e| unreachable(format!("the daemon's handshake failed: {e}")))?
            .ok_or_else(|| unreachable("the daemon closed the connection during the handshake; is it running as another user?".into()))?;
        stream.set_read_timeout(None)?;
        match reply {
            HelloReply::Welcome { pid, daemon_version, .. } => Ok(Client {
                writer: Arc::new(Mutex::new(stream.try_clone()?)),
                reader: stream,
                daemon_pid: pid,
                daemon_version,
                socket: socket.to_path_buf(),
            }),
            HelloReply::Busy { connections, limit, pid } => Err(busy(connections, limit, pid).into()),
            HelloReply::Mismatch { daemon_protocol, daemon_version, pid } => Err(Unreachable(format!(
                "codexctl {} speaks protocol {PROTOCOL_VERSION}, but the running codexd {daemon_version} (pid {pid}) speaks protocol {daemon_protocol}; restart the daemon with `codexctl daemon restart` so both come from the same install",
                codexd_proto::VERSION
            ))
            .into()),
        }
    }

    /// A handle for sending input lines to the running request.
    pub fn input_sender(&self) -> InputSender {
        InputSender(self.writer.clone())
    }

    /// On Ctrl-C, ask the daemon to cancel the running request (a second Ctrl-C exits at once).
    pub fn cancel_on_ctrl_c(&self) -> anyhow::Result<()> {
        let writer = self.writer.clone();
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])
            .context("cannot install the Ctrl-C handler")?;
        std::thread::spawn(move || {
            let mut presses = 0;
            for _ in signals.forever() {
                presses += 1;
                CTRL_C_PRESSED.store(true, std::sync::atomic::Ordering::SeqCst);
                crate::render::restore_terminal();
                if presses > 1 || send_frame(&writer, &ClientMessage::Cancel).is_err() {
                    std::process::exit(i32::from(crate::exit::CANCELLED));
                }
                // If the daemon does not confirm quickly, leave anyway.
                std::thread::spawn(|| {
                    std::thread::sleep(Duration::from_secs(2));
                    std::process::exit(i32::from(crate::exit::CANCELLED));
                });
            }
        });
        Ok(())
    }

    /// Send a request and read events (passed to `on_event`) until the reply. A daemon error
    /// comes back as an `anyhow::Error` holding the [`codexd_proto::WireError`].
    pub fn call(
        &mut self,
        request: Request,
        on_event: &mut dyn FnMut(Event) -> anyhow::Result<()>,
    ) -> anyhow::Result<Reply> {
        send_frame(&self.writer, &ClientMessage::Request(request)).map_err(|e| {
            if e.is::<RequestTooLarge>() {
                e
            } else {
                Unreachable(format!("lost the connection to codexd: {e:#}")).into()
            }
        })?;
        loop {
            let msg: ServerMessage = read_message(&mut self.reader)
                .map_err(|e| Unreachable(format!("lost the connection to codexd: {e}")))?
                .ok_or_else(|| {
                    Unreachable(
                        "codexd closed the connection before answering; see `codexctl logs`".into(),
                    )
                })?;
            match msg {
                ServerMessage::Event(ev) => on_event(ev)?,
                ServerMessage::Reply(reply) => return Ok(reply),
                ServerMessage::Error(err) => return Err(err.into()),
            }
        }
    }

    /// A request without events.
    pub fn call_simple(&mut self, request: Request) -> anyhow::Result<Reply> {
        self.call(request, &mut |_| Ok(()))
    }
}

/// The daemon is at its connection cap.
fn busy(connections: u32, limit: u32, pid: u32) -> Unreachable {
    Unreachable(format!(
        "codexd is busy: {connections} connections are open (limit {limit}, pid {pid}); try again shortly, or see `codexctl logs` if this persists"
    ))
}

/// A freshly connected stream (interprocess's, for its portable peer-credentials call).
type PeerStream = interprocess::os::unix::uds_local_socket::Stream;

/// How long a connect may wait for room in the daemon's queue before we call it busy.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connect without ever blocking for good: a full listen backlog makes a blocking connect
/// hang forever, and a non-blocking one fail at once with `WouldBlock`; retry that until
/// `limit` has passed.
fn connect_within(socket: &Path, limit: Duration) -> std::io::Result<PeerStream> {
    use interprocess::local_socket::{ConnectOptions, GenericFilePath, ToFsName as _};
    let deadline = std::time::Instant::now() + limit;
    loop {
        let name = socket.to_fs_name::<GenericFilePath>()?;
        let attempt = ConnectOptions::new()
            .name(name)
            .wait_mode(interprocess::ConnectWaitMode::Timeout(limit))
            .connect_sync_as::<PeerStream>();
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Refuse to talk to a process of another user (it could have planted the socket).
fn check_peer(stream: &PeerStream, socket: &Path) -> anyhow::Result<()> {
    use interprocess::local_socket::traits::StreamCommon as _;
    let peer = stream
        .peer_creds()
        .map_err(|e| e.to_string())
        .and_then(|c| {
            c.euid()
                .ok_or_else(|| "no uid in the peer credentials".into())
        })
        .map_err(|e| {
            Unreachable(format!(
                "cannot tell who answers on {} ({e}); codexctl sent it nothing",
                socket.display()
            ))
        })?;
    codexd_proto::socket::check_peer_uid(socket, peer).map_err(|e| Unreachable(e.to_string()))?;
    Ok(())
}

/// An unexpected reply variant: a daemon/client mismatch or a bug.
pub fn unexpected(reply: Reply) -> anyhow::Error {
    anyhow::anyhow!(
        "codexd sent an unexpected reply ({reply:?}); make sure codexctl and codexd come from the same install"
    )
}
