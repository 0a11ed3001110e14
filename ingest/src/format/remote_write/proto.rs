//! The protobuf messages of Prometheus remote write 1.0 (`prometheus.WriteRequest` of
//! prompb's `remote.proto` and `types.proto`), declared with prost's derive. Only the fields
//! the receiver reads are declared; prost skips the others (exemplars, metadata).

use prost::Message;

/// A batch of series with their samples.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series: its label set (including `__name__`) and its samples in time order.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, sorted by name as Prometheus sends them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples, kept encoded: the receiver counts and refuses them.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

/// A label pair.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A float sample.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// The value; the special NaN [`STALE_NAN_BITS`] marks a series as stale.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The bit pattern of Prometheus' staleness marker, a NaN written when a series disappears
/// from a scrape (`value.StaleNaN` in the Prometheus source).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

impl Sample {
    /// Whether this sample is a staleness marker rather than a value.
    pub fn is_stale_marker(&self) -> bool {
        self.value.to_bits() == STALE_NAN_BITS
    }
}
