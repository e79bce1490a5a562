//! The frame codec: a u32 big-endian body length, then a bincode 2 body.
//!
//! The length is checked against [`MAX_FRAME_LEN`] before anything is allocated, and a body
//! must decode to exactly one value with no trailing bytes. Both a blocking (client) and, with
//! the `tokio` feature, an async (daemon) reader/writer are provided over the same rules.

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

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ MAX_FRAME_LEN as usize }>()
}

/// Encode a message as a complete frame (length prefix included).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; 4];
    bincode::serde::encode_into_std_write(msg, &mut out, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = out.len() - 4;
    if len > MAX_FRAME_LEN as usize {
        return Err(FrameError::TooLarge(len as u64));
    }
    out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
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

/// Check a length prefix against `max` (at most [`MAX_FRAME_LEN`]).
fn checked_len(prefix: [u8; 4], max: u32) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix);
    if len > max.min(MAX_FRAME_LEN) {
        return Err(FrameError::TooLarge(u64::from(len)));
    }
    Ok(len as usize)
}

/// Read one frame body. `Ok(None)` means the peer closed the connection cleanly between frames.
pub fn read_frame<R: Read>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = checked_len(prefix, MAX_FRAME_LEN)?;
    let mut body = Vec::with_capacity(len.min(INITIAL_BODY_CAPACITY));
    r.take(len as u64).read_to_end(&mut body)?;
    if body.len() != len {
        return Err(FrameError::Truncated);
    }
    Ok(Some(body))
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

    /// Read one frame body. `Ok(None)` means the peer closed cleanly between frames.
    pub async fn read_frame<R: AsyncRead + Unpin>(
        r: &mut R,
    ) -> Result<Option<Vec<u8>>, FrameError> {
        read_frame_max(r, MAX_FRAME_LEN).await
    }

    /// Like [`read_frame`], refusing bodies longer than `max` (e.g. [`MAX_HELLO_LEN`]).
    pub async fn read_frame_max<R: AsyncRead + Unpin>(
        r: &mut R,
        max: u32,
    ) -> Result<Option<Vec<u8>>, FrameError> {
        let mut prefix = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match r.read(&mut prefix[got..]).await? {
                0 if got == 0 => return Ok(None),
                0 => return Err(FrameError::Truncated),
                n => got += n,
            }
        }
        let len = checked_len(prefix, max)?;
        let mut body = Vec::with_capacity(len.min(INITIAL_BODY_CAPACITY));
        (&mut *r).take(len as u64).read_to_end(&mut body).await?;
        if body.len() != len {
            return Err(FrameError::Truncated);
        }
        Ok(Some(body))
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
