//! Times and durations written for people, shared by the daemon (error messages such as "it
//! resets at 14:05 (in 2 h 11 min)") and the client (status), so both read the same.

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

/// A unix time in local time: "HH:MM" when within 20 hours of now, else "YYYY-MM-DD HH:MM".
pub fn clock(unix: u64) -> String {
    let (y, mo, d, h, mi) = local_tm(unix);
    if unix.abs_diff(now()) < 20 * 3600 {
        format!("{h:02}:{mi:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
    }
}

/// "14:05 (in 2 h 11 min)" or "14:05 (3 min ago)".
pub fn when(unix: u64) -> String {
    let now = now();
    if unix.abs_diff(now) < 2 {
        format!("{} (just now)", clock(unix))
    } else if unix > now {
        format!("{} (in {})", clock(unix), duration(unix - now))
    } else {
        format!("{} ({} ago)", clock(unix), duration(now - unix))
    }
}

/// (year, month, day, hour, minute) in the local time zone.
fn local_tm(unix: u64) -> (i32, u32, u32, u32, u32) {
    let t = unix as libc::time_t;
    let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: localtime_r writes only into the tm we own and returns null on overflow.
    #[allow(unsafe_code)]
    let ok = unsafe { !libc::localtime_r(&t, tm.as_mut_ptr()).is_null() };
    if !ok {
        return (1970, 1, 1, 0, 0);
    }
    // SAFETY: zeroed, then filled by the successful localtime_r above.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(7860), "2 h 11 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 5), "3 d 4 h");
        assert!(when(now() + 7860).ends_with("(in 2 h 11 min)"));
    }
}
