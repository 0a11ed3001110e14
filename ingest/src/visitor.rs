//! The events both decoders produce: what a request says, resource by resource, metric by
//! metric, point by point, borrowed from the request.

use crate::attrs::Attr;
use crate::wire::WireError;

/// OTLP aggregation temporality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Temporality {
    /// `AGGREGATION_TEMPORALITY_UNSPECIFIED` (invalid for sums and histograms).
    Unspecified,
    /// Each point covers the interval since the previous one.
    Delta,
    /// Each point covers the interval since the start time.
    Cumulative,
}

impl Temporality {
    /// From the OTLP enum value.
    pub fn from_otlp(value: i32) -> Self {
        match value {
            1 => Temporality::Delta,
            2 => Temporality::Cumulative,
            _ => Temporality::Unspecified,
        }
    }
}

/// Which of the five OTLP metric types a metric is, with its type-level fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A gauge.
    Gauge,
    /// A sum.
    Sum {
        /// Whether the sum only increases.
        monotonic: bool,
        /// Delta or cumulative.
        temporality: Temporality,
    },
    /// An explicit-bucket histogram.
    Histogram(Temporality),
    /// An exponential histogram.
    ExponentialHistogram(Temporality),
    /// A summary.
    Summary,
}

/// A metric's name, unit and shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricMeta<'a> {
    /// The OTLP metric name.
    pub name: &'a str,
    /// The unit (UCUM).
    pub unit: &'a str,
    /// The metric type.
    pub shape: Shape,
}

/// Fields every data point has.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PointTimes {
    /// `start_time_unix_nano`.
    pub start: u64,
    /// `time_unix_nano`.
    pub time: u64,
    /// `flags` (bit 0: no recorded value).
    pub flags: u32,
}

/// A `NumberDataPoint` (gauge or sum).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NumberPoint {
    /// Times and flags.
    pub times: PointTimes,
    /// `as_double`, or `as_int` converted; `None` when neither is set.
    pub value: Option<f64>,
}

/// A `HistogramDataPoint`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramPoint<'b> {
    /// Times and flags.
    pub times: PointTimes,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when sent.
    pub sum: Option<f64>,
    /// Smallest observation, when sent.
    pub min: Option<f64>,
    /// Largest observation, when sent.
    pub max: Option<f64>,
    /// Explicit bucket bounds.
    pub bounds: &'b [f64],
    /// Bucket counts.
    pub counts: &'b [u64],
}

/// An `ExponentialHistogramDataPoint`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialHistogramPoint<'b> {
    /// Times and flags.
    pub times: PointTimes,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when sent.
    pub sum: Option<f64>,
    /// Smallest observation, when sent.
    pub min: Option<f64>,
    /// Largest observation, when sent.
    pub max: Option<f64>,
    /// Resolution: bucket boundaries are powers of `2^(2^−scale)`.
    pub scale: i32,
    /// Observations within `zero_threshold` of zero.
    pub zero_count: u64,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Index of the first positive bucket.
    pub positive_offset: i32,
    /// Positive bucket counts.
    pub positive: &'b [u64],
    /// Index of the first negative bucket.
    pub negative_offset: i32,
    /// Negative bucket counts.
    pub negative: &'b [u64],
}

/// A `SummaryDataPoint`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryPoint<'b> {
    /// Times and flags.
    pub times: PointTimes,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// `(quantile, value)` pairs.
    pub quantiles: &'b [(f64, f64)],
}

/// A data point's attributes, as the decoder has them.
#[derive(Debug, Clone, Copy)]
pub enum PointAttrs<'a, 's> {
    /// Decoded attributes (the reference path).
    Decoded(&'s [Attr<'a>]),
    /// The fast path's attributes, still encoded: decoded only when the series is not yet
    /// known under exactly these bytes.
    Encoded {
        /// Each `KeyValue` message as it stands in the request.
        messages: &'s [&'a [u8]],
        /// A hash of the attributes' bytes in request order (not order-independent: the
        /// same series sent with its attributes in another order is another alias).
        wire_hash: u64,
    },
}

impl PointAttrs<'_, '_> {
    /// Number of attributes.
    pub fn len(&self) -> usize {
        match self {
            PointAttrs::Decoded(attrs) => attrs.len(),
            PointAttrs::Encoded { messages, .. } => messages.len(),
        }
    }

    /// True when the point has no attribute.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Receives a request's contents in order: a resource, then its scopes, each scope's metrics,
/// each metric's points. Attribute slices are valid only during the call, but the strings
/// they borrow live as long as the request (`'a`). A point method fails only when encoded
/// attributes it had to decode are malformed, which makes the whole request invalid.
pub trait MetricsVisitor<'a> {
    /// A new resource begins.
    fn resource(&mut self, attrs: &[Attr<'a>]);
    /// A new instrumentation scope begins.
    fn scope(&mut self, name: &'a str, version: &'a str);
    /// A new metric begins.
    fn metric(&mut self, meta: &MetricMeta<'a>);
    /// A gauge or sum point of the current metric.
    fn number_point(&mut self, attrs: PointAttrs<'a, '_>, point: &NumberPoint) -> Result<(), WireError>;
    /// A histogram point of the current metric.
    fn histogram_point(&mut self, attrs: PointAttrs<'a, '_>, point: &HistogramPoint<'_>) -> Result<(), WireError>;
    /// An exponential histogram point of the current metric.
    fn exponential_histogram_point(
        &mut self,
        attrs: PointAttrs<'a, '_>,
        point: &ExponentialHistogramPoint<'_>,
    ) -> Result<(), WireError>;
    /// A summary point of the current metric.
    fn summary_point(&mut self, attrs: PointAttrs<'a, '_>, point: &SummaryPoint<'_>) -> Result<(), WireError>;
}
