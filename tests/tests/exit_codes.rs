//! Every exit code `codexctl --help` and the README document, produced end to end by the
//! situation it stands for: 0 success, 1 other failure, 2 wrong command line, 3 daemon
//! unreachable, 4 not signed in, 5 usage limit, 6 backend error, 7 bad input or not found,
//! 8 sign-in/sign-out failed, 130 cancelled. Each error also says what to do next.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use codexd_tests::fakes::FakeStack;
use codexd_tests::fakes::backend::BackendFault;
use codexd_tests::harness::{Env, signed_in, wait_until};

#[test]
fn success_is_0_and_other_failures_are_1() {
    let mut env = Env::new();
    env.unset("CODEXD_TEST_HOOKS");
    assert_eq!(env.ctl(&["status"]).code, 0);
    let out = env.ctl(&["debug", "--panic", "auth"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("CODEXD_TEST_HOOKS=1"), "{out:?}");
}

#[test]
fn a_wrong_command_line_is_2_before_anything_runs() {
    let env = Env::new();
    for args in [
        &["ask", "--effort", "no spaces allowed", "x"][..],
        &["ask", "--verbosity", "loud", "x"],
        &["logs", "--level", "bogus"],
        &["logs", "--requests", "maybe"],
        &["logs", "--since", "yesterday"],
        &["data", "purge"],
        &["shell-init", "tcsh"],
        &["shell-init", "bash", "--json"],
        &["no-such-command"],
    ] {
        let out = env.ctl(args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: a usage error says why");
    }
}

#[test]
fn an_unreachable_daemon_is_3() {
    let env = Env::new();
    let out = env.ctl(&["--no-autostart", "status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("codexctl daemon start") || out.stderr.contains("not running"),
        "{out:?}"
    );
}

#[test]
fn not_signed_in_is_4() {
    let stack = FakeStack::start_blocking();
    let env = Env::new().with_fakes(&stack);
    let out = env.ctl(&["ask", "hi"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("codexctl login"), "{out:?}");
}

#[test]
fn a_usage_limit_is_5_and_a_backend_failure_is_6() {
    let (stack, env) = signed_in();
    stack
        .backend
        .push_fault(BackendFault::usage_limit_in(3600), 1);
    let out = env.ctl(&["ask", "hi"]);
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stderr.contains("resets"), "{out:?}");
    stack.backend.set_rejected_models(&["gpt-6.2-sol"]);
    let out = env.ctl(&["ask", "hi"]);
    assert_eq!(out.code, 6, "{out:?}");
    assert!(out.stderr.contains("--model"), "{out:?}");
}

#[test]
fn bad_input_and_not_found_are_7() {
    let (_stack, env) = signed_in();
    let out = env.ctl(&["sessions", "show", "no-such-conversation"]);
    assert_eq!(out.code, 7, "{out:?}");
    let out = env.ctl_stdin(&["ask"], "");
    assert_eq!(out.code, 7, "{out:?}");
    assert!(out.stderr.contains("The prompt is empty"), "{out:?}");
    let out = env.ctl(&["ask", "--effort", "huge", "x"]);
    assert_eq!(out.code, 7, "an effort the model does not list: {out:?}");
    assert!(out.stderr.contains("low, medium"), "{out:?}");
}

#[test]
fn a_failed_sign_out_is_8() {
    let (stack, env) = signed_in();
    stack.auth.set_revoke_failing(true);
    let out = env.ctl(&["logout"]);
    assert_eq!(out.code, 8, "{out:?}");
    assert!(
        out.stderr.contains("--local-only") || out.stderr.contains("try again"),
        "{out:?}"
    );
}

#[test]
fn ctrl_c_is_130() {
    let (stack, env) = signed_in();
    stack.backend.set_delta_delay(Duration::from_millis(200));
    let child = env
        .ctl_cmd()
        .args(["ask", "count slowly to one hundred"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || stack.backend.open_streams() > 0),
        "the answer never started"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
}
