//! A minimal synchronous client speaking the codexd protocol on a raw Unix socket, for
//! driving the daemon without the cost of a `codexctl` process (load cases, first-token
//! timing) and for the reliability tests.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use codexd_proto::frame::{read_message, write_message};
use codexd_proto::{
    ClientMessage, Event, Hello, HelloReply, PROTOCOL_VERSION, Reply, Request, ServerMessage,
    WireError,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The socket or the framing failed.
    #[error("talking to codexd failed: {0}")]
    Frame(#[from] codexd_proto::frame::FrameError),
    /// Connecting failed.
    #[error("cannot connect to codexd: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon refused the handshake.
    #[error("codexd refused the handshake: {0:?}")]
    Handshake(HelloReply),
    /// The daemon closed the connection before the reply.
    #[error("codexd closed the connection before replying")]
    Closed,
    /// The request failed in the daemon.
    #[error("codexd answered with an error: {0:?}")]
    Remote(WireError),
}

/// A connection after a successful handshake.
pub struct Conn {
    stream: UnixStream,
}

impl Conn {
    /// Connect to `socket` and shake hands; reads time out after `timeout`.
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Conn, CallError> {
        let mut stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write_message(
            &mut stream,
            &Hello {
                protocol: PROTOCOL_VERSION,
                client: "codexd-bench".into(),
            },
        )?;
        match read_message::<_, HelloReply>(&mut stream)? {
            Some(HelloReply::Welcome { .. }) => Ok(Conn { stream }),
            Some(other) => Err(CallError::Handshake(other)),
            None => Err(CallError::Closed),
        }
    }

    /// Send one request, pass each streamed event to `on_event`, return the reply.
    pub fn call(
        &mut self,
        request: Request,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Reply, CallError> {
        write_message(&mut self.stream, &ClientMessage::Request(request))?;
        loop {
            match read_message::<_, ServerMessage>(&mut self.stream)? {
                Some(ServerMessage::Event(e)) => on_event(&e),
                Some(ServerMessage::Reply(r)) => return Ok(r),
                Some(ServerMessage::Error(e)) => return Err(CallError::Remote(e)),
                None => return Err(CallError::Closed),
            }
        }
    }
}

/// One request on a fresh connection.
pub fn call_once(socket: &Path, request: Request, timeout: Duration) -> Result<Reply, CallError> {
    Conn::connect(socket, timeout)?.call(request, &mut |_| {})
}
