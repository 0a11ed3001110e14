//! OTLP/JSON: the JSON decoder must never panic; a request it accepts, encoded as protobuf,
//! must give the same rows on the fast path as the decoded structs on the reference path.

#![no_main]

use ironspider_ingest::differential::{fast_rows, reference_rows};
use ironspider_ingest::format::json;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(request) = json::decode(bytes) {
        let encoded = request.encode_to_vec();
        let fast = fast_rows(&encoded).expect("the fast decoder refused prost's own encoding");
        assert_eq!(fast, reference_rows(&request), "the two decoders disagree");
    }
});
