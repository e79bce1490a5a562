//! End-to-end tests of issue 12, the hardening review: each test replays one attack or bad
//! day (a planted socket directory, a forged `/cancel`, a core dump, a crash mid-save, plain
//! HTTP endpoints, memory and connection exhaustion, oversized frames, a failed save of a
//! refreshed login, a network drop during device sign-in) and asserts the fixed behaviour.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use codexd_tests::harness::{
    Env, Output, bin, run, run_within, signed_in, signed_in_with, wait_until,
};

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

/// A socket that records what each client sends; the test ends a capture by connecting once
/// itself and sending [`SENTINEL`].
struct Trap {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    path: std::path::PathBuf,
}

const SENTINEL: &[u8] = b"--sentinel--";

impl Trap {
    fn listen(path: &std::path::Path) -> Trap {
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut got = Vec::new();
                let _ = std::io::Read::read_to_end(&mut conn, &mut got);
                if tx.send(got).is_err() {
                    return;
                }
            }
        });
        Trap {
            rx,
            path: path.to_path_buf(),
        }
    }

    /// Everything clients sent before now, one entry per connection.
    fn received(&self) -> Vec<Vec<u8>> {
        let mut s = std::os::unix::net::UnixStream::connect(&self.path).unwrap();
        std::io::Write::write_all(&mut s, SENTINEL).unwrap();
        drop(s);
        let mut out = Vec::new();
        loop {
            let got = self.rx.recv_timeout(Duration::from_secs(30)).unwrap();
            if got == SENTINEL {
                return out;
            }
            out.push(got);
        }
    }
}

/// Item 1: with `XDG_RUNTIME_DIR` unset, a `<tmp>/codexd-<uid>` that is a symbolic link (here
/// to a private directory of ours holding an impostor's socket, as a flipping link would
/// present it) is refused without being followed: the impostor receives nothing.
#[test]
fn symlinked_tmp_socket_dir_is_refused_without_following() {
    let mut env = Env::new();
    let tmp = env.root.path().join("tmp");
    let decoy = env.root.path().join("decoy");
    for d in [&tmp, &decoy] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    let trap = Trap::listen(&decoy.join("codexd.sock"));
    let uid = run(Command::new("id").arg("-u")).stdout.trim().to_owned();
    std::os::unix::fs::symlink(&decoy, tmp.join(format!("codexd-{uid}"))).unwrap();
    env.unset("CODEXD_SOCKET");
    env.unset("XDG_RUNTIME_DIR");
    env.set("TMPDIR", &tmp.display().to_string());
    let out = env.ctl_within(Duration::from_secs(60), &["--no-autostart", "status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("symbolic link"), "{out:?}");
    assert_eq!(
        trap.received(),
        Vec::<Vec<u8>>::new(),
        "the impostor got bytes"
    );
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).stdout.trim() == "0"
}

/// Item 1, the client half: a server of another uid behind a socket in a directory the
/// victim owns (how the flipping link delivered prompts) gets not a single byte: codexctl
/// checks the peer's uid before its handshake.
#[test]
fn client_refuses_a_daemon_of_another_user_before_sending() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv to act as two users");
        return;
    }
    let ctl = bin("codexctl").display().to_string();
    let victim = |program: &str, args: &[&str], socket: &std::path::Path| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", program])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .env("CODEXD_SOCKET", socket);
        run(&mut cmd)
    };
    let base = tempfile::Builder::new()
        .prefix("codexd-peer-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        base.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    let dir = base.path().join("victim");
    std::fs::create_dir(&dir).unwrap();
    // The impostor (root here) binds its socket first, then the directory is the victim's.
    let socket = dir.join("codexd.sock");
    let trap = Trap::listen(&socket);
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    run(Command::new("chown").args(["-R", "65534:65534", &dir.display().to_string()]));
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    if victim("/bin/sh", &["-c", "test -x \"$0\"", &ctl], &socket).code != 0 {
        eprintln!("skipped: uid 65534 cannot run {ctl}");
        return;
    }
    let out = victim(&ctl, &["--no-autostart", "status"], &socket);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("runs as uid 0"), "{out:?}");
    // It may connect (that is how it learns who answers) but sends nothing.
    let got = trap.received();
    assert!(
        got.iter().all(Vec::is_empty),
        "the impostor got bytes: {got:?}"
    );
}

/// Items 4 and 12: temp files of saves a crash interrupted (one of the credentials file may
/// hold a live refresh token; the index piles them up) are removed at start, counted by
/// `data list`, and removed by `logout` and `data purge --all`.
#[test]
fn crash_leftover_temp_files_are_counted_and_removed() {
    let env = Env::new();
    let data = env.data_dir();
    let sessions = data.join("sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    let cred_tmp = data.join(".credentials.json.4242.99.tmp");
    let index_tmp = sessions.join(".index.json.4242.7.tmp");
    std::fs::write(&cred_tmp, "{\"refresh_token\":\"rt\"}").unwrap();
    std::fs::write(&index_tmp, "{}").unwrap();
    env.ctl(&["status"]).ok();
    assert!(!cred_tmp.exists(), "credential temp survived start-up");
    assert!(!index_tmp.exists(), "index temp survived start-up");

    // Leftovers of a crash while the daemon runs (e.g. of another install sharing the dir).
    std::fs::write(&cred_tmp, "{\"refresh_token\":\"rt\"}").unwrap();
    std::fs::write(&index_tmp, "{}").unwrap();
    let list = env.ctl(&["data", "list", "--json"]).ok().json();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["what"] == "interrupted writes")
        .unwrap_or_else(|| panic!("no interrupted-writes entry: {list}"))
        .clone();
    assert!(
        entry["note"].as_str().unwrap().starts_with("2 file(s)"),
        "{entry}"
    );
    assert!(entry["bytes"].as_u64().unwrap() > 0);

    env.ctl(&["logout", "--local-only"]).ok();
    assert!(!cred_tmp.exists(), "credential temp survived logout");
    env.ctl(&["data", "purge", "--all"]).ok();
    assert!(!index_tmp.exists(), "index temp survived data purge --all");
}

/// Item 5: a plain-HTTP backend off this machine is refused at start, naming the setting and
/// the variable it came from; loopback HTTP (what every other test uses) still works.
#[test]
fn plain_http_endpoints_are_refused_except_loopback() {
    let mut env = Env::new();
    env.set("CODEXD_BACKEND_URL", "http://backend.example/backend-api");
    let out = run_within(env.daemon_cmd().arg("--quiet"), Duration::from_secs(60))
        .expect("codexd must refuse to start");
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("backend.url (from CODEXD_BACKEND_URL)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("unencrypted"), "{out:?}");
    assert!(env.daemon_pid().is_none());

    env.unset("CODEXD_BACKEND_URL");
    env.unset("CODEXD_GITHUB_API_URL");
    env.write_config("[github]\napi_url = \"http://api.github.example\"\n");
    let out = run_within(env.daemon_cmd().arg("--quiet"), Duration::from_secs(60))
        .expect("codexd must refuse to start");
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("github.api_url ="), "{out:?}");

    env.write_config("");
    env.set("CODEXD_BACKEND_URL", "http://localhost:9/backend-api");
    env.ctl(&["status"]).ok();
}

/// Item 11: a device-code sign-in survives a stretch of failing polls (the issuer answering
/// 500, as during a network drop) and finishes once the issuer is back.
#[test]
fn device_login_survives_transient_poll_errors() {
    let stack = codexd_tests::fakes::FakeStack::start_blocking();
    let env = Env::new().with_fakes(&stack);
    stack.auth.auto_approve_after_polls(Some(2));
    let child = env
        .ctl_cmd()
        .args(["login", "--device"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(30), || !stack
        .auth
        .device_user_codes()
        .is_empty()));
    stack.auth.set_all_failing(true);
    let polls = stack.auth.device_polls();
    assert!(
        wait_until(Duration::from_secs(30), || stack.auth.device_polls()
            >= polls + 2),
        "the daemon stopped polling"
    );
    stack.auth.set_all_failing(false);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stack.auth.code_exchange_count(), 1);
}

/// One raw HTTP/1.1 GET with an explicit `Host`; returns the status code.
fn raw_get(port: u16, path: &str, host: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

/// A TCP listener standing in for another program on a callback port (the Codex CLI's own
/// sign-in on 1455); it records the first line of every request.
struct ForeignListener {
    port: u16,
    rx: std::sync::mpsc::Receiver<String>,
}

impl ForeignListener {
    fn start() -> ForeignListener {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { return };
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut line = String::new();
                let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(&conn), &mut line);
                let _ = std::io::Write::write_all(
                    &mut &conn,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if tx.send(line.trim_end().to_owned()).is_err() {
                    return;
                }
            }
        });
        ForeignListener { port, rx }
    }

    /// Request lines received so far (ends the capture with a sentinel request of our own).
    fn received(&self) -> Vec<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        std::io::Write::write_all(&mut s, b"SENTINEL\r\n").unwrap();
        let mut out = Vec::new();
        loop {
            let line = self.rx.recv_timeout(Duration::from_secs(30)).unwrap();
            if line == "SENTINEL" {
                return out;
            }
            out.push(line);
        }
    }
}

/// Item 2: a foreign program on the first callback port is never sent `/cancel` (the login
/// takes the next port); `/cancel` without this sign-in's state is refused (403), any request
/// naming another host gets 421, and a login ended by `/cancel` with its state prints why
/// instead of a bare "cancelled". The prompt says what to do on an error page and names the
/// configured timeout.
#[test]
fn sign_in_cannot_be_cancelled_by_strangers() {
    use std::io::{BufRead as _, BufReader};
    let stack = codexd_tests::fakes::FakeStack::start_blocking();
    let mut env = Env::new().with_fakes(&stack);
    let foreign = ForeignListener::start();
    let ours = codexd_tests::harness::free_port();
    env.set("CODEXD_CALLBACK_PORTS", &format!("{},{ours}", foreign.port));
    env.write_config("[auth]\nlogin_timeout_secs = 420\n");
    let mut child = env
        .ctl_cmd()
        .args(["login", "--no-browser"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let url = loop {
        let l = lines.recv_timeout(Duration::from_secs(60)).unwrap();
        seen.push(l.clone());
        if l.starts_with("http") && l.contains("/oauth/authorize") {
            break l;
        }
    };
    let q: std::collections::HashMap<String, String> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        q["redirect_uri"],
        format!("http://127.0.0.1:{ours}/auth/callback"),
        "the foreign port must be skipped"
    );
    let state = q["state"].clone();
    let waiting = loop {
        let l = lines.recv_timeout(Duration::from_secs(60)).unwrap();
        seen.push(l.clone());
        if l.starts_with("Waiting") {
            break l;
        }
    };
    let prompt = seen.join("\n");
    assert!(prompt.contains("error page"), "{prompt}");
    assert!(
        prompt.contains("--device") && prompt.contains("--paste"),
        "{prompt}"
    );
    assert!(waiting.contains("7 min"), "{waiting}");

    let cancel = format!("/cancel?state={state}");
    assert_eq!(raw_get(ours, "/cancel", &format!("127.0.0.1:{ours}")), 403);
    assert_eq!(
        raw_get(ours, "/cancel?state=guess", &format!("localhost:{ours}")),
        403
    );
    assert_eq!(raw_get(ours, &cancel, &format!("evil.example:{ours}")), 421);
    assert_eq!(raw_get(ours, &cancel, "localhost"), 421);
    assert!(child.try_wait().unwrap().is_none(), "the login ended");

    assert_eq!(raw_get(ours, &cancel, &format!("localhost:{ours}")), 200);
    let status = child.wait().unwrap();
    let rest: Vec<String> = lines.iter().collect();
    let rest = rest.join("\n");
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("cancelled from the browser"), "{rest}");
    assert_eq!(
        foreign.received(),
        Vec::<String>::new(),
        "the foreign listener was poked"
    );
}

/// Item 9: a 5 MB answer, and `sessions show` of the conversation holding it, arrive whole
/// (over several frames); 5 MB of piped stdin is refused before sending, naming its size and
/// the limit, instead of "lost the connection".
#[test]
fn replies_over_one_frame_arrive_and_oversized_requests_say_why() {
    let (stack, env) = signed_in_with(|env, _| env.set("CODEXD_SCOPE", "test-terminal|/work"));
    let answer = "0123456789abcdef".repeat(5 * 1024 * 1024 / 16);
    stack.backend.set_answer(Some(&answer));
    stack.backend.set_deltas(Some(8));
    let out = env.ctl(&["ask", "--session", "big", "say a lot"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim_end().len(), answer.len());
    let show = env.ctl(&["sessions", "show", "big", "--json"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let turns = show.json()["turns"].clone();
    assert_eq!(turns[0]["assistant"].as_str().unwrap().len(), answer.len());

    let stdin = "z".repeat(5 * 1024 * 1024);
    let out = env.ctl_stdin(&["ask", "summarize"], &stdin);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("over codexd's 4194304-byte limit"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("lost the connection"),
        "{}",
        out.stderr
    );
    assert!(env.daemon_pid().is_some());
}

/// Connect and shake hands on a raw socket.
fn raw_session(socket: &std::path::Path) -> std::os::unix::net::UnixStream {
    use codexd_proto::frame::{read_message, write_message};
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write_message(
        &mut s,
        &codexd_proto::Hello {
            protocol: codexd_proto::PROTOCOL_VERSION,
            client: "hardening-test".into(),
        },
    )
    .unwrap();
    let reply: codexd_proto::HelloReply = read_message(&mut s).unwrap().unwrap();
    assert!(
        matches!(reply, codexd_proto::HelloReply::Welcome { .. }),
        "{reply:?}"
    );
    s
}

/// Item 6: 48 connections each sending a full-size request frame one byte short no longer
/// pin 48 × 4 MiB: the daemon reads request bodies against a shared budget (8 frames), so
/// the rest wait in their socket buffers, and the daemon keeps answering.
#[test]
fn half_sent_frames_share_one_memory_budget() {
    use codexd_tests::bench::procfs;
    let env = Env::new();
    env.ctl(&["status"]).ok();
    let pid = env.daemon_pid().unwrap();
    let before = procfs::sample(pid).unwrap();
    let max = codexd_proto::MAX_FRAME_LEN;
    let body = std::sync::Arc::new(vec![0xabu8; max as usize - 1]);
    let writers: Vec<_> = (0..48)
        .map(|_| {
            let mut s = raw_session(&env.socket);
            let body = body.clone();
            std::thread::spawn(move || {
                s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
                let _ = std::io::Write::write_all(&mut s, &max.to_be_bytes());
                let _ = std::io::Write::write_all(&mut s, &body);
                s
            })
        })
        .collect();
    let held: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let during = procfs::sample(pid).unwrap();
    let grown_mib = during.rss_kib.saturating_sub(before.rss_kib) as f64 / 1024.0;
    eprintln!(
        "rss {} → {} KiB with {} half-sent frames",
        before.rss_kib,
        during.rss_kib,
        held.len()
    );
    assert!(
        grown_mib < 64.0,
        "48 half-sent 4 MiB frames took {grown_mib:.0} MiB"
    );
    let ping = codexd_tests::bench::wire::call_once(
        &env.socket,
        codexd_proto::Request::Ping,
        Duration::from_secs(10),
    );
    assert!(ping.is_ok(), "{ping:?}");
    drop(held);
}

/// Item 7: idle connections that ping forever are closed after `idle_connection_secs`; over
/// the cap, codexctl is told plainly "codexd is busy: N connections" at once instead of a
/// misleading handshake error or a hang; long-running requests have their own cap, so they
/// neither take nor need the ordinary slots.
#[test]
fn pinging_idlers_are_closed_and_the_busy_client_is_told() {
    use codexd_proto::frame::{read_message, write_message};
    use codexd_proto::{ClientMessage, ErrorCode, Request, ServerMessage};
    let env = Env::new();
    env.write_config("[server]\nmax_connections = 4\nmax_streams = 2\nidle_connection_secs = 3\n");
    env.ctl(&["status"]).ok();

    let pingers: Vec<_> = (0..4)
        .map(|_| {
            let mut s = raw_session(&env.socket);
            std::thread::spawn(move || {
                // Ping until the daemon closes the connection.
                loop {
                    if write_message(&mut s, &ClientMessage::Request(Request::Ping)).is_err() {
                        return;
                    }
                    match read_message::<_, ServerMessage>(&mut s) {
                        Ok(Some(ServerMessage::Reply(_))) => {}
                        _ => return,
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            })
        })
        .collect();
    let out = env.ctl_within(Duration::from_secs(30), &["--no-autostart", "status"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("codexd is busy: 4 connections are open"),
        "{out:?}"
    );
    assert!(
        wait_until(Duration::from_secs(60), || pingers
            .iter()
            .all(std::thread::JoinHandle::is_finished)),
        "pinging connections were never closed"
    );
    env.ctl_within(Duration::from_secs(30), &["status"]).ok();

    // Two `logs -f` streams fill the stream cap; a third is told so; status still works.
    let follow = || {
        let mut s = raw_session(&env.socket);
        write_message(
            &mut s,
            &ClientMessage::Request(Request::Logs(codexd_proto::logs::LogsRequest {
                follow: true,
                level: None,
                since: None,
                lines: Some(1),
            })),
        )
        .unwrap();
        s
    };
    let mut streams = vec![follow(), follow()];
    for s in &mut streams {
        let first: ServerMessage = read_message(s).unwrap().unwrap();
        assert!(matches!(first, ServerMessage::Event(_)), "{first:?}");
    }
    let mut third = follow();
    match read_message::<_, ServerMessage>(&mut third)
        .unwrap()
        .unwrap()
    {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, ErrorCode::Busy);
            assert!(e.message.contains("long-running"), "{e:?}");
        }
        other => panic!("a third stream was not refused: {other:?}"),
    }
    env.ctl_within(Duration::from_secs(30), &["status"]).ok();
    drop(streams);
}

/// One `DebugRequest::Access` through the test hook: the token's fingerprint.
fn debug_access(env: &Env, after_unauthorized: bool) -> String {
    let reply = codexd_tests::bench::wire::call_once(
        &env.socket,
        codexd_proto::Request::Debug(codexd_proto::message::DebugRequest::Access {
            after_unauthorized,
        }),
        Duration::from_secs(60),
    )
    .unwrap();
    match reply {
        codexd_proto::Reply::DebugAccess { token_sha256, .. } => token_sha256,
        other => panic!("unexpected {other:?}"),
    }
}

/// Item 10: a refresh whose save fails (the store cannot be written) leaves the new sign-in in
/// memory only: `status` says so loudly, the save is retried on the next token use once the
/// store works again, and a restart then finds a working sign-in.
#[test]
fn a_refresh_that_could_not_be_saved_is_saved_later() {
    let (stack, env) = signed_in();
    let creds = env.paths().credentials_file();
    assert!(creds.is_file());
    let first = debug_access(&env, false);
    // Storage breaks: a directory where the file is replaced makes every save fail (root
    // ignores permissions, so chmod would not do).
    std::fs::remove_file(&creds).unwrap();
    std::fs::create_dir(&creds).unwrap();
    let refreshed = debug_access(&env, true);
    assert_ne!(refreshed, first, "no refresh happened");
    let status = env.ctl(&["status", "--json"]).ok().json();
    assert!(
        status["auth"]["unsaved"].is_string(),
        "status does not say the sign-in is unsaved: {status}"
    );
    let text = env.ctl(&["status"]).ok().stdout;
    assert!(
        text.contains("WARNING: the refreshed sign-in exists only in memory"),
        "{text}"
    );

    // Storage recovers; the next token use saves it.
    std::fs::remove_dir(&creds).unwrap();
    assert_eq!(debug_access(&env, false), refreshed);
    assert!(creds.is_file(), "the refreshed sign-in was not saved");
    let saved = std::fs::read_to_string(&creds).unwrap();
    let live = stack.auth.live_refresh_token().unwrap();
    assert!(
        saved.contains(&live),
        "the saved refresh token is not the live one"
    );
    let status = env.ctl(&["status", "--json"]).ok().json();
    assert!(status["auth"]["unsaved"].is_null(), "{status}");

    env.ctl(&["daemon", "restart"]).ok();
    let after = debug_access(&env, true);
    assert_ne!(after, refreshed);
}
