//! Process hardening at start-up: no core dumps (they would hold the refresh token), and as
//! many file descriptors as the hard limit allows, with the connection cap derived from them.
//!
//! Both run before any thread or socket exists, so every later descriptor and thread inherits
//! the settings.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept back from the connection cap: log files, the state lock, the listening
/// socket, outgoing HTTPS connections, session files, the runtime's own.
pub const RESERVED_FDS: u64 = 64;

/// Descriptors one served connection may use at once: the socket itself plus, while it asks,
/// one HTTPS connection to the backend and one history file.
pub const FDS_PER_CONNECTION: u64 = 3;

/// What [`harden`] did, for the start-up log line.
#[derive(Debug, Clone, Copy)]
pub struct Hardened {
    /// The process is no longer dumpable (Linux; always false elsewhere).
    pub non_dumpable: bool,
    /// The core-file limit is now 0.
    pub no_core: bool,
    /// The open-file soft limit after raising it (`None`: unlimited).
    pub nofile: Option<u64>,
}

/// Forbid core dumps and ptrace by other same-user processes, and raise the open-file soft
/// limit to the hard limit. Failures are reported, never fatal: a daemon that cannot harden
/// itself still works, and the log says what is missing.
pub fn harden() -> Hardened {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let non_dumpable =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .is_ok();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let non_dumpable = false;
    let no_core = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .is_ok();
    let nofile = raise_nofile();
    Hardened {
        non_dumpable,
        no_core,
        nofile,
    }
}

/// Raise the open-file soft limit to the hard limit; returns the soft limit now in force.
fn raise_nofile() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        // macOS refuses values above OPEN_MAX for an "unlimited" hard limit: fall back to it.
        let raised = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )
        .or_else(|_| {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(10_240),
                    maximum: limit.maximum,
                },
            )
        });
        if raised.is_err() {
            return limit.current;
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The connection cap that fits `nofile` descriptors: the configured cap, lowered when the
/// descriptors left after [`RESERVED_FDS`] cannot serve that many connections at once.
pub fn connection_cap(configured: usize, nofile: Option<u64>) -> usize {
    let Some(nofile) = nofile else {
        return configured.max(1);
    };
    let fit = nofile.saturating_sub(RESERVED_FDS) / FDS_PER_CONNECTION;
    configured
        .min(usize::try_from(fit).unwrap_or(usize::MAX))
        .max(1)
}

/// Fit (connections, streams) into `nofile` descriptors: unchanged when both fit; else
/// streams get at most half of what fits and connections the rest.
pub fn connection_caps(connections: usize, streams: usize, nofile: Option<u64>) -> (usize, usize) {
    let fit = connection_cap(usize::MAX, nofile);
    if connections.saturating_add(streams) <= fit {
        return (connections.max(1), streams.max(1));
    }
    let streams = streams.min(fit / 2).max(1);
    (connections.min(fit.saturating_sub(streams)).max(1), streams)
}

/// True when `e` means the process ran out of file descriptors (EMFILE or ENFILE).
pub fn is_fd_shortage(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

/// A person's error for a descriptor shortage, or `None` when `e` is something else. Said
/// plainly, so that it is not mistaken for an unreadable file.
pub fn fd_shortage_error(e: &std::io::Error) -> Option<codexd_proto::WireError> {
    is_fd_shortage(e).then(|| {
        let limit = getrlimit(Resource::Nofile)
            .current
            .map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
        tracing::warn!(open_file_limit = %limit, "out of file descriptors");
        codexd_proto::WireError::new(
            codexd_proto::ErrorCode::Busy,
            format!(
                "codexd ran out of file descriptors (open-file limit {limit}) while serving many requests at once; try again shortly, or raise the limit (`ulimit -n`, or LimitNOFILE= in the systemd unit) and run `codexctl daemon restart`"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_fits_the_descriptor_limit() {
        // The usual 1,024 soft limit cannot serve 512 connections of 3 descriptors each.
        assert_eq!(
            connection_cap(512, Some(1024)),
            (1024 - RESERVED_FDS as usize) / 3
        );
        assert_eq!(connection_cap(512, Some(1_048_576)), 512);
        assert_eq!(connection_cap(512, None), 512);
        assert_eq!(connection_cap(512, Some(10)), 1);
        let fit = (1024 - RESERVED_FDS as usize) / 3;
        let (c, s) = connection_caps(512, 256, Some(1024));
        assert!(c + s <= fit, "{c} + {s} > {fit}");
        assert_eq!(connection_caps(512, 256, Some(1_048_576)), (512, 256));
    }

    #[test]
    fn emfile_is_a_descriptor_shortage() {
        let e = std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        assert!(is_fd_shortage(&e));
        assert!(!is_fd_shortage(&std::io::Error::other("x")));
    }
}
