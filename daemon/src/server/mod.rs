//! The Unix-socket server: accept loop with a peer-uid check on every connection, separate
//! caps for ordinary connections and long-running requests (over a cap the client is told
//! "codexd is busy"), one task per connection, graceful shutdown.
//!
//! - [`listener`] — bind or adopt the socket, clear a dead one.
//! - [`connection`] — handshake and the request loop of one client.
//! - [`dispatch`] — which actor answers which request.

pub mod connection;
pub mod dispatch;
pub mod listener;

use std::sync::Arc;
use std::time::Duration;

use interprocess::local_socket::traits::StreamCommon;
use interprocess::local_socket::traits::tokio::Listener as _;
use interprocess::os::unix::uds_local_socket::tokio::Listener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::services::Services;

/// Bytes of request frames the daemon reads at once, over all connections: eight full frames.
pub const FRAME_BUDGET_BYTES: usize = 8 * codexd_proto::MAX_FRAME_LEN as usize;

/// Accept connections until `shutdown` fires, then wait (bounded) for running requests.
pub async fn serve(listener: Listener, svc: Arc<Services>, shutdown: CancellationToken) {
    let uid = codexd_proto::socket::current_uid();
    // Bytes of request frames being read at once, over all connections (item 6 of the
    // hardening review: 256 nearly complete 4 MiB frames once took 1 GiB).
    let budget = codexd_proto::frame::tokio_io::FrameBudget::new(
        FRAME_BUDGET_BYTES,
        Duration::from_secs(30),
    );
    let slots = connection::Slots::new(
        svc.config.server.max_connections,
        svc.config.server.max_streams,
    );
    let tracker = TaskTracker::new();
    loop {
        // Accept at once, even over the cap: a client left in the kernel backlog cannot be
        // told anything, and a full backlog made clients hang (or fail with EAGAIN).
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    if crate::hardening::is_fd_shortage(&e) {
                        tracing::warn!(error = %e, "accept failed: out of file descriptors; raise the open-file limit (LimitNOFILE=) or lower max_connections");
                    } else {
                        tracing::warn!(error = %e, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        match stream.peer_creds().map(|c| c.euid()) {
            Ok(Some(peer)) if peer == uid => {}
            Ok(peer) => {
                tracing::warn!(peer_uid = ?peer, "refused a connection from another user");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the peer's credentials; refusing the connection");
                continue;
            }
        }
        let Some(permit) = slots.try_connection() else {
            let (open, limit) = slots.open_and_limit();
            tracing::warn!(
                open,
                limit,
                "connection cap reached; telling the client codexd is busy"
            );
            tracker.spawn(connection::refuse_busy(stream, open, limit));
            continue;
        };
        let svc = svc.clone();
        let budget = budget.clone();
        let slots = slots.clone();
        tracker.spawn(async move {
            connection::serve(stream, svc, budget, slots.clone(), permit).await;
            // The last client left: give the heap of its burst back (idle RSS).
            if slots.open_and_limit().0 == 0 {
                crate::memory::trim_heap();
            }
        });
    }
    tracker.close();
    let grace = Duration::from_millis(svc.config.server.shutdown_grace_ms);
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            running = tracker.len(),
            "shutdown grace period over; dropping running requests"
        );
    }
}
