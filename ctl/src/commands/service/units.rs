//! The files `service install` writes: the packaged systemd units and launchd plist (one
//! source of truth in `packaging/`), with the packaged binary and log paths swapped for the
//! absolute paths of this install.

use std::path::{Path, PathBuf};

/// The packaged socket unit (used as is).
pub const SOCKET_UNIT: &str = include_str!("../../../../packaging/systemd/codexd.socket");
/// The packaged loopback TCP socket of the gateway (written, not enabled).
pub const GATEWAY_TCP_UNIT: &str =
    include_str!("../../../../packaging/systemd/codexd-gateway-tcp.socket");
/// The packaged service unit (`/usr/bin/codexd` is replaced).
pub const SERVICE_UNIT: &str = include_str!("../../../../packaging/systemd/codexd.service");
/// The packaged launchd agent (binary and log paths are replaced).
pub const PLIST: &str = include_str!("../../../../packaging/launchd/dev.codexd.codexd.plist");
/// The launchd label.
pub const LABEL: &str = "dev.codexd.codexd";

const PACKAGED_SYSTEMD_BIN: &str = "ExecStart=/usr/bin/codexd ";
const PACKAGED_LAUNCHD_BIN: &str = "<string>/usr/local/bin/codexd</string>";
const PACKAGED_LOG_DIR: &str = "/usr/local/var/log/codexd";

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// Where it goes.
    pub path: PathBuf,
    /// What it holds.
    pub content: String,
}

/// Quote a path for an `ExecStart=` line: systemd splits on spaces and expands `%` and `$`.
fn systemd_exec_path(bin: &Path) -> String {
    let s = bin.to_string_lossy();
    let escaped = s.replace('%', "%%").replace('$', "$$");
    if escaped.contains([' ', '"', '\\', '\'']) {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `codexd.socket` and `codexd.service` in `unit_dir`, running `codexd`.
pub fn systemd(unit_dir: &Path, codexd: &Path) -> Vec<UnitFile> {
    let service = SERVICE_UNIT.replace(
        PACKAGED_SYSTEMD_BIN,
        &format!("ExecStart={} ", systemd_exec_path(codexd)),
    );
    vec![
        UnitFile {
            path: unit_dir.join("codexd.socket"),
            content: SOCKET_UNIT.to_string(),
        },
        UnitFile {
            path: unit_dir.join("codexd.service"),
            content: service,
        },
        UnitFile {
            path: unit_dir.join("codexd-gateway-tcp.socket"),
            content: GATEWAY_TCP_UNIT.to_string(),
        },
    ]
}

/// The agent plist in `agents_dir`, running `codexd`, logging into `log_dir`.
pub fn launchd(agents_dir: &Path, codexd: &Path, log_dir: &Path) -> UnitFile {
    let content = PLIST
        .replace(
            PACKAGED_LAUNCHD_BIN,
            &format!("<string>{}</string>", xml_escape(&codexd.to_string_lossy())),
        )
        .replace(PACKAGED_LOG_DIR, &xml_escape(&log_dir.to_string_lossy()));
    UnitFile {
        path: agents_dir.join(format!("{LABEL}.plist")),
        content,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_runs_the_given_binary() {
        let files = systemd(Path::new("/u"), Path::new("/opt/my tools/codexd"));
        assert_eq!(files[0].path, Path::new("/u/codexd.socket"));
        assert!(
            files[0]
                .content
                .contains("ListenStream=%t/codexd/codexd.sock")
        );
        assert!(
            files[1]
                .content
                .contains("ExecStart=\"/opt/my tools/codexd\" --quiet\n"),
            "{}",
            files[1].content
        );
        assert!(!files[1].content.contains("/usr/bin/codexd"));
        assert!(files[1].content.contains("Type=notify"));
        assert!(
            files[0]
                .content
                .contains("ListenStream=%t/codexd/gateway.sock")
        );
        assert!(files[2].content.contains("FileDescriptorName=gateway-tcp"));
        assert!(!files[2].content.contains("0.0.0.0"));
    }

    #[test]
    fn plist_points_at_binary_and_logs() {
        let f = launchd(
            Path::new("/Users/a/Library/LaunchAgents"),
            Path::new("/opt/a&b/codexd"),
            Path::new("/Users/a/Library/Logs/codexd"),
        );
        assert!(f.content.contains("<string>/opt/a&amp;b/codexd</string>"));
        assert!(
            f.content
                .contains("<string>/Users/a/Library/Logs/codexd/codexd.err.log</string>")
        );
        assert!(!f.content.contains("/usr/local"));
    }

    #[test]
    fn percent_and_dollar_are_escaped_for_systemd() {
        assert_eq!(systemd_exec_path(Path::new("/a%b$c")), "/a%%b$$c");
    }
}
