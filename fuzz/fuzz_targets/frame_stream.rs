//! Byte streams as the daemon reads them: the blocking and the async frame readers agree on
//! every input (same frames, same kind of error), and neither panics nor reads past a frame.
#![no_main]

use codexd_proto::ClientMessage;
use codexd_proto::frame::{FrameError, read_message, tokio_io};
use libfuzzer_sys::fuzz_target;

/// Outcome of reading messages until the first error or the end, comparable across readers.
fn kind(r: &Result<Option<ClientMessage>, FrameError>) -> String {
    match r {
        Ok(Some(m)) => format!("{m:?}"),
        Ok(None) => "eof".into(),
        Err(FrameError::TooLarge(n)) => format!("too large {n}"),
        Err(FrameError::Truncated) => "truncated".into(),
        Err(FrameError::Malformed(_)) => "malformed".into(),
        Err(FrameError::TrailingBytes(n)) => format!("trailing {n}"),
        Err(FrameError::Io(e)) => format!("io {:?}", e.kind()),
    }
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut sync_reader = data;
    let mut async_reader = data;
    for _ in 0..64 {
        let a = read_message::<_, ClientMessage>(&mut sync_reader);
        let b = rt.block_on(tokio_io::read_message::<_, ClientMessage>(
            &mut async_reader,
        ));
        assert_eq!(kind(&a), kind(&b));
        assert_eq!(sync_reader.len(), async_reader.len());
        if !matches!(a, Ok(Some(_))) {
            break;
        }
    }
});
