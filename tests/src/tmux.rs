//! Drive a terminal program for real: a private tmux server per test runs a command in a
//! 120×30 pane with the test's environment; tests type with `send-keys` and read the screen
//! with `capture-pane`. The server is killed when the handle drops.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{self, Env};

/// Whether tmux is installed (tests skip with a printed reason otherwise).
pub fn available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// One tmux server with one pane.
pub struct Tmux {
    server: String,
    started: Instant,
}

impl Tmux {
    /// Run `command` (a shell command line) in a new pane with `env`'s variables.
    pub fn start(env: &Env, command: &str) -> Tmux {
        let server = format!(
            "codexd-{}-{}",
            std::process::id(),
            env.root
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().replace('.', ""))
                .unwrap_or_default()
        );
        let mut cmd = Command::new("tmux");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .env("TERM", "xterm-256color")
            .envs(env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["-L", &server, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "120", "-y", "30", command]);
        harness::run(&mut cmd).ok();
        Tmux {
            server,
            started: Instant::now(),
        }
    }

    /// Run a tmux command against this server; its stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        harness::run(Command::new("tmux").args(["-L", &self.server]).args(args)).stdout
    }

    /// Type text literally.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-l", "--", text]);
    }

    /// Press keys (tmux key names).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// Poll the screen (bounded) until `cond` holds; panics with the screen otherwise. The
    /// bound is generous: CI machines are shared and a shell can stall for seconds.
    #[track_caller]
    pub fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {:?} for {what}; the screen is:\n{s}",
                self.started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
