//! Faults from outside and disk trouble, against the real daemon and client:
//!
//! - the OAuth issuer down during refresh (requests go on while the access token is valid, a
//!   clear error once it is not, recovery when the issuer is back);
//! - backend 500 storms and endlessly broken streams (bounded attempts counted at the fake,
//!   a clear error, no hang even with a huge `Retry-After`);
//! - slow streams (no timeout while events flow; a stalled one times out clearly);
//! - GitHub down (conversations still work with cached or fallback instructions);
//! - disk trouble that root cannot wave away with permissions: the sessions directory replaced
//!   by a file, the credentials path a directory, a full filesystem (a 64 KiB tmpfs, skipped
//!   with a reason when it cannot be mounted) — clear errors naming the path, no corrupted
//!   file, and the daemon keeps serving.
//!
//! Every codexctl call runs with a time limit: a hang fails the test instead of stalling it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use codexd_tests::fakes::backend::{BackendFault, Script};
use codexd_tests::fakes::{FakeServer, FakeStack};
use codexd_tests::harness::{Env, Output};

/// Upper bound for any single codexctl call in this file.
const LIMIT: Duration = Duration::from_secs(45);

fn ctl(env: &Env, args: &[&str]) -> Output {
    env.ctl_within(LIMIT, args)
}

fn ask(env: &Env, args: &[&str]) -> (Output, Duration) {
    let mut all = vec!["ask", "--raw"];
    all.extend_from_slice(args);
    let t = Instant::now();
    let out = ctl(env, &all);
    (out, t.elapsed())
}

fn setup() -> (FakeStack, Env) {
    let stack = FakeStack::start_blocking();
    let mut env = Env::new().with_fakes(&stack);
    env.set("CODEXD_SCOPE", "faults|/work");
    (stack, env)
}

/// Import a freshly minted login whose access token lives `lifetime` s.
fn import(env: &Env, stack: &FakeStack, lifetime: i64) -> Output {
    let json = stack
        .auth
        .mint_login_for(&stack.auth.identity(), lifetime)
        .auth_json();
    let path = env.root.path().join("import.json");
    std::fs::write(&path, json.to_string()).unwrap();
    ctl(env, &["login", "--import-codex", path.to_str().unwrap()])
}

/// Store a sign-in directly in the credentials file (as the daemon would have written it) whose
/// access token lives `lifetime` s more and whose last refresh was `age` s ago, so a refresh
/// can be due while the token is still valid. The daemon must not be running.
fn store_login(env: &Env, stack: &FakeStack, lifetime: i64, age: i64) {
    let t = stack.auth.mint_login_for(&stack.auth.identity(), lifetime);
    let creds = serde_json::json!({
        "version": 1,
        "id_token": t.id_token,
        "access_token": t.access_token,
        "refresh_token": t.refresh_token,
        "account_id": t.account_id.unwrap(),
        "last_refresh": codexd::now_unix() - u64::try_from(age).unwrap(),
    });
    std::fs::create_dir_all(env.data_dir()).unwrap();
    std::fs::write(env.paths().credentials_file(), creds.to_string()).unwrap();
}

#[test]
fn auth_down_during_refresh_then_back() {
    let (stack, env) = setup();
    // The access token is valid for 200 s more but a refresh is already due.
    stack.auth.stop();
    store_login(&env, &stack, 200, 1000);
    let (out, took) = ask(&env, &["--new", "while the issuer is down"]);
    assert_eq!(out.code, 0, "a valid access token keeps working: {out:?}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let status = ctl(&env, &["status", "--json"]).ok().json();
    assert!(
        status["auth"]["last_refresh_error"].is_string(),
        "status shows the failed refresh: {}",
        status["auth"]
    );
    assert!(
        status["auth"]["sign_in_again"].is_null(),
        "{}",
        status["auth"]
    );

    // The backend stops accepting the token: one refresh attempt, a clear error, bounded.
    stack.auth.expire_access_tokens();
    let (out, took) = ask(&env, &["expired meanwhile"]);
    eprintln!(
        "issuer down, token rejected: exit {} {}",
        out.code,
        out.stderr.trim()
    );
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stderr.contains("try again"), "{out:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");

    // The issuer is back: the next request refreshes and works.
    stack.auth.restart().unwrap();
    let (out, _) = ask(&env, &["issuer is back"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(stack.auth.refresh_count() >= 1);
    let status = ctl(&env, &["status", "--json"]).ok().json();
    assert!(
        status["auth"]["last_refresh_error"].is_null(),
        "{}",
        status["auth"]
    );
}

#[test]
fn auth_down_and_access_token_expired_says_so() {
    let (stack, env) = setup();
    // 5 s left: below the minimum validity codexd accepts, so a refresh is required.
    stack.auth.stop();
    store_login(&env, &stack, 5, 3600);
    let (out, took) = ask(&env, &["--new", "anything"]);
    eprintln!(
        "issuer down, token expired: exit {} {}",
        out.code,
        out.stderr.trim()
    );
    assert_eq!(out.code, 6, "{out:?}");
    assert!(
        out.stderr.contains("expired") && out.stderr.contains("network"),
        "{out:?}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    stack.auth.restart().unwrap();
    // Backing off after the failure must not lock the user out once the issuer answers.
    let (out, _) = ask(&env, &["after recovery"]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn concurrent_asks_in_a_500_storm_are_bounded_and_explained() {
    let (stack, env) = setup();
    import(&env, &stack, 3600).ok();
    ask(&env, &["--new", "warm up"]).0.ok();
    // A Retry-After of an hour must not be sat through.
    stack.backend.set_fault_forever(BackendFault::ServerError {
        retry_after: Some(3600),
    });
    let before = stack.backend.response_count();
    let t = Instant::now();
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|k| {
                let env = &env;
                s.spawn(move || ask(env, &["-s", &format!("storm-{k}"), "storm"]).0)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let took = t.elapsed();
    let calls = stack.backend.response_count() - before;
    eprintln!("500 storm x3 (Retry-After 3600): {calls} calls in {took:?}");
    for out in &outs {
        assert_eq!(out.code, 6, "{out:?}");
        assert!(!out.stderr.trim().is_empty(), "{out:?}");
    }
    assert!(calls <= 15, "{calls} backend calls for 3 asks");
    assert!(took < Duration::from_secs(30), "took {took:?}");

    // Streams that break forever: resent a bounded number of times, then a clear error.
    stack.backend.clear_faults();
    stack.backend.set_fault_forever(BackendFault::ResetAfter(1));
    let before = stack.backend.response_count();
    let (out, took) = ask(&env, &["-s", "broken", "broken stream"]);
    let calls = stack.backend.response_count() - before;
    eprintln!(
        "broken streams: {calls} calls in {took:?}: {}",
        out.stderr.trim()
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert!(!out.stderr.trim().is_empty(), "{out:?}");
    assert!(calls <= 6, "{calls} backend calls for one ask");

    stack.backend.clear_faults();
    let (out, _) = ask(&env, &["-s", "storm-0", "after"]);
    assert_eq!(
        out.ok().stdout.trim(),
        "turn 1: after",
        "failed turns left nothing"
    );
}

#[test]
fn slow_streams_stream_and_stalled_ones_time_out() {
    let (stack, env) = setup();
    env.write_config("[backend]\nidle_timeout_secs = 2\n");
    import(&env, &stack, 3600).ok();
    // 6 deltas 700 ms apart: 4 s in all, longer than the idle timeout, but never idle.
    stack.backend.set_script(Script {
        text: Some("one two three four five six".into()),
        deltas: Some(6),
        delta_delay: Duration::from_millis(700),
        ..Script::default()
    });
    let (out, took) = ask(&env, &["--new", "slowly"]);
    assert_eq!(out.ok().stdout.trim(), "one two three four five six");
    assert!(took >= Duration::from_millis(3000), "took {took:?}");

    // A stream that stops sending: a timeout error, in bounded time, nothing saved.
    stack.backend.set_script(Script::default());
    stack.backend.set_fault_forever(BackendFault::HangAfter(2));
    let before = stack.backend.response_count();
    let (out, took) = ask(&env, &["-s", "stalled", "stall"]);
    let calls = stack.backend.response_count() - before;
    eprintln!(
        "stalled stream: {calls} calls in {took:?}: {}",
        out.stderr.trim()
    );
    assert_eq!(out.code, 6, "{out:?}");
    assert!(!out.stderr.trim().is_empty(), "{out:?}");
    assert!(took < Duration::from_secs(40), "took {took:?}");
    stack.backend.clear_faults();
    let out = ctl(&env, &["sessions", "show", "stalled", "--json"]);
    assert!(
        out.code == 7 || out.json()["turns"].as_array().unwrap().is_empty(),
        "{out:?}"
    );
}

#[test]
fn github_down_conversations_still_work() {
    // No cache at all: fallback (or catalog) instructions.
    let (stack, env) = setup();
    import(&env, &stack, 3600).ok();
    stack.github.stop();
    let (out, took) = ask(&env, &["--new", "github is down"]);
    assert_eq!(out.ok().stdout.trim(), "turn 1: github is down");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let sent = stack.backend.last_request().unwrap();
    assert_eq!(sent.input()[0]["role"], "developer");
    assert!(
        !sent.input()[0]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "base instructions are always sent"
    );

    // Cached instructions: GitHub goes down and the daemon restarts; the cached copy is used.
    stack.github.restart().unwrap();
    ctl(&env, &["instructions", "--refresh"]).ok();
    let cached = stack.backend.last_request().unwrap();
    ctl(&env, &["daemon", "stop"]);
    stack.github.stop();
    let (out, _) = ask(&env, &["--new", "cached"]);
    assert_eq!(out.ok().stdout.trim(), "turn 1: cached");
    let info = ctl(&env, &["instructions", "--json"]).ok().json();
    assert_ne!(
        info["source"], "Fallback",
        "the cached copy is used: {info}"
    );
    drop(cached);
}

// ----- disk trouble ---------------------------------------------------------------------------

fn sessions_dir(env: &Env) -> PathBuf {
    env.paths().sessions_dir()
}

/// `sessions show NAME` → the user prompts.
fn prompts(env: &Env, name: &str) -> Vec<String> {
    ctl(env, &["sessions", "show", name, "--json"]).ok().json()["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn sessions_dir_replaced_by_a_file() {
    let (stack, env) = setup();
    import(&env, &stack, 3600).ok();
    ask(&env, &["-s", "keep", "first"]).0.ok();
    let dir = sessions_dir(&env);
    let aside = env.data_dir().join("sessions.aside");
    std::fs::rename(&dir, &aside).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();

    // A new conversation cannot be stored: a clear error naming the path, and the daemon
    // keeps serving.
    let (out, _) = ask(&env, &["-s", "other", "no room"]);
    eprintln!(
        "sessions dir is a file: exit {} {}",
        out.code,
        out.stderr.trim()
    );
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&dir.display().to_string()),
        "names the path: {out:?}"
    );
    ctl(&env, &["status", "--json"]).ok();
    assert_eq!(std::fs::read_to_string(&dir).unwrap(), "not a directory");

    // Same after a restart with the broken layout.
    ctl(&env, &["daemon", "stop"]);
    let status = ctl(&env, &["status", "--json"]).ok().json();
    assert!(status["auth"]["account"].is_object(), "{status}");
    let (out, _) = ask(&env, &["-s", "keep", "second"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&dir.display().to_string()),
        "names the path: {out:?}"
    );

    // Repaired: the old conversation is intact and continues.
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&aside, &dir).unwrap();
    ctl(&env, &["daemon", "stop"]);
    let (out, _) = ask(&env, &["-s", "keep", "third"]);
    assert_eq!(out.ok().stdout.trim(), "turn 2: third");
    assert_eq!(prompts(&env, "keep"), vec!["first", "third"]);
}

#[test]
fn credentials_path_is_a_directory() {
    let (stack, env) = setup();
    let creds = env.paths().credentials_file();
    std::fs::create_dir_all(&creds).unwrap();
    let out = import(&env, &stack, 3600);
    eprintln!(
        "credentials path is a directory: exit {} {}",
        out.code,
        out.stderr.trim()
    );
    assert_eq!(out.code, 8, "{out:?}");
    assert!(
        out.stderr.contains(&creds.display().to_string()),
        "names the path: {out:?}"
    );
    assert!(creds.is_dir(), "nothing was removed");
    // The daemon keeps serving; requests that need the sign-in say where the trouble is.
    ctl(&env, &["status", "--json"]).ok();
    let (out, _) = ask(&env, &["--new", "not signed in"]);
    assert_eq!(out.code, 8, "{out:?}");
    assert!(
        out.stderr.contains(&creds.display().to_string()),
        "names the path: {out:?}"
    );

    std::fs::remove_dir(&creds).unwrap();
    import(&env, &stack, 3600).ok();
    let (out, _) = ask(&env, &["--new", "signed in"]);
    out.ok();
}

/// Mount a tmpfs of `size` on `dir`; `None` (with the reason printed) when not possible.
fn mount_tmpfs(dir: &Path, size: &str) -> Option<Unmount> {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(Unmount(dir.to_path_buf())),
        Ok(o) => {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs ({}); the full-disk case needs root with CAP_SYS_ADMIN",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            eprintln!("SKIPPED: cannot run mount ({e})");
            None
        }
    }
}

/// Unmounts on drop (also when the test fails).
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem holding `dir` until it is full; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = [0u8; 512];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn full_disk_under_the_sessions_dir() {
    let (stack, env) = setup();
    import(&env, &stack, 3600).ok();
    let dir = sessions_dir(&env);
    let Some(_mount) = mount_tmpfs(&dir, "64k") else {
        return;
    };
    ask(&env, &["-s", "full", "before"]).0.ok();
    let history: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert_eq!(history.len(), 1, "{history:?}");
    let saved = std::fs::read(&history[0]).unwrap();
    let filler = fill(&dir);

    // Long prompts so a turn's line cannot fit in what is left of the file's last page.
    let long = "x".repeat(6000);
    let (out, _) = ask(&env, &["-s", "full", &long]);
    eprintln!("disk full: exit {} {}", out.code, out.stderr.trim());
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&dir.display().to_string()),
        "names the path: {out:?}"
    );
    assert!(
        out.stderr.contains("No space left") || out.stderr.contains("space"),
        "{out:?}"
    );
    assert!(
        std::fs::read(&history[0]).unwrap() == saved,
        "the failed append left the history file exactly as it was"
    );
    ctl(&env, &["status", "--json"]).ok();
    assert_eq!(prompts(&env, "full"), vec!["before"]);

    // Space again: the conversation continues and every turn loads, also after a restart.
    std::fs::remove_file(&filler).unwrap();
    let (out, _) = ask(&env, &["-s", "full", "after"]);
    assert_eq!(out.ok().stdout.trim(), "turn 2: after");
    ctl(&env, &["daemon", "stop"]);
    assert_eq!(prompts(&env, "full"), vec!["before", "after"]);
}
