//! One client connection: the version handshake (with a deadline, so a silent client cannot
//! hold a slot), then requests one at a time. While a request runs, a reader task watches the
//! client: `Cancel` or a closed connection cancels the request; `Input` lines are passed on.
//!
//! Slots: every connection holds an ordinary slot ([`Slots`]) except while it runs a
//! long-running request (ask, `logs -f`, sign-in), which holds a stream slot instead; time
//! outside long-running requests adds up, and past `idle_connection_secs` the connection is
//! closed between requests, whatever it sends.

use std::sync::Arc;
use std::time::Duration;

use codexd_proto::frame::FrameError;
use codexd_proto::frame::MAX_HELLO_LEN;
use codexd_proto::frame::tokio_io::{
    FrameBudget, read_message_budgeted, read_message_max, write_message,
};
use codexd_proto::{
    ClientMessage, ErrorCode, Hello, HelloReply, PROTOCOL_VERSION, ServerMessage, WireError,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::dispatch::handle;
use crate::request::RequestCtx;
use crate::services::Services;

/// Events buffered per request before the actor waits for the client.
const EVENT_BUFFER: usize = 64;
/// A connected client that sends nothing between requests for this long is dropped.
const IDLE_BETWEEN_REQUESTS: Duration = Duration::from_secs(60);

/// The two connection caps: ordinary connections, and long-running requests.
#[derive(Clone)]
pub struct Slots {
    connections: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    max_connections: usize,
    max_streams: usize,
}

impl Slots {
    /// Caps of `connections` ordinary connections and `streams` long-running requests.
    pub fn new(connections: usize, streams: usize) -> Self {
        let (connections, streams) = (connections.max(1), streams.max(1));
        Self {
            connections: Arc::new(Semaphore::new(connections)),
            streams: Arc::new(Semaphore::new(streams)),
            max_connections: connections,
            max_streams: streams,
        }
    }

    /// An ordinary slot, if one is free.
    pub fn try_connection(&self) -> Option<OwnedSemaphorePermit> {
        self.connections.clone().try_acquire_owned().ok()
    }

    fn try_stream(&self) -> Option<OwnedSemaphorePermit> {
        self.streams.clone().try_acquire_owned().ok()
    }

    /// (connections open, their cap) over both kinds.
    pub fn open_and_limit(&self) -> (usize, usize) {
        let limit = self.max_connections + self.max_streams;
        let free = self.connections.available_permits() + self.streams.available_permits();
        (limit.saturating_sub(free), limit)
    }
}

/// Tell a client over the cap that codexd is busy, then close.
pub async fn refuse_busy<S>(stream: S, open: usize, limit: usize)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    // Read the client's Hello first, so that it is not writing into a closed socket when the
    // answer comes.
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        read_message_max::<_, Hello>(&mut rd, MAX_HELLO_LEN),
    )
    .await;
    let busy = HelloReply::Busy {
        connections: u32::try_from(open).unwrap_or(u32::MAX),
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        pid: std::process::id(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), write_message(&mut wr, &busy)).await;
}

/// Requests that may run for minutes: they take a stream slot, not an ordinary one.
fn is_long_running(request: &codexd_proto::Request) -> bool {
    use codexd_proto::Request;
    matches!(
        request,
        Request::Ask(_)
            | Request::Login(_)
            | Request::Logs(codexd_proto::logs::LogsRequest { follow: true, .. })
    )
}

/// Serve one connection to completion. `permit` is its ordinary slot.
pub async fn serve<S>(
    stream: S,
    svc: Arc<Services>,
    budget: FrameBudget,
    slots: Slots,
    permit: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut permit = Some(permit);
    let mut clock = IdleClock::new(Duration::from_secs(
        svc.config.server.idle_connection_secs.max(1),
    ));
    let (mut rd, mut wr) = tokio::io::split(stream);
    let deadline = Duration::from_millis(svc.config.server.handshake_timeout_ms);
    if !handshake(&mut rd, &mut wr, deadline).await {
        return;
    }
    let (reader, mut client_rx) = spawn_reader(rd, budget);

    loop {
        let next = match tokio::time::timeout(clock.next_wait(), client_rx.recv()).await {
            Ok(Some(next)) => next,
            Ok(None) | Err(_) => break,
        };
        let request = match next {
            Ok(ClientMessage::Request(r)) => r,
            // Nothing is running: a late cancel or input is harmless.
            Ok(ClientMessage::Cancel | ClientMessage::Input(_)) => continue,
            Err(e) => {
                let err = bad_frame_error(&e);
                let _ = write_message(&mut wr, &ServerMessage::Error(err)).await;
                break;
            }
        };
        if !is_long_running(&request) {
            if !run_request(request, &mut wr, &mut client_rx, &svc).await {
                break;
            }
        } else {
            let Some(stream_slot) = slots.try_stream() else {
                let err = streams_busy_error(&slots);
                if write_message(&mut wr, &ServerMessage::Error(err))
                    .await
                    .is_err()
                {
                    break;
                }
                continue;
            };
            // While it streams, this connection counts against the streams, not the others.
            drop(permit.take());
            let started = tokio::time::Instant::now();
            let open = run_request(request, &mut wr, &mut client_rx, &svc).await;
            clock.add_streaming(started.elapsed());
            drop(stream_slot);
            permit = slots.try_connection();
            if !open || permit.is_none() {
                break;
            }
        }
        if clock.expired() {
            tracing::debug!("closing a connection that stayed idle too long");
            break;
        }
    }
    reader.abort();
}

/// A connection's idle time: time since it connected minus the time spent in long-running
/// requests. Decides how long to wait for the next request and when to close.
struct IdleClock {
    connected: tokio::time::Instant,
    streaming: Duration,
    limit: Duration,
}

impl IdleClock {
    /// A clock started now, closing past `limit` of idle time.
    fn new(limit: Duration) -> Self {
        Self {
            connected: tokio::time::Instant::now(),
            streaming: Duration::ZERO,
            limit,
        }
    }

    /// Time outside long-running requests so far.
    fn idle(&self) -> Duration {
        self.connected.elapsed().saturating_sub(self.streaming)
    }

    /// How long to wait for the next request: the idle time left, at most
    /// [`IDLE_BETWEEN_REQUESTS`].
    fn next_wait(&self) -> Duration {
        IDLE_BETWEEN_REQUESTS.min(self.limit.saturating_sub(self.idle()))
    }

    /// Count `d` spent in a long-running request as not idle.
    fn add_streaming(&mut self, d: Duration) {
        self.streaming += d;
    }

    /// Whether the connection has been idle longer than its limit.
    fn expired(&self) -> bool {
        self.idle() > self.limit
    }
}

/// The version handshake: read the client's `Hello` within `deadline` (with a small size
/// cap, so clients that never finish it stay cheap) and answer `Welcome`, or `Mismatch` for
/// another protocol version. Returns whether the connection goes on to requests.
async fn handshake<R, W>(rd: &mut R, wr: &mut W, deadline: Duration) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let hello =
        match tokio::time::timeout(deadline, read_message_max::<_, Hello>(rd, MAX_HELLO_LEN)).await
        {
            Ok(Ok(Some(hello))) => hello,
            Ok(Ok(None)) => return false,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "bad handshake; closing connection");
                return false;
            }
            Err(_) => {
                tracing::debug!("client sent no handshake in time; closing connection");
                return false;
            }
        };
    if hello.protocol != PROTOCOL_VERSION {
        tracing::info!(client = %hello.client, protocol = hello.protocol, "client speaks another protocol version");
        let _ = write_message(
            wr,
            &HelloReply::Mismatch {
                daemon_protocol: PROTOCOL_VERSION,
                daemon_version: codexd_proto::VERSION.into(),
                pid: std::process::id(),
            },
        )
        .await;
        return false;
    }
    let welcome = HelloReply::Welcome {
        protocol: PROTOCOL_VERSION,
        daemon_version: codexd_proto::VERSION.into(),
        pid: std::process::id(),
    };
    write_message(wr, &welcome).await.is_ok()
}

/// What a client sends, as read by [`spawn_reader`]'s task.
type ClientRx = mpsc::Receiver<Result<ClientMessage, FrameError>>;

/// The reader task: it owns the read half for the connection's life (reads are not
/// cancel-safe, so they never sit inside a select) and passes each message on; it stops
/// after the client closes, after a bad frame (passed on), or when nobody listens.
fn spawn_reader<R>(mut rd: R, budget: FrameBudget) -> (tokio::task::JoinHandle<()>, ClientRx)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (client_tx, client_rx) = mpsc::channel::<Result<ClientMessage, FrameError>>(8);
    let reader = tokio::spawn(async move {
        loop {
            let msg = read_message_budgeted::<_, ClientMessage>(&mut rd, &budget).await;
            let end = !matches!(msg, Ok(Some(_)));
            let sent = match msg {
                Ok(Some(m)) => client_tx.send(Ok(m)).await,
                Ok(None) => break,
                Err(e) => client_tx.send(Err(e)).await,
            };
            if end || sent.is_err() {
                break;
            }
        }
    });
    (reader, client_rx)
}

/// The error a client gets for a frame that could not be read before the connection
/// closes: a too-large request says to send less, anything else names the fault.
fn bad_frame_error(e: &FrameError) -> WireError {
    let text = match e {
        FrameError::TooLarge(_) | FrameError::MessageTooLarge { .. } => {
            tracing::warn!(error = %e, "refused a request larger than the limit");
            format!("the request is too large: {e}; send less (e.g. trim piped input)")
        }
        _ => {
            tracing::debug!(error = %e, "malformed frame from client");
            e.to_string()
        }
    };
    WireError::new(
        ErrorCode::BadRequest,
        format!("{text}; closing the connection"),
    )
}

/// The error for a long-running request when every stream slot is taken.
fn streams_busy_error(slots: &Slots) -> WireError {
    WireError::new(
        ErrorCode::Busy,
        format!(
            "codexd is busy: {} long-running requests (asks, `logs -f`, sign-ins) are open, the limit; try again shortly",
            slots.max_streams
        ),
    )
}

/// Write one frame; a reply too large even for several frames is logged and replaced by an
/// error naming its size, so the client is told instead of losing the connection.
async fn send<W: AsyncWrite + Unpin>(wr: &mut W, msg: &ServerMessage) -> bool {
    match write_message(wr, msg).await {
        Ok(()) => true,
        Err(e @ FrameError::MessageTooLarge { .. }) => {
            tracing::warn!(error = %e, "a reply was too large to send");
            let err = WireError::new(
                ErrorCode::Internal,
                format!(
                    "codexd's answer is too large to send ({e}); ask for less (e.g. `sessions show` of a shorter conversation)"
                ),
            );
            write_message(wr, &ServerMessage::Error(err)).await.is_ok()
        }
        Err(_) => false,
    }
}

/// Run one request, streaming its events. Returns false when the connection must close.
async fn run_request<W: AsyncWrite + Unpin>(
    request: codexd_proto::Request,
    wr: &mut W,
    client_rx: &mut ClientRx,
    svc: &Arc<Services>,
) -> bool {
    let (ev_tx, mut ev_rx) = mpsc::channel(EVENT_BUFFER);
    let (in_tx, in_rx) = mpsc::channel(4);
    // A child of the daemon's shutdown token: a stopping daemon ends every running request
    // (a `logs -f`, a long ask, a waiting login) at once instead of waiting out the grace.
    let cancel = svc.shutdown.child_token();
    let ctx = RequestCtx::new(ev_tx, in_rx, cancel.clone());
    // Cancelling the token on every exit path stops the actor's work when we stop listening.
    let _cancel_on_exit = cancel.clone().drop_guard();
    let handler = handle(request, ctx, svc.clone());
    tokio::pin!(handler);
    loop {
        tokio::select! {
            biased;
            result = &mut handler => {
                while let Ok(ev) = ev_rx.try_recv() {
                    if !send(wr, &ServerMessage::Event(ev)).await {
                        return false;
                    }
                }
                let msg = match result {
                    Ok(reply) => ServerMessage::Reply(reply),
                    Err(err) if err.code == ErrorCode::Cancelled && svc.shutdown.is_cancelled() => {
                        ServerMessage::Error(WireError::new(
                            ErrorCode::Busy,
                            "codexd is shutting down, so this request was stopped and nothing was saved; run the command again (it starts codexd again).",
                        ))
                    }
                    Err(err) => ServerMessage::Error(err),
                };
                return send(wr, &msg).await;
            }
            Some(ev) = ev_rx.recv() => {
                if !send(wr, &ServerMessage::Event(ev)).await {
                    return false;
                }
            }
            from_client = client_rx.recv() => match from_client {
                Some(Ok(ClientMessage::Input(line))) => {
                    let _ = in_tx.try_send(line);
                }
                Some(Ok(ClientMessage::Cancel)) => {
                    cancel.cancel();
                    let err = WireError::new(ErrorCode::Cancelled, "cancelled");
                    return write_message(wr, &ServerMessage::Error(err)).await.is_ok();
                }
                Some(Ok(ClientMessage::Request(_))) => {
                    let err = WireError::new(ErrorCode::BadRequest, "a request is already running on this connection");
                    let _ = write_message(wr, &ServerMessage::Error(err)).await;
                    return false;
                }
                Some(Err(_)) | None => {
                    // The client left: cancel and stop (nobody is listening for the answer).
                    cancel.cancel();
                    return false;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_clock_leaves_out_streaming_time() {
        let mut clock = IdleClock::new(Duration::from_secs(100));
        assert_eq!(clock.next_wait(), IDLE_BETWEEN_REQUESTS);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.next_wait(), Duration::from_secs(10));
        clock.add_streaming(Duration::from_secs(50));
        assert!(!clock.expired());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(clock.expired());
        assert_eq!(clock.next_wait(), Duration::ZERO);
    }

    #[test]
    fn a_too_large_frame_says_to_send_less() {
        let err = bad_frame_error(&FrameError::TooLarge(u64::MAX));
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(err.message.contains("send less"), "{}", err.message);
        assert!(err.message.ends_with("closing the connection"));
    }
}
