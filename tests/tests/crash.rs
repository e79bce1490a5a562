//! Crash safety: `kill -9` of the real daemon at random moments during sign-in persistence,
//! token refresh and conversation turns, then a restart and a check that nothing durable was
//! lost or torn:
//!
//! - the credentials load, the stored refresh token is still usable at the fake issuer (the
//!   fake kills the whole login when a used refresh token comes back, so a stale stored token
//!   shows), and a refresh with it succeeds;
//! - every conversation's history loads, with exactly the turns that completed: a turn the
//!   client saw finish is kept, a turn cut by the kill is dropped whole, a torn last line is
//!   cut off, and nothing else changes.
//!
//! The kill moments come from a seeded RNG (the seed is printed; `CODEXD_CRASH_SEED=N`
//! replays one). The fast run does a few iterations per test; `CODEXD_LONG=1` runs 200.
//! The fakes' slow token endpoint and slow streams widen the windows the kills land in.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use codexd_proto::message::DebugRequest;
use codexd_proto::{ErrorCode, Reply, Request};
use codexd_tests::bench::wire::{CallError, Conn};
use codexd_tests::fakes::FakeStack;
use codexd_tests::fakes::backend::Script;
use codexd_tests::harness::{Env, Output, signed_in_with, wait_until};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every codexctl call in this file is killed (and the test failed) after this long.
const CTL_LIMIT: Duration = Duration::from_secs(30);

/// Iterations per test: fast by default, 200 with `CODEXD_LONG=1`.
fn iterations(fast: usize) -> usize {
    if std::env::var("CODEXD_LONG").is_ok_and(|v| v == "1") {
        200
    } else {
        fast
    }
}

/// The RNG seed: `CODEXD_CRASH_SEED` or the clock; printed so a failure can be replayed.
fn seeded(test: &str) -> StdRng {
    let seed = std::env::var("CODEXD_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{test}: seed {seed} (replay with CODEXD_CRASH_SEED={seed})");
    StdRng::seed_from_u64(seed)
}

fn ctl(env: &Env, args: &[&str]) -> Output {
    env.ctl_within(CTL_LIMIT, args)
}

/// The daemon's pid, starting it (through `status`) when none runs.
fn running_daemon(env: &Env) -> u32 {
    if let Some(pid) = env.daemon_pid() {
        return pid;
    }
    ctl(env, &["status", "--json"]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || env.daemon_pid().is_some()),
        "the daemon did not come up"
    );
    env.daemon_pid().unwrap()
}

/// `kill -9` the daemon and wait (bounded) until it is gone.
fn kill9(env: &Env) {
    env.kill_daemon(9);
    assert!(env.daemon_pid().is_none(), "the daemon survived kill -9");
}

/// Ask the daemon for an access token through the test hook (bounded).
fn debug_access(env: &Env, after_unauthorized: bool) -> Result<Reply, CallError> {
    Conn::connect(&env.socket, Duration::from_secs(20))?.call(
        Request::Debug(DebugRequest::Access { after_unauthorized }),
        &mut |_| {},
    )
}

/// The refresh token in the credentials file.
fn stored_refresh_token(env: &Env) -> String {
    let path = env.paths().credentials_file();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} unreadable after a crash: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} torn after a crash ({e}): {text}", path.display()));
    v["refresh_token"].as_str().unwrap().to_owned()
}

/// Import a freshly minted login (a new grant) through codexctl.
fn import_fresh(env: &Env, stack: &FakeStack, n: usize) -> Output {
    let path = env.root.path().join(format!("import-{n}.json"));
    std::fs::write(&path, stack.auth.mint_login().auth_json().to_string()).unwrap();
    ctl(env, &["login", "--import-codex", path.to_str().unwrap()])
}

/// What one iteration's operation was and how it ended before the kill.
struct Op {
    /// When it started (anything the fake rotated after this was this op's doing).
    started: Instant,
    /// When the client was told it finished successfully, if it was before the kill.
    done_ok: Option<Instant>,
}

#[test]
fn kill_9_during_sign_in_and_refresh_keeps_a_live_refresh_token() {
    let mut rng = seeded("sign-in/refresh");
    let stack = FakeStack::start_blocking();
    let env = Env::new().with_fakes(&stack);
    import_fresh(&env, &stack, 0).ok();
    let n = iterations(10);
    let (mut refreshes_cut, mut imports_cut, mut lost_in_flight) = (0, 0, 0);
    for i in 1..=n {
        running_daemon(&env);
        let delay = Duration::from_millis(rng.random_range(0..300));
        stack.auth.set_token_delay(delay);
        let import = rng.random_bool(0.3);
        let kill_after = Duration::from_millis(rng.random_range(0..delay.as_millis() as u64 + 150));
        let started = Instant::now();
        let (done_ok, killed_at) = std::thread::scope(|s| {
            let op = s.spawn(|| {
                let ok = if import {
                    import_fresh(&env, &stack, i).code == 0
                } else {
                    debug_access(&env, true).is_ok()
                };
                ok.then(Instant::now)
            });
            std::thread::sleep(kill_after);
            let killed_at = Instant::now();
            kill9(&env);
            (op.join().unwrap(), killed_at)
        });
        let op = Op {
            started,
            done_ok: done_ok.filter(|t| *t <= killed_at),
        };
        if op.done_ok.is_none() {
            if import {
                imports_cut += 1;
            } else {
                refreshes_cut += 1;
            }
        }
        stack.auth.set_token_delay(Duration::ZERO);

        // After the crash: the stored token must be usable, unless the kill landed after the
        // issuer rotated it for this very operation but before the daemon could save the
        // answer (no client can close that window; the login is then gone, and codexd must
        // say so clearly).
        let stored = stored_refresh_token(&env);
        let state = stack
            .auth
            .refresh_token_state(&stored)
            .expect("the stored refresh token was issued by the fake");
        if !state.usable() {
            let in_flight = !import
                && !state.revoked
                && op.done_ok.is_none()
                && state.used_at.is_some_and(|t| t >= op.started);
            assert!(
                in_flight,
                "iteration {i}: the stored refresh token is stale ({state:?}; import={import}, \
                 kill after {kill_after:?}, token delay {delay:?}, op finished: {:?})",
                op.done_ok.map(|t| t - op.started)
            );
            lost_in_flight += 1;
            running_daemon(&env);
            match debug_access(&env, true) {
                Err(CallError::Remote(e)) => {
                    assert_eq!(e.code, ErrorCode::SignInAgain, "{e:?}");
                    assert!(e.message.contains("codexctl login"), "{e:?}");
                }
                other => {
                    panic!("iteration {i}: a lost refresh answer must say sign in again: {other:?}")
                }
            }
            import_fresh(&env, &stack, 10_000 + i).ok();
            continue;
        }

        // The daemon restarts with the credentials and refreshes with the stored token.
        running_daemon(&env);
        let status = ctl(&env, &["status", "--json"]).ok().json();
        assert!(
            status["auth"]["account"].is_object(),
            "iteration {i}: {status}"
        );
        assert!(
            status["auth"]["sign_in_again"].is_null(),
            "iteration {i}: {status}"
        );
        let before = stack.auth.refresh_count();
        let reply = debug_access(&env, true);
        assert!(
            matches!(reply, Ok(Reply::DebugAccess { .. })),
            "iteration {i}: refresh after restart failed: {reply:?}"
        );
        assert_eq!(stack.auth.refresh_count(), before + 1, "iteration {i}");
        let now_stored = stored_refresh_token(&env);
        assert_ne!(
            now_stored, stored,
            "iteration {i}: the rotated token was saved"
        );
        assert!(
            stack
                .auth
                .refresh_token_state(&now_stored)
                .is_some_and(|s| s.usable()),
            "iteration {i}: the saved token is the live one"
        );
    }
    eprintln!(
        "sign-in/refresh: {n} kills ({refreshes_cut} refreshes and {imports_cut} imports cut \
         short, {lost_in_flight} refresh answers lost in flight)"
    );
}

/// A conversation as the test expects it: the prompts of its completed turns.
type Expected = BTreeMap<String, Vec<String>>;

/// `sessions show NAME --json` → the user prompts and answers of its turns.
fn turns_of(env: &Env, name: &str) -> Option<Vec<(String, String)>> {
    let out = ctl(env, &["sessions", "show", name, "--json"]);
    if out.code == 7 {
        return None;
    }
    let v = out.ok().json();
    Some(
        v["turns"]
            .as_array()
            .unwrap_or_else(|| panic!("no turns in {v}"))
            .iter()
            .map(|t| {
                (
                    t["user"].as_str().unwrap().to_owned(),
                    t["assistant"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
    )
}

/// Append half a turn line to a history file, as a crash in the middle of `write` would.
fn tear(path: &Path) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(br#"{"kind":"turn","at":17,"model":"gpt-5","user":"torn"#)
        .unwrap();
}

#[test]
fn kill_9_during_turns_keeps_every_completed_turn() {
    let mut rng = seeded("turns");
    let (stack, env) = signed_in_with(|env, _| env.set("CODEXD_SCOPE", "crash-test|/work"));
    let n = iterations(10);
    let names = ["conv-a", "conv-b", "conv-c"];
    let mut expected: Expected = names.iter().map(|n| (n.to_string(), vec![])).collect();
    let (mut cut, mut torn) = (0, 0);
    for i in 1..=n {
        running_daemon(&env);
        let name = names[rng.random_range(0..names.len())];
        let prompt = format!("question {i}");
        let delta_delay = Duration::from_millis(rng.random_range(2..40));
        stack.backend.set_script(Script {
            deltas: Some(8),
            delta_delay,
            ..Script::default()
        });
        let kill_after =
            Duration::from_millis(rng.random_range(0..(delta_delay.as_millis() as u64 * 8 + 400)));
        let out = std::thread::scope(|s| {
            let ask = s.spawn(|| ctl(&env, &["ask", "--raw", "-s", name, &prompt]));
            std::thread::sleep(kill_after);
            kill9(&env);
            ask.join().unwrap()
        });
        let completed = out.code == 0;
        if !completed {
            cut += 1;
        }
        // Sometimes also leave a torn line behind, as a kill in the middle of `write` would.
        if rng.random_bool(0.25) {
            let files: Vec<_> = std::fs::read_dir(env.paths().sessions_dir())
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                        .collect()
                })
                .unwrap_or_default();
            if !files.is_empty() {
                tear(&files[rng.random_range(0..files.len())]);
                torn += 1;
            }
        }

        running_daemon(&env);
        let list = ctl(&env, &["sessions", "list", "--json"]).ok().json();
        let listed = list.as_array().unwrap().len();
        for conv in names {
            let want = &expected[conv];
            let got = turns_of(&env, conv).unwrap_or_default();
            let prompts: Vec<&str> = got.iter().map(|(u, _)| u.as_str()).collect();
            let want_prompts: Vec<&str> = want.iter().map(String::as_str).collect();
            let this_turn = conv == name;
            let kept = this_turn
                && prompts.len() == want.len() + 1
                && prompts[..want.len()] == want_prompts[..]
                && prompts[want.len()] == prompt;
            assert!(
                prompts == want_prompts && !(this_turn && completed) || kept,
                "iteration {i}, {conv}: history {prompts:?}, expected {want_prompts:?} \
                 (this turn {prompt:?} on {name}, completed={completed}, killed after \
                 {kill_after:?}; ask: {out:?})"
            );
            for (n, (user, answer)) in got.iter().enumerate() {
                assert_eq!(
                    answer,
                    &format!("turn {}: {user}", n + 1),
                    "iteration {i}, {conv}: answer of turn {}",
                    n + 1
                );
            }
            if kept {
                expected.get_mut(conv).unwrap().push(prompt.clone());
            }
        }
        let with_turns = expected.values().filter(|t| !t.is_empty()).count();
        assert_eq!(listed, with_turns, "iteration {i}: sessions list {list}");
    }
    let total: usize = expected.values().map(Vec::len).sum();
    eprintln!(
        "turns: {n} kills, {cut} turns cut short and dropped, {total} kept, {torn} torn lines cut off"
    );
    // The conversations continue normally after all that.
    running_daemon(&env);
    stack.backend.set_script(Script::default());
    let out = ctl(&env, &["ask", "--raw", "-s", "conv-a", "one more"]).ok();
    assert_eq!(
        out.stdout.trim(),
        format!("turn {}: one more", expected["conv-a"].len() + 1)
    );
}
