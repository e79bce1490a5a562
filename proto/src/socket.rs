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
    /// The directory is a symbolic link. Links are never followed: another user could point
    /// one at a directory of theirs (or flip it between two) and catch our connections.
    #[error(
        "socket directory {0} is a symbolic link, which codexd never follows (another user may have planted it); remove it, or set CODEXD_SOCKET or XDG_RUNTIME_DIR to a directory of your own"
    )]
    Symlink(PathBuf),
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
    // lstat, not stat: a dangling symlink must not count as "missing" (and be created through).
    if fs::symlink_metadata(dir).is_err() {
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

/// Check that the socket's directory is ours and closed to others (both sides). The directory
/// itself is inspected with `lstat`, never through a symbolic link; whoever answers on the
/// socket is then checked by its peer credentials (the client's [`check_peer_uid`]), since a
/// path check alone cannot rule out a race.
pub fn check_socket_dir(socket: &Path) -> Result<(), SocketDirError> {
    let dir = socket_dir(socket)?;
    let meta = fs::symlink_metadata(dir).map_err(|source| SocketDirError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(SocketDirError::Symlink(dir.to_path_buf()));
    }
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

/// The process on the other end of a connection is not us.
#[derive(Debug, thiserror::Error)]
#[error(
    "the process answering on {socket} runs as uid {peer}, not as you (uid {uid}); codexctl sent it nothing. Someone may be impersonating codexd: check {socket} and its directory, or set CODEXD_SOCKET to a path in a directory of your own"
)]
pub struct ForeignPeer {
    /// The socket path.
    pub socket: PathBuf,
    /// The peer's effective uid.
    pub peer: u32,
    /// Our uid.
    pub uid: u32,
}

/// Check a connected peer's effective uid (from `SO_PEERCRED` / `getpeereid`) against ours.
pub fn check_peer_uid(socket: &Path, peer: u32) -> Result<(), ForeignPeer> {
    let uid = current_uid();
    if peer == uid {
        Ok(())
    } else {
        Err(ForeignPeer {
            socket: socket.to_path_buf(),
            peer,
            uid,
        })
    }
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
    fn refuses_a_symlinked_dir_even_to_our_own_private_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("codexd-1");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let sock = link.join("codexd.sock");
        assert!(matches!(
            check_socket_dir(&sock),
            Err(SocketDirError::Symlink(_))
        ));
        assert!(matches!(
            prepare_socket_dir(&sock),
            Err(SocketDirError::Symlink(_))
        ));
        // A dangling link is not "missing": nothing is created through it.
        let dangling = tmp.path().join("dangling");
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
        assert!(matches!(
            prepare_socket_dir(&dangling.join("codexd.sock")),
            Err(SocketDirError::Symlink(_))
        ));
        assert!(!tmp.path().join("nowhere").exists());
    }

    #[test]
    fn peer_uid_must_be_ours() {
        assert!(check_peer_uid(Path::new("/s"), current_uid()).is_ok());
        let err = check_peer_uid(Path::new("/s"), current_uid() + 1).unwrap_err();
        assert!(err.to_string().contains("sent it nothing"));
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
