//! End-to-end tests of sign-in (browser, paste, device, import), refresh (proactive,
//! single-flight, after a 401, permanent failure, crash during refresh), fail-closed logout,
//! the file store's mode, no token in any log, and the real Secret Service keyring.
//! Every test runs the real `codexd` and `codexctl` against the fake issuer.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use codexd_proto::frame::{read_message, write_message};
use codexd_proto::message::DebugRequest;
use codexd_proto::{
    ClientMessage, ErrorCode, Hello, HelloReply, PROTOCOL_VERSION, Reply, Request, ServerMessage,
    WireError,
};
use codexd_tests::fakes::FakeStack;
use codexd_tests::fakes::jwt::Identity;
use codexd_tests::harness::{Env, Output, wait_until};

fn setup() -> (FakeStack, Env) {
    let stack = FakeStack::start_blocking();
    let env = Env::new().with_fakes(&stack);
    (stack, env)
}

fn status(env: &Env) -> serde_json::Value {
    env.ctl(&["status", "--json"]).ok().json()["auth"].clone()
}

fn creds_file(env: &Env) -> std::path::PathBuf {
    env.paths().credentials_file()
}

/// Ask the daemon for an access token through the test hook; returns (account, token sha).
fn debug_access(env: &Env, after_unauthorized: bool) -> Result<(String, String), WireError> {
    let mut s = UnixStream::connect(&env.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write_message(
        &mut s,
        &Hello {
            protocol: PROTOCOL_VERSION,
            client: "auth-test".into(),
        },
    )
    .unwrap();
    let hello: HelloReply = read_message(&mut s).unwrap().unwrap();
    assert!(matches!(hello, HelloReply::Welcome { .. }));
    write_message(
        &mut s,
        &ClientMessage::Request(Request::Debug(DebugRequest::Access { after_unauthorized })),
    )
    .unwrap();
    loop {
        let Ok(Some(msg)) = read_message::<_, ServerMessage>(&mut s) else {
            return Err(WireError::new(ErrorCode::Internal, "connection closed"));
        };
        match msg {
            ServerMessage::Event(_) => continue,
            ServerMessage::Reply(Reply::DebugAccess {
                account_id,
                token_sha256,
            }) => return Ok((account_id, token_sha256)),
            ServerMessage::Reply(other) => panic!("unexpected reply {other:?}"),
            ServerMessage::Error(e) => return Err(e),
        }
    }
}

/// Write a Codex CLI auth.json for freshly minted tokens and import it.
fn import_login(env: &Env, stack: &FakeStack, access_lifetime: i64) -> Output {
    let tokens = stack
        .auth
        .mint_login_for(&stack.auth.identity(), access_lifetime);
    let path = env.home().join("codex-auth.json");
    std::fs::write(&path, tokens.auth_json().to_string()).unwrap();
    env.ctl(&["login", "--import-codex", path.to_str().unwrap()])
}

/// A `codexctl login` running in the background whose stderr lines arrive on a channel.
struct RunningLogin {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl RunningLogin {
    fn start(env: &Env, args: &[&str]) -> Self {
        let mut child = env.spawn_ctl(args);
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Wait for a stderr line matching `pred`; returns it.
    fn line(&self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let l = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .expect("expected stderr line did not arrive");
            if pred(&l) {
                return l;
            }
        }
    }

    fn authorize_url(&self) -> String {
        self.line(|l| l.starts_with("http") && l.contains("/oauth/authorize"))
    }

    fn finish(mut self) -> (i32, String, String) {
        let status = self.child.wait().unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut out).unwrap();
        let rest: Vec<String> = self.lines.try_iter().collect();
        (status.code().unwrap_or(-1), out, rest.join("\n"))
    }
}

/// GET without following redirects: (status, Location, body).
fn get(stack: &FakeStack, url: &str) -> (u16, Option<String>, String) {
    let url = url.to_owned();
    stack.runtime().unwrap().block_on(async move {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client.get(&url).send().await.unwrap();
        let loc = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (r.status().as_u16(), loc, r.text().await.unwrap_or_default())
    })
}

fn with_state(url: &str, state: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                state.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[test]
fn browser_flow_rejects_wrong_state_keeps_waiting_then_signs_in() {
    let (stack, env) = setup();
    let login = RunningLogin::start(&env, &["login", "--no-browser"]);
    let url = login.authorize_url();
    let q: std::collections::HashMap<String, String> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    // The consent page accepts only allow-listed originators; codexd names itself elsewhere.
    assert_eq!(q["originator"], "codex_cli_rs");
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"));
    let (code, location, _) = get(&stack, &url);
    assert_eq!(code, 302);
    let callback = location.unwrap();

    // A forged callback: 400, and the login keeps waiting.
    let (code, _, body) = get(&stack, &with_state(&callback, "forged-state"));
    assert_eq!(code, 400, "{body}");
    login.line(|l| l.contains("wrong state"));
    assert_eq!(stack.auth.code_exchange_count(), 0);

    let (code, _, body) = get(&stack, &callback);
    assert_eq!(code, 200);
    assert!(body.contains("Signed in"), "{body}");
    let (exit, stdout, stderr) = login.finish();
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("fake.user@example.com"), "{stdout}");
    let exchange = stack.auth.token_requests().pop().unwrap();
    assert_eq!(exchange.originator.as_deref(), Some("codexd"));

    let auth = status(&env);
    assert_eq!(auth["account"]["email"], "fake.user@example.com");
    assert_eq!(auth["account"]["plan"], "plus");
    assert!(auth["store"].as_str().unwrap().contains("credentials.json"));
    let mode = std::fs::metadata(creds_file(&env)).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600, "credentials file mode");
    assert!(debug_access(&env, false).is_ok());
}

#[test]
fn paste_flow_checks_state_like_the_callback() {
    let (stack, env) = setup();
    let mut login = RunningLogin::start(&env, &["login", "--paste"]);
    let url = login.authorize_url();
    let (_, location, _) = get(&stack, &url);
    let redirect = location.unwrap();
    let mut stdin = login.child.stdin.take().unwrap();
    login.line(|l| l.contains("Paste"));
    writeln!(stdin, "{}", with_state(&redirect, "wrong")).unwrap();
    login.line(|l| l.contains("state does not match"));
    writeln!(stdin, "{redirect}").unwrap();
    let (exit, stdout, stderr) = login.finish();
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    assert_eq!(stack.auth.code_exchange_count(), 1);
    assert!(status(&env)["account"]["account_id"].is_string());
}

#[test]
fn device_flow_and_disabled_device_login() {
    let (stack, env) = setup();
    stack.auth.auto_approve_after_polls(Some(2));
    let out = env.ctl(&["login", "--device"]);
    assert_eq!(out.code, 0, "{out:?}");
    let codes = stack.auth.device_user_codes();
    assert!(out.stderr.contains(&codes[0]), "{out:?}");
    assert!(out.stderr.contains("/codex/device"));

    stack.auth.set_device_enabled(false);
    let out = env.ctl(&["login", "--device"]);
    assert_eq!(out.code, 8, "{out:?}");
    assert!(out.stderr.contains("browser flow"), "{out:?}");
}

#[test]
fn import_good_and_bad_files() {
    let (stack, env) = setup();
    let bad = env.home().join("bad.json");
    let tokens = stack.auth.mint_login();
    let mut json = tokens.auth_json();
    json["tokens"]
        .as_object_mut()
        .unwrap()
        .remove("refresh_token");
    std::fs::write(&bad, json.to_string()).unwrap();
    let out = env.ctl(&["login", "--import-codex", bad.to_str().unwrap()]);
    assert_eq!(out.code, 7, "{out:?}");
    assert!(
        out.stderr.contains("tokens.refresh_token is missing"),
        "{out:?}"
    );
    assert!(status(&env)["account"].is_null());

    let out = env.ctl(&[
        "login",
        "--import-codex",
        env.home().join("nope.json").to_str().unwrap(),
    ]);
    assert!(out.stderr.contains("does not exist"), "{out:?}");

    let good = env.home().join("auth.json");
    let text = tokens.auth_json().to_string();
    std::fs::write(&good, &text).unwrap();
    let mut cmd = env.ctl_cmd();
    cmd.args(["login", "--import-codex"])
        .env("CODEX_HOME", env.home());
    let out = codexd_tests::harness::run(&mut cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("Codex CLI"), "warning shown: {out:?}");
    assert_eq!(
        std::fs::read_to_string(&good).unwrap(),
        text,
        "source untouched"
    );
    assert_eq!(status(&env)["account"]["email"], "fake.user@example.com");
}

#[test]
fn account_without_chatgpt_account_id_is_rejected() {
    let (stack, env) = setup();
    stack.auth.set_account_id(None);
    let out = import_login(&env, &stack, 3600);
    assert_eq!(out.code, 8, "{out:?}");
    assert!(out.stderr.contains("no ChatGPT account id"), "{out:?}");
    assert!(!creds_file(&env).exists());
}

#[test]
fn proactive_refresh_of_short_lived_tokens() {
    let (stack, env) = setup();
    stack.auth.set_access_lifetime(4);
    import_login(&env, &stack, 4).ok();
    assert!(
        wait_until(Duration::from_secs(10), || stack.auth.refresh_count() >= 2),
        "refreshed on a timer, twice"
    );
    let auth = status(&env);
    assert!(auth["sign_in_again"].is_null(), "{auth}");
    assert!(auth["last_refresh_error"].is_null(), "{auth}");
    assert!(debug_access(&env, false).is_ok());
    assert!(
        stack
            .auth
            .token_requests()
            .iter()
            .filter(|r| r.params.get("grant_type").map(String::as_str) == Some("refresh_token"))
            .all(|r| r.params["refresh_reason"] == "proactive_expiry")
    );
}

#[test]
fn fifty_concurrent_requests_during_expiry_share_one_refresh() {
    let (stack, env) = setup();
    import_login(&env, &stack, 2).ok();
    stack.auth.set_token_delay(Duration::from_millis(1500));
    std::thread::sleep(Duration::from_millis(1100));
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|_| s.spawn(|| debug_access(&env, false)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let shas: std::collections::HashSet<_> = results
        .iter()
        .map(|r| r.as_ref().unwrap().1.clone())
        .collect();
    assert_eq!(shas.len(), 1, "everyone got the one new token");
    assert_eq!(stack.auth.refresh_count(), 1, "exactly one refresh call");
}

#[test]
fn unauthorized_refreshes_once_and_returns_a_new_token() {
    let (stack, env) = setup();
    import_login(&env, &stack, 3600).ok();
    let (_, before) = debug_access(&env, false).unwrap();
    let (_, after) = debug_access(&env, true).unwrap();
    assert_ne!(before, after);
    assert_eq!(stack.auth.refresh_count(), 1);
    let refresh = stack.auth.token_requests().pop().unwrap();
    assert!(refresh.json, "CLI 0.171 sends the refresh as JSON");
    assert_eq!(refresh.params["refresh_reason"], "unauthorized_recovery");
    assert_eq!(refresh.originator.as_deref(), Some("codexd"));
    let (_, again) = debug_access(&env, false).unwrap();
    assert_eq!(again, after, "the new token is kept");
}

#[test]
fn permanent_refresh_failure_says_sign_in_again() {
    let (stack, env) = setup();
    import_login(&env, &stack, 3600).ok();
    stack.auth.set_refresh_expired(true);
    let e = debug_access(&env, true).unwrap_err();
    assert_eq!(e.code, ErrorCode::SignInAgain);
    assert!(e.message.contains("expired"), "{e:?}");
    let e = debug_access(&env, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::SignInAgain);
    assert_eq!(
        stack.auth.refresh_count(),
        1,
        "no retries after a permanent failure"
    );
    assert!(
        status(&env)["sign_in_again"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[test]
fn logout_revokes_then_deletes() {
    let (stack, env) = setup();
    import_login(&env, &stack, 3600).ok();
    let rt = stack.auth.live_refresh_token().unwrap();
    let out = env.ctl(&["logout"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("revoked"), "{out:?}");
    assert_eq!(stack.auth.revoked_tokens(), vec![rt]);
    assert!(!creds_file(&env).exists());
    assert!(status(&env)["account"].is_null());
}

#[test]
fn logout_fails_closed_when_revoke_fails_and_retry_succeeds() {
    let (stack, env) = setup();
    import_login(&env, &stack, 3600).ok();
    stack.auth.set_revoke_failing(true);
    let out = env.ctl(&["logout"]);
    assert_eq!(out.code, 8, "{out:?}");
    assert!(out.stderr.contains("kept"), "{out:?}");
    assert!(creds_file(&env).exists());
    assert!(status(&env)["account"].is_object());
    stack.auth.set_revoke_failing(false);
    env.ctl(&["logout"]).ok();
    assert!(!creds_file(&env).exists());
    assert_eq!(stack.auth.revoked_tokens().len(), 1);
}

#[test]
fn logout_local_only_says_tokens_stay_valid() {
    let (stack, env) = setup();
    import_login(&env, &stack, 3600).ok();
    let out = env.ctl(&["logout", "--local-only"]).ok();
    assert!(out.stdout.contains("NOT revoked"), "{out:?}");
    assert!(stack.auth.revoked_tokens().is_empty());
    assert!(!creds_file(&env).exists());
}

#[test]
fn kill_9_during_refresh_leaves_valid_credentials() {
    let (stack, env) = setup();
    import_login(&env, &stack, 3600).ok();
    stack.auth.set_token_delay(Duration::from_secs(20));
    let before = std::fs::read_to_string(creds_file(&env)).unwrap();
    // Start a reactive refresh and kill the daemon while the issuer sits on it.
    let handle = std::thread::scope(|s| {
        let h = s.spawn(|| debug_access(&env, true));
        assert!(wait_until(Duration::from_secs(10), || stack
            .auth
            .token_calls()
            >= 1));
        env.kill_daemon(9);
        h.join().unwrap()
    });
    assert!(handle.is_err(), "the request died with the daemon");
    let after = std::fs::read_to_string(creds_file(&env)).unwrap();
    assert_eq!(before, after, "the old credentials are intact");
    let auth = status(&env);
    assert_eq!(auth["account"]["email"], "fake.user@example.com");
    assert!(auth["sign_in_again"].is_null(), "{auth}");
    stack.auth.clear_faults();
    assert!(debug_access(&env, false).is_ok());
}

#[test]
fn second_login_replaces_and_revokes_the_first() {
    let (stack, env) = setup();
    import_login(&env, &stack, 3600).ok();
    let first = stack.auth.live_refresh_token().unwrap();
    let out = import_login(&env, &stack, 3600).ok();
    assert!(out.stderr.contains("previous sign-in"), "{out:?}");
    assert!(stack.auth.revoked_tokens().contains(&first));
}

#[test]
fn full_run_leaves_no_token_in_any_log() {
    let (stack, env) = setup();
    let login = RunningLogin::start(&env, &["login", "--no-browser"]);
    let (_, location, _) = get(&stack, &login.authorize_url());
    get(&stack, &location.unwrap());
    assert_eq!(login.finish().0, 0);
    debug_access(&env, true).unwrap();
    env.ctl(&["logout"]).ok();
    env.ctl(&["daemon", "stop"]);
    let secrets = stack.auth.issued_tokens();
    assert!(secrets.len() >= 5);
    let mut scanned = 0;
    for f in env.all_files() {
        if f.starts_with(env.state_dir()) || f.extension().is_some_and(|e| e == "log") {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            scanned += 1;
            for s in &secrets {
                assert!(
                    !text.contains(s.as_str()),
                    "a secret leaked into {}",
                    f.display()
                );
            }
        }
    }
    assert!(scanned > 0, "log files were scanned");
}

#[test]
fn other_identity_is_shown_in_status() {
    let (stack, env) = setup();
    stack.auth.set_identity(Identity {
        email: "pro@example.com".into(),
        plan_type: "pro".into(),
        ..Identity::default()
    });
    import_login(&env, &stack, 3600).ok();
    let auth = status(&env);
    assert_eq!(auth["account"]["plan"], "pro");
    assert!(auth["account"]["access_expires_at"].as_u64().is_some());
}

/// The keyring path against a real Secret Service (gnome-keyring on a private D-Bus session):
/// login stores the sign-in in the keyring (no file), status says so, logout deletes it.
/// Skips (and says why) when `dbus-run-session` or `gnome-keyring-daemon` is not installed.
#[test]
fn real_secret_service_keyring_round_trip() {
    let have = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("dbus-run-session") || !have("gnome-keyring-daemon") {
        eprintln!(
            "SKIPPED: needs dbus-run-session and gnome-keyring-daemon (apt-get install dbus gnome-keyring)"
        );
        return;
    }
    let (stack, mut env) = setup();
    env.set("CODEXD_CREDENTIALS_STORE", "keyring");
    let tokens = stack.auth.mint_login();
    let auth_json = env.home().join("auth.json");
    std::fs::write(&auth_json, tokens.auth_json().to_string()).unwrap();
    let ctl = codexd_tests::harness::bin("codexctl");
    let script = format!(
        "echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; \
         C={ctl}; \
         $C login --import-codex {auth} >/dev/null 2>&1 || echo LOGIN-FAILED; \
         echo '---'; $C status --json; echo '---'; \
         $C logout; echo '---'; $C status --json; \
         $C daemon stop >/dev/null 2>&1",
        ctl = ctl.display(),
        auth = auth_json.display()
    );
    let mut cmd = std::process::Command::new("dbus-run-session");
    cmd.env_clear();
    for k in ["PATH", "LANG", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.envs(env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.args(["--", "sh", "-c", &script]);
    let out = codexd_tests::harness::run(&mut cmd);
    let parts: Vec<&str> = out.stdout.split("---\n").collect();
    assert_eq!(parts.len(), 4, "{out:?}");
    assert!(!parts[0].contains("LOGIN-FAILED"), "{out:?}");
    let before: serde_json::Value = serde_json::from_str(parts[1]).unwrap();
    let store = before["auth"]["store"].as_str().unwrap();
    assert!(store.contains("keyring"), "{store}");
    assert_eq!(before["auth"]["account"]["email"], "fake.user@example.com");
    assert!(!creds_file(&env).exists(), "no file when the keyring works");
    assert!(parts[2].contains("revoked"), "{out:?}");
    assert!(
        parts[2].contains("keyring"),
        "the keyring entry was deleted: {out:?}"
    );
    let after: serde_json::Value = serde_json::from_str(parts[3]).unwrap();
    assert!(after["auth"]["account"].is_null(), "{after}");
}
