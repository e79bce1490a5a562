//! Starting the daemon when nobody answers: take a start lock (two racing clients start one
//! daemon), probe again, spawn the `codexd` that sits next to this executable (PATH only as a
//! fallback — a stale `codexd` elsewhere on PATH is a classic bug), and wait for its handshake.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::client::{Attempt, Client};
use crate::exit::Unreachable;

/// How long a started daemon has to answer.
const START_WAIT: Duration = Duration::from_secs(3);

/// The `codexd` binary to run.
pub fn daemon_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CODEXD_BIN") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("codexd")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("codexd"))
}

/// Start the daemon (unless someone else just did) and connect to it.
pub fn start_and_connect(socket: &Path) -> anyhow::Result<Client> {
    codexd_proto::socket::prepare_socket_dir(socket).map_err(|e| Unreachable(e.to_string()))?;
    let dir = codexd_proto::socket::socket_dir(socket).map_err(|e| Unreachable(e.to_string()))?;
    let lock = lock_start(dir)?;
    // Someone may have started it while we waited for the lock.
    if let Attempt::Connected(c) = Client::try_connect(socket)? {
        return Ok(c);
    }
    let mut child = spawn_daemon(dir)?;
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Attempt::Connected(c) = Client::try_connect(socket)? {
            drop(lock);
            return Ok(c);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("codexd.start.log")).unwrap_or_default();
            return Err(Unreachable(format!(
                "codexd exited during startup ({status}){}",
                if log.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", log.trim())
                }
            ))
            .into());
        }
        if Instant::now() > deadline {
            return Err(Unreachable(format!(
                "started codexd (pid {}) but it did not answer within {} s; see `codexctl logs` or run `codexctl daemon run` to watch it start",
                child.id(),
                START_WAIT.as_secs()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Exclusive lock on `<socket dir>/start.lock`, held while starting.
fn lock_start(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join("start.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

/// Spawn the daemon detached: own process group, no terminal, stderr to a start log that
/// explains an early exit.
pub fn spawn_daemon(socket_dir: &Path) -> anyhow::Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    let bin = daemon_binary();
    let start_log = File::create(socket_dir.join("codexd.start.log"))
        .context("cannot create the daemon's start log")?;
    Command::new(&bin)
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(start_log)
        .process_group(0)
        .spawn()
        .map_err(|e| {
            Unreachable(format!(
                "cannot start {}: {e}; is codexd installed next to codexctl?",
                bin.display()
            ))
            .into()
        })
}
