//! End-to-end tests of the gateway: the real `codexd` and `codexctl` against the fakes, HTTP
//! over `gateway.sock` and loopback TCP. Security (key, Host, Origin, OPTIONS, content type,
//! another uid), the Responses and Chat Completions paths, errors with upstream status, the
//! control commands, and 20 concurrent requests across a token expiry sharing one refresh.
#![allow(clippy::unwrap_used)]

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use codexd_tests::fakes::FakeStack;
use codexd_tests::fakes::backend::BackendFault;
use codexd_tests::harness::{Env, free_port, run, signed_in, signed_in_with, wait_until};
use serde_json::{Value, json};

/// A plain HTTP/1.0 exchange (no chunking, the server closes): (status, headers, body).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn exchange(
    mut s: impl std::io::Read + std::io::Write,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.0\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("content-length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn gateway_socket(env: &Env) -> PathBuf {
    env.socket.parent().unwrap().join("gateway.sock")
}

fn unix(env: &Env, method: &str, path: &str, body: Option<Value>) -> Reply {
    let s = UnixStream::connect(gateway_socket(env)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(|b| b.to_string());
    exchange(
        s,
        method,
        path,
        &[("host", "localhost"), ("content-type", "application/json")],
        body.as_deref(),
    )
}

fn tcp(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    exchange(s, method, path, headers, body)
}

/// Fakes, an environment with `config` written before the daemon starts, and a sign-in.
fn setup_with(config: &str) -> (FakeStack, Env) {
    signed_in_with(|env, _| env.write_config(config))
}

/// Start the daemon (through a status call) and wait for the gateway socket.
fn start(env: &Env) {
    env.ctl(&["status"]).ok();
    assert!(wait_until(Duration::from_secs(10), || gateway_socket(env).exists()));
}

#[test]
fn responses_over_the_unix_socket_generic_and_streamed() {
    let (stack, env) = signed_in();
    start(&env);
    let mode = std::fs::metadata(gateway_socket(&env))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let r = unix(
        &env,
        "POST",
        "/v1/responses",
        Some(json!({
            "model": "gpt-6.2-sol", "input": "hello", "instructions": "Answer briefly.", "temperature": 0.5,
        })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["output_text"], "turn 1: hello");
    let id = v["id"].as_str().unwrap().to_owned();
    let sent = stack.backend.last_request().unwrap();
    assert_eq!(sent.body["store"], false);
    assert!(sent.body.get("temperature").is_none());
    assert!(sent.body.get("instructions").is_none());
    assert_eq!(sent.body["input"][0]["role"], "developer");
    assert_eq!(sent.header("originator"), Some("codexd"));
    assert!(sent.header("authorization").is_some());

    // previous_response_id from the store; the backend sees the whole conversation, no ids.
    let r = unix(
        &env,
        "POST",
        "/v1/responses",
        Some(json!({
            "model": "gpt-6.2-sol", "input": "again", "previous_response_id": id, "stream": true,
        })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.body.contains("event: response.completed"), "{}", r.body);
    assert!(r.body.contains("turn 2: again"), "{}", r.body);

    let r = unix(
        &env,
        "POST",
        "/v1/responses",
        Some(json!({"model": "gpt-6.2-sol", "input": "x", "previous_response_id": "resp_unknown"})),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not known")
    );

    let r = unix(&env, "GET", "/v1/models", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"][0]["id"], "gpt-6.2-sol");
    let r = unix(&env, "GET", "/v1/models?client_version=0.171.0", None);
    assert!(r.json()["models"].is_array(), "{}", r.body);

    env.ctl(&["daemon", "stop"]).ok();
    assert!(
        wait_until(Duration::from_secs(10), || !gateway_socket(&env).exists()),
        "the daemon removes its gateway socket when it stops"
    );
}

#[test]
fn chat_completions_streamed_and_not() {
    let (_stack, env) = signed_in();
    start(&env);
    let r = unix(
        &env,
        "POST",
        "/v1/chat/completions",
        Some(json!({
            "model": "gpt-6.2-sol", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "turn 1: hi");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"]["reasoning_content"].is_string());
    let r = unix(
        &env,
        "POST",
        "/v1/chat/completions",
        Some(json!({
            "model": "gpt-6.2-sol", "stream": true, "messages": [{"role": "user", "content": "hi"}],
        })),
    );
    assert!(r.body.trim_end().ends_with("data: [DONE]"), "{}", r.body);
    assert!(
        !r.body.contains("\"choices\":[]"),
        "no usage chunk unless asked"
    );
    let r = unix(
        &env,
        "POST",
        "/v1/chat/completions",
        Some(json!({"model": "gpt-6.2-sol", "n": 3, "messages": []})),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn usage_limit_is_a_429_naming_the_reset() {
    let (stack, env) = signed_in();
    start(&env);
    stack
        .backend
        .push_fault(BackendFault::usage_limit_in(3600), 1);
    let r = unix(
        &env,
        "POST",
        "/v1/responses",
        Some(json!({"model": "gpt-6.2-sol", "input": "hi"})),
    );
    assert_eq!(r.status, 429, "{}", r.body);
    let v = r.json();
    assert_eq!(v["error"]["code"], "usage_limit_reached");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("reset"),
        "{v}"
    );
}

#[test]
fn tcp_listener_is_guarded_and_turned_on_and_off() {
    let port = free_port();
    let (_stack, env) = setup_with(&format!("[gateway]\ntcp = false\nport = {port}\n"));
    start(&env);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "off by default"
    );
    let out = env.ctl(&["gateway", "on"]).ok();
    assert!(out.stdout.contains(&format!("127.0.0.1:{port}")), "{out:?}");
    let key = env.ctl(&["gateway", "key"]).ok().stdout.trim().to_owned();
    let key_file = env.data_dir().join("gateway.key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let host = format!("127.0.0.1:{port}");
    let bearer = format!("Bearer {key}");
    fn with<'a>(
        base: &[(&'a str, &'a str)],
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut h = base.to_vec();
        h.extend_from_slice(extra);
        h
    }
    let base = [("host", host.as_str()), ("authorization", bearer.as_str())];
    let ok = |extra: &[(&'static str, &'static str)]| with(&base, extra);
    assert_eq!(
        tcp(port, "GET", "/v1/models", &[("host", &host)], None).status,
        401
    );
    assert_eq!(
        tcp(
            port,
            "GET",
            "/v1/models",
            &[("host", &host), ("authorization", "Bearer nope")],
            None
        )
        .status,
        401
    );
    assert_eq!(tcp(port, "GET", "/v1/models", &ok(&[]), None).status, 200);
    assert_eq!(
        tcp(
            port,
            "GET",
            "/v1/models",
            &[("host", &host), ("x-api-key", &key)],
            None
        )
        .status,
        200
    );
    assert_eq!(
        tcp(
            port,
            "GET",
            "/v1/models",
            &[("host", "rebind.example:80"), ("authorization", &bearer)],
            None
        )
        .status,
        421
    );
    let r = tcp(
        port,
        "GET",
        "/v1/models",
        &ok(&[("origin", "https://evil.example")]),
        None,
    );
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());
    assert_eq!(
        tcp(
            port,
            "GET",
            "/v1/models",
            &ok(&[("sec-fetch-site", "cross-site")]),
            None
        )
        .status,
        403
    );
    assert_eq!(
        tcp(
            port,
            "OPTIONS",
            "/v1/responses",
            &ok(&[("origin", "https://evil.example")]),
            None
        )
        .status,
        403
    );
    assert_eq!(
        tcp(port, "OPTIONS", "/v1/responses", &ok(&[]), None).status,
        403
    );
    assert_eq!(
        tcp(
            port,
            "POST",
            "/v1/responses",
            &ok(&[("content-type", "text/plain")]),
            Some("{}")
        )
        .status,
        415
    );
    let body = json!({"model": "gpt-6.2-sol", "input": "hi"}).to_string();
    let r = tcp(
        port,
        "POST",
        "/v1/responses",
        &ok(&[("content-type", "application/json")]),
        Some(&body),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let status = env.ctl(&["gateway", "status", "--json"]).ok().json();
    assert!(
        status["requests_refused"].as_u64().unwrap() >= 7,
        "{status}"
    );
    assert!(status["requests_served"].as_u64().unwrap() >= 2, "{status}");

    let new = env
        .ctl(&["gateway", "key", "--rotate"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_ne!(new, key);
    assert_eq!(tcp(port, "GET", "/v1/models", &ok(&[]), None).status, 401);

    env.ctl(&["gateway", "off"]).ok();
    assert!(wait_until(Duration::from_secs(10), || TcpStream::connect(
        ("127.0.0.1", port)
    )
    .is_err()));
    let st = env.ctl(&["gateway", "status"]).ok();
    assert!(st.stdout.contains("off"), "{st:?}");
}

#[test]
fn config_snippets_point_at_the_gateway_without_the_key_inline() {
    let port = free_port();
    let (_stack, env) = setup_with(&format!("[gateway]\nport = {port}\n"));
    start(&env);
    let key = env.ctl(&["gateway", "key"]).ok().stdout.trim().to_owned();
    let codex = env.ctl(&["gateway", "config", "codex"]).ok();
    assert!(
        codex.stdout.contains("wire_api = \"responses\""),
        "{codex:?}"
    );
    assert!(
        codex
            .stdout
            .contains(&format!("http://127.0.0.1:{port}/v1"))
    );
    assert!(codex.stdout.contains("args = [\"gateway\", \"key\"]"));
    assert!(!codex.stdout.contains("requires_openai_auth"));
    assert!(
        codex.stderr.contains("codexctl gateway on"),
        "warns that TCP is off"
    );
    let oc = env.ctl(&["gateway", "config", "opencode"]).ok();
    let v: Value = serde_json::from_str(&oc.stdout).unwrap();
    assert_eq!(v["provider"]["codexd"]["npm"], "@ai-sdk/openai");
    assert!(
        v["provider"]["codexd"]["options"]["apiKey"]
            .as_str()
            .unwrap()
            .starts_with("{file:")
    );
    assert!(
        v["provider"]["codexd"]["models"]["gpt-6.2-sol"].is_object(),
        "{v} {:?}",
        env.ctl(&["models", "--json"])
    );
    let envs = env.ctl(&["gateway", "config", "env"]).ok();
    assert!(envs.stdout.contains("OPENAI_BASE_URL="));
    for out in [&codex.stdout, &oc.stdout, &envs.stdout] {
        assert!(!out.contains(&key), "no key inline");
    }
}

#[test]
fn twenty_concurrent_requests_across_a_token_expiry_share_one_refresh() {
    let (stack, env) = signed_in();
    start(&env);
    // Warm the model list (it needs a token too).
    assert_eq!(unix(&env, "GET", "/v1/models", None).status, 200);
    let before = stack.auth.refresh_count();
    stack.auth.expire_access_tokens();
    stack.auth.set_token_delay(Duration::from_millis(800));
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let env = &env;
                s.spawn(move || {
                    unix(
                        env,
                        "POST",
                        "/v1/responses",
                        Some(json!({"model": "gpt-6.2-sol", "input": format!("q{i}")})),
                    )
                    .status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        stack.auth.refresh_count() - before,
        1,
        "exactly one refresh"
    );
}

#[test]
fn another_user_is_refused_on_the_gateway_socket() {
    let is_root = codexd_proto::socket::current_uid() == 0;
    if !is_root
        || Command::new("setpriv").arg("--version").output().is_err()
        || !std::path::Path::new("/usr/bin/python3").exists()
    {
        eprintln!("skipped: needs root, setpriv and /usr/bin/python3 to act as another user");
        return;
    }
    let (_stack, env) = signed_in();
    start(&env);
    let sock = gateway_socket(&env);
    for p in [
        env.root.path(),
        &env.root.path().join("run"),
        sock.parent().unwrap(),
    ] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(5)\ns.connect({:?})\ntry:\n s.sendall(b'GET /v1/models HTTP/1.0\\r\\nhost: x\\r\\n\\r\\n')\n print('CLOSED' if s.recv(64)==b'' else 'ANSWERED')\nexcept (ConnectionResetError, BrokenPipeError):\n print('CLOSED')",
        sock.display().to_string()
    );
    let out = run(Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
        &script,
    ]));
    assert_eq!(out.stdout.trim(), "CLOSED", "{out:?}");
    std::fs::set_permissions(
        sock.parent().unwrap(),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    assert_eq!(
        unix(&env, "GET", "/v1/models", None).status,
        200,
        "the owner is still served"
    );
}

/// Under systemd both listeners arrive as passed-in sockets (here from
/// `systemd-socket-activate`, as the units in `packaging/systemd/` pass them): the daemon tells
/// the control socket, `gateway.sock` and the named TCP socket apart and serves all three.
#[test]
fn socket_activated_gateway_listeners_are_adopted() {
    if Command::new("systemd-socket-activate")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: systemd-socket-activate is not installed");
        return;
    }
    let stack = FakeStack::start_blocking();
    let mut env = Env::new().with_fakes(&stack);
    env.set("CODEXD_NO_AUTOSTART", "1");
    let dir = env.socket.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let port = free_port();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("-l")
        .arg(&env.socket)
        .arg("-l")
        .arg(gateway_socket(&env))
        .arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg(codexd_tests::harness::bin("codexd"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    assert!(wait_until(Duration::from_secs(10), || gateway_socket(&env).exists()));
    // The first connection starts the daemon; the gateway answers on the adopted socket.
    let r = unix(&env, "GET", "/v1/nothing", None);
    assert_eq!(r.status, 404, "{}", r.body);
    let status = env.ctl(&["gateway", "status", "--json"]).ok().json();
    assert_eq!(status["activated"], true, "{status}");
    assert!(
        status["tcp_listening"]
            .to_string()
            .contains(&port.to_string()),
        "{status}"
    );
    let host = format!("127.0.0.1:{port}");
    let key = env.ctl(&["gateway", "key"]).ok().stdout.trim().to_owned();
    let bearer = format!("Bearer {key}");
    let h = [("host", host.as_str()), ("authorization", bearer.as_str())];
    assert_eq!(
        tcp(port, "GET", "/v1/nothing", &h, None).status,
        403,
        "TCP is off: refused"
    );
    env.ctl(&["gateway", "on"]).ok();
    assert_eq!(tcp(port, "GET", "/v1/nothing", &h, None).status, 404);
    // systemd-socket-activate exec'd codexd in its own process: this ends the daemon.
    let _ = child.kill();
    let _ = child.wait();
}

/// Opt-in request logs cover gateway requests; the gateway key appears in no file codexd
/// writes except the key file itself.
#[test]
fn request_logs_cover_the_gateway_and_the_key_is_never_logged() {
    let port = free_port();
    let (_stack, env) = setup_with(&format!("[gateway]\ntcp = true\nport = {port}\n"));
    start(&env);
    env.ctl(&["logs", "--requests", "on"]).ok();
    let key = env.ctl(&["gateway", "key"]).ok().stdout.trim().to_owned();
    let host = format!("127.0.0.1:{port}");
    let bearer = format!("Bearer {key}");
    let body = json!({"model": "gpt-6.2-sol", "input": "logged question"}).to_string();
    let r = tcp(
        port,
        "POST",
        "/v1/responses",
        &[
            ("host", host.as_str()),
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ],
        Some(&body),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let logged = |needle: &str| {
        env.all_files()
            .iter()
            .filter(|p| p.to_string_lossy().contains("requests"))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .any(|t| t.contains(needle))
    };
    // Records are written off the async workers: wait for them, not for a moment.
    assert!(
        wait_until(Duration::from_secs(10), || logged("logged question")),
        "no request log of the gateway request"
    );
    // A streamed chat completion's answer is logged too, once its stream has ended.
    let chat = json!({"model": "gpt-6.2-sol", "stream": true, "messages": [{"role": "user", "content": "streamed question"}]}).to_string();
    let r = tcp(
        port,
        "POST",
        "/v1/chat/completions",
        &[
            ("host", host.as_str()),
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ],
        Some(&chat),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        wait_until(Duration::from_secs(10), || logged(
            "turn 1: streamed question"
        )),
        "the streamed answer is not in the request logs"
    );
    let files = env.all_files();
    let key_file = env.data_dir().join("gateway.key");
    for p in files.iter().filter(|p| **p != key_file) {
        let text = String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        assert!(
            !text.contains(&key),
            "the gateway key is in {}",
            p.display()
        );
    }
}

/// A Codex client's request goes through unchanged; its session header is relayed and the
/// backend's usage headers come back.
#[test]
fn passthrough_relays_session_and_usage_headers() {
    let (stack, env) = signed_in();
    start(&env);
    let body = json!({
        "model": "gpt-6.2-sol", "stream": true, "store": false,
        "reasoning": {"effort": "low", "context": "all_turns"},
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "sess-42",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "base"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "from the cli"}]},
        ],
    });
    let s = UnixStream::connect(gateway_socket(&env)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let text = body.to_string();
    let r = exchange(
        s,
        "POST",
        "/v1/responses",
        &[
            ("host", "localhost"),
            ("content-type", "application/json"),
            ("originator", "codex_exec"),
            ("session-id", "sess-42"),
            ("x-codex-turn-metadata", "{\"turn\":1}"),
        ],
        Some(&text),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("x-codex-primary-used-percent").is_some(),
        "{:?}",
        r.headers
    );
    assert!(r.body.contains("turn 1: from the cli"), "{}", r.body);
    let sent = stack.backend.last_request().unwrap();
    assert_eq!(sent.body, body, "the body went through unchanged");
    assert_eq!(sent.header("session-id"), Some("sess-42"));
    assert_eq!(sent.header("x-codex-turn-metadata"), Some("{\"turn\":1}"));
    assert_eq!(sent.header("originator"), Some("codexd"));
}
