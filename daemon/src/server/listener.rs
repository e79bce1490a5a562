//! Getting a listening socket: adopt the one systemd passed (`LISTEN_FDS`), or bind our own
//! after checking the directory and clearing a dead socket file left by a crash.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use codexd_proto::frame::{read_message, write_message};
use codexd_proto::{Hello, HelloReply, PROTOCOL_VERSION};
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use interprocess::os::unix::uds_local_socket::Listener as SyncListener;

/// Why the daemon cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another daemon answers on the socket.
    #[error(
        "codexd is already running (pid {pid}) on {path}; use `codexctl daemon stop` to stop it"
    )]
    AlreadyRunning {
        /// Its pid.
        pid: u32,
        /// The socket.
        path: PathBuf,
    },
    /// Something that is not a socket sits at the socket path.
    #[error("{0} exists and is not a socket; remove it or set CODEXD_SOCKET to another path")]
    NotASocket(PathBuf),
    /// The directory is unsafe.
    #[error(transparent)]
    Dir(#[from] codexd_proto::socket::SocketDirError),
    /// Binding failed.
    #[error("cannot listen on {path}: {source}")]
    Bind {
        /// The socket.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// A listener ready to be turned into a tokio one inside the runtime.
pub struct Bound {
    /// The listener (non-blocking).
    pub listener: SyncListener,
    /// Passed in by the service manager: never unlink its path.
    pub activated: bool,
}

/// Adopt `activated`, or bind `path` (checking its directory and clearing a stale socket).
pub fn listen(path: &Path, activated: Option<OwnedFd>) -> Result<Bound, ListenError> {
    if let Some(fd) = activated {
        let listener = SyncListener::from(fd);
        listener
            .inner()
            .set_nonblocking(true)
            .map_err(|source| ListenError::Bind {
                path: path.to_path_buf(),
                source,
            })?;
        return Ok(Bound {
            listener,
            activated: true,
        });
    }
    codexd_proto::socket::prepare_socket_dir(path)?;
    clear_stale(path)?;
    let bind_err = |source| ListenError::Bind {
        path: path.to_path_buf(),
        source,
    };
    let name = path.to_fs_name::<GenericFilePath>().map_err(bind_err)?;
    let listener: SyncListener = ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .nonblocking(interprocess::local_socket::ListenerNonblockingMode::Both)
        .create_sync_as()
        .map_err(bind_err)?;
    Ok(Bound {
        listener,
        activated: false,
    })
}

/// A socket file from a crash: probe it. Answered → already running; refused → unlink.
fn clear_stale(path: &Path) -> Result<(), ListenError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ListenError::Bind {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ListenError::NotASocket(path.to_path_buf()));
    }
    if let Some(pid) = probe(path) {
        return Err(ListenError::AlreadyRunning {
            pid,
            path: path.to_path_buf(),
        });
    }
    tracing::info!(path = %path.display(), "removing a dead socket file left by an earlier daemon");
    std::fs::remove_file(path).map_err(|source| ListenError::Bind {
        path: path.to_path_buf(),
        source,
    })
}

/// If a daemon answers on `path`, its pid.
pub fn probe(path: &Path) -> Option<u32> {
    let mut stream = UnixStream::connect(path).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write_message(
        &mut stream,
        &Hello {
            protocol: PROTOCOL_VERSION,
            client: "codexd-probe".into(),
        },
    )
    .ok()?;
    match read_message::<_, HelloReply>(&mut stream).ok()?? {
        HelloReply::Welcome { pid, .. }
        | HelloReply::Mismatch { pid, .. }
        | HelloReply::Busy { pid, .. } => Some(pid),
    }
}
