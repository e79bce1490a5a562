//! What an actor gets for talking back to the client while a request runs: a bounded event
//! channel (back-pressure: a slow client slows only its own request), the client's input
//! lines, and a cancellation token that fires when the client cancels or disconnects.

use std::sync::Arc;

use codexd_proto::Event;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

/// Per-request channel to the client. Cloning shares the same channels.
#[derive(Clone, Debug)]
pub struct RequestCtx {
    events: mpsc::Sender<Event>,
    input: Arc<Mutex<mpsc::Receiver<String>>>,
    /// Fires when the client cancels or goes away; long work must stop then.
    pub cancel: CancellationToken,
}

impl RequestCtx {
    /// Build one (the connection task keeps the other ends).
    pub fn new(
        events: mpsc::Sender<Event>,
        input: mpsc::Receiver<String>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            events,
            input: Arc::new(Mutex::new(input)),
            cancel,
        }
    }

    /// A context whose client never reads and never sends (tests, internal calls).
    pub fn detached() -> Self {
        let (events, _) = mpsc::channel(1);
        let (_, input) = mpsc::channel(1);
        Self::new(events, input, CancellationToken::new())
    }

    /// Send an event; waits while the client is slow. Returns false when the client left,
    /// in which case the request is cancelled too.
    pub async fn emit(&self, event: Event) -> bool {
        tokio::select! {
            sent = self.events.send(event) => {
                if sent.is_err() {
                    self.cancel.cancel();
                }
                sent.is_ok()
            }
            _ = self.cancel.cancelled() => false,
        }
    }

    /// Next line of client input, or `None` when cancelled or the client left.
    pub async fn next_input(&self) -> Option<String> {
        let mut input = self.input.lock().await;
        tokio::select! {
            line = input.recv() => line,
            _ = self.cancel.cancelled() => None,
        }
    }

    /// Whether the client cancelled or left.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}
