//! The privacy promise, checked end to end: a full run (sign-in → ask with request logging on →
//! reactive refresh → logout) leaves no token, code, verifier or state in any file codexd
//! wrote, and request logs keep bodies but redact credentials.
#![allow(clippy::unwrap_used)]

use codexd_tests::fakes::FakeStack;
use codexd_tests::harness::Env;

#[test]
fn a_full_run_leaves_no_secret_in_any_file() {
    let stack = FakeStack::start_blocking();
    let mut env = Env::new().with_fakes(&stack);
    env.set("CODEXD_SCOPE", "privacy|/");
    let import = env.import_login(&stack);

    env.ctl(&["logs", "--requests", "on"]).ok();
    let status = env.ctl(&["status"]).ok().stdout;
    assert!(status.contains("request logging is ON"), "{status}");
    env.ctl(&["ask", "first question"]).ok();
    // The backend now rejects the access token: one refresh, one retry.
    stack.auth.expire_access_tokens();
    let out = env.ctl(&["ask", "second question"]).ok();
    assert!(out.stdout.contains("second question"), "{out:?}");
    assert!(stack.auth.refresh_count() >= 1);
    env.ctl(&["logs", "--requests", "off"]).ok();

    // Request logs: one file per stage, bodies kept, credentials masked.
    let request_logs: Vec<_> = env
        .all_files()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/logs/requests/"))
        .collect();
    assert!(request_logs.len() >= 4, "{request_logs:?}");
    let mut saw_prompt = false;
    for f in &request_logs {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        for pair in v["headers"].as_array().unwrap() {
            if pair[0]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("authorization")
            {
                assert_eq!(pair[1], "***", "{f:?}");
            }
        }
        saw_prompt |= v.to_string().contains("second question");
    }
    assert!(saw_prompt, "request bodies are kept");

    env.ctl(&["logout"]).ok();
    env.ctl(&["daemon", "stop"]).ok();

    let secrets = stack.auth.issued_tokens();
    assert!(!secrets.is_empty());
    for file in env.all_files() {
        if file == import {
            continue;
        }
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret issued by the fake auth server is in {}",
                file.display()
            );
        }
    }
}
