//! Real clients through the gateway, offline against the fakes: the official `openai` Python
//! SDK (Responses streamed and not, `previous_response_id`, a function-call round trip, chat
//! completions streamed with tool calls, once over the Unix socket) and the Codex CLI
//! (`codex exec` with codexd as its custom provider, catalog fetch included). Each test skips
//! with a reason when its client is not installed (`.ci/run` installs them).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use codexd_tests::fakes::FakeStack;
use codexd_tests::fakes::backend::Script;
use codexd_tests::harness::{Env, free_port, run_within, signed_in_with, wait_until};

fn signed_in_with_tcp() -> (FakeStack, Env, u16) {
    let port = free_port();
    let (stack, env) = signed_in_with(|env, _| {
        env.write_config(&format!("[gateway]\ntcp = true\nport = {port}\n"));
    });
    assert!(wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    (stack, env, port)
}

fn python_with_openai() -> Option<String> {
    for py in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(py)
            .args(["-c", "import openai"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(py.to_owned());
        }
    }
    None
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/openai_sdk.py")
}

fn run_sdk(py: &str, env: &Env, port: u16, part: &str) {
    let key = env.ctl(&["gateway", "key"]).ok().stdout.trim().to_owned();
    let mut cmd = Command::new(py);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("OPENAI_BASE_URL", format!("http://127.0.0.1:{port}/v1"))
        .env("OPENAI_API_KEY", key)
        .env(
            "GATEWAY_SOCKET",
            env.socket.parent().unwrap().join("gateway.sock"),
        )
        .env("MODEL", "gpt-6.2-sol")
        .arg(script())
        .arg(part);
    let out = match run_within(&mut cmd, Duration::from_secs(120)) {
        Ok(o) | Err(o) => o,
    };
    assert_eq!(
        out.code, 0,
        "openai SDK ({part}) failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(!out.stdout.contains("FAIL"), "{}", out.stdout);
    eprintln!("{}", out.stdout);
}

#[test]
fn openai_python_sdk_responses_and_chat() {
    let Some(py) = python_with_openai() else {
        eprintln!("skipped: the openai Python package is not installed (pip install openai)");
        return;
    };
    let (_stack, env, port) = signed_in_with_tcp();
    run_sdk(&py, &env, port, "plain");
    run_sdk(&py, &env, port, "unix");
}

#[test]
fn openai_python_sdk_function_calls_both_apis() {
    let Some(py) = python_with_openai() else {
        eprintln!("skipped: the openai Python package is not installed (pip install openai)");
        return;
    };
    let (stack, env, port) = signed_in_with_tcp();
    stack.backend.set_script(Script {
        call_tools: true,
        ..Script::default()
    });
    run_sdk(&py, &env, port, "tools");
    let outputs = stack
        .backend
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("\"function_call_output\""))
        .count();
    assert!(outputs >= 2, "both APIs sent the tool's output back");
}

fn codex_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CODEX_BIN") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("codex"))
            .find(|p| p.is_file())
    })
}

#[test]
fn codex_cli_exec_through_the_gateway() {
    let Some(codex) = codex_bin() else {
        eprintln!("skipped: the Codex CLI is not installed (npm i -g @openai/codex)");
        return;
    };
    let (stack, env, _port) = signed_in_with_tcp();
    let home = env.root.path().join("codex-home");
    std::fs::create_dir_all(&home).unwrap();
    let provider = env.ctl(&["gateway", "config", "codex"]).ok().stdout;
    std::fs::write(
        home.join("config.toml"),
        format!("model = \"gpt-6.2-sol\"\n{provider}"),
    )
    .unwrap();
    let mut cmd = Command::new(&codex);
    cmd.env_clear();
    for k in ["PATH", "LANG", "TERM", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    // The auth command in the config runs codexctl: it needs the test's daemon settings.
    cmd.envs(env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("CODEX_HOME", &home)
        .current_dir(env.root.path())
        .args([
            "exec",
            "--skip-git-repo-check",
            "say hi through the gateway",
        ]);
    let out = match run_within(&mut cmd, Duration::from_secs(120)) {
        Ok(o) | Err(o) => o,
    };
    assert_eq!(
        out.code, 0,
        "codex exec failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("say hi through the gateway"), "{out:?}");
    let reqs = stack.backend.requests();
    let last = reqs.last().unwrap();
    assert!(
        last.header("authorization")
            .is_some_and(|a| !a.contains("codexd-gw-")),
        "the backend saw codexd's token, not the gateway key"
    );
    assert_eq!(last.header("originator"), Some("codexd"));
    assert!(
        last.body["input"]
            .to_string()
            .contains("say hi through the gateway"),
        "the CLI's body went through"
    );
}

fn opencode_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OPENCODE_BIN") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("opencode"))
            .find(|p| p.is_file())
    })
}

/// OpenCode with the `@ai-sdk/openai` provider that `codexctl gateway config opencode` prints,
/// offline (`OPENCODE_DISABLE_MODELS_FETCH=1`, its own HOME).
#[test]
fn opencode_run_through_the_gateway() {
    let Some(opencode) = opencode_bin() else {
        eprintln!("skipped: OpenCode is not installed (npm i -g opencode-ai)");
        return;
    };
    let (stack, env, _port) = signed_in_with_tcp();
    let project = env.root.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let config = env.ctl(&["gateway", "config", "opencode"]).ok().stdout;
    std::fs::write(project.join("opencode.json"), &config).unwrap();
    let mut cmd = Command::new(&opencode);
    cmd.env_clear();
    for k in ["PATH", "LANG", "TERM", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    let home = env.root.path().join("opencode-home");
    std::fs::create_dir_all(&home).unwrap();
    cmd.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
        .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
        .current_dir(&project)
        .args(["run", "-m", "codexd/gpt-6.2-sol", "say hi through opencode"]);
    let out = match run_within(&mut cmd, Duration::from_secs(180)) {
        Ok(o) | Err(o) => o,
    };
    assert_eq!(
        out.code, 0,
        "opencode run failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    eprintln!("{}", out.stdout);
    assert!(out.stdout.contains("say hi through opencode"), "{out:?}");
    assert!(
        stack
            .backend
            .requests()
            .iter()
            .any(|r| r.body.to_string().contains("say hi through opencode")),
        "the prompt reached the backend"
    );
}
