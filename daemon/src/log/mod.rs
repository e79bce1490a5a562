//! LogActor and logging: `tracing` to stderr and to daily files in the log dir, and a live
//! feed of every line for `codexctl logs -f`.
//!
//! - [`live`] — the tracing layer that turns events into [`LogLine`]s, keeps the recent ones
//!   and broadcasts new ones (a slow subscriber skips lines and is told how many; it never
//!   slows the daemon).
//! - [`redact`] — masking of URLs, headers and JSON before anything is logged.
//! - [`RequestLog`] — opt-in request logs (prompts and answers on disk; off by default).

pub(crate) mod live;
pub(crate) mod redact;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix::prelude::*;
use anyhow::Context as _;
use codexd_proto::logs::{LogLine, LogsRequest};
use codexd_proto::status::ActorKind;
use codexd_proto::{Event, WireError};
use tokio::sync::broadcast::error::RecvError;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;
use crate::paths::Paths;
use crate::request::RequestCtx;
use crate::supervisor::{PanicForTest, panic_for_test};

/// Keeps the file writer flushing; drop it last.
pub struct LogGuard {
    _file: tracing_appender::non_blocking::WorkerGuard,
    /// The live feed, for the LogActor.
    pub live: live::LiveLog,
}

/// Install the global subscriber: stderr (when `stderr`), the rolling files, the live feed.
pub fn init(config: &LogConfig, paths: &Paths, stderr: bool) -> anyhow::Result<LogGuard> {
    crate::fsutil::create_private_dir(&paths.log_dir).with_context(|| {
        format!(
            "cannot create the log directory {}",
            paths.log_dir.display()
        )
    })?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("codexd")
        .filename_suffix("log")
        .max_log_files(config.max_files.max(1))
        .build(&paths.log_dir)
        .context("cannot open the log file")?;
    // Lossless: a full buffer makes the logging thread wait rather than drop lines.
    let (file, file_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(appender);
    let filter = EnvFilter::try_new(&config.filter).with_context(|| {
        format!(
            "log filter {:?} is not valid (try `info` or `codexd=debug`)",
            config.filter
        )
    })?;
    let live = live::LiveLog::new(2000, 4096);
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(file),
        )
        .with(live.layer());
    if stderr {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
    } else {
        registry.try_init()
    }
    .context("logging was already initialised")?;
    Ok(LogGuard {
        _file: file_guard,
        live,
    })
}

/// Opt-in request logs: shared by the session actors, switched by the LogActor. One file per
/// request and stage in a dated directory, unique names (never overwritten), bodies kept,
/// headers redacted, the directory capped in size (oldest files go first).
#[derive(Clone, Debug)]
pub struct RequestLog {
    enabled: Arc<AtomicBool>,
    dir: PathBuf,
    max_bytes: u64,
    seq: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestLog {
    /// Off or on, writing under `dir`, keeping at most `max_bytes`.
    pub fn new(enabled: bool, dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            enabled: Arc::new(AtomicBool::new(enabled)),
            dir,
            max_bytes,
            seq: Default::default(),
        }
    }

    /// Write one stage of one request (e.g. `request`, `response-headers`, `events`) if request
    /// logging is on. `headers` are redacted here; `body` is kept as given (with sensitive JSON
    /// keys masked when it is JSON). Failures are logged, never raised: a request never fails
    /// because its log could not be written.
    pub fn record(&self, request_id: &str, stage: &str, headers: &[(&str, &str)], body: &str) {
        if !self.enabled() {
            return;
        }
        if let Err(e) = self.write(request_id, stage, headers, body) {
            tracing::warn!(error = %e, "could not write a request log file");
        }
    }

    /// [`RequestLog::record`] on a blocking thread (it creates files and fsyncs), awaited so
    /// the files exist when the caller goes on. Nothing happens when request logging is off.
    pub async fn record_off_thread(
        &self,
        request_id: &str,
        stage: &str,
        headers: Vec<(String, String)>,
        body: String,
    ) {
        if !self.enabled() {
            return;
        }
        let (me, id, stage) = (self.clone(), request_id.to_string(), stage.to_string());
        let _ = tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            me.record(&id, &stage, &pairs, &body);
        })
        .await;
    }

    fn write(
        &self,
        request_id: &str,
        stage: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let day = now.as_secs() / 86_400;
        let dir = self.dir.join(format!("day-{day}"));
        crate::fsutil::create_private_dir(&self.dir)?;
        crate::fsutil::create_private_dir(&dir)?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let safe = |s: &str| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        };
        let name = format!(
            "{}-{}-{:06}-{}-{}.json",
            now.as_millis(),
            std::process::id(),
            seq,
            safe(request_id),
            safe(stage)
        );
        let body_value = serde_json::from_str::<serde_json::Value>(body)
            .map(|v| redact::json(&v))
            .unwrap_or_else(|_| serde_json::Value::String(body.to_string()));
        let record = serde_json::json!({
            "request": request_id,
            "stage": stage,
            "at_ms": now.as_millis() as u64,
            "headers": redact::headers(headers.iter().copied()),
            "body": body_value,
        });
        let bytes = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(&dir.join(name), &bytes, 0o600)?;
        self.enforce_cap();
        Ok(())
    }

    /// Delete the oldest files until the directory fits the cap.
    fn enforce_cap(&self) {
        let mut files = Vec::new();
        collect_files(&self.dir, &mut files);
        let mut total: u64 = files.iter().map(|(_, len)| len).sum();
        files.sort();
        for (path, len) in files {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }

    /// Whether request logs are written.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Where they go.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Switch on or off.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<(PathBuf, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.metadata() {
            Ok(m) if m.is_dir() => collect_files(&p, out),
            Ok(m) => out.push((p, m.len())),
            Err(_) => {}
        }
    }
}

/// Owns the live log feed and the request-log switch.
pub struct LogActor {
    live: live::LiveLog,
    request_log: RequestLog,
}

impl LogActor {
    /// Build.
    pub fn new(live: live::LiveLog, request_log: RequestLog) -> Self {
        Self { live, request_log }
    }
}

impl Actor for LogActor {
    type Context = Context<Self>;
}

/// `codexctl logs [-f]`.
#[derive(Message)]
#[rtype(result = "Result<(), WireError>")]
pub struct Logs {
    /// What to send.
    pub req: LogsRequest,
    /// Client channel.
    pub ctx: RequestCtx,
}

/// `codexctl logs --requests on|off`.
#[derive(Message)]
#[rtype(result = "Result<(bool, String), WireError>")]
pub struct SetRequestLogging(pub bool);

/// Request-log directory when on, for `status`.
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct RequestLoggingState;

fn level_rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "error" => 0,
        "warn" => 1,
        "info" => 2,
        "debug" => 3,
        _ => 4,
    }
}

impl Handler<Logs> for LogActor {
    type Result = ResponseActFuture<Self, Result<(), WireError>>;
    fn handle(&mut self, msg: Logs, _ctx: &mut Context<Self>) -> Self::Result {
        let (recent, mut rx) = self.live.snapshot_and_subscribe();
        Box::pin(
            async move {
                let Logs { req, ctx } = msg;
                let max = req.level.as_deref().map(level_rank).unwrap_or(4);
                let since_ms = req.since.map(|s| s * 1000).unwrap_or(0);
                let keep = |l: &LogLine| level_rank(&l.level) <= max && l.at_ms >= since_ms;
                let lines: Vec<LogLine> = recent.into_iter().filter(|l| keep(l)).collect();
                let skip = lines
                    .len()
                    .saturating_sub(req.lines.unwrap_or(100) as usize);
                for line in lines.into_iter().skip(skip) {
                    if !ctx.emit(Event::Log(line)).await {
                        return Ok(());
                    }
                }
                if !req.follow {
                    return Ok(());
                }
                loop {
                    let next = tokio::select! {
                        next = rx.recv() => next,
                        _ = ctx.cancel.cancelled() => return Ok(()),
                    };
                    let event = match next {
                        Ok(line) if keep(&line) => Event::Log(line),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(n)) => Event::LogsMissed(n),
                        Err(RecvError::Closed) => return Ok(()),
                    };
                    if !ctx.emit(event).await {
                        return Ok(());
                    }
                }
            }
            .into_actor(self),
        )
    }
}

impl Handler<SetRequestLogging> for LogActor {
    type Result = Result<(bool, String), WireError>;
    fn handle(&mut self, msg: SetRequestLogging, _ctx: &mut Context<Self>) -> Self::Result {
        self.request_log.set_enabled(msg.0);
        if msg.0 {
            tracing::warn!(dir = %self.request_log.dir().display(), "request logging is ON: prompts and answers are written to disk");
        } else {
            tracing::info!("request logging is off");
        }
        Ok((msg.0, self.request_log.dir().display().to_string()))
    }
}

impl Handler<RequestLoggingState> for LogActor {
    type Result = Option<String>;
    fn handle(&mut self, _msg: RequestLoggingState, _ctx: &mut Context<Self>) -> Self::Result {
        self.request_log
            .enabled()
            .then(|| self.request_log.dir().display().to_string())
    }
}

impl Handler<PanicForTest> for LogActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: PanicForTest, _ctx: &mut Context<Self>) -> Self::Result {
        panic_for_test(ActorKind::Log, msg)
    }
}
