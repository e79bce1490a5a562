//! Whether a process (the daemon) still runs, one rule for `codexctl daemon stop` and the test
//! harness: both wait for a stopped or killed daemon to be really gone.

/// Whether the process still runs: it exists and is not a zombie whose threads all ended
/// (after a stop or `kill -9`, the main thread can be a zombie while another thread still
/// finishes a system call and holds the listening socket). Linux `/proc`; elsewhere it reads
/// as gone, so callers decide by their socket probe alone.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat
        .rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('Z'));
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0);
    !zombie || threads > 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_alive_and_a_free_pid_is_not() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        assert!(super::alive(std::process::id()));
        assert!(!super::alive(u32::MAX));
    }
}
