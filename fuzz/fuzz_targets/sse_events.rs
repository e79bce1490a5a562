//! The answer stream parser: arbitrary bytes, split into chunks at arbitrary points, never
//! panic, and give the same events however they are split (SSE framing must not depend on
//! where the network cut the body).
#![no_main]

use std::time::Duration;

use codexd::backend::stream::{EventSource, StreamBreak};
use libfuzzer_sys::fuzz_target;

fn events(chunks: Vec<Vec<u8>>) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, String>));
    let mut es = EventSource::from_bytes(stream, Duration::from_secs(5));
    let mut out = Vec::new();
    rt.block_on(async {
        for _ in 0..10_000 {
            match es.next().await {
                Ok(ev) => out.push(format!("{ev:?}")),
                Err(StreamBreak::Closed) => break,
                Err(e) => {
                    out.push(format!("{e:?}"));
                    break;
                }
            }
        }
    });
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the split points; the rest is the body.
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let whole = events(vec![body.to_vec()]);
    let step = usize::from(split).max(1);
    let chunked = events(body.chunks(step).map(<[u8]>::to_vec).collect());
    // Invalid UTF-8 may be reported at a different event depending on the cut; compare only
    // the fully valid case.
    if std::str::from_utf8(body).is_ok() {
        assert_eq!(whole, chunked);
    }
});
