//! Reading a running process's memory, CPU time and wakeups from `/proc` (Linux only).

use std::path::PathBuf;

/// A snapshot of one process's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`), KiB.
    pub hwm_kib: u64,
    /// Anonymous resident memory (`RssAnon`: heap, stacks), KiB.
    pub anon_kib: u64,
    /// File-backed resident memory (`RssFile`: mostly the binary's own pages), KiB.
    pub file_kib: u64,
    /// User + system CPU time of all threads, microseconds (from clock ticks).
    pub cpu_us: u64,
    /// Voluntary context switches summed over all threads: a proxy for wakeups.
    pub voluntary_switches: u64,
    /// Involuntary context switches summed over all threads.
    pub involuntary_switches: u64,
    /// Number of threads.
    pub threads: u64,
    /// Number of open file descriptors.
    pub fds: u64,
}

/// Read a snapshot of `pid`; `None` if the process is gone or `/proc` is unreadable.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (vol, invol) = switches(pid);
    Some(ProcSample {
        rss_kib: status_field(&status, "VmRSS:").unwrap_or(0),
        hwm_kib: status_field(&status, "VmHWM:").unwrap_or(0),
        anon_kib: status_field(&status, "RssAnon:").unwrap_or(0),
        file_kib: status_field(&status, "RssFile:").unwrap_or(0),
        cpu_us: cpu_ticks(&stat)? * (1_000_000 / ticks_per_second()),
        voluntary_switches: vol,
        involuntary_switches: invol,
        threads: status_field(&status, "Threads:").unwrap_or(0),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0),
    })
}

/// A numeric field of `/proc/<pid>/status` (the first number after `name`).
fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// utime + stime from `/proc/<pid>/stat`. Fields are counted after the `)` that closes the
/// command name, because the name itself may contain spaces.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3 of the man page, so utime (14) and stime (15) sit at 11, 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Voluntary and involuntary context switches summed over every thread. The process-level
/// `/proc/<pid>/status` only counts the main thread, and the daemon's work happens elsewhere.
fn switches(pid: u32) -> (u64, u64) {
    let dir = PathBuf::from(format!("/proc/{pid}/task"));
    let Ok(tasks) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .fold((0, 0), |(v, i), s| {
            (
                v + status_field(&s, "voluntary_ctxt_switches:").unwrap_or(0),
                i + status_field(&s, "nonvoluntary_ctxt_switches:").unwrap_or(0),
            )
        })
}

/// Per-thread counters, keyed by thread id, for deltas over a window. Summing live threads
/// is not monotone (idle blocking-pool threads exit and take their counts with them), so
/// compare thread by thread.
#[derive(Debug, Clone, Default)]
pub struct ThreadCounters {
    /// tid → (thread name, voluntary switches, CPU time in ns from `schedstat`).
    pub threads: std::collections::BTreeMap<u32, (String, u64, u64)>,
}

impl ThreadCounters {
    /// Read every thread of `pid`.
    pub fn read(pid: u32) -> ThreadCounters {
        let mut threads = std::collections::BTreeMap::new();
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                let Some(tid) = t.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                let name = std::fs::read_to_string(t.path().join("comm"))
                    .map(|n| n.trim().to_owned())
                    .unwrap_or_default();
                let switches = std::fs::read_to_string(t.path().join("status"))
                    .ok()
                    .and_then(|s| status_field(&s, "voluntary_ctxt_switches:"))
                    .unwrap_or(0);
                let cpu_ns = std::fs::read_to_string(t.path().join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0);
                threads.insert(tid, (name, switches, cpu_ns));
            }
        }
        ThreadCounters { threads }
    }

    /// Since `earlier`: total wakeups, total CPU ns, and wakeups per thread name (threads
    /// that exited in between are missed; threads that started count from zero).
    pub fn since(&self, earlier: &ThreadCounters) -> (u64, u64, Vec<(String, u64)>) {
        let mut by_name = std::collections::BTreeMap::<String, u64>::new();
        let (mut wakeups, mut cpu) = (0, 0);
        for (tid, (name, sw, ns)) in &self.threads {
            let (sw0, ns0) = earlier
                .threads
                .get(tid)
                .map_or((0, 0), |(_, sw, ns)| (*sw, *ns));
            let d = sw.saturating_sub(sw0);
            wakeups += d;
            cpu += ns.saturating_sub(ns0);
            *by_name.entry(name.clone()).or_insert(0) += d;
        }
        let mut names: Vec<(String, u64)> = by_name.into_iter().filter(|(_, n)| *n > 0).collect();
        names.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        (wakeups, cpu, names)
    }
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times. It is 100 on every Linux ABI the
/// kernel exports to user space, so no `sysconf` call is needed.
fn ticks_per_second() -> u64 {
    100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0 1 2 3";
        assert_eq!(cpu_ticks(stat), Some(12));
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib && s.threads >= 1 && s.fds >= 1);
    }
}
