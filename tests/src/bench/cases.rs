//! The benchmark cases. Each takes the running [`Bench`] and returns result rows; a case that
//! cannot run returns "not measured" rows with the reason instead of failing the whole run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use codexd_proto::conversation::{AskEvent, AskMode, AskRequest, SessionSelector, ShellContext};
use codexd_proto::{Event, Reply, Request};

use super::child::{ChildRun, run_timed};
use super::procfs;
use super::report::{Row, Target};
use super::wire::{CallError, Conn};
use crate::fakes::FakeStack;
use crate::harness::Env;

/// How many times each case runs.
#[derive(Debug, Clone, Copy)]
pub struct Iterations {
    /// Untimed runs before measuring.
    pub warmup: usize,
    /// Timed runs of the per-command cases.
    pub runs: usize,
    /// Concurrent asks in the load case.
    pub concurrent: usize,
    /// Deltas per answer in the load case.
    pub deltas: usize,
    /// Sequential asks in the leak case.
    pub sequential: usize,
    /// Seconds of the idle-CPU case.
    pub idle_secs: u64,
}

/// The running bench: fakes, an isolated environment, the daemon's pid.
pub struct Bench {
    /// The fakes.
    pub stack: FakeStack,
    /// The isolated environment (the daemon stops when it drops).
    pub env: Env,
    /// Iteration counts.
    pub it: Iterations,
    /// Set once sign-in worked; the ask cases need it.
    pub signed_in: Result<(), String>,
}

/// Paired samples in ms: the measured path, the direct replay, and their differences.
type PairedMs = (Vec<f64>, Vec<f64>, Vec<f64>);

const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Milliseconds as f64.
pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// KiB to MiB.
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The last non-empty line of a failed command's output (where CLIs put the actual error,
/// after any warnings), for "not measured" reasons.
fn failure(run: &ChildRun) -> String {
    let text = if run.stderr.trim().is_empty() {
        &run.stdout
    } else {
        &run.stderr
    };
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    format!("exit {}: {line}", run.code)
}

impl Bench {
    /// Start the fakes and an environment pointing at them (daemon not started yet).
    pub fn new(it: Iterations) -> Bench {
        let stack = FakeStack::start_blocking();
        let mut env = Env::new().with_fakes(&stack);
        // Debug logging (the harness default) would measure the log writer, not the daemon.
        env.set("CODEXD_LOG", "warn");
        Bench {
            stack,
            env,
            it,
            signed_in: Err("sign-in not attempted".into()),
        }
    }

    /// The daemon's pid, if it runs.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.env.daemon_pid()
    }

    fn ctl(&self, args: &[&str]) -> std::io::Result<ChildRun> {
        run_timed(self.env.ctl_cmd().args(args))
    }

    /// `codexctl status` against a warm daemon: wall time and codexctl's own peak RSS.
    pub fn status(&mut self) -> Vec<Row> {
        let wall_case = "codexctl status, wall (warm daemon)";
        let rss_case = "codexctl status, codexctl peak RSS";
        // The first call starts the daemon; it is not a warm call.
        match self.ctl(&["status", "--json"]) {
            Ok(r) if r.code == 0 => {}
            Ok(r) => {
                let why = format!("status failed: {}", failure(&r));
                return vec![
                    Row::not_measured(wall_case, "ms", &why, Target::AtMost(3.0)),
                    Row::not_measured(rss_case, "MiB", &why, Target::AtMost(8.0)),
                ];
            }
            Err(e) => {
                let why = format!("cannot run codexctl: {e}");
                return vec![
                    Row::not_measured(wall_case, "ms", &why, Target::AtMost(3.0)),
                    Row::not_measured(rss_case, "MiB", &why, Target::AtMost(8.0)),
                ];
            }
        }
        let (mut walls, mut rss) = (Vec::new(), Vec::new());
        for i in 0..self.it.warmup + self.it.runs {
            match self.ctl(&["status"]) {
                Ok(r) if r.code == 0 => {
                    if i >= self.it.warmup {
                        walls.push(ms(r.wall));
                        rss.push(mib(r.max_rss_kib));
                    }
                }
                Ok(r) => {
                    let why = format!("status failed: {}", failure(&r));
                    return vec![Row::not_measured(
                        wall_case,
                        "ms",
                        &why,
                        Target::AtMost(3.0),
                    )];
                }
                Err(e) => {
                    let why = format!("cannot run codexctl: {e}");
                    return vec![Row::not_measured(
                        wall_case,
                        "ms",
                        &why,
                        Target::AtMost(3.0),
                    )];
                }
            }
        }
        vec![
            Row::samples(wall_case, "ms", &walls, Target::AtMost(3.0), "human output"),
            Row::samples(
                rss_case,
                "MiB",
                &rss,
                Target::AtMost(8.0),
                "ru_maxrss via wait4",
            ),
        ]
    }

    /// Daemon RSS now, as a row.
    pub fn daemon_rss(&self, case: &str, target: Target, note: &str) -> Row {
        match self.daemon_pid().and_then(procfs::sample) {
            Some(s) => Row::value(
                case,
                "MiB",
                mib(s.rss_kib),
                target,
                &format!(
                    "{note}: anon {:.1} + file {:.1} MiB, {} threads",
                    mib(s.anon_kib),
                    mib(s.file_kib),
                    s.threads
                ),
            ),
            None => Row::not_measured(case, "MiB", "daemon not running", target),
        }
    }

    /// Sign in by importing a Codex CLI `auth.json` minted by the fake issuer.
    pub fn sign_in(&mut self) {
        let path = self.env.root.path().join("codex-auth.json");
        let json = self.stack.auth.mint_login().auth_json();
        if let Err(e) = std::fs::write(&path, json.to_string()) {
            self.signed_in = Err(format!("cannot write auth.json: {e}"));
            return;
        }
        let path = path.display().to_string();
        self.signed_in = match self.ctl(&["login", "--import-codex", &path]) {
            Ok(r) if r.code == 0 => Ok(()),
            Ok(r) => Err(format!(
                "`codexctl login --import-codex` failed: {}",
                failure(&r)
            )),
            Err(e) => Err(format!("cannot run codexctl: {e}")),
        };
    }

    /// `codexctl ask` with a short answer, whole process, warm daemon.
    pub fn ask_process(&mut self) -> Vec<Row> {
        let case = "codexctl ask, short answer, wall (warm daemon)";
        let target = Target::AtMost(15.0);
        if let Err(why) = &self.signed_in {
            return vec![Row::not_measured(case, "ms", why, target)];
        }
        let (mut walls, mut rss) = (Vec::new(), Vec::new());
        for i in 0..self.it.warmup + self.it.runs {
            let prompt = format!("say hi {i}");
            match self.ctl(&["ask", "--new", "--raw", &prompt]) {
                Ok(r) if r.code == 0 && r.stdout.contains(&prompt) => {
                    if i >= self.it.warmup {
                        walls.push(ms(r.wall));
                        rss.push(mib(r.max_rss_kib));
                    }
                }
                Ok(r) => {
                    let why = format!("ask failed: {}", failure(&r));
                    return vec![Row::not_measured(case, "ms", &why, target)];
                }
                Err(e) => {
                    let why = format!("cannot run codexctl: {e}");
                    return vec![Row::not_measured(case, "ms", &why, target)];
                }
            }
        }
        vec![
            Row::samples(case, "ms", &walls, target, "--new --raw, 1 turn"),
            Row::samples(
                "codexctl ask, codexctl peak RSS",
                "MiB",
                &rss,
                Target::None,
                "the daemon's share is the RSS rows below",
            ),
        ]
    }

    /// Runs `via` (the measured path to the first answer delta) warm-up + runs times, each
    /// followed by the request the backend just saw, replayed straight to the fake. Returns
    /// the times in ms after warm-up (via, direct, via minus direct), or why nothing could be
    /// measured.
    pub(super) fn first_delta_paired(
        &self,
        mut via: impl FnMut(usize) -> Result<Duration, String>,
    ) -> Result<PairedMs, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let http = reqwest::Client::new();
        let url = format!("{}/codex/responses", self.stack.backend.base_url());
        let (mut via_ms, mut direct_ms) = (Vec::new(), Vec::new());
        for i in 0..self.it.warmup + self.it.runs {
            let t = via(i)?;
            let recorded = self
                .stack
                .backend
                .last_request()
                .ok_or("backend saw no request")?;
            let d = rt
                .block_on(first_delta_direct(&http, &url, &recorded))
                .map_err(|e| format!("direct: {e}"))?;
            if i >= self.it.warmup {
                via_ms.push(ms(t));
                direct_ms.push(ms(d));
            }
        }
        let diffs = via_ms.iter().zip(&direct_ms).map(|(a, b)| a - b).collect();
        Ok((via_ms, direct_ms, diffs))
    }

    /// Time to the first answer delta through codexd, and directly over HTTP to the fake with
    /// the very request body codexd sent; the difference is codexd's overhead.
    pub fn first_token(&mut self) -> Vec<Row> {
        let case = "first token: via codexd minus direct HTTP";
        let target = Target::AtMost(2.0);
        if let Err(why) = &self.signed_in {
            return vec![Row::not_measured(case, "ms", why, target)];
        }
        let socket = self.env.socket.clone();
        let paired = self.first_delta_paired(|i| {
            first_delta_via_daemon(&socket, &format!("first token {i}"))
                .map_err(|e| format!("ask: {e}"))
        });
        let (via, direct, diffs) = match paired {
            Ok(p) => p,
            Err(why) => return vec![Row::not_measured(case, "ms", &why, target)],
        };
        vec![
            Row::samples(
                "first token via codexd (raw socket client)",
                "ms",
                &via,
                Target::None,
                "connect + handshake + ask",
            ),
            Row::samples(
                "first token direct HTTP to the fake",
                "ms",
                &direct,
                Target::None,
                "same body, pooled connection",
            ),
            Row::samples(case, "ms", &diffs, target, "paired runs"),
        ]
    }

    /// The shell keybinding path: `codexctl suggest` whole process, minus the backend's own
    /// time for the same request (replayed directly).
    pub fn suggest(&mut self) -> Vec<Row> {
        let case = "suggest round trip minus backend time";
        let target = Target::AtMost(10.0);
        if let Err(why) = &self.signed_in {
            return vec![Row::not_measured(case, "ms", why, target)];
        }
        self.stack.backend.set_suggest_command(Some("ls -la"));
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return vec![Row::not_measured(case, "ms", &e.to_string(), target)],
        };
        let http = reqwest::Client::new();
        let url = format!("{}/codex/responses", self.stack.backend.base_url());
        let (mut walls, mut diffs) = (Vec::new(), Vec::new());
        let mut outcome = Ok(());
        for i in 0..self.it.warmup + self.it.runs {
            let run = match self.ctl(&["suggest", "--shell", "bash", "list all files here"]) {
                Ok(r) if r.code == 0 && r.stdout.contains("ls -la") => r,
                Ok(r) => {
                    outcome = Err(format!("suggest failed: {}", failure(&r)));
                    break;
                }
                Err(e) => {
                    outcome = Err(format!("cannot run codexctl: {e}"));
                    break;
                }
            };
            let Some(recorded) = self.stack.backend.last_request() else {
                outcome = Err("backend saw no request".into());
                break;
            };
            let backend = match rt.block_on(whole_response_direct(&http, &url, &recorded)) {
                Ok(d) => d,
                Err(e) => {
                    outcome = Err(format!("direct: {e}"));
                    break;
                }
            };
            if i >= self.it.warmup {
                walls.push(ms(run.wall));
                diffs.push(ms(run.wall) - ms(backend));
            }
        }
        self.stack.backend.set_suggest_command(None);
        if let Err(why) = outcome {
            return vec![Row::not_measured(case, "ms", &why, target)];
        }
        vec![
            Row::samples(
                "codexctl suggest, wall",
                "ms",
                &walls,
                Target::None,
                "whole process",
            ),
            Row::samples(
                case,
                "ms",
                &diffs,
                target,
                "backend time = direct replay of the same body",
            ),
        ]
    }

    /// Daemon RSS with `n` more stored conversations (created with one turn each).
    pub fn idle_sessions(&mut self, n: usize) -> Vec<Row> {
        let case = format!("daemon RSS with {n} idle sessions");
        let target = Target::AtMost(25.0);
        if let Err(why) = &self.signed_in {
            return vec![Row::not_measured(&case, "MiB", why, target)];
        }
        for i in 0..n {
            let req = ask(
                &format!("session {i}"),
                SessionSelector::New {
                    scope: format!("bench-{i}"),
                    name: None,
                },
            );
            if let Err(e) = ask_text(&self.env.socket, req) {
                return vec![Row::not_measured(
                    &case,
                    "MiB",
                    &format!("ask {i}: {e}"),
                    target,
                )];
            }
        }
        // Let freed buffers settle (allocator trims happen on the next allocations anyway).
        std::thread::sleep(Duration::from_millis(500));
        vec![self.daemon_rss(&case, target, "after one turn each")]
    }

    /// N concurrent asks of D deltas each: all complete, none lost or crossed; daemon CPU
    /// per delta.
    pub fn concurrent(&mut self) -> Vec<Row> {
        let (n, d) = (self.it.concurrent, self.it.deltas);
        let case = format!("{n} concurrent asks × {d} deltas: complete and intact");
        if let Err(why) = &self.signed_in {
            return vec![Row::not_measured(&case, "asks", why, Target::None)];
        }
        let Some(pid) = self.daemon_pid() else {
            return vec![Row::not_measured(
                &case,
                "asks",
                "daemon not running",
                Target::None,
            )];
        };
        self.stack.backend.set_deltas(Some(d));
        self.stack.backend.set_reasoning(false);
        let before = procfs::sample(pid);
        let start = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let socket = self.env.socket.clone();
                std::thread::spawn(move || one_load_ask(&socket, i, d))
            })
            .collect();
        let results: Vec<Result<(), String>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("client thread panicked".into()))
            })
            .collect();
        let wall = start.elapsed();
        let after = procfs::sample(pid);
        self.stack.backend.set_deltas(None);
        self.stack.backend.set_reasoning(true);
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let first_err = results.iter().find_map(|r| r.as_ref().err().cloned());
        let mut rows = vec![Row::value(
            &case,
            "ok asks",
            ok as f64,
            Target::None,
            &match &first_err {
                None => format!("all {n} intact in {:.1} s", wall.as_secs_f64()),
                Some(e) => format!("{} FAILED, first: {e}", n - ok),
            },
        )];
        if first_err.is_some() {
            rows[0].verdict = super::report::Verdict::Missed;
        }
        if let (Some(b), Some(a)) = (before, after) {
            let per_delta = (a.cpu_us.saturating_sub(b.cpu_us)) as f64 / (n * d) as f64;
            rows.push(Row::value(
                "daemon CPU per delta (concurrent load)",
                "µs",
                per_delta,
                Target::None,
                &format!(
                    "utime+stime, 10 ms ticks; peak RSS {:.1} MiB",
                    mib(a.hwm_kib)
                ),
            ));
        }
        rows
    }

    /// N sequential asks; RSS after all of them vs after the first tenth.
    pub fn sequential(&mut self) -> Vec<Row> {
        let n = self.it.sequential;
        let check = (n / 10).max(1);
        let case = format!("{n} sequential asks: RSS after / after first {check}");
        let target = Target::AtMost(1.1);
        if let Err(why) = &self.signed_in {
            return vec![Row::not_measured(&case, "ratio", why, target)];
        }
        let Some(pid) = self.daemon_pid() else {
            return vec![Row::not_measured(
                &case,
                "ratio",
                "daemon not running",
                target,
            )];
        };
        let mut at_check = 0u64;
        let start = Instant::now();
        for i in 0..n {
            // Ephemeral turns are never stored: growth here is a leak, not history.
            let req = ask(&format!("sequential {i}"), SessionSelector::Ephemeral);
            if let Err(e) = ask_text(&self.env.socket, req) {
                return vec![Row::not_measured(
                    &case,
                    "ratio",
                    &format!("ask {i}: {e}"),
                    target,
                )];
            }
            if i + 1 == check {
                at_check = procfs::sample(pid).map(|s| s.rss_kib).unwrap_or(0);
            }
        }
        let wall = start.elapsed();
        let end = procfs::sample(pid).map(|s| s.rss_kib).unwrap_or(0);
        if at_check == 0 {
            return vec![Row::not_measured(
                &case,
                "ratio",
                "could not read RSS",
                target,
            )];
        }
        vec![
            Row::value(
                &case,
                "ratio",
                end as f64 / at_check as f64,
                target,
                &format!("{:.1} → {:.1} MiB", mib(at_check), mib(end)),
            ),
            Row::value(
                "sequential ask, raw socket, mean wall",
                "ms",
                ms(wall) / n as f64,
                Target::None,
                "ephemeral turns, one connection each",
            ),
        ]
    }

    /// Idle CPU and wakeups of the daemon over the configured window.
    pub fn idle_cpu(&mut self) -> Vec<Row> {
        let secs = self.it.idle_secs;
        let case = format!("daemon idle CPU over {secs} s");
        let Some(pid) = self.daemon_pid() else {
            return vec![Row::not_measured(
                &case,
                "ms",
                "daemon not running",
                Target::None,
            )];
        };
        let before = procfs::ThreadCounters::read(pid);
        std::thread::sleep(Duration::from_secs(secs));
        let after = procfs::ThreadCounters::read(pid);
        if after.threads.is_empty() {
            return vec![Row::not_measured(
                &case,
                "ms",
                "daemon exited",
                Target::None,
            )];
        }
        let (wakeups, cpu_ns, by_name) = after.since(&before);
        let who: Vec<String> = by_name
            .iter()
            .take(3)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        vec![
            Row::value(
                &case,
                "ms",
                cpu_ns as f64 / 1e6,
                Target::AtMost(10.0),
                "sum of per-thread schedstat run time (ns precision); ≈ 0 wanted",
            ),
            Row::value(
                &format!("daemon wakeups over {secs} s"),
                "switches",
                wakeups as f64,
                Target::None,
                &format!(
                    "voluntary context switches, {} threads; most: {}",
                    after.threads.len(),
                    if who.is_empty() {
                        "none".into()
                    } else {
                        who.join(", ")
                    }
                ),
            ),
        ]
    }
}

/// An ask request in chat mode.
pub fn ask(prompt: &str, session: SessionSelector) -> Request {
    Request::Ask(AskRequest::new(prompt, session, AskMode::Chat))
}

/// A suggest request, as the shell binding sends it.
pub fn suggest(line: &str) -> Request {
    Request::Ask(AskRequest::new(
        line,
        SessionSelector::Ephemeral,
        AskMode::SuggestCommand(ShellContext {
            shell: "bash".into(),
            os: "Linux".into(),
            cwd: "/".into(),
            last_status: None,
        }),
    ))
}

/// One ask on a fresh connection; the answer text.
pub fn ask_text(socket: &Path, req: Request) -> Result<String, CallError> {
    let mut conn = Conn::connect(socket, CALL_TIMEOUT)?;
    match conn.call(req, &mut |_| {})? {
        Reply::Answer(a) => Ok(a.text),
        other => Err(CallError::Remote(codexd_proto::WireError::new(
            codexd_proto::ErrorCode::Internal,
            format!("unexpected reply {other:?}"),
        ))),
    }
}

/// Connect, ask, and time until the first text delta arrives.
fn first_delta_via_daemon(socket: &Path, prompt: &str) -> Result<Duration, CallError> {
    let start = Instant::now();
    let mut conn = Conn::connect(socket, CALL_TIMEOUT)?;
    let mut first = None;
    conn.call(ask(prompt, SessionSelector::Ephemeral), &mut |e| {
        if first.is_none() && matches!(e, Event::Ask(AskEvent::TextDelta(_))) {
            first = Some(start.elapsed());
        }
    })?;
    Ok(first.unwrap_or_else(|| start.elapsed()))
}

/// Replay a recorded backend request and time to the first text delta in the SSE body.
pub async fn first_delta_direct(
    http: &reqwest::Client,
    url: &str,
    recorded: &crate::fakes::backend::RecordedRequest,
) -> Result<Duration, String> {
    use futures_util::StreamExt as _;
    let start = Instant::now();
    let resp = replay(http, url, recorded).await?;
    let mut body = resp.bytes_stream();
    let mut seen = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        seen.extend_from_slice(&chunk);
        if contains(&seen, b"response.output_text.delta") {
            let t = start.elapsed();
            // Drain the rest so the pooled connection is reusable, like codexd's.
            while body.next().await.is_some() {}
            return Ok(t);
        }
    }
    Err("stream ended without a text delta".into())
}

/// Replay a recorded backend request and time the whole response.
async fn whole_response_direct(
    http: &reqwest::Client,
    url: &str,
    recorded: &crate::fakes::backend::RecordedRequest,
) -> Result<Duration, String> {
    let start = Instant::now();
    let resp = replay(http, url, recorded).await?;
    resp.bytes().await.map_err(|e| e.to_string())?;
    Ok(start.elapsed())
}

async fn replay(
    http: &reqwest::Client,
    url: &str,
    recorded: &crate::fakes::backend::RecordedRequest,
) -> Result<reqwest::Response, String> {
    let mut req = http.post(url).json(&recorded.body);
    for (k, v) in &recorded.headers {
        if !matches!(
            k.as_str(),
            "host" | "content-length" | "connection" | "accept-encoding" | "transfer-encoding"
        ) {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    Ok(resp)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// One ask of the load case: the answer must be exactly this client's text, split in
/// exactly `deltas` pieces that concatenate to it (nothing lost, nothing from another ask).
fn one_load_ask(socket: &Path, i: usize, deltas: usize) -> Result<(), String> {
    // The fake answers "turn 1: <prompt>"; pad the prompt so the answer has `deltas` chars
    // and splits into one-character deltas.
    let head = format!("load-{i:05}-");
    let pad = deltas.saturating_sub("turn 1: ".len() + head.len());
    let prompt = format!("{head}{}", "x".repeat(pad));
    let expected = format!("turn 1: {prompt}");
    let mut conn = Conn::connect(socket, CALL_TIMEOUT).map_err(|e| e.to_string())?;
    let (mut streamed, mut count) = (String::new(), 0usize);
    let reply = conn
        .call(ask(&prompt, SessionSelector::Ephemeral), &mut |e| {
            if let Event::Ask(AskEvent::TextDelta(t)) = e {
                streamed.push_str(t);
                count += 1;
            }
        })
        .map_err(|e| e.to_string())?;
    let Reply::Answer(a) = reply else {
        return Err(format!("ask {i}: unexpected reply"));
    };
    if a.text != expected || streamed != expected {
        return Err(format!("ask {i}: answer lost or crossed"));
    }
    if count != deltas.min(expected.chars().count()) {
        return Err(format!("ask {i}: {count} deltas, expected {deltas}"));
    }
    Ok(())
}

/// Run `cmd` `warmup + runs` times; wall (ms) and peak RSS (MiB) of the timed runs, or the
/// first failure.
pub fn time_command(
    mut make: impl FnMut() -> Command,
    warmup: usize,
    runs: usize,
    expect_stdout: Option<&str>,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let (mut walls, mut rss) = (Vec::new(), Vec::new());
    for i in 0..warmup + runs {
        let r = run_timed(&mut make()).map_err(|e| e.to_string())?;
        let ok = r.code == 0 && expect_stdout.is_none_or(|s| r.stdout.contains(s));
        if !ok {
            return Err(failure(&r));
        }
        if i >= warmup {
            walls.push(ms(r.wall));
            rss.push(mib(r.max_rss_kib));
        }
    }
    Ok((walls, rss))
}
