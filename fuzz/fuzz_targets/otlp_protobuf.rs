//! OTLP protobuf: the fast decoder (bytes read in place) against prost. On every input prost
//! accepts, the fast path must accept it too and produce the same rows, series and
//! rejection counts (`ironspider_ingest::differential`); on any input, neither may panic.

#![no_main]

use ironspider_ingest::differential::{fast_rows, reference_rows};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let fast = fast_rows(bytes);
    if let Ok(request) = ExportMetricsServiceRequest::decode(bytes) {
        let fast = fast.expect("the fast decoder refused a request prost accepts");
        assert_eq!(fast, reference_rows(&request), "the two decoders disagree");
    }
});
