//! The fast decoder held to the reference one: both paths turn a request into engine rows
//! through a fresh [`BatchBuilder`], and what they produce (the batch and the rejection
//! counts, as `Debug` text, and the series table) must be equal. The property tests
//! (`tests/decode_equivalence.rs`) and the fuzz targets (`fuzz/`) compare with these two
//! functions, so both hold the paths to the same definition of "the same".

use crate::builder::BatchBuilder;
use crate::canonical::CanonicalMap;
use crate::wire::WireError;
use crate::{fast, reference};
use ironspider_engine::{SeriesInfo, SeriesInterner};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

/// What a decoding path produced: the batch and the counts (as `Debug` text, which compares
/// rows exactly, NaN included, and keeps failures readable) and the series table it built.
pub type Rows = (String, Vec<SeriesInfo>);

/// The point-attribute limit both paths run with: small, so that the limit's refusals are
/// compared too.
pub const MAX_ATTRIBUTES: usize = 3;

/// The attribute length limit both paths run with: short, so that its refusals are
/// compared too.
pub const MAX_ATTRIBUTE_BYTES: usize = 16;

/// The series limit both paths run with.
const MAX_SERIES: usize = 1_000;

fn describe(builder: BatchBuilder<'_, '_>, interner: &SeriesInterner) -> Rows {
    let (batch, counts) = builder.finish();
    let series = interner.read().iter().map(|(_, info)| info.as_ref().clone()).collect();
    (format!("{batch:?}\n{counts:?}"), series)
}

/// The rows of protobuf `bytes` on the fast path, or its decoding error.
pub fn fast_rows(bytes: &[u8]) -> Result<Rows, WireError> {
    let (interner, mapping) = (SeriesInterner::new(MAX_SERIES), CanonicalMap::new(&[]));
    let mut builder = BatchBuilder::new(&interner, &mapping, MAX_ATTRIBUTES).limit_attribute_bytes(MAX_ATTRIBUTE_BYTES);
    fast::decode(bytes, &mut builder)?;
    Ok(describe(builder, &interner))
}

/// The rows of a decoded request on the reference path. Panics if the walk fails, which
/// decoded attributes never make it do.
pub fn reference_rows(request: &ExportMetricsServiceRequest) -> Rows {
    let (interner, mapping) = (SeriesInterner::new(MAX_SERIES), CanonicalMap::new(&[]));
    let mut builder = BatchBuilder::new(&interner, &mapping, MAX_ATTRIBUTES).limit_attribute_bytes(MAX_ATTRIBUTE_BYTES);
    reference::walk(request, &mut builder).expect("decoded attributes never fail the walk");
    describe(builder, &interner)
}
