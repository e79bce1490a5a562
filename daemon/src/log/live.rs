//! The live log feed: a tracing layer that formats each event into a [`LogLine`], keeps the
//! last N in memory for `codexctl logs`, and broadcasts it to `logs -f` subscribers.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use codexd_proto::logs::LogLine;
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Shared handle to the recent lines and the broadcast channel.
#[derive(Clone)]
pub struct LiveLog {
    inner: Arc<Inner>,
}

struct Inner {
    recent: Mutex<VecDeque<LogLine>>,
    capacity: usize,
    tx: broadcast::Sender<LogLine>,
}

impl LiveLog {
    /// Keep `recent` lines; each subscriber may fall `backlog` lines behind before skipping.
    pub fn new(recent: usize, backlog: usize) -> Self {
        let (tx, _) = broadcast::channel(backlog);
        Self {
            inner: Arc::new(Inner {
                recent: Mutex::new(VecDeque::with_capacity(recent)),
                capacity: recent,
                tx,
            }),
        }
    }

    /// The tracing layer feeding this log.
    pub fn layer(&self) -> LiveLayer {
        LiveLayer { log: self.clone() }
    }

    /// Recent lines and a subscription that starts right after them (no gap, no duplicate).
    pub fn snapshot_and_subscribe(&self) -> (Vec<LogLine>, broadcast::Receiver<LogLine>) {
        let recent = self.inner.recent.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.inner.tx.subscribe();
        (recent.iter().cloned().collect(), rx)
    }

    fn push(&self, line: LogLine) {
        let mut recent = self.inner.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == self.inner.capacity {
            recent.pop_front();
        }
        recent.push_back(line.clone());
        // No subscribers is fine.
        let _ = self.inner.tx.send(line);
    }
}

/// See [`LiveLog::layer`].
pub struct LiveLayer {
    log: LiveLog,
}

struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for LiveLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = MessageVisitor(String::new());
        event.record(&mut visitor);
        let meta = event.metadata();
        self.log.push(LogLine {
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            level: meta.level().as_str().to_ascii_lowercase(),
            target: meta.target().to_string(),
            message: visitor.0,
        });
    }
}
