//! The files `service install` writes: the packaged systemd units and launchd plist (one
//! source of truth in `packaging/`), with the packaged binary swapped for the absolute path of
//! this install; the plist also gets this user's log files and socket path.

use std::path::{Path, PathBuf};

/// The packaged socket unit (used as is).
pub const SOCKET_UNIT: &str = include_str!("../../../../packaging/systemd/codexd.socket");
/// The packaged loopback TCP socket of the gateway (written, not enabled).
pub const GATEWAY_TCP_UNIT: &str =
    include_str!("../../../../packaging/systemd/codexd-gateway-tcp.socket");
/// The packaged service unit (`/usr/bin/codexd` is replaced).
pub const SERVICE_UNIT: &str = include_str!("../../../../packaging/systemd/codexd.service");
/// The packaged launchd agent (the binary is replaced; logs and the socket are added).
pub const PLIST: &str = include_str!("../../../../packaging/launchd/dev.codexd.codexd.plist");
/// The launchd label.
pub const LABEL: &str = "dev.codexd.codexd";

const PACKAGED_SYSTEMD_BIN: &str = "ExecStart=/usr/bin/codexd ";
const PACKAGED_LAUNCHD_BIN: &str = "<string>/usr/local/bin/codexd</string>";
/// The environment variable that pins the daemon's socket path.
const SOCKET_KEY: &str = "<key>CODEXD_SOCKET</key>";

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

/// The agent plist in `agents_dir`, running `codexd`, logging into `log_dir` (which the
/// caller creates: launchd does not), listening on `socket` (pinned, so the path does not
/// depend on launchd's `$TMPDIR` matching the user's shells).
pub fn launchd(agents_dir: &Path, codexd: &Path, log_dir: &Path, socket: &Path) -> UnitFile {
    let log = |name: &str| xml_escape(&log_dir.join(name).to_string_lossy());
    let added = format!(
        "\t<key>EnvironmentVariables</key>\n\
         \t<dict>\n\
         \t\t{SOCKET_KEY}\n\
         \t\t<string>{socket}</string>\n\
         \t</dict>\n\
         \t<key>StandardOutPath</key>\n\
         \t<string>{out}</string>\n\
         \t<key>StandardErrorPath</key>\n\
         \t<string>{err}</string>\n\
         </dict>\n</plist>\n",
        socket = xml_escape(&socket.to_string_lossy()),
        out = log("codexd.out.log"),
        err = log("codexd.err.log"),
    );
    let body = PLIST
        .replace(
            PACKAGED_LAUNCHD_BIN,
            &format!("<string>{}</string>", xml_escape(&codexd.to_string_lossy())),
        )
        .trim_end()
        .strip_suffix("</dict>\n</plist>")
        .map(str::to_owned);
    // The packaged plist ends with the top-level dict; should it ever not, say so in a test
    // rather than write a broken file (see `plist_points_at_binary_logs_and_socket`).
    let content = match body {
        Some(b) => format!("{b}{added}"),
        None => PLIST.to_string(),
    };
    UnitFile {
        path: agents_dir.join(format!("{LABEL}.plist")),
        content,
    }
}

/// The socket path an installed plist pins, if it pins one.
pub fn pinned_socket(plist: &str) -> Option<PathBuf> {
    let after = &plist[plist.find(SOCKET_KEY)? + SOCKET_KEY.len()..];
    let start = after.find("<string>")? + "<string>".len();
    let end = after[start..].find("</string>")? + start;
    Some(PathBuf::from(xml_unescape(&after[start..end])))
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
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
        assert!(files[1].content.contains("\nLimitCORE=0\n"));
        assert!(
            files[0]
                .content
                .contains("ListenStream=%t/codexd/gateway.sock")
        );
        assert!(files[2].content.contains("FileDescriptorName=gateway-tcp"));
        assert!(!files[2].content.contains("0.0.0.0"));
    }

    #[test]
    fn plist_points_at_binary_logs_and_socket() {
        let f = launchd(
            Path::new("/Users/a/Library/LaunchAgents"),
            Path::new("/opt/a&b/codexd"),
            Path::new("/Users/a/Library/Logs/codexd"),
            Path::new("/var/folders/x/T/codexd-501/codexd.sock"),
        );
        assert!(f.content.contains("<string>/opt/a&amp;b/codexd</string>"));
        assert!(
            f.content
                .contains("<string>/Users/a/Library/Logs/codexd/codexd.err.log</string>")
        );
        assert!(f.content.contains("<string>Interactive</string>"));
        assert!(!f.content.contains("/usr/local"));
        assert!(
            f.content.trim_end().ends_with("</dict>\n</plist>"),
            "{}",
            f.content
        );
        assert_eq!(
            pinned_socket(&f.content),
            Some(PathBuf::from("/var/folders/x/T/codexd-501/codexd.sock"))
        );
    }

    #[test]
    fn the_packaged_plist_logs_nowhere_and_is_not_throttled() {
        assert!(!PLIST.contains("<key>StandardErrorPath</key>"), "{PLIST}");
        assert!(!PLIST.contains("<key>StandardOutPath</key>"), "{PLIST}");
        assert!(!PLIST.contains("<string>Background</string>"), "{PLIST}");
        assert_eq!(pinned_socket(PLIST), None);
    }

    #[test]
    fn percent_and_dollar_are_escaped_for_systemd() {
        assert_eq!(systemd_exec_path(Path::new("/a%b$c")), "/a%%b$$c");
    }
}
