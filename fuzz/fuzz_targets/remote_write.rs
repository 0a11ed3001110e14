//! Prometheus remote write: snappy then protobuf, then the conversion to OTLP in chunks,
//! then the OTLP rows. Nothing may panic, a body never inflates past the limit, refused
//! series stay out of every chunk, and each chunk stays within its byte budget as the
//! module doc of `convert` defines it (96 bytes a point, 96 an attribute, plus the text),
//! or holds a single point.

#![no_main]

use ironspider_ingest::differential::reference_rows;
use ironspider_ingest::format::remote_write::{self, convert};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::NumberDataPoint;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

const LIMIT: usize = 1 << 20;
const LIMITS: convert::Limits = convert::Limits { max_attributes: 16, max_attribute_bytes: 64 };
const BUDGET: usize = 4_096;

/// A converted point's size as the module doc of `convert` counts it.
fn point_bytes(point: &NumberDataPoint) -> usize {
    let text = |kv: &opentelemetry_proto::tonic::common::v1::KeyValue| match kv
        .value
        .as_ref()
        .and_then(|v| v.value.as_ref())
    {
        Some(any_value::Value::StringValue(value)) => kv.key.len() + value.len(),
        _ => kv.key.len(),
    };
    96 + point.attributes.iter().map(|kv| 96 + text(kv)).sum::<usize>()
}

fuzz_target!(|bytes: &[u8]| {
    // Half the inputs are compressed here, so the fuzzer reaches the protobuf and the
    // conversion without having to learn snappy; the other half test snappy itself.
    let body = match bytes.split_first() {
        Some((0, raw)) => snap::raw::Encoder::new().compress_vec(raw).expect("snappy compresses anything"),
        _ => bytes.to_vec(),
    };
    let Ok(request) = remote_write::decode(&body, LIMIT) else { return };
    let mut converted = 0;
    let _ = convert::for_each_chunk(&request, LIMITS, BUDGET, |chunk| {
        let points: Vec<usize> = chunk
            .request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .flat_map(|metric| match &metric.data {
                Some(Data::Gauge(gauge)) => gauge.data_points.iter().map(point_bytes).collect(),
                Some(Data::Sum(sum)) => sum.data_points.iter().map(point_bytes).collect(),
                _ => Vec::new(),
            })
            .collect();
        let bytes: usize = points.iter().sum();
        assert!(bytes <= BUDGET || points.len() == 1, "a chunk of {bytes} bytes in {} points", points.len());
        converted += bytes;
        let _ = reference_rows(&chunk.request);
        Ok::<(), ()>(())
    });
    assert_eq!(converted, convert::converted_bytes(&request, LIMITS), "the size announced is the size converted");
});
