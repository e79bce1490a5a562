//! End-to-end tests of the foundation: autostart, status, the socket's safety rules, stale
//! sockets, socket activation, supervision, shutdown and hostile frames.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use codexd_proto::frame::{encode, read_message, write_message};
use codexd_proto::{
    ClientMessage, ErrorCode, Hello, HelloReply, PROTOCOL_VERSION, Request, ServerMessage,
};
use codexd_tests::harness::{Env, alive, bin, run, wait_until};

fn status(env: &Env) -> serde_json::Value {
    env.ctl(&["status", "--json"]).ok().json()
}

fn handshake(env: &Env) -> UnixStream {
    let mut s = UnixStream::connect(&env.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write_message(
        &mut s,
        &Hello {
            protocol: PROTOCOL_VERSION,
            client: "raw-test".into(),
        },
    )
    .unwrap();
    let reply: HelloReply = read_message(&mut s).unwrap().unwrap();
    assert!(matches!(reply, HelloReply::Welcome { .. }), "{reply:?}");
    s
}

#[test]
fn autostart_then_status_shows_daemon_and_actors() {
    let env = Env::new();
    let s = status(&env);
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["socket"], env.socket.display().to_string());
    let actors = s["actors"].as_array().unwrap();
    assert_eq!(actors.len(), 4);
    assert!(
        actors
            .iter()
            .all(|a| a["state"] == "running" && a["restarts"] == 0),
        "{actors:?}"
    );
    assert!(s["rss_bytes"].as_u64().unwrap() > 0);
    // Directory 0700, socket 0600.
    let dir_mode = std::fs::metadata(env.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let sock_mode = std::fs::metadata(&env.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!((dir_mode, sock_mode), (0o700, 0o600));
    // The human form mentions each actor too.
    let text = env.ctl(&["status"]).ok().stdout;
    for name in ["auth", "instructions", "sessions", "log"] {
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn racing_clients_start_exactly_one_daemon() {
    let env = Env::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.ctl_cmd()
                .args(["status", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let pids: Vec<u64> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["pid"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        pids.windows(2).all(|w| w[0] == w[1]),
        "different daemons answered: {pids:?}"
    );
}

#[test]
fn no_autostart_fails_clearly() {
    let mut env = Env::new();
    env.set("CODEXD_NO_AUTOSTART", "1");
    let out = env.ctl(&["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("not running"), "{out:?}");
    // The message names what the user did, not a flag they never passed.
    assert!(out.stderr.contains("unset CODEXD_NO_AUTOSTART"), "{out:?}");
    assert!(!out.stderr.contains("--no-autostart"), "{out:?}");
    env.unset("CODEXD_NO_AUTOSTART");
    let out = env.ctl(&["--no-autostart", "status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("drop --no-autostart"), "{out:?}");
    assert!(env.daemon_pid().is_none());
}

#[test]
fn stale_socket_is_replaced_and_second_daemon_is_refused() {
    let env = Env::new();
    let first = status(&env)["pid"].as_u64().unwrap();

    // A second daemon for the same user refuses to start and names the first.
    let out = run(env.daemon_cmd().arg("--quiet"));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains(&format!("already running (pid {first})")),
        "{out:?}"
    );

    // kill -9 leaves the socket file behind; the next client starts a new daemon anyway.
    env.kill_daemon(9);
    assert!(
        env.socket.exists(),
        "a crashed daemon leaves its socket file"
    );
    let second = status(&env)["pid"].as_u64().unwrap();
    assert_ne!(first, second);
}

#[test]
fn unsafe_socket_directory_is_refused() {
    let env = Env::new();
    status(&env);
    let dir = env.socket.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.ctl(&["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("lets other users in"), "{out:?}");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn another_user_is_refused_by_the_peer_check() {
    if !is_root()
        || Command::new("setpriv").arg("--version").output().is_err()
        || !std::path::Path::new("/usr/bin/python3").exists()
    {
        eprintln!("skipped: needs root, setpriv and /usr/bin/python3 to act as another user");
        return;
    }
    let env = Env::new();
    status(&env);
    // Open the path so that uid 65534 can reach the socket: only the peer check stands.
    for p in [
        env.root.path(),
        &env.root.path().join("run"),
        env.socket.parent().unwrap(),
    ] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&env.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = format!(
        "import socket,struct\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(5)\ns.connect({:?})\ntry:\n s.sendall(struct.pack('>I',2)+bytes([1,0]))\n print('CLOSED' if s.recv(64)==b'' else 'ANSWERED')\nexcept (ConnectionResetError, BrokenPipeError):\n print('CLOSED')",
        env.socket.display().to_string()
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
    // And codexctl run as that user refuses the socket directory it does not own (when that
    // user can run our binary at all: a checkout under a private home cannot be reached).
    let as_other = |program: &str, args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", program])
            .args(args);
        cmd.env("CODEXD_SOCKET", &env.socket);
        run(&mut cmd)
    };
    let ctl = bin("codexctl").display().to_string();
    if as_other("/bin/sh", &["-c", "test -x \"$0\"", &ctl]).code == 0 {
        let out = as_other(&ctl, &["--no-autostart", "status"]);
        assert_eq!(out.code, 3, "{out:?}");
    } else {
        eprintln!("skipped the codexctl part: uid 65534 cannot run {ctl}");
    }
    // The daemon kept serving its owner.
    std::fs::set_permissions(
        env.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    status(&env);
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).stdout.trim() == "0"
}

#[test]
fn socket_activation_adopts_the_passed_listener() {
    if Command::new("systemd-socket-activate")
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-socket-activate is not installed");
        return;
    }
    let env = Env::new();
    std::fs::create_dir_all(env.socket.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        env.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.env_clear()
        .envs(env.vars().iter().map(|(k, v)| (k.as_str(), v.as_str())));
    cmd.args([
        "-l",
        &env.socket.display().to_string(),
        &bin("codexd").display().to_string(),
        "--quiet",
    ]);
    let mut activator = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || env.socket.exists()));
    let s = env.ctl(&["--no-autostart", "status", "--json"]).ok().json();
    assert_eq!(s["socket_activated"], true);
    // A stop must leave the service manager's socket in place.
    env.ctl(&["daemon", "stop"]).ok();
    assert!(
        env.socket.exists(),
        "an adopted socket must not be unlinked"
    );
    let _ = activator.kill();
    let _ = activator.wait();
}

#[test]
fn every_actor_is_restarted_after_a_panic() {
    let env = Env::new();
    status(&env);
    // The actor's line in `status`: (restarts, state).
    let actor_line = |actor: &str| {
        let s = status(&env);
        let a = s["actors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"].as_str().unwrap().eq_ignore_ascii_case(actor))
            .unwrap()
            .clone();
        (a["restarts"].as_u64().unwrap(), a["state"].clone())
    };
    for actor in ["auth", "instructions", "sessions", "log"] {
        // A panic in a handler, then one inside the future an async handler returned: each
        // restarts the actor, the caller is told so, and the very next request succeeds.
        for (flags, restarts) in [(&[][..], 1), (&["--in-future"][..], 2)] {
            let mut args = vec!["debug", "--panic", actor];
            args.extend_from_slice(flags);
            let out = env.ctl(&args);
            assert!(
                out.stderr.contains("was restarted"),
                "{actor} {flags:?}: {out:?}"
            );
            assert_eq!(
                actor_line(actor),
                (restarts, "running".into()),
                "{actor} {flags:?}"
            );
        }
    }
}

#[test]
fn test_hooks_are_off_by_default() {
    let mut env = Env::new();
    env.unset("CODEXD_TEST_HOOKS");
    let out = env.ctl(&["debug", "--panic", "auth"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("test hooks are off"), "{out:?}");
}

#[test]
fn sigterm_and_stop_shut_down_cleanly_and_remove_the_socket() {
    let env = Env::new();
    let pid = status(&env)["pid"].as_u64().unwrap() as u32;
    env.kill_daemon(15);
    assert!(!alive(pid));
    assert!(
        !env.socket.exists(),
        "the daemon removes the socket it created"
    );

    let pid = status(&env)["pid"].as_u64().unwrap() as u32;
    let out = env.ctl(&["daemon", "stop"]).ok();
    assert!(out.stdout.contains("stopped"), "{out:?}");
    assert!(!alive(pid));
    assert!(!env.socket.exists());
    // daemon status now says not running, exit 3.
    assert_eq!(env.ctl(&["daemon", "status"]).code, 3);
}

#[test]
fn malformed_oversize_and_wrong_version_frames_do_not_hurt_the_daemon() {
    let env = Env::new();
    status(&env);

    // Wrong protocol version: a Mismatch naming ours.
    let mut s = UnixStream::connect(&env.socket).unwrap();
    write_message(
        &mut s,
        &Hello {
            protocol: 999,
            client: "old".into(),
        },
    )
    .unwrap();
    match read_message::<_, HelloReply>(&mut s).unwrap().unwrap() {
        HelloReply::Mismatch {
            daemon_protocol, ..
        } => assert_eq!(daemon_protocol, PROTOCOL_VERSION),
        other => panic!("{other:?}"),
    }

    // Garbage body after the handshake: a BadRequest error, then the connection closes.
    let mut s = handshake(&env);
    s.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
    match read_message::<_, ServerMessage>(&mut s).unwrap().unwrap() {
        ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::BadRequest),
        other => panic!("{other:?}"),
    }
    assert!(read_message::<_, ServerMessage>(&mut s).unwrap().is_none());

    // Oversize length prefix: closed without allocating it.
    let mut s = handshake(&env);
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);

    // Truncated frame, then hang up.
    let mut s = handshake(&env);
    let frame = encode(&ClientMessage::Request(Request::Status)).unwrap();
    s.write_all(&frame[..frame.len() / 2]).unwrap();
    drop(s);

    // Garbage instead of a handshake, and a silent client holding a connection.
    let mut s = UnixStream::connect(&env.socket).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let _silent = UnixStream::connect(&env.socket).unwrap();

    // Through all of it, normal clients are served.
    let mut s = handshake(&env);
    write_message(&mut s, &ClientMessage::Request(Request::Ping)).unwrap();
    assert_eq!(
        read_message::<_, ServerMessage>(&mut s).unwrap().unwrap(),
        ServerMessage::Reply(codexd_proto::Reply::Pong)
    );
    status(&env);
}

#[test]
fn cancel_and_input_without_a_request_are_harmless() {
    let env = Env::new();
    status(&env);
    let mut s = handshake(&env);
    write_message(&mut s, &ClientMessage::Cancel).unwrap();
    write_message(&mut s, &ClientMessage::Input("x".into())).unwrap();
    write_message(&mut s, &ClientMessage::Request(Request::Ping)).unwrap();
    assert_eq!(
        read_message::<_, ServerMessage>(&mut s).unwrap().unwrap(),
        ServerMessage::Reply(codexd_proto::Reply::Pong)
    );
}
