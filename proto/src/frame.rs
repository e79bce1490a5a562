//! The frame codec: a u32 big-endian body length, then a bincode 2 body.
//!
//! The length is checked against [`MAX_FRAME_LEN`] before anything is allocated, and a body
//! must decode to exactly one value with no trailing bytes. A message longer than one frame
//! (a long conversation, a long answer) goes out as several frames: every frame but the last
//! has the [`CONTINUED`] bit set in its length prefix, and readers assemble at most
//! [`MAX_MESSAGE_LEN`] bytes. Requests must fit one frame ([`MAX_REQUEST_LEN`]); the daemon
//! reads them against a byte budget shared by all connections ([`tokio_io::FrameBudget`]), so
//! many half-sent frames cannot add up. Both a blocking (client) and, with the `tokio`
//! feature, an async (daemon) reader/writer are provided over the same rules.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::MAX_FRAME_LEN;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a body larger than the cap.
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(u64),
    /// The connection ended inside a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
    /// A message (all its frames) is larger than the reader or writer allows.
    #[error("message of {size} bytes exceeds the {limit}-byte limit")]
    MessageTooLarge {
        /// Its size (so far, when reading).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The body is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The body decoded but bytes were left over.
    #[error("malformed message: {0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// Reading or writing the socket failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

/// Set in a length prefix when more frames of the same message follow.
pub const CONTINUED: u32 = 1 << 31;

/// Largest message (all its frames together) a reader assembles: a conversation of several
/// megabytes still fits; anything larger is refused with [`FrameError::MessageTooLarge`].
pub const MAX_MESSAGE_LEN: usize = 64 * 1024 * 1024;

/// Largest request a client may send: one frame.
pub const MAX_REQUEST_LEN: usize = MAX_FRAME_LEN as usize;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_LEN>()
}

/// Encode a message as one or more complete frames (length prefixes included).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = bincode::serde::encode_to_vec(msg, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if body.len() > MAX_MESSAGE_LEN {
        return Err(FrameError::MessageTooLarge {
            size: body.len() as u64,
            limit: MAX_MESSAGE_LEN as u64,
        });
    }
    let chunk = MAX_FRAME_LEN as usize;
    let frames = body.len().div_ceil(chunk).max(1);
    let mut out = Vec::with_capacity(body.len() + 4 * frames);
    let mut rest = &body[..];
    loop {
        let (this, next) = rest.split_at(rest.len().min(chunk));
        let mut prefix = this.len() as u32;
        if !next.is_empty() {
            prefix |= CONTINUED;
        }
        out.extend_from_slice(&prefix.to_be_bytes());
        out.extend_from_slice(this);
        if next.is_empty() {
            return Ok(out);
        }
        rest = next;
    }
}

/// The body size of an encoded message (the frames' lengths without their prefixes).
pub fn body_len(frames: &[u8]) -> usize {
    let n = frames.len().div_ceil(MAX_FRAME_LEN as usize + 4).max(1);
    frames.len().saturating_sub(4 * n)
}

/// Encode a request, refusing one larger than [`MAX_REQUEST_LEN`] with its size and the limit.
pub fn encode_request<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let frames = encode(msg)?;
    let size = body_len(&frames);
    if size > MAX_REQUEST_LEN {
        return Err(FrameError::MessageTooLarge {
            size: size as u64,
            limit: MAX_REQUEST_LEN as u64,
        });
    }
    Ok(frames)
}

/// Decode a frame body (without its length prefix).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (value, used) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(FrameError::TrailingBytes(body.len() - used));
    }
    Ok(value)
}

/// Bytes reserved up front for a frame body. A length prefix is only a claim: the body grows
/// as bytes actually arrive, so a peer that announces 4 MiB and sends nothing costs nothing
/// (allocating the announced size at once let hostile clients pin memory per connection).
const INITIAL_BODY_CAPACITY: usize = 64 * 1024;

/// Largest handshake frame the daemon accepts. A [`crate::Hello`] is a few dozen bytes; the
/// small cap bounds what a client that never finishes the handshake can make the daemon hold.
pub const MAX_HELLO_LEN: u32 = 4 * 1024;

/// Split a length prefix into (body length, continued) and check the length against `max`
/// (at most [`MAX_FRAME_LEN`]).
fn checked_len(prefix: [u8; 4], max: u32) -> Result<(usize, bool), FrameError> {
    let raw = u32::from_be_bytes(prefix);
    let len = raw & !CONTINUED;
    if len > max.min(MAX_FRAME_LEN) {
        return Err(FrameError::TooLarge(u64::from(raw)));
    }
    Ok((len as usize, raw & CONTINUED != 0))
}

/// Check that a message of `so_far` bytes may grow by `len` within `max`.
fn check_total(so_far: usize, len: usize, max: usize) -> Result<(), FrameError> {
    if so_far + len > max {
        return Err(FrameError::MessageTooLarge {
            size: (so_far + len) as u64,
            limit: max as u64,
        });
    }
    Ok(())
}

/// Read one message body (all its frames). `Ok(None)` means the peer closed the connection
/// cleanly between messages.
pub fn read_frame<R: Read>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut body = Vec::new();
    loop {
        let mut prefix = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match r.read(&mut prefix[got..]) {
                Ok(0) if got == 0 && body.is_empty() => return Ok(None),
                Ok(0) => return Err(FrameError::Truncated),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let (len, continued) = checked_len(prefix, MAX_FRAME_LEN)?;
        check_total(body.len(), len, MAX_MESSAGE_LEN)?;
        let start = body.len();
        body.reserve(len.min(INITIAL_BODY_CAPACITY));
        r.take(len as u64).read_to_end(&mut body)?;
        if body.len() - start != len {
            return Err(FrameError::Truncated);
        }
        if !continued {
            return Ok(Some(body));
        }
    }
}

/// Read and decode one message; `Ok(None)` on a clean close.
pub fn read_message<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<Option<T>, FrameError> {
    read_frame(r)?.map(|body| decode(&body)).transpose()
}

/// Encode and write one message, then flush.
pub fn write_message<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Async versions for the daemon.
#[cfg(feature = "tokio")]
pub mod tokio_io {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    use super::*;

    /// Read one message body (all its frames). `Ok(None)` means the peer closed cleanly
    /// between messages.
    pub async fn read_frame<R: AsyncRead + Unpin>(
        r: &mut R,
    ) -> Result<Option<Vec<u8>>, FrameError> {
        read_frame_max(r, MAX_MESSAGE_LEN as u32).await
    }

    /// Like [`read_frame`], refusing messages longer than `max` (e.g. [`MAX_HELLO_LEN`]).
    pub async fn read_frame_max<R: AsyncRead + Unpin>(
        r: &mut R,
        max: u32,
    ) -> Result<Option<Vec<u8>>, FrameError> {
        read_body(r, max, None)
            .await
            .map(|o| o.map(|(body, _)| body))
    }

    /// Frames up to this size are read without taking from the budget.
    pub const UNBUDGETED_FRAME_LEN: usize = 64 * 1024;

    /// Bytes of request frames being read at once, over all connections: each frame takes its
    /// announced length from the budget before its body is read and gives it back once the
    /// message is decoded, so hundreds of half-sent frames cannot pin more than the budget.
    #[derive(Clone)]
    pub struct FrameBudget {
        bytes: std::sync::Arc<tokio::sync::Semaphore>,
        /// How long a frame may wait for budget, and then for its body, before the connection
        /// is given up.
        pub patience: std::time::Duration,
    }

    impl FrameBudget {
        /// A budget of `bytes` (at least one full frame).
        pub fn new(bytes: usize, patience: std::time::Duration) -> Self {
            let bytes = bytes.max(MAX_FRAME_LEN as usize);
            Self {
                bytes: std::sync::Arc::new(tokio::sync::Semaphore::new(bytes)),
                patience,
            }
        }

        /// Bytes free right now.
        pub fn available(&self) -> usize {
            self.bytes.available_permits()
        }
    }

    async fn read_body<R: AsyncRead + Unpin>(
        r: &mut R,
        max: u32,
        budget: Option<&FrameBudget>,
    ) -> Result<Option<(Vec<u8>, Vec<tokio::sync::OwnedSemaphorePermit>)>, FrameError> {
        let mut body = Vec::new();
        let mut held = Vec::new();
        loop {
            let mut prefix = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                match r.read(&mut prefix[got..]).await? {
                    0 if got == 0 && body.is_empty() => return Ok(None),
                    0 => return Err(FrameError::Truncated),
                    n => got += n,
                }
            }
            let (len, continued) = checked_len(prefix, max)?;
            check_total(body.len(), len, max as usize)?;
            let start = body.len();
            let read = async {
                body.reserve(len.min(INITIAL_BODY_CAPACITY));
                (&mut *r).take(len as u64).read_to_end(&mut body).await
            };
            match budget {
                // Small frames (pings, cancels, most requests) never wait for the budget: a
                // few large stalled frames must not lock everyone out. Their cost is bounded
                // per connection instead.
                None => {
                    read.await?;
                }
                Some(_) if len <= UNBUDGETED_FRAME_LEN => {
                    read.await?;
                }
                Some(b) => {
                    let wait = u32::try_from(len).unwrap_or(u32::MAX);
                    let permit =
                        tokio::time::timeout(b.patience, b.bytes.clone().acquire_many_owned(wait))
                            .await
                            .map_err(|_| {
                                io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    "the daemon is reading too many large requests at once",
                                )
                            })?
                            .map_err(|_| io::Error::other("the frame budget is closed"))?;
                    held.push(permit);
                    tokio::time::timeout(b.patience, read).await.map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client stopped sending in the middle of a frame",
                        )
                    })??;
                }
            }
            if body.len() - start != len {
                return Err(FrameError::Truncated);
            }
            if !continued {
                return Ok(Some((body, held)));
            }
        }
    }

    /// Read and decode one request-sized message ([`MAX_REQUEST_LEN`]) against `budget`; the
    /// bytes go back to the budget once the message is decoded.
    pub async fn read_message_budgeted<R: AsyncRead + Unpin, T: DeserializeOwned>(
        r: &mut R,
        budget: &FrameBudget,
    ) -> Result<Option<T>, FrameError> {
        match read_body(r, MAX_REQUEST_LEN as u32, Some(budget)).await? {
            None => Ok(None),
            Some((body, held)) => {
                let msg = decode(&body);
                drop(body);
                drop(held);
                msg.map(Some)
            }
        }
    }

    /// Read and decode one message; `Ok(None)` on a clean close.
    pub async fn read_message<R: AsyncRead + Unpin, T: DeserializeOwned>(
        r: &mut R,
    ) -> Result<Option<T>, FrameError> {
        read_frame(r).await?.map(|body| decode(&body)).transpose()
    }

    /// Like [`read_message`], refusing bodies longer than `max`.
    pub async fn read_message_max<R: AsyncRead + Unpin, T: DeserializeOwned>(
        r: &mut R,
        max: u32,
    ) -> Result<Option<T>, FrameError> {
        read_frame_max(r, max)
            .await?
            .map(|body| decode(&body))
            .transpose()
    }

    /// Encode and write one message, then flush.
    pub async fn write_message<W: AsyncWrite + Unpin, T: Serialize>(
        w: &mut W,
        msg: &T,
    ) -> Result<(), FrameError> {
        w.write_all(&encode(msg)?).await?;
        w.flush().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ClientMessage, Hello, Request, ServerMessage};
    use crate::{ErrorCode, PROTOCOL_VERSION, WireError};

    #[test]
    fn round_trips_every_envelope() {
        let hello = Hello {
            protocol: PROTOCOL_VERSION,
            client: "t".into(),
        };
        let frame = encode(&hello).unwrap();
        let back: Hello = read_message(&mut &frame[..]).unwrap().unwrap();
        assert_eq!(back, hello);

        let msg = ClientMessage::Request(Request::Logout { local_only: true });
        let frame = encode(&msg).unwrap();
        assert_eq!(
            read_message::<_, ClientMessage>(&mut &frame[..])
                .unwrap()
                .unwrap(),
            msg
        );

        let err = ServerMessage::Error(
            WireError::new(ErrorCode::UsageLimit, "limit").with_retry_at(Some(5)),
        );
        let frame = encode(&err).unwrap();
        assert_eq!(
            read_message::<_, ServerMessage>(&mut &frame[..])
                .unwrap()
                .unwrap(),
            err
        );
    }

    #[test]
    fn clean_eof_is_none_and_partial_is_truncated() {
        assert!(read_frame(&mut &[][..]).unwrap().is_none());
        assert!(matches!(
            read_frame(&mut &[0u8, 0][..]),
            Err(FrameError::Truncated)
        ));
        let frame = encode(&Hello {
            protocol: 1,
            client: "abc".into(),
        })
        .unwrap();
        let cut = &frame[..frame.len() - 1];
        assert!(matches!(
            read_frame(&mut &cut[..]),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn oversize_length_is_rejected_before_reading_the_body() {
        let prefix = (MAX_FRAME_LEN + 1).to_be_bytes();
        assert!(matches!(
            read_frame(&mut &prefix[..]),
            Err(FrameError::TooLarge(_))
        ));
        let huge = u32::MAX.to_be_bytes();
        assert!(matches!(
            read_frame(&mut &huge[..]),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn hello_cap_rejects_big_frames_before_reading_them() {
        let prefix = (MAX_HELLO_LEN + 1).to_be_bytes();
        assert!(matches!(
            tokio_io::read_frame_max(&mut &prefix[..], MAX_HELLO_LEN).await,
            Err(FrameError::TooLarge(_))
        ));
        let frame = encode(&Hello {
            protocol: 1,
            client: "a".into(),
        })
        .unwrap();
        let hello: Hello = tokio_io::read_message_max(&mut &frame[..], MAX_HELLO_LEN)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hello.client, "a");
    }

    #[test]
    fn long_messages_travel_in_several_frames() {
        let big = "x".repeat(MAX_FRAME_LEN as usize * 2 + 17);
        let frames = encode(&big).unwrap();
        let first = u32::from_be_bytes(frames[..4].try_into().unwrap());
        assert_eq!(first, MAX_FRAME_LEN | CONTINUED);
        assert!(body_len(&frames) > 2 * MAX_FRAME_LEN as usize);
        let back: String = read_message(&mut &frames[..]).unwrap().unwrap();
        assert_eq!(back, big);
        // A request that long is refused before it is sent, naming its size and the limit.
        let err = encode_request(&big).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{MAX_REQUEST_LEN}-byte limit")),
            "{err}"
        );
        // Cut inside the second frame: truncated, not a short message.
        let cut = &frames[..MAX_FRAME_LEN as usize + 100];
        assert!(matches!(
            read_frame(&mut &cut[..]),
            Err(FrameError::Truncated)
        ));
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn budgeted_reads_give_the_bytes_back_and_refuse_long_messages() {
        let budget = tokio_io::FrameBudget::new(0, std::time::Duration::from_secs(5));
        let full = budget.available();
        assert_eq!(full, MAX_FRAME_LEN as usize);
        let frame = encode(&ClientMessage::Input("hello".into())).unwrap();
        let msg: ClientMessage = tokio_io::read_message_budgeted(&mut &frame[..], &budget)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg, ClientMessage::Input("hello".into()));
        assert_eq!(budget.available(), full);
        let big = encode(&"y".repeat(MAX_FRAME_LEN as usize + 1)).unwrap();
        assert!(matches!(
            tokio_io::read_message_budgeted::<_, String>(&mut &big[..], &budget).await,
            Err(FrameError::MessageTooLarge { .. })
        ));
        assert_eq!(budget.available(), full);
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn a_frame_waits_for_budget_held_by_others() {
        // Budget of one full frame, held by a half-sent frame: a second frame times out
        // waiting instead of allocating more.
        let budget = tokio_io::FrameBudget::new(0, std::time::Duration::from_millis(200));
        let (mut a_client, mut a_server) = tokio::io::duplex(64);
        let b1 = budget.clone();
        let holder = tokio::spawn(async move {
            tokio_io::read_message_budgeted::<_, ClientMessage>(&mut a_server, &b1).await
        });
        tokio::io::AsyncWriteExt::write_all(&mut a_client, &MAX_FRAME_LEN.to_be_bytes())
            .await
            .unwrap();
        while budget.available() != 0 {
            tokio::task::yield_now().await;
        }
        // A small frame still gets through; a large one waits and gives up.
        let small = encode(&ClientMessage::Cancel).unwrap();
        let got =
            tokio_io::read_message_budgeted::<_, ClientMessage>(&mut &small[..], &budget).await;
        assert!(matches!(got, Ok(Some(ClientMessage::Cancel))), "{got:?}");
        let large = encode(&ClientMessage::Input("i".repeat(100_000))).unwrap();
        let second =
            tokio_io::read_message_budgeted::<_, ClientMessage>(&mut &large[..], &budget).await;
        assert!(matches!(second, Err(FrameError::Io(_))), "{second:?}");
        // The stalled sender is dropped after its patience runs out, and the bytes return.
        assert!(holder.await.unwrap().is_err());
        assert_eq!(budget.available(), MAX_FRAME_LEN as usize);
    }

    #[test]
    fn garbage_and_trailing_bytes_are_malformed() {
        let garbage = [0xffu8, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(
            decode::<ClientMessage>(&garbage),
            Err(FrameError::Malformed(_))
        ));
        let mut body = encode(&Hello {
            protocol: 1,
            client: "a".into(),
        })
        .unwrap()[4..]
            .to_vec();
        body.push(0);
        assert!(matches!(
            decode::<Hello>(&body),
            Err(FrameError::TrailingBytes(1))
        ));
    }

    proptest::proptest! {
        #[test]
        fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = read_message::<_, ClientMessage>(&mut &bytes[..]);
            let _ = decode::<ServerMessage>(&bytes);
            let _ = decode::<Hello>(&bytes);
        }

        #[test]
        fn decoding_framed_random_bodies_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut framed = (bytes.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            let _ = read_message::<_, ClientMessage>(&mut &framed[..]);
            let _ = read_message::<_, ServerMessage>(&mut &framed[..]);
        }
    }
}
