//! End-to-end tests of `codexctl service` and the packaged units: install/uninstall/status with
//! a fake `systemctl`/`launchctl` (never the machine's own), `--dry-run` matching the written
//! files, `systemd-analyze --user verify` on the generated units, the daemon started through
//! `systemd-socket-activate` on the unit's socket path answering codexctl, and the launchd
//! plist parsing as a property list.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use codexd_tests::harness::{self, Env};

/// A fake service-manager tool that records its arguments, one call per line.
fn fake_tool(env: &Env, name: &str) -> (PathBuf, PathBuf) {
    let dir = env.root.path().join("fakebin");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join(format!("{name}.log"));
    let script = dir.join(name);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\ncase \"$*\" in *is-active*) echo active;; *is-enabled*) echo enabled;; esac\nexit 0\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

fn systemd_env() -> (Env, PathBuf) {
    let mut env = Env::new();
    let (tool, log) = fake_tool(&env, "systemctl");
    env.set("CODEXD_SYSTEMCTL", &tool.display().to_string());
    env.set("CODEXD_SERVICE_MANAGER", "systemd");
    (env, log)
}

fn unit_dir(env: &Env) -> PathBuf {
    env.root.path().join("config/systemd/user")
}

/// Split `--dry-run` output into `path → content` plus the command lines.
fn parse_dry_run(out: &str) -> (BTreeMap<PathBuf, String>, Vec<String>) {
    let mut files = BTreeMap::new();
    let mut commands = Vec::new();
    let mut current: Option<PathBuf> = None;
    let mut in_commands = false;
    for line in out.split_inclusive('\n') {
        if let Some(header) = line
            .strip_prefix("==> ")
            .and_then(|l| l.trim_end().strip_suffix(" <=="))
        {
            in_commands = header == "commands";
            current = (!in_commands).then(|| PathBuf::from(header));
            if let Some(p) = &current {
                files.insert(p.clone(), String::new());
            }
        } else if in_commands {
            commands.push(line.trim_end().to_string());
        } else if let Some(p) = &current {
            files.get_mut(p).unwrap().push_str(line);
        }
    }
    (files, commands)
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn systemd_install_is_idempotent_and_dry_run_matches_the_files() {
    let (env, log) = systemd_env();
    let dry = env.ctl(&["service", "install", "--dry-run"]).ok();
    let (files, commands) = parse_dry_run(&dry.stdout);
    assert_eq!(files.len(), 3, "{}", dry.stdout);
    assert!(!unit_dir(&env).exists(), "dry run wrote files");
    assert!(log_lines(&log).is_empty(), "dry run ran systemctl");
    assert_eq!(
        commands,
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable --now codexd.socket",
            "systemctl --user try-restart codexd.service"
        ]
    );

    let out = env.ctl(&["service", "install"]).ok();
    for (path, content) in &files {
        assert!(path.starts_with(unit_dir(&env)), "{}", path.display());
        assert_eq!(&std::fs::read_to_string(path).unwrap(), content);
        assert!(out.stdout.contains(&format!("wrote {}", path.display())));
    }
    let service = std::fs::read_to_string(unit_dir(&env).join("codexd.service")).unwrap();
    let codexd = std::fs::canonicalize(harness::bin("codexd")).unwrap();
    assert!(
        service.contains(&format!("ExecStart={} --quiet\n", codexd.display())),
        "{service}"
    );
    assert_eq!(
        log_lines(&log)[..2],
        ["--user daemon-reload", "--user enable --now codexd.socket"]
    );

    // Again: nothing changes, no restart.
    let again = env.ctl(&["service", "install"]).ok();
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    assert!(!again.stdout.contains("wrote"), "{}", again.stdout);
    assert!(!log_lines(&log).last().unwrap().contains("try-restart"));

    let status = env.ctl(&["service", "status", "--json"]).ok().json();
    assert_eq!(status["installed"], true);
    assert_eq!(status["active"], true);
    assert_eq!(status["defers_autostart"], true);

    let un = env.ctl(&["service", "uninstall"]).ok();
    assert!(un.stdout.contains("removed"), "{}", un.stdout);
    assert!(!unit_dir(&env).join("codexd.socket").exists());
    assert!(!unit_dir(&env).join("codexd.service").exists());
    assert!(
        log_lines(&log)
            .iter()
            .any(|l| l == "--user disable --now codexd.socket codexd.service")
    );
    let un2 = env.ctl(&["service", "uninstall"]).ok();
    assert!(un2.stdout.contains("nothing to do"), "{}", un2.stdout);
    let st = env.ctl(&["service", "status"]);
    assert_eq!(st.code, 3, "{st:?}");
}

#[test]
fn generated_units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let (env, _log) = systemd_env();
    env.ctl(&["service", "install"]).ok();
    let dir = unit_dir(&env);
    let out = harness::run(
        Command::new("systemd-analyze")
            .args(["--user", "verify", "--man=no"])
            .arg(dir.join("codexd.socket"))
            .arg(dir.join("codexd.service"))
            .env("XDG_RUNTIME_DIR", env.root.path().join("run"))
            .env("HOME", env.home())
            .env("XDG_CONFIG_HOME", env.root.path().join("config")),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stderr.contains("codexd"),
        "verify complained: {}",
        out.stderr
    );
}

/// With the units installed, codexctl leaves starting to the service: a daemon started by
/// `systemd-socket-activate` on the unit's socket path answers, and reports the adopted socket.
#[test]
fn socket_activated_daemon_answers_and_autostart_defers() {
    if Command::new("systemd-socket-activate")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: systemd-socket-activate is not installed");
        return;
    }
    let (env, _log) = systemd_env();
    env.ctl(&["service", "install"]).ok();
    let unit = std::fs::read_to_string(unit_dir(&env).join("codexd.socket")).unwrap();
    let listen = unit
        .lines()
        .find_map(|l| l.strip_prefix("ListenStream="))
        .unwrap()
        .replace("%t", &env.root.path().join("run").display().to_string());
    assert_eq!(Path::new(&listen), env.socket);

    // Nothing listens yet: codexctl must not start a daemon of its own.
    let out = env.ctl(&["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("service"), "{}", out.stderr);
    assert!(
        env.daemon_pid().is_none(),
        "codexctl started a daemon itself"
    );

    let dir = env.socket.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let service = std::fs::read_to_string(unit_dir(&env).join("codexd.service")).unwrap();
    let exec: Vec<&str> = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap()
        .split_whitespace()
        .collect();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("-l")
        .arg(&listen)
        .args(&exec)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(10), || env.socket.exists()),
        "systemd-socket-activate did not listen on {listen}"
    );
    let out = env.ctl(&["status", "--json"]);
    let _ = child.kill();
    let _ = child.wait();
    let status = out.ok().json();
    let text = status.to_string();
    assert!(
        text.contains("\"socket_activated\":true"),
        "status does not show the adopted socket: {text}"
    );
}

#[test]
fn launchd_plist_parses_with_the_expected_keys() {
    let mut env = Env::new();
    let (tool, log) = fake_tool(&env, "launchctl");
    env.set("CODEXD_LAUNCHCTL", &tool.display().to_string());
    env.set("CODEXD_SERVICE_MANAGER", "launchd");
    let dry = env.ctl(&["service", "install", "--dry-run"]).ok();
    let (files, _) = parse_dry_run(&dry.stdout);
    env.ctl(&["service", "install"]).ok();
    let plist = env
        .home()
        .join("Library/LaunchAgents/dev.codexd.codexd.plist");
    assert_eq!(
        files.get(&plist).map(String::as_str),
        Some(std::fs::read_to_string(&plist).unwrap().as_str())
    );
    assert!(env.home().join("Library/Logs/codexd").is_dir());
    let uid = unsafe_free_uid();
    assert!(
        log_lines(&log)
            .iter()
            .any(|l| *l == format!("bootstrap gui/{uid} {}", plist.display())),
        "{:?}",
        log_lines(&log)
    );

    let codexd = std::fs::canonicalize(harness::bin("codexd")).unwrap();
    let script = r#"
import json, plistlib, sys
with open(sys.argv[1], "rb") as f:
    p = plistlib.load(f)
print(json.dumps(p))
"#;
    let out = harness::run(Command::new("python3").arg("-c").arg(script).arg(&plist));
    let p: serde_json::Value = out.ok().json();
    assert_eq!(p["Label"], "dev.codexd.codexd");
    assert_eq!(p["ProgramArguments"][0], codexd.display().to_string());
    assert_eq!(p["RunAtLoad"], true);
    assert_eq!(p["KeepAlive"]["SuccessfulExit"], false);
    let logs = env.home().join("Library/Logs/codexd");
    for key in ["StandardOutPath", "StandardErrorPath"] {
        let path = PathBuf::from(p[key].as_str().unwrap());
        assert!(path.starts_with(&logs), "{key}: {}", path.display());
    }

    // The packaged plist is a valid property list too.
    let packaged =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/launchd/dev.codexd.codexd.plist");
    harness::run(Command::new("python3").arg("-c").arg(script).arg(packaged)).ok();

    let un = env.ctl(&["service", "uninstall"]).ok();
    assert!(un.stdout.contains("removed"), "{un:?}");
    assert!(!plist.exists());
}

/// launchd restarts the agent only after a failure: after a clean stop, codexctl starts it on
/// demand with `launchctl kickstart` (the fake starts codexd the way launchd would), the plist
/// pins the socket, and with autostart off the message names what the user did.
#[test]
fn launchd_agent_is_kickstarted_when_installed_but_not_running() {
    let mut env = Env::new();
    let dir = env.root.path().join("fakebin");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("launchctl.log");
    let tool = dir.join("launchctl");
    std::fs::write(
        &tool,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\ncase \"$1\" in kickstart) '{}' --quiet </dev/null >/dev/null 2>&1 & ;; esac\nexit 0\n",
            log.display(),
            harness::bin("codexd").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("CODEXD_LAUNCHCTL", &tool.display().to_string());
    env.set("CODEXD_SERVICE_MANAGER", "launchd");
    env.ctl(&["service", "install"]).ok();

    // The plist pins the socket codexctl uses, and runs unthrottled.
    let plist = env
        .home()
        .join("Library/LaunchAgents/dev.codexd.codexd.plist");
    let script = r#"
import json, plistlib, sys
with open(sys.argv[1], "rb") as f:
    print(json.dumps(plistlib.load(f)))
"#;
    let p: serde_json::Value =
        harness::run(Command::new("python3").arg("-c").arg(script).arg(&plist))
            .ok()
            .json();
    assert_eq!(
        p["EnvironmentVariables"]["CODEXD_SOCKET"],
        env.socket.display().to_string()
    );
    assert!(
        matches!(p["ProcessType"].as_str(), Some("Interactive" | "Standard")),
        "{p}"
    );

    let kickstarts = || {
        log_lines(&log)
            .iter()
            .filter(|l| **l == format!("kickstart gui/{}/dev.codexd.codexd", unsafe_free_uid()))
            .count()
    };
    // Installed, not running: the agent is started on demand, and answers.
    let out = env.ctl(&["status", "--json"]).ok();
    assert!(out.stdout.contains("\"pid\""), "{out:?}");
    assert_eq!(kickstarts(), 1, "{:?}", log_lines(&log));
    // A clean stop (launchd would not restart it): the next command starts it again.
    env.ctl(&["daemon", "stop"]).ok();
    assert!(harness::wait_until(Duration::from_secs(10), || env
        .daemon_pid()
        .is_none()));
    env.ctl(&["status"]).ok();
    assert_eq!(kickstarts(), 2, "{:?}", log_lines(&log));

    // Autostart off: no kickstart, and the message names only what was set.
    env.ctl(&["daemon", "stop"]).ok();
    assert!(harness::wait_until(Duration::from_secs(10), || env
        .daemon_pid()
        .is_none()));
    env.set("CODEXD_NO_AUTOSTART", "1");
    let out = env.ctl(&["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("unset CODEXD_NO_AUTOSTART"), "{out:?}");
    assert!(!out.stderr.contains("--no-autostart"), "{out:?}");
    assert_eq!(kickstarts(), 2);
}

/// The current uid without unsafe code: the owner of a file we just created.
fn unsafe_free_uid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().metadata().unwrap().uid()
}
