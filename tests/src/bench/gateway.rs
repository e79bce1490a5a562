//! The gateway's bench cases: time to first byte through `gateway.sock` against the same
//! request sent straight to the fake, 500 concurrent streams through the gateway (each must
//! arrive whole), and what the gateway adds to the daemon's idle RSS.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cases::{Bench, ms};
use super::procfs;
use super::report::{Row, Target};
use crate::fakes::backend::Script;
use crate::fakes::catalog::DEFAULT_MODEL;
use crate::harness::Env;

const NEEDLE: &[u8] = b"response.output_text.delta";

fn socket(env: &Env) -> PathBuf {
    env.socket
        .parent()
        .map_or_else(|| PathBuf::from("gateway.sock"), |d| d.join("gateway.sock"))
}

fn request(body: &str) -> String {
    format!(
        "POST /v1/responses HTTP/1.0\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One streamed request over the socket: (time to the first text delta, whole body).
fn stream_once(sock: &Path, prompt: &str) -> Result<(Duration, Vec<u8>), String> {
    let body =
        serde_json::json!({"model": DEFAULT_MODEL, "input": prompt, "stream": true}).to_string();
    let start = Instant::now();
    let mut s = UnixStream::connect(sock).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    s.write_all(request(&body).as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut seen = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if first.is_none() && seen.windows(NEEDLE.len()).any(|w| w == NEEDLE) {
            first = Some(start.elapsed());
        }
    }
    first
        .map(|t| (t, seen))
        .ok_or_else(|| "the stream had no text delta".into())
}

/// TTFB through the gateway minus the same request straight to the fake.
pub fn ttfb(bench: &Bench) -> Vec<Row> {
    let case = "gateway TTFB minus direct HTTP";
    let target = Target::AtMost(1.0);
    if let Err(why) = &bench.signed_in {
        return vec![Row::not_measured(case, "ms", why, target)];
    }
    let sock = socket(&bench.env);
    let paired = bench
        .first_delta_paired(|i| stream_once(&sock, &format!("gateway ttfb {i}")).map(|(t, _)| t));
    let (via, direct, diffs) = match paired {
        Ok(p) => p,
        Err(why) => return vec![Row::not_measured(case, "ms", &why, target)],
    };
    vec![
        Row::samples(
            "gateway TTFB over gateway.sock",
            "ms",
            &via,
            Target::None,
            "connect + HTTP/1.0 + translation + backend call",
        ),
        Row::samples(
            "direct TTFB to the fake",
            "ms",
            &direct,
            Target::None,
            "same upstream body, pooled connection",
        ),
        Row::samples(case, "ms", &diffs, target, "paired runs"),
    ]
}

/// 500 concurrent streams through the gateway; every one must arrive whole.
pub fn concurrent_streams(bench: &Bench, n: usize) -> Vec<Row> {
    let case = format!("gateway: {n} concurrent streams intact");
    if let Err(why) = &bench.signed_in {
        return vec![Row::not_measured(&case, "streams", why, Target::None)];
    }
    let sock = socket(&bench.env);
    bench.stack.backend.set_script(Script {
        deltas: Some(16),
        delta_delay: Duration::from_millis(5),
        ..Script::default()
    });
    let start = Instant::now();
    let results: Vec<Result<bool, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let sock = &sock;
                s.spawn(move || {
                    let prompt = format!("stream {i}");
                    let (_, body) = stream_once(sock, &prompt)?;
                    let text = String::from_utf8_lossy(&body);
                    Ok(text.contains("event: response.completed")
                        && text.contains(&format!("turn 1: {prompt}\"")))
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let took = start.elapsed();
    bench.stack.backend.set_script(Script::default());
    let intact = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let first_err = results.iter().find_map(|r| r.as_ref().err().cloned());
    vec![Row::value(
        &case,
        "streams",
        intact as f64,
        Target::None,
        &format!(
            "of {n}, all done in {:.0} ms{}",
            ms(took),
            first_err
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        ),
    )]
}

/// Idle RSS of a fresh daemon with the gateway (socket + TCP) minus one without.
pub fn idle_rss(bench: &Bench) -> Vec<Row> {
    let case = "gateway: idle RSS added";
    let target = Target::AtMost(3.0);
    let rss = |config: &str| -> Result<f64, String> {
        let env = Env::new().with_fakes(&bench.stack);
        env.write_config(config);
        let out = crate::harness::run(env.ctl_cmd().arg("status"));
        if out.code != 0 {
            return Err(format!("status failed: {}", out.stderr.trim()));
        }
        // Let start-up work (catalog, instructions) settle before sampling.
        std::thread::sleep(Duration::from_secs(2));
        let pid = env.daemon_pid().ok_or("no daemon pid")?;
        let s = procfs::sample(pid).ok_or("cannot read /proc")?;
        Ok(s.rss_kib as f64 / 1024.0)
    };
    let port = crate::harness::free_port();
    let off = rss("[gateway]\nunix_socket = false\ntcp = false\n");
    let on = rss(&format!("[gateway]\ntcp = true\nport = {port}\n"));
    match (off, on) {
        (Ok(off), Ok(on)) => vec![Row::value(
            case,
            "MiB",
            on - off,
            target,
            &format!("{on:.1} MiB with the gateway on, {off:.1} MiB with it off"),
        )],
        (Err(e), _) | (_, Err(e)) => vec![Row::not_measured(case, "MiB", &e, target)],
    }
}
