//! End-to-end tests of `codexctl ask` and `codexctl sessions`: the real `codexd` and
//! `codexctl` against the fake Codex backend (streaming order and timing, multi-turn history
//! with encrypted reasoning and no ids, every error path's message and exit code, cancel,
//! crash recovery, 100 concurrent conversations, stdin piping, idle actors).
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use codexd_tests::fakes::FakeStack;
use codexd_tests::fakes::backend::{BackendFault, Fixture, Script};
use codexd_tests::harness::{self, Env, Output, wait_until};
use serde_json::Value;

/// Fakes + an isolated environment with an imported sign-in.
fn signed_in() -> (FakeStack, Env) {
    harness::signed_in_with(|env, _| env.set("CODEXD_SCOPE", "test-terminal|/work"))
}

fn ask(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["ask"];
    all.extend_from_slice(args);
    env.ctl(&all)
}

/// Every key named `id` anywhere in `v`.
fn has_id(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("id") || m.values().any(has_id),
        Value::Array(a) => a.iter().any(has_id),
        _ => false,
    }
}

#[test]
fn streams_an_answer_and_continues_the_conversation() {
    let (stack, env) = signed_in();
    let out = ask(&env, &["hello", "there"]).ok();
    assert_eq!(out.stdout, "turn 1: hello there\n");
    let out = ask(&env, &["--usage", "and again"]).ok();
    assert_eq!(out.stdout, "turn 2: and again\n");
    assert!(out.stderr.contains("tokens: "), "{out:?}");

    let reqs = stack.backend.requests();
    assert_eq!(reqs.len(), 2);
    let second = &reqs[1];
    // Base instructions travel as the first developer message, never empty.
    assert!(second.body.get("instructions").is_none());
    let input = &second.input()[1..];
    assert!(
        second.input()[0]["content"][0]["text"]
            .as_str()
            .is_some_and(|i| !i.trim().is_empty()),
        "{:?}",
        second.body
    );
    let kinds: Vec<(&str, &str)> = input
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap_or(""),
                i["role"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("message", "user"),
            ("reasoning", ""),
            ("message", "assistant"),
            ("message", "user")
        ]
    );
    assert!(
        input[1]["encrypted_content"]
            .as_str()
            .unwrap()
            .starts_with("enc_fake_t1")
    );
    assert!(!has_id(&second.body), "no item ids are ever sent");
    assert_eq!(second.texts_of("assistant"), vec!["turn 1: hello there"]);
    let sid = second.header("session-id").unwrap().to_string();
    assert_eq!(second.body["prompt_cache_key"], sid.as_str());
    assert_eq!(reqs[0].header("session-id"), Some(sid.as_str()));
    assert_eq!(second.header("originator"), Some("codexd"));
    assert_eq!(second.header("accept"), Some("text/event-stream"));
    assert_eq!(second.body["store"], false);

    let list = env.ctl(&["sessions", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], sid.as_str());
    assert_eq!(list[0]["turns"], 2);
    let status = env.ctl(&["status", "--json"]).ok().json();
    assert_eq!(status["limits"]["primary"]["used_percent"], 12.5);
    assert_eq!(status["limits"]["secondary"]["window_minutes"], 10080);
    let text = env.ctl(&["status"]).ok().stdout;
    assert!(text.contains("usage 5-hour: 12% used, resets"), "{text}");
}

#[test]
fn first_delta_reaches_the_client_before_the_fake_sends_the_last_one() {
    let (stack, env) = signed_in();
    stack.backend.set_script(Script {
        text: Some("one two three four five six seven eight".into()),
        deltas: Some(8),
        delta_delay: Duration::from_millis(150),
        ..Script::default()
    });
    let mut child = env
        .ctl_cmd()
        .args(["ask", "--json", "--reasoning", "count"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read until the first text event arrives.
    let first_text_at = loop {
        let n = stdout.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        if String::from_utf8_lossy(&buf).contains("\"event\":\"text\"") {
            break start.elapsed();
        }
    };
    assert_eq!(
        stack.backend.finished_streams(),
        0,
        "the first delta arrived while the fake was still streaming"
    );
    stdout.read_to_end(&mut buf).unwrap();
    assert!(child.wait().unwrap().success());
    let total = start.elapsed();
    assert!(
        first_text_at + Duration::from_millis(500) < total,
        "{first_text_at:?} vs {total:?}"
    );

    let lines: Vec<Value> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "started");
    assert_eq!(lines.last().unwrap()["event"], "done");
    assert!(lines.iter().any(|l| l["event"] == "reasoning"));
    let streamed: String = lines
        .iter()
        .filter(|l| l["event"] == "text")
        .map(|l| l["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "one two three four five six seven eight");
    assert_eq!(lines.last().unwrap()["text"], streamed.as_str());
    assert!(lines.last().unwrap()["usage"]["total"].as_u64().unwrap() > 0);
}

#[test]
fn piped_stdin_is_sent_as_context() {
    let (stack, env) = signed_in();
    let out = env
        .ctl_stdin(&["ask", "review this"], "diff --git a/x b/x\n+added\n")
        .ok();
    assert!(out.stdout.starts_with("turn 1: "), "{out:?}");
    let user = &stack.backend.last_request().unwrap().texts_of("user")[0];
    assert!(
        user.contains("diff --git a/x b/x") && user.contains("review this"),
        "{user}"
    );
    // Only stdin, no arguments.
    let out = env.ctl_stdin(&["ask", "--new"], "just this\n").ok();
    assert!(out.stdout.contains("just this"), "{out:?}");
    // Neither: bad input.
    let out = env.ctl_stdin(&["ask"], "");
    assert_eq!(out.code, 7, "{out:?}");
    assert!(out.stderr.contains("The prompt is empty"), "{out:?}");
    let out = env.ctl_stdin(&["ask", "--effort", "huge", "x"], "");
    assert_eq!(out.code, 7, "{out:?}");
}

#[test]
fn error_paths_have_clear_messages_and_exit_codes() {
    let (stack, env) = signed_in();
    let b = &stack.backend;

    // 401 once: one refresh, one retry, success.
    let refreshes = stack.auth.refresh_count();
    b.push_fault(BackendFault::Unauthorized, 1);
    ask(&env, &["--new", "after 401"]).ok();
    assert_eq!(stack.auth.refresh_count(), refreshes + 1);

    // 500 twice: retried with backoff, success.
    let before = b.response_count();
    b.push_fault(BackendFault::ServerError { retry_after: None }, 2);
    let out = ask(&env, &["--new", "after 500"]).ok();
    assert!(out.stdout.contains("turn 1: after 500"));
    assert!(out.stderr.contains("retrying"), "{out:?}");
    assert_eq!(b.response_count(), before + 3);

    // 500 forever (Retry-After: 0 keeps this fast): 1 try + 4 retries, then exit 6.
    let before = b.response_count();
    b.push_fault(
        BackendFault::ServerError {
            retry_after: Some(0),
        },
        5,
    );
    let out = ask(&env, &["--new", "x"]);
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stderr.contains("HTTP 500"), "{out:?}");
    assert_eq!(b.response_count(), before + 5);
    b.clear_faults();

    // 429 usage limit: no retry, exit 5, plan + window + reset time.
    let before = b.response_count();
    b.push_fault(BackendFault::usage_limit_in(2 * 3600 + 11 * 60 + 30), 1);
    let out = ask(&env, &["--new", "x"]);
    assert_eq!(out.code, 5, "{out:?}");
    assert!(
        out.stderr.contains(
            "You have reached your plus usage limit for the 5-hour window; it resets at "
        ),
        "{out:?}"
    );
    assert!(out.stderr.contains("(in 2 h 11 min)"), "{out:?}");
    assert_eq!(b.response_count(), before + 1, "no retry storm");

    // Unsupported model: exit 6, names the model and points at the available ones.
    b.push_fault(BackendFault::ModelNotSupported, 1);
    let out = ask(&env, &["--new", "--model", "gpt-nope", "x"]);
    assert_eq!(out.code, 6, "{out:?}");
    assert!(
        out.stderr
            .contains("'gpt-nope' is not available with your ChatGPT account"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("Models available to you") || out.stderr.contains("codexctl models"),
        "{out:?}"
    );

    // response.failed codes.
    b.push_fault(
        BackendFault::failed("context_length_exceeded", "too long"),
        1,
    );
    let out = ask(&env, &["--new", "x"]);
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stderr.contains("context window"), "{out:?}");
    b.push_fault(BackendFault::failed("usage_not_included", "no"), 1);
    let out = ask(&env, &["--new", "x"]);
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stderr.contains("does not include Codex"), "{out:?}");

    // Overloaded, persistently.
    b.set_fault_forever(BackendFault::Overloaded);
    let out = ask(&env, &["--new", "x"]);
    b.clear_faults();
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stderr.contains("overloaded"), "{out:?}");

    // Failed turns left nothing behind: only the two successful conversations are stored.
    let list = env.ctl(&["sessions", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

    // Not signed in: exit 4.
    env.ctl(&["logout", "--local-only"]).ok();
    let out = ask(&env, &["x"]);
    assert_eq!(out.code, 4, "{out:?}");
}

#[test]
fn broken_streams_are_resent_only_when_nothing_was_shown() {
    let (stack, env) = signed_in();
    let b = &stack.backend;
    b.set_reasoning(false);
    // Cut after `response.created` (nothing shown): resent, success.
    b.push_fault(BackendFault::CutAfter(1), 2);
    let out = ask(&env, &["first"]).ok();
    assert_eq!(out.stdout, "turn 1: first\n");
    assert!(out.stderr.contains("sending the turn again"), "{out:?}");
    // Reset mid-stream after text was shown: reported, partial text not stored.
    // (Slow deltas so the first ones are flushed before the reset.)
    b.set_delta_delay(Duration::from_millis(50));
    b.push_fault(BackendFault::ResetAfter(4), 1);
    let out = ask(&env, &["second"]);
    b.set_delta_delay(Duration::ZERO);
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stderr.contains("was not saved"), "{out:?}");
    // Unknown events and garbage are skipped; the conversation has exactly one turn before.
    b.set_noise(true);
    let out = ask(&env, &["third"]).ok();
    assert_eq!(out.stdout, "turn 2: third\n");
    b.set_noise(false);
    // Upstream fixture shapes: hello (no deltas, no usage) and a zero usage block.
    b.push_fault(BackendFault::Fixture(Fixture::CliHello), 1);
    let out = ask(&env, &["--new", "fixture"]).ok();
    assert!(!out.stdout.trim().is_empty(), "{out:?}");
    b.push_fault(BackendFault::Fixture(Fixture::ZeroUsage), 1);
    ask(&env, &["--new", "fixture"]).ok();
    // Never completes: resent 5 times, then a clear error.
    b.push_fault(BackendFault::Fixture(Fixture::Incomplete), 6);
    let out = ask(&env, &["--new", "x"]);
    assert_eq!(out.code, 6, "{out:?}");
    assert!(
        out.stderr
            .contains("stream closed before response.completed"),
        "{out:?}"
    );
}

#[test]
fn idle_stream_times_out() {
    let (stack, env) = signed_in();
    env.write_config("[backend]\nidle_timeout_secs = 1\n");
    env.ctl(&["daemon", "restart"]).ok();
    stack.backend.set_reasoning(false);
    stack.backend.push_fault(BackendFault::HangAfter(3), 1);
    let out = ask(&env, &["x"]);
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stderr.contains("no data for 1 s"), "{out:?}");
}

#[test]
fn ctrl_c_cancels_the_upstream_request_and_saves_nothing() {
    let (stack, env) = signed_in();
    stack.backend.set_reasoning(false);
    stack.backend.set_deltas(Some(50));
    stack.backend.set_delta_delay(Duration::from_millis(100));
    let mut child = env
        .ctl_cmd()
        .args(["ask", "long answer please"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    assert_eq!(stdout.read(&mut first).unwrap(), 1, "some text streamed");
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        wait_until(Duration::from_secs(5), || stack.backend.cancelled_streams()
            == 1),
        "the daemon dropped the upstream request"
    );
    assert_eq!(stack.backend.finished_streams(), 0);
    let list = env.ctl(&["sessions", "list", "--json"]).ok().json();
    assert_eq!(list, serde_json::json!([]), "nothing half-written");
    // The conversation still works afterwards, as its first turn.
    stack.backend.set_delta_delay(Duration::ZERO);
    assert_eq!(ask(&env, &["again"]).ok().stdout, "turn 1: again\n");
}

#[test]
fn history_survives_kill_9_and_a_torn_last_line() {
    let (_stack, env) = signed_in();
    ask(&env, &["one"]).ok();
    ask(&env, &["two"]).ok();
    env.kill_daemon(9);
    // The killed process may linger as a zombie while one of its threads finishes an fsync,
    // still holding the listening socket: wait until nothing accepts on it any more.
    assert!(wait_until(Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&env.socket).is_err()
    }));
    // A crash mid-write leaves a torn line at the end of the history file.
    let dir = env.paths().sessions_dir();
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"kind\":\"turn\",\"at\":1,\"mo").unwrap();
    drop(f);
    // The next ask starts a fresh daemon, which reloads the conversation.
    assert_eq!(ask(&env, &["three"]).ok().stdout, "turn 3: three\n");
    let list = env.ctl(&["sessions", "list", "--json"]).ok().json();
    assert_eq!(list[0]["turns"], 3);
}

#[test]
fn a_hundred_concurrent_conversations_neither_lose_nor_cross_events() {
    let (stack, env) = signed_in();
    stack.backend.set_reasoning(false);
    stack.backend.set_delta_delay(Duration::from_millis(10));
    ask(&env, &["warm up"]).ok();
    let children: Vec<_> = (0..100)
        .map(|i| {
            let child = env
                .ctl_cmd()
                .args([
                    "ask",
                    "--session",
                    &format!("s{i}"),
                    &format!("question number {i}"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (i, child)
        })
        .collect();
    for (i, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("turn 1: question number {i}\n")
        );
    }
    let list = env.ctl(&["sessions", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 101);
}

#[test]
fn sessions_are_named_listed_shown_renamed_removed_and_idle_actors_stop() {
    let (_stack, env) = signed_in();
    env.write_config("[sessions]\nidle_stop_secs = 1\n");
    env.ctl(&["daemon", "restart"]).ok();
    ask(&env, &["--session", "work", "alpha"]).ok();
    ask(&env, &["beta"]).ok();
    // Named sessions are reachable from any terminal.
    let mut other = env.ctl_cmd();
    other.env("CODEXD_SCOPE", "another-terminal|/elsewhere");
    let out = codexd_tests::harness::run(other.args(["ask", "--session", "work", "gamma"]));
    assert_eq!(out.stdout, "turn 2: gamma\n", "{out:?}");
    // --new with a taken name is refused.
    let out = ask(&env, &["--new", "--session", "work", "x"]);
    assert_eq!(out.code, 7, "{out:?}");

    let list = env.ctl(&["sessions", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let text = env.ctl(&["sessions", "list"]).ok().stdout;
    assert!(text.contains("work") && text.contains("turns"), "{text}");
    let show = env.ctl(&["sessions", "show", "work"]).ok().stdout;
    assert!(
        show.contains("> alpha") && show.contains("turn 2: gamma"),
        "{show}"
    );
    env.ctl(&["sessions", "rename", "work", "job"]).ok();
    let out = env.ctl(&["sessions", "show", "work"]);
    assert_eq!(out.code, 7, "{out:?}");
    let detail = env.ctl(&["sessions", "show", "job", "--json"]).ok().json();
    assert_eq!(detail["turns"].as_array().unwrap().len(), 2);

    // Idle actors stop, and the conversation is restored from disk when addressed again.
    assert!(wait_until(Duration::from_secs(10), || {
        env.ctl(&["status", "--json"]).ok().json()["sessions"]["active"] == 0
    }));
    assert_eq!(
        ask(&env, &["--session", "job", "delta"]).ok().stdout,
        "turn 3: delta\n"
    );

    env.ctl(&["sessions", "rm", "job"]).ok();
    let list = env.ctl(&["sessions", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let out = env.ctl(&["sessions", "rm", "job"]);
    assert_eq!(out.code, 7, "{out:?}");
}

#[test]
fn two_asks_in_one_conversation_run_one_after_the_other() {
    let (stack, env) = signed_in();
    stack.backend.set_reasoning(false);
    stack.backend.set_delta_delay(Duration::from_millis(150));
    let spawn = |q: &str| {
        env.ctl_cmd()
            .args(["ask", "--session", "shared", q])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn("first");
    std::thread::sleep(Duration::from_millis(250));
    let b = spawn("second");
    let a = a.wait_with_output().unwrap();
    let b = b.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&a.stdout), "turn 1: first\n");
    assert_eq!(String::from_utf8_lossy(&b.stdout), "turn 2: second\n");
    assert!(String::from_utf8_lossy(&b.stderr).contains("waiting for the previous question"));
}

#[test]
fn options_reach_the_request_and_effort_is_clamped_with_a_notice() {
    let (stack, env) = signed_in();
    let extra = env.home().join("extra.md");
    std::fs::write(&extra, "Answer like a pirate.").unwrap();
    let out = ask(
        &env,
        &[
            "--model",
            "gpt-6.1-terra",
            "--effort",
            "ultra",
            "--verbosity",
            "low",
            "--instructions-file",
            extra.to_str().unwrap(),
            "ahoy",
        ],
    )
    .ok();
    assert!(
        out.stderr
            .contains("gpt-6.1-terra does not support reasoning effort ultra; using xhigh"),
        "{out:?}"
    );
    let req = stack.backend.last_request().unwrap();
    assert_eq!(req.model(), Some("gpt-6.1-terra"));
    assert_eq!(req.body["reasoning"]["effort"], "xhigh");
    assert!(
        req.body["reasoning"].get("summary").is_none(),
        "the catalog's summary default is none"
    );
    assert_eq!(req.body["text"]["verbosity"], "low");
    assert_eq!(req.texts_of("developer")[1], "Answer like a pirate.");
    // The conversation keeps its model on the next turn; config defaults apply otherwise.
    ask(&env, &["more"]).ok();
    assert_eq!(
        stack.backend.last_request().unwrap().model(),
        Some("gpt-6.1-terra")
    );
    // `--reasoning` asks for summaries.
    ask(&env, &["--reasoning", "think"]).ok();
    assert_eq!(
        stack.backend.last_request().unwrap().body["reasoning"]["summary"],
        "auto"
    );
}
