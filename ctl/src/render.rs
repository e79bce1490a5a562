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

pub use codexd_proto::human::{clock, duration, now, when};

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
        assert_eq!(bytes(1_234_567), "1.2 MB");
    }
}
