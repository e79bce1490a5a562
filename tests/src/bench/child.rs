//! Running a whole child process and measuring it: wall time and its own peak RSS.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one timed run of a child produced.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// Spawn to reaped exit.
    pub wall: Duration,
    /// The child's peak resident set size (`ru_maxrss`), KiB.
    pub max_rss_kib: u64,
    /// Exit code; -1 when a signal ended it.
    pub code: i32,
    /// Standard output (small outputs only: the pipe is read after the exit).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Spawn `cmd` with piped output, wait for it with `wait4` (which reports the resource use
/// of exactly this child, not of every child so far), then read its output.
///
/// Output is read after the exit, so the child must print less than a pipe buffer (64 KiB):
/// true of every command the bench times, and it keeps the reader out of the timing.
pub fn run_timed(cmd: &mut Command) -> std::io::Result<ChildRun> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    #[allow(unsafe_code)]
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        // SAFETY: `pid` is our own unreaped child; `status` and `usage` are valid, writable
        // locals that outlive the call.
        #[allow(unsafe_code)]
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = start.elapsed();
    if reaped != pid {
        return Err(std::io::Error::last_os_error());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    // `child` was reaped by wait4: dropping it neither waits nor kills.
    drop(child);
    Ok(ChildRun {
        wall,
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        code,
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_a_child_and_reads_its_output() {
        let run = run_timed(Command::new("sh").args(["-c", "echo hi; echo err >&2; exit 3"]))
            .expect("run sh");
        assert_eq!(run.code, 3);
        assert_eq!(run.stdout, "hi\n");
        assert_eq!(run.stderr, "err\n");
        assert!(run.max_rss_kib > 0);
        assert!(run.wall > Duration::ZERO);
    }
}
