//! Reliability, fast part (runs in `cargo test`): hostile clients against a live daemon.
//!
//! Thousands of connections send random bytes, truncated frames, huge length prefixes, wrong
//! protocol versions and slowloris handshakes while a normal client keeps asking `Ping` and
//! `Status`; every normal request must succeed, the daemon must stay the same process, and its
//! memory and descriptors must stay bounded. Property tests cover the frame readers and the
//! SSE parser; [`faults`] checks what a backend 500 storm costs and shows. The long part
//! (fuzzing) is `fuzz/run.sh MINUTES`. See RELIABILITY.md for the matrix.
#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use codexd_proto::frame::{encode, read_message, write_message};
use codexd_proto::{
    ClientMessage, ErrorCode, Hello, HelloReply, MAX_FRAME_LEN, PROTOCOL_VERSION, Reply, Request,
    ServerMessage,
};
use codexd_tests::bench::procfs;
use codexd_tests::bench::wire::{Conn, call_once};
use codexd_tests::harness::Env;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// Handshake deadline configured for the test daemon, so slowloris clients are cut quickly.
const HANDSHAKE_MS: u64 = 1000;
/// Hostile connections in total (spread over [`HOSTILE_THREADS`]).
const HOSTILE: usize = 2400;
const HOSTILE_THREADS: usize = 4;
/// Slowloris connections held open at once.
const SLOWLORIS: usize = 40;

fn hello(protocol: u32) -> Vec<u8> {
    encode(&Hello {
        protocol,
        client: "hostile".into(),
    })
    .unwrap()
}

/// Connect with short timeouts; a refused or reset connect is not a test failure (the
/// backlog may be full for an instant), it is retried by the caller's loop.
fn connect(socket: &Path) -> Option<UnixStream> {
    let s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(s)
}

/// Read until the daemon closes (or 5 s pass); returns what it sent.
fn drain(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return out,
        }
    }
}

/// Complete a good handshake.
fn handshake(s: &mut UnixStream) -> bool {
    if s.write_all(&hello(PROTOCOL_VERSION)).is_err() {
        return false;
    }
    matches!(
        read_message::<_, HelloReply>(s),
        Ok(Some(HelloReply::Welcome { .. }))
    )
}

/// One hostile connection of kind `kind`. Returns an error string only when the daemon
/// answered wrongly (a hostile client being disconnected is the expected outcome).
fn hostile(socket: &Path, kind: usize, rng: &mut StdRng) -> Result<(), String> {
    let Some(mut s) = connect(socket) else {
        return Ok(());
    };
    match kind {
        // Random bytes instead of a handshake.
        0 => {
            let mut junk = vec![0u8; rng.random_range(1..2048)];
            rng.fill_bytes(&mut junk);
            let _ = s.write_all(&junk);
            let _ = s.shutdown(std::net::Shutdown::Write);
            drain(&mut s);
        }
        // A handshake frame cut short, then close.
        1 => {
            let frame = hello(PROTOCOL_VERSION);
            let cut = rng.random_range(1..frame.len());
            let _ = s.write_all(&frame[..cut]);
        }
        // Huge length prefixes before the handshake.
        2 => {
            let len = [u32::MAX, MAX_FRAME_LEN + 1, MAX_FRAME_LEN][rng.random_range(0..3)];
            let _ = s.write_all(&len.to_be_bytes());
            let _ = s.write_all(b"abc");
            let _ = s.shutdown(std::net::Shutdown::Write);
            drain(&mut s);
        }
        // Wrong protocol version: must be told, then closed.
        3 => {
            let v = PROTOCOL_VERSION + 1 + rng.random_range(0..1000);
            s.write_all(&hello(v)).map_err(|e| e.to_string())?;
            match read_message::<_, HelloReply>(&mut s) {
                Ok(Some(HelloReply::Mismatch {
                    daemon_protocol, ..
                })) if daemon_protocol == PROTOCOL_VERSION => {}
                other => return Err(format!("wrong version answered with {other:?}")),
            }
            if !drain(&mut s).is_empty() {
                return Err("daemon kept talking after a version mismatch".into());
            }
        }
        // Good handshake, then a garbage frame: a BadRequest error, then close.
        4 => {
            if !handshake(&mut s) {
                return Err("good handshake refused".into());
            }
            let mut body = vec![0u8; rng.random_range(3..512)];
            rng.fill_bytes(&mut body);
            // Make sure it cannot be a valid message (say, a Shutdown): enum tag 65535.
            body[..3].copy_from_slice(&[0xfb, 0xff, 0xff]);
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            s.write_all(&frame).map_err(|e| e.to_string())?;
            match read_message::<_, ServerMessage>(&mut s) {
                Ok(Some(ServerMessage::Error(e))) if e.code == ErrorCode::BadRequest => {}
                // Closing without a word is acceptable too; answering anything else is not.
                Ok(None) | Err(_) => {}
                other => return Err(format!("garbage frame answered with {other:?}")),
            }
        }
        // Good handshake, then a huge length prefix.
        5 => {
            if !handshake(&mut s) {
                return Err("good handshake refused".into());
            }
            let _ = s.write_all(&u32::MAX.to_be_bytes());
            match read_message::<_, ServerMessage>(&mut s) {
                Ok(Some(ServerMessage::Error(e))) if e.code == ErrorCode::BadRequest => {}
                Ok(None) | Err(_) => {}
                other => return Err(format!("huge prefix answered with {other:?}")),
            }
        }
        // Good handshake, then a request frame cut short and a close.
        6 => {
            if !handshake(&mut s) {
                return Err("good handshake refused".into());
            }
            let frame = encode(&ClientMessage::Request(Request::Status)).unwrap();
            let _ = s.write_all(&frame[..frame.len() - 1]);
        }
        // A valid request with trailing bytes inside its frame: rejected, not half-read.
        7 => {
            if !handshake(&mut s) {
                return Err("good handshake refused".into());
            }
            let mut body = encode(&ClientMessage::Request(Request::Ping)).unwrap()[4..].to_vec();
            body.extend_from_slice(&[0, 1, 2]);
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            s.write_all(&frame).map_err(|e| e.to_string())?;
            match read_message::<_, ServerMessage>(&mut s) {
                Ok(Some(ServerMessage::Error(e))) if e.code == ErrorCode::BadRequest => {}
                Ok(None) | Err(_) => {}
                other => return Err(format!("trailing bytes answered with {other:?}")),
            }
        }
        // Connect and vanish.
        _ => {}
    }
    Ok(())
}

/// Ping and Status in a loop until `stop`; every one must succeed within its timeout.
fn normal_client(socket: PathBuf, stop: Arc<AtomicBool>) -> (usize, Duration, Vec<String>) {
    let (mut ok, mut worst, mut failures) = (0, Duration::ZERO, Vec::new());
    while !stop.load(Ordering::Relaxed) {
        for req in [Request::Ping, Request::Status] {
            let t = Instant::now();
            match call_once(&socket, req, Duration::from_secs(5)) {
                Ok(Reply::Pong | Reply::Status(_)) => ok += 1,
                Ok(other) => failures.push(format!("unexpected reply {other:?}")),
                Err(e) => failures.push(e.to_string()),
            }
            worst = worst.max(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (ok, worst, failures)
}

#[test]
fn hostile_clients_do_not_disturb_normal_ones() {
    let env = Env::new();
    env.write_config(&format!(
        "[server]\nhandshake_timeout_ms = {HANDSHAKE_MS}\n"
    ));
    env.ctl(&["status", "--json"]).ok();
    let pid = env.daemon_pid().expect("daemon running");
    // Warm up the paths a hostile run exercises, so the baseline includes their buffers.
    for _ in 0..20 {
        call_once(&env.socket, Request::Status, Duration::from_secs(5)).unwrap();
    }
    let before = procfs::sample(pid).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let normal = {
        let (socket, stop) = (env.socket.clone(), stop.clone());
        std::thread::spawn(move || normal_client(socket, stop))
    };

    // Slowloris: start handshakes one byte at a time and stall; the daemon must cut them at
    // its handshake deadline while everyone else is served.
    let mut slow: Vec<UnixStream> = (0..SLOWLORIS)
        .filter_map(|_| {
            let mut s = connect(&env.socket)?;
            s.write_all(&hello(PROTOCOL_VERSION)[..2]).ok()?;
            Some(s)
        })
        .collect();
    let slow_started = Instant::now();

    let seed: u64 = rand::rng().random();
    eprintln!("hostile seed {seed}");
    let wrong = Arc::new(AtomicUsize::new(0));
    let first_wrong = Arc::new(std::sync::Mutex::new(None::<String>));
    let workers: Vec<_> = (0..HOSTILE_THREADS)
        .map(|t| {
            let (socket, wrong, first_wrong) =
                (env.socket.clone(), wrong.clone(), first_wrong.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ t as u64);
                for i in 0..HOSTILE / HOSTILE_THREADS {
                    if let Err(e) = hostile(&socket, (i + t) % 9, &mut rng) {
                        wrong.fetch_add(1, Ordering::Relaxed);
                        first_wrong.lock().unwrap().get_or_insert(e);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }

    // Every slowloris connection must have been closed by the daemon near its deadline.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_millis(HANDSHAKE_MS * 3)))
            .unwrap();
        let mut b = [0u8; 16];
        // The daemon sends nothing to a stalled handshake: it closes (EOF or reset).
        let closed = match s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        };
        assert!(
            closed,
            "a stalled handshake was still open {:?} after it started",
            slow_started.elapsed()
        );
    }
    drop(slow);

    stop.store(true, Ordering::Relaxed);
    let (ok, worst, failures) = normal.join().unwrap();
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "daemon answered hostile input wrongly: {:?}",
        first_wrong.lock().unwrap()
    );
    assert!(failures.is_empty(), "normal requests failed: {failures:?}");
    assert!(ok >= 10, "too few normal requests got through: {ok}");
    assert!(
        worst < Duration::from_secs(2),
        "a normal request took {worst:?}"
    );

    // Still the same daemon, still answering, with bounded memory and no leaked descriptors.
    assert_eq!(env.daemon_pid(), Some(pid), "the daemon restarted or died");
    let mut c = Conn::connect(&env.socket, Duration::from_secs(5)).unwrap();
    assert!(matches!(
        c.call(Request::Ping, &mut |_| {}),
        Ok(Reply::Pong)
    ));
    drop(c);
    let settled = codexd_tests::harness::wait_until(Duration::from_secs(5), || {
        procfs::sample(pid).is_some_and(|s| s.fds <= before.fds + 4)
    });
    let after = procfs::sample(pid).unwrap();
    assert!(
        settled,
        "descriptors leaked: {} before, {} after",
        before.fds, after.fds
    );
    let grown_mib = after.rss_kib.saturating_sub(before.rss_kib) as f64 / 1024.0;
    eprintln!(
        "rss {} → {} KiB, {ok} normal requests, worst {worst:?}",
        before.rss_kib, after.rss_kib
    );
    assert!(
        grown_mib < 32.0,
        "daemon RSS grew by {grown_mib:.1} MiB under hostile clients"
    );
}

/// Bodies as large as the frame cap sent before the handshake, from several clients at once:
/// the handshake has its own small cap (`MAX_HELLO_LEN`), so they are refused at the length
/// prefix and never read; memory stays at the baseline and the daemon keeps serving.
#[test]
fn full_size_frames_before_handshake_are_dropped() {
    let env = Env::new();
    env.write_config(&format!(
        "[server]\nhandshake_timeout_ms = {HANDSHAKE_MS}\n"
    ));
    env.ctl(&["status", "--json"]).ok();
    let pid = env.daemon_pid().expect("daemon running");
    let before = procfs::sample(pid).unwrap();
    let body = vec![0xabu8; MAX_FRAME_LEN as usize];
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let (socket, body) = (env.socket.clone(), body.clone());
            std::thread::spawn(move || {
                for _ in 0..4 {
                    if let Some(mut s) = connect(&socket) {
                        let _ = s.write_all(&MAX_FRAME_LEN.to_be_bytes());
                        let _ = s.write_all(&body);
                        drain(&mut s);
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let reply = call_once(&env.socket, Request::Ping, Duration::from_secs(5)).unwrap();
    assert!(matches!(reply, Reply::Pong));
    assert_eq!(env.daemon_pid(), Some(pid));
    let after = procfs::sample(pid).unwrap();
    let grown_mib = after.rss_kib.saturating_sub(before.rss_kib) as f64 / 1024.0;
    eprintln!("rss {} → {} KiB", before.rss_kib, after.rss_kib);
    assert!(
        grown_mib < 8.0,
        "32 full-size hostile frames left {grown_mib:.1} MiB resident"
    );
}

/// A version mismatch is explained in one frame and the connection closes; the same
/// connection cannot then be used for requests.
#[test]
fn wrong_version_gets_one_mismatch_frame() {
    let env = Env::new();
    env.ctl(&["status", "--json"]).ok();
    let mut s = connect(&env.socket).unwrap();
    write_message(
        &mut s,
        &Hello {
            protocol: 0,
            client: "old".into(),
        },
    )
    .unwrap();
    let reply: HelloReply = read_message(&mut s).unwrap().unwrap();
    assert!(
        matches!(reply, HelloReply::Mismatch { daemon_protocol, .. } if daemon_protocol == PROTOCOL_VERSION)
    );
    let _ = write_message(&mut s, &ClientMessage::Request(Request::Ping));
    assert!(drain(&mut s).is_empty());
}

/// Property tests of the two parsers that read untrusted bytes, in the normal test run (the
/// same properties run for minutes under `fuzz/run.sh`).
mod properties {
    use std::time::Duration;

    use codexd::backend::stream::{EventSource, StreamBreak};
    use codexd_proto::ClientMessage;
    use codexd_proto::frame::{FrameError, read_message, tokio_io};
    use proptest::prelude::*;

    fn outcome(r: &Result<Option<ClientMessage>, FrameError>) -> String {
        match r {
            Ok(Some(m)) => format!("{m:?}"),
            Ok(None) => "eof".into(),
            Err(FrameError::Malformed(_)) => "malformed".into(),
            Err(e) => e.to_string(),
        }
    }

    fn sse_events(chunks: Vec<Vec<u8>>) -> Vec<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, String>));
        let mut es = EventSource::from_bytes(stream, Duration::from_secs(5));
        let mut out = Vec::new();
        rt.block_on(async {
            loop {
                match es.next().await {
                    Ok(ev) => out.push(format!("{ev:?}")),
                    Err(StreamBreak::Closed) => break,
                    Err(e) => {
                        out.push(format!("{e:?}"));
                        break;
                    }
                }
            }
        });
        out
    }

    /// SSE-looking bodies: a mix of real event lines, noise and line endings.
    fn sse_body() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just(
                "data: {\"type\":\"response.output_text.delta\",\"delta\":\"héllo\"}\n".to_string()
            ),
            Just(
                "data: {\"type\":\"response.completed\",\"response\":{\"usage\":null}}\n"
                    .to_string()
            ),
            Just(
                "data: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"message\"}}\n"
                    .to_string()
            ),
            Just("event: response.created\n".to_string()),
            Just(": keep-alive\n".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            "[ -~]{0,40}\n",
            "data: [ -~]{0,40}\n",
        ];
        proptest::collection::vec(line, 0..30).prop_map(|l| l.concat())
    }

    proptest! {
        // Integration tests have no lib.rs for proptest's regression files: print the
        // failing input instead (it is in the panic message).
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// The blocking reader (codexctl) and the async reader (codexd) agree on every byte
        /// stream, frame by frame, and consume the same bytes.
        #[test]
        fn frame_readers_agree(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (mut a_in, mut b_in) = (&data[..], &data[..]);
            for _ in 0..16 {
                let a = read_message::<_, ClientMessage>(&mut a_in);
                let b = rt.block_on(tokio_io::read_message::<_, ClientMessage>(&mut b_in));
                prop_assert_eq!(outcome(&a), outcome(&b));
                prop_assert_eq!(a_in.len(), b_in.len());
                if !matches!(a, Ok(Some(_))) {
                    break;
                }
            }
        }

        /// Where the network cuts the body does not change the events.
        #[test]
        fn sse_events_do_not_depend_on_chunking(body in sse_body(), step in 1usize..64) {
            let whole = sse_events(vec![body.clone().into_bytes()]);
            let chunked = sse_events(body.as_bytes().chunks(step).map(<[u8]>::to_vec).collect());
            prop_assert_eq!(whole, chunked);
        }
    }
}

/// Faults from outside: what the user sees and how many requests codexd makes.
mod faults {
    use std::time::{Duration, Instant};

    use codexd_tests::fakes::FakeStack;
    use codexd_tests::fakes::backend::BackendFault;
    use codexd_tests::harness::{Env, Output};

    /// An environment signed in with tokens whose access part lives `access_lifetime` s and
    /// whose last refresh was `refreshed_ago` s ago; `auth_down` fails the issuer first.
    fn signed_in(access_lifetime: i64, refreshed_ago: i64, auth_down: bool) -> (FakeStack, Env) {
        let stack = FakeStack::start_blocking();
        stack.auth.set_all_failing(auth_down);
        let env = Env::new().with_fakes(&stack);
        let tokens = stack
            .auth
            .mint_login_for(&stack.auth.identity(), access_lifetime);
        let mut json = tokens.auth_json();
        let then = codexd_tests::fakes::tokens::rfc3339(
            i64::try_from(codexd::now_unix()).unwrap() - refreshed_ago,
        );
        json["last_refresh"] = then.into();
        let path = env.home().join("codex-auth.json");
        std::fs::write(&path, json.to_string()).unwrap();
        env.ctl(&["login", "--import-codex", path.to_str().unwrap()])
            .ok();
        (stack, env)
    }

    fn ask(env: &Env, prompt: &str) -> (Output, Duration) {
        let t = Instant::now();
        let out = env.ctl(&["ask", "--new", "--raw", prompt]);
        (out, t.elapsed())
    }

    /// A backend that answers 500 to everything: a bounded number of retries (no storm), a
    /// clear error in bounded time, and normal service once the backend recovers.
    #[test]
    fn backend_500_storm_is_bounded_and_explained() {
        let (stack, env) = signed_in(3600, 0, false);
        ask(&env, "warm up").0.ok();
        stack
            .backend
            .set_fault_forever(BackendFault::ServerError { retry_after: None });
        let before = stack.backend.response_count();
        let (out, took) = ask(&env, "during the storm");
        let calls = stack.backend.response_count() - before;
        eprintln!(
            "500 storm: {calls} calls in {took:?}: {}",
            out.stderr.trim()
        );
        assert_ne!(out.code, 0, "{out:?}");
        assert!(
            !out.stderr.trim().is_empty() && !out.stderr.contains("panicked"),
            "{out:?}"
        );
        // One try plus at most 4 retries (upstream's policy), never a storm.
        assert!(
            (1..=5).contains(&calls),
            "{calls} backend calls for one ask"
        );
        assert!(
            took < Duration::from_secs(30),
            "the failing ask took {took:?}"
        );
        stack.backend.clear_faults();
        let (out, _) = ask(&env, "after the storm");
        assert!(out.ok().stdout.contains("after the storm"));
    }
}
