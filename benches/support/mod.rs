//! What the decode benchmarks share: the payloads, and one function per decoding path that
//! takes request bytes all the way to Arrow rows in a steady state (every series interned).

use ironspider::payload::{PayloadShape, PayloadSpec, templates};
use ironspider_engine::SeriesInterner;
use ironspider_engine::store::samples_batch;
use ironspider_ingest::builder::BatchBuilder;
use ironspider_ingest::canonical::CanonicalMap;
use ironspider_ingest::{fast, reference};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

/// Points per benchmarked request.
pub const POINTS: usize = 1000;

/// One encoded request of `shape` with `POINTS` points over 10 nodes.
pub fn payload(shape: PayloadShape) -> Vec<u8> {
    let spec = PayloadSpec { shape, nodes: 10, metrics: 100, points_per_request: POINTS, churn: false };
    templates(&spec, 1).remove(0).stamped(1_700_000_000_000_000_000)
}

/// The interner, mapping and attribute limit a decoding path needs.
pub struct Decoder {
    interner: SeriesInterner,
    mapping: CanonicalMap,
}

impl Decoder {
    /// A decoder whose series table already holds every series of `payload`.
    pub fn warmed(payload: &[u8]) -> Self {
        let decoder = Decoder { interner: SeriesInterner::new(1 << 20), mapping: CanonicalMap::new(&[]) };
        decoder.fast(payload);
        decoder
    }

    /// Bytes → rows through the in-place reader; returns the number of Arrow rows.
    pub fn fast(&self, payload: &[u8]) -> usize {
        let mut builder = BatchBuilder::new(&self.interner, &self.mapping, 128);
        fast::decode(payload, &mut builder).expect("the payload decodes");
        rows(builder)
    }

    /// Bytes → prost structs → rows; returns the number of Arrow rows.
    pub fn prost(&self, payload: &[u8]) -> usize {
        let request = ExportMetricsServiceRequest::decode(payload).expect("the payload decodes");
        let mut builder = BatchBuilder::new(&self.interner, &self.mapping, 128);
        reference::walk(&request, &mut builder).expect("decoded attributes never fail");
        rows(builder)
    }
}

fn rows(builder: BatchBuilder<'_, '_>) -> usize {
    let (batch, _) = builder.finish();
    let histograms = batch.histograms.len();
    samples_batch(batch.numbers).num_rows() + histograms
}
