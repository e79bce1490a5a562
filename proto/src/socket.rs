//! Where the socket lives, and the safety rules for its directory, shared by daemon and client.
//!
//! Order: `$CODEXD_SOCKET`, else `$XDG_RUNTIME_DIR/codexd/codexd.sock`, else
//! `<temp dir>/codexd-<uid>/codexd.sock` (macOS has no `XDG_RUNTIME_DIR`). The directory that
//! holds the socket must belong to the user and grant nothing to group or others (like tmux);
//! the Linux abstract namespace is never used, since any local user could connect to it.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variable that overrides the socket path.
pub const SOCKET_ENV: &str = "CODEXD_SOCKET";

/// Why the socket directory is not safe to use.
#[derive(Debug, thiserror::Error)]
pub enum SocketDirError {
    /// The socket path has no parent directory.
    #[error(
        "socket path {0} has no parent directory; set CODEXD_SOCKET to a path inside a directory"
    )]
    NoParent(PathBuf),
    /// The directory belongs to someone else.
    #[error(
        "socket directory {path} belongs to uid {owner}, not to you (uid {uid}); remove it or set CODEXD_SOCKET to a path in a directory of your own"
    )]
    WrongOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our uid.
        uid: u32,
    },
    /// The directory grants access to group or others.
    #[error(
        "socket directory {path} has mode {mode:o}, which lets other users in; run `chmod 700 {path}` or pick another CODEXD_SOCKET"
    )]
    TooOpen {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The path exists but is not a directory.
    #[error("{0} is not a directory; remove it or set CODEXD_SOCKET elsewhere")]
    NotADirectory(PathBuf),
    /// Creating or inspecting the directory failed.
    #[error("cannot use socket directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The current user's uid.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::getuid()
    }
}

/// Resolve the socket path from the environment.
pub fn socket_path() -> PathBuf {
    socket_path_from(
        std::env::var_os(SOCKET_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        current_uid(),
    )
}

/// Resolve the socket path from explicit inputs (testable without touching the environment).
pub fn socket_path_from(
    explicit: Option<PathBuf>,
    runtime_dir: Option<PathBuf>,
    uid: u32,
) -> PathBuf {
    if let Some(p) = explicit {
        return p;
    }
    match runtime_dir {
        Some(dir) => dir.join("codexd").join("codexd.sock"),
        None => std::env::temp_dir()
            .join(format!("codexd-{uid}"))
            .join("codexd.sock"),
    }
}

/// The directory the socket lives in.
pub fn socket_dir(socket: &Path) -> Result<&Path, SocketDirError> {
    socket
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| SocketDirError::NoParent(socket.to_path_buf()))
}

/// Create the socket's directory (0700) if missing, then check it (daemon side).
pub fn prepare_socket_dir(socket: &Path) -> Result<(), SocketDirError> {
    let dir = socket_dir(socket)?;
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| SocketDirError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        // recursive(true) applies the umask; make the leaf exactly 0700.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
            SocketDirError::Io {
                path: dir.to_path_buf(),
                source,
            }
        })?;
    }
    check_socket_dir(socket)
}

/// Check that the socket's directory is ours and closed to others (both sides).
pub fn check_socket_dir(socket: &Path) -> Result<(), SocketDirError> {
    let dir = socket_dir(socket)?;
    let meta = fs::metadata(dir).map_err(|source| SocketDirError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(SocketDirError::NotADirectory(dir.to_path_buf()));
    }
    let uid = current_uid();
    if meta.uid() != uid {
        return Err(SocketDirError::WrongOwner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SocketDirError::TooOpen {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order() {
        let explicit = PathBuf::from("/x/y.sock");
        assert_eq!(
            socket_path_from(Some(explicit.clone()), Some("/run/user/1".into()), 1),
            explicit
        );
        assert_eq!(
            socket_path_from(None, Some("/run/user/1".into()), 1),
            PathBuf::from("/run/user/1/codexd/codexd.sock")
        );
        let fallback = socket_path_from(None, None, 42);
        assert!(fallback.ends_with("codexd-42/codexd.sock"));
    }

    #[test]
    fn creates_private_dir_and_refuses_open_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let sock = tmp.path().join("a/b/codexd.sock");
        prepare_socket_dir(&sock).unwrap();
        let mode = fs::metadata(tmp.path().join("a/b")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);

        fs::set_permissions(tmp.path().join("a/b"), fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            check_socket_dir(&sock),
            Err(SocketDirError::TooOpen { .. })
        ));
    }

    #[test]
    fn refuses_a_file_where_the_dir_should_be() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, "").unwrap();
        assert!(matches!(
            check_socket_dir(&file.join("s.sock")),
            Err(SocketDirError::NotADirectory(_))
        ));
    }
}
