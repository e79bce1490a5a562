//! Text output helpers shared by the commands: times, durations, sizes, JSON, terminal state.

use std::io::IsTerminal as _;

use serde::Serialize;

/// Print a value as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Whether to use colour and spinners on stderr.
pub fn stderr_is_fancy() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Show the cursor again (a spinner hides it) — called on Ctrl-C and errors.
pub fn restore_terminal() {
    if std::io::stderr().is_terminal() {
        eprint!("\x1b[?25h");
    }
}

/// Current unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// "2 h 11 min", "45 s", "3 d 4 h".
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// A unix time as local "HH:MM" today, else "YYYY-MM-DD HH:MM" (local time via libc).
pub fn clock(unix: u64) -> String {
    let t = local_tm(unix);
    let today = local_tm(now());
    if (t.0, t.1, t.2) == (today.0, today.1, today.2) {
        format!("{:02}:{:02}", t.3, t.4)
    } else {
        format!("{:04}-{:02}-{:02} {:02}:{:02}", t.0, t.1, t.2, t.3, t.4)
    }
}

/// "14:05 (in 2 h 11 min)" or "14:05 (3 min ago)".
pub fn when(unix: u64) -> String {
    let now = now();
    if unix >= now {
        format!("{} (in {})", clock(unix), duration(unix - now))
    } else {
        format!("{} ({} ago)", clock(unix), duration(now - unix))
    }
}

/// (year, month, day, hour, minute) in local time.
fn local_tm(unix: u64) -> (i32, u32, u32, u32, u32) {
    let t = unix as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: localtime_r writes into the tm we own and returns null only on overflow.
    #[allow(unsafe_code)]
    let ok = unsafe { !libc::localtime_r(&t, tm.as_mut_ptr()).is_null() };
    if !ok {
        return (1970, 1, 1, 0, 0);
    }
    // SAFETY: initialised by the successful localtime_r above (and zeroed before).
    #[allow(unsafe_code)]
    let tm = unsafe { tm.assume_init() };
    (
        tm.tm_year + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
    )
}

/// "1.2 MB"
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(7860), "2 h 11 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 5), "3 d 4 h");
        assert_eq!(bytes(1_234_567), "1.2 MB");
    }
}
