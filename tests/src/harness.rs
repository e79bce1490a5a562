//! The end-to-end harness: an isolated environment (temp HOME, XDG dirs, socket path) in which
//! tests run the real `codexd` and `codexctl` binaries, so tests run in parallel and never
//! touch the user's files. The daemon started in an [`Env`] is stopped when it drops.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::Duration;

/// The finished run of a command.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Panic with both streams unless the exit code is 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self
    }
}

/// Directory holding the built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    static BUILD: Once = Once::new();
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> → target/debug; a bin (the bench) sits in target/<profile>.
    let parent = exe.parent().expect("target dir");
    let dir = if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().expect("target dir").to_path_buf()
    } else {
        parent.to_path_buf()
    };
    BUILD.call_once(|| {
        // Integration tests of this crate do not build the other crates' binaries: do it once.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile_release = dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "codexd", "-p", "codexctl"]);
        if profile_release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building codexd and codexctl failed");
    });
    dir
}

/// Path of a built binary.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The signed-in sandbox most tests start from: the fakes, an [`Env`] pointed at them, and a
/// sign-in imported from the fake issuer (which starts the daemon). Drop order: bind as
/// `let (stack, env) = …` so the daemon stops before the fakes do.
pub fn signed_in() -> (crate::fakes::FakeStack, Env) {
    signed_in_with(|_, _| {})
}

/// [`signed_in`] after `prepare` has adjusted the environment or the fakes (variables,
/// `config.toml`, scripted answers) — it runs before the sign-in starts the daemon.
pub fn signed_in_with(
    prepare: impl FnOnce(&mut Env, &crate::fakes::FakeStack),
) -> (crate::fakes::FakeStack, Env) {
    let stack = crate::fakes::FakeStack::start_blocking();
    let mut env = Env::new().with_fakes(&stack);
    prepare(&mut env, &stack);
    env.import_login(&stack);
    (stack, env)
}

/// An isolated environment for one test.
pub struct Env {
    /// The temp root; everything lives below it.
    pub root: tempfile::TempDir,
    /// The socket path.
    pub socket: PathBuf,
    vars: Vec<(String, String)>,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// Fresh HOME and XDG dirs, own socket, test hooks on, file credential store, free
    /// callback ports.
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("codexd-test-")
            .tempdir()
            .expect("temp dir");
        let r = root.path();
        for d in ["home", "config", "data", "cache", "state", "run"] {
            std::fs::create_dir_all(r.join(d)).expect("mkdir");
            std::fs::set_permissions(r.join(d), std::fs::Permissions::from_mode(0o700))
                .expect("chmod");
        }
        let socket = r.join("run/codexd/codexd.sock");
        let s = |p: PathBuf| p.display().to_string();
        let vars = vec![
            ("HOME".into(), s(r.join("home"))),
            ("XDG_CONFIG_HOME".into(), s(r.join("config"))),
            ("XDG_DATA_HOME".into(), s(r.join("data"))),
            ("XDG_CACHE_HOME".into(), s(r.join("cache"))),
            ("XDG_STATE_HOME".into(), s(r.join("state"))),
            ("XDG_RUNTIME_DIR".into(), s(r.join("run"))),
            ("CODEXD_SOCKET".into(), s(socket.clone())),
            ("CODEXD_TEST_HOOKS".into(), "1".into()),
            ("CODEXD_CREDENTIALS_STORE".into(), "file".into()),
            (
                "CODEXD_CALLBACK_PORTS".into(),
                format!("{},{}", free_port(), free_port()),
            ),
            ("CODEXD_LOG".into(), "debug".into()),
            // Never reach the real services from a test: unset endpoints point nowhere.
            ("CODEXD_AUTH_ISSUER".into(), "http://127.0.0.1:9".into()),
            (
                "CODEXD_BACKEND_URL".into(),
                "http://127.0.0.1:9/backend-api".into(),
            ),
            ("CODEXD_GITHUB_API_URL".into(), "http://127.0.0.1:9".into()),
            ("CODEXD_GITHUB_URL".into(), "http://127.0.0.1:9".into()),
            ("CODEXD_GITHUB_RAW_URL".into(), "http://127.0.0.1:9".into()),
            ("NO_COLOR".into(), "1".into()),
        ];
        Self { root, socket, vars }
    }

    /// Point every endpoint at the fakes.
    pub fn with_fakes(mut self, stack: &crate::fakes::FakeStack) -> Self {
        for (k, v) in stack.env() {
            self.set(&k, &v);
        }
        self
    }

    /// Set (or replace) an environment variable for every command.
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
    }

    /// Remove an environment variable.
    pub fn unset(&mut self, key: &str) {
        self.vars.retain(|(k, _)| k != key);
    }

    /// The variables applied to every command.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// A command for a built binary with this environment (and a clean one otherwise).
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(bin(name));
        cmd.env_clear();
        for k in ["PATH", "LANG", "TERM", "USER", "LOGNAME"] {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.stdin(Stdio::null());
        cmd
    }

    /// `codexctl` with this environment.
    pub fn ctl_cmd(&self) -> Command {
        self.command("codexctl")
    }

    /// `codexd` with this environment.
    pub fn daemon_cmd(&self) -> Command {
        self.command("codexd")
    }

    /// Run codexctl to completion.
    pub fn ctl(&self, args: &[&str]) -> Output {
        run(self.ctl_cmd().args(args))
    }

    /// Run codexctl, but never longer than `limit`: on overrun it is killed and the test
    /// fails with what it printed so far (a hang is a bug, not a slow pass).
    #[track_caller]
    pub fn ctl_within(&self, limit: Duration, args: &[&str]) -> Output {
        match run_within(self.ctl_cmd().args(args), limit) {
            Ok(out) => out,
            Err(partial) => {
                panic!("codexctl {args:?} did not finish within {limit:?} (killed): {partial:?}")
            }
        }
    }

    /// Start codexctl in the background with stdin, stdout and stderr piped.
    pub fn spawn_ctl(&self, args: &[&str]) -> std::process::Child {
        self.ctl_cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn codexctl")
    }

    /// Run codexctl with `input` on stdin.
    pub fn ctl_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self.spawn_ctl(args);
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let out = child.wait_with_output().expect("wait codexctl");
        let _ = writer.join();
        to_output(out)
    }

    /// Sign in by importing a login minted by the fake auth server (`login --import-codex`).
    /// Returns the path of the imported file (it holds tokens: leak scans skip it).
    pub fn import_login(&self, stack: &crate::fakes::FakeStack) -> PathBuf {
        let path = self.root.path().join("imported-codex-auth.json");
        std::fs::write(&path, stack.auth.mint_login().auth_json().to_string())
            .expect("write auth.json");
        self.ctl(&["login", "--import-codex", &path.display().to_string()])
            .ok();
        path
    }

    /// Write `config.toml`.
    pub fn write_config(&self, toml: &str) {
        let paths = self.paths();
        std::fs::create_dir_all(&paths.config_dir).expect("mkdir config");
        std::fs::write(paths.config_file(), toml).expect("write config");
    }

    /// Where the daemon started in this environment keeps its files: the daemon's own
    /// [`Paths`](codexd::paths::Paths), resolved as `directories` does on Linux for the XDG
    /// variables [`Env::new`] sets, so file names (credentials, lock, caches, logs) come from
    /// the daemon and never drift from it.
    pub fn paths(&self) -> codexd::paths::Paths {
        let r = self.root.path();
        let state_dir = r.join("state/codexd");
        codexd::paths::Paths {
            config_dir: r.join("config/codexd"),
            data_dir: r.join("data/codexd"),
            cache_dir: r.join("cache/codexd"),
            log_dir: state_dir.join("logs"),
            state_dir,
        }
    }

    /// `~/.config/codexd`
    pub fn config_dir(&self) -> PathBuf {
        self.paths().config_dir
    }

    /// `~/.local/share/codexd`
    pub fn data_dir(&self) -> PathBuf {
        self.paths().data_dir
    }

    /// `~/.cache/codexd`
    pub fn cache_dir(&self) -> PathBuf {
        self.paths().cache_dir
    }

    /// `~/.local/state/codexd`
    pub fn state_dir(&self) -> PathBuf {
        self.paths().state_dir
    }

    /// The log directory.
    pub fn log_dir(&self) -> PathBuf {
        self.paths().log_dir
    }

    /// The home directory.
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// Pid of the running daemon, from its lock file, if it is alive.
    pub fn daemon_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.paths().lock_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        alive(pid).then_some(pid)
    }

    /// Send a signal to the daemon and wait (bounded) until it is gone.
    pub fn kill_daemon(&self, signal: i32) {
        if let Some(pid) = self.daemon_pid() {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status();
            wait_until(Duration::from_secs(10), || !alive(pid));
        }
    }

    /// Every file below the root, for leak scans.
    pub fn all_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p, out);
                    } else {
                        out.push(p);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root.path(), &mut out);
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon_pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            if !wait_until(Duration::from_secs(5), || !alive(pid)) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
    }
}

/// Whether a process is alive (the daemon's own rule, shared with `codexctl daemon stop`).
pub use codexd_proto::process::alive;

/// Poll `cond` every 10 ms until true or the limit passes (the fakes' helper, shared).
pub use crate::fakes::wait_until;

/// Run a command to completion and capture its output.
pub fn run(cmd: &mut Command) -> Output {
    to_output(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run command"),
    )
}

/// Run a command for at most `limit`; `Err` with the partial output (code -1) when it had
/// to be killed.
pub fn run_within(cmd: &mut Command, limit: Duration) -> Result<Output, Output> {
    use std::io::Read as _;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn command");
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let output = Output {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    if status.is_some() {
        Ok(output)
    } else {
        Err(output)
    }
}

fn to_output(out: std::process::Output) -> Output {
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
