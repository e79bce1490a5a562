//! End-to-end tests of issue 12, the hardening review: each test replays one attack or bad
//! day (a planted socket directory, a forged `/cancel`, a core dump, a crash mid-save, plain
//! HTTP endpoints, memory and connection exhaustion, oversized frames, a failed save of a
//! refreshed login, a network drop during device sign-in) and asserts the fixed behaviour.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use codexd_tests::harness::{Env, Output, bin, run, wait_until};

/// Run codexctl under a shell that first applies `limits` (`ulimit` commands); a daemon it
/// starts inherits them.
fn ctl_with_limits(env: &Env, limits: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.env_clear();
    for k in ["PATH", "LANG", "TERM", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.envs(env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.arg("-c")
        .arg(format!("{limits}; exec \"$0\" \"$@\""))
        .arg(bin("codexctl"))
        .args(args);
    run(&mut cmd)
}

/// The soft and hard values of one `/proc/<pid>/limits` row.
fn proc_limit(pid: u32, row: &str) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no {row} in {text}"));
    let mut cols = line[row.len()..].split_whitespace();
    (
        cols.next().unwrap().to_owned(),
        cols.next().unwrap().to_owned(),
    )
}

fn log_text(env: &Env) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(env.log_dir()) {
        for e in entries.flatten() {
            if e.path().is_file() {
                text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    text
}

/// Item 3: a daemon started with `ulimit -c unlimited` still can never write a core file, and
/// is not dumpable. Item 8: a 1,024 soft open-file limit is raised to the hard limit.
#[test]
fn no_core_dumps_and_descriptor_limit_raised() {
    if !std::path::Path::new("/proc/self/limits").exists() {
        eprintln!("skipped: needs /proc");
        return;
    }
    let env = Env::new();
    let out = ctl_with_limits(
        &env,
        "ulimit -Sc unlimited; ulimit -Sn 1024",
        &["status", "--json"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let pid = env.daemon_pid().expect("daemon running");
    assert_eq!(
        proc_limit(pid, "Max core file size"),
        ("0".into(), "0".into())
    );
    let (soft, hard) = proc_limit(pid, "Max open files");
    assert_eq!(soft, hard, "soft open-file limit raised to the hard one");
    assert!(
        wait_until(Duration::from_secs(10), || log_text(&env)
            .contains("non_dumpable=true")),
        "{}",
        log_text(&env)
    );
}
