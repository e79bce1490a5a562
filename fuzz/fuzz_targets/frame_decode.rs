//! Frame bodies: decoding arbitrary bytes as each envelope never panics, and anything that
//! decodes re-encodes to a frame that decodes to the same value.
#![no_main]

use codexd_proto::frame::{decode, encode};
use codexd_proto::{ClientMessage, Hello, HelloReply, ServerMessage};
use libfuzzer_sys::fuzz_target;

fn round_trip<T>(data: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = decode::<T>(data) {
        let frame = encode(&value).expect("a decoded value re-encodes");
        let again: T = decode(&frame[4..]).expect("a re-encoded value decodes");
        assert_eq!(again, value);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<ClientMessage>(data);
    round_trip::<Hello>(data);
    round_trip::<ServerMessage>(data);
    round_trip::<HelloReply>(data);
});
