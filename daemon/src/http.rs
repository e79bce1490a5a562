//! The one HTTP client the daemon uses: our User-Agent, rustls, sane timeouts. Cloning a
//! `reqwest::Client` shares its connection pool.

use std::time::Duration;

use crate::config::ORIGINATOR;

/// `codexd/<version> (<os> <arch>)` — we identify as ourselves, never as another client.
pub fn user_agent() -> String {
    format!(
        "{ORIGINATOR}/{} ({} {}; {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        os_version(),
        std::env::consts::ARCH
    )
}

fn os_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Build the shared client. Streaming requests add their own idle timeout.
pub fn client(connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(user_agent())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
