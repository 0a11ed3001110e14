//! Turns decoder events into an engine batch: validates each point, interns its series
//! (hashing borrowed attributes; strings are allocated only for a series never seen before),
//! and appends its row.
//!
//! Validation, in order: a point flagged "no recorded value" is skipped (not an error);
//! an unusable metric shape (temporality unspecified) or malformed point is `invalid_point`;
//! a zero or out-of-range `time_unix_nano` is `missing_timestamp`; NaN or ±Inf values
//! (histogram sums, bounds, min, max and summary quantiles included) are `non_finite_value`;
//! more attributes than the limit is `too_many_attributes`; a new series with an attribute
//! key or string value (resource or point) longer than the byte limit is
//! `attribute_too_long` (checked only when a series is first seen, so it costs nothing per
//! point); a new series beyond the table's limit is `series_limit`.

use crate::attrs::{Attr, AttrValue, hash_attrs, mix};
use crate::canonical::CanonicalMap;
use crate::exponential::to_explicit;
use crate::fast::decode_attribute;
use crate::identity::SeriesDescription;
use crate::visitor::{
    ExponentialHistogramPoint, HistogramPoint, MetricMeta, MetricsVisitor, NumberPoint, PointAttrs, PointTimes, Shape,
    SummaryPoint, Temporality,
};
use crate::wire::WireError;
use ironspider_engine::{
    HistogramRow, IngestBatch, RejectCounts, RejectReason, SeriesInterner, SeriesKind, SeriesTable,
};
use parking_lot::RwLockReadGuard;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Bit 0 of a point's flags: the point carries no value (a staleness marker).
const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// Where the current metric's points go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Stored as they are.
    Number,
    /// Cumulative sums, turned into deltas by the engine.
    Cumulative,
    /// Histogram store; `true` when cumulative.
    Histogram(bool),
    /// The metric's shape is unusable; every point is `invalid_point`.
    Invalid,
}

#[derive(Debug, Clone, Copy)]
struct CurrentMetric<'a> {
    name: &'a str,
    unit: &'a str,
    scale: f64,
    hash: u64,
    kind: SeriesKind,
    route: Route,
}

/// What happened to the points of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PointCounts {
    /// Data points in the request.
    pub received: u64,
    /// Points flagged "no recorded value", skipped without error.
    pub skipped: u64,
    /// Points refused before reaching the engine.
    pub rejected: RejectCounts,
}

/// A [`MetricsVisitor`] that builds an [`IngestBatch`].
pub struct BatchBuilder<'e, 'a> {
    interner: &'e SeriesInterner,
    table: RwLockReadGuard<'e, SeriesTable>,
    mapping: &'e CanonicalMap,
    max_attributes: usize,
    max_attribute_bytes: usize,
    resource_attrs: Vec<Attr<'a>>,
    resource_hash: u64,
    scope_hash: u64,
    metric: Option<CurrentMetric<'e>>,
    batch: IngestBatch,
    counts: PointCounts,
}

impl<'e, 'a: 'e> BatchBuilder<'e, 'a> {
    /// A builder interning into `interner`, mapping names with `mapping`, refusing points with
    /// more than `max_attributes` attributes.
    pub fn new(interner: &'e SeriesInterner, mapping: &'e CanonicalMap, max_attributes: usize) -> Self {
        let table = interner.read();
        // The batch holds the epoch it began in until it is stored (`series` module doc).
        let batch = IngestBatch { epoch: Some(table.epoch()), ..IngestBatch::default() };
        Self {
            interner,
            table,
            mapping,
            max_attributes,
            max_attribute_bytes: usize::MAX,
            resource_attrs: Vec::new(),
            resource_hash: 0,
            scope_hash: 0,
            metric: None,
            batch,
            counts: PointCounts::default(),
        }
    }

    /// Also refuses new series with an attribute key or string value longer than `limit`
    /// bytes (none by default).
    pub fn limit_attribute_bytes(mut self, limit: usize) -> Self {
        self.max_attribute_bytes = limit;
        self
    }

    /// Whether one of `attrs` has a key or a string or bytes value longer than the limit.
    fn too_long(&self, attrs: &[Attr<'_>]) -> bool {
        attrs.iter().any(|attr| {
            let value = match attr.value {
                AttrValue::Str(text) => text.len(),
                AttrValue::Bytes(bytes) => bytes.len(),
                _ => 0,
            };
            attr.key.len().max(value) > self.max_attribute_bytes
        })
    }

    /// The rows built and the counts of what was refused.
    pub fn finish(self) -> (IngestBatch, PointCounts) {
        (self.batch, self.counts)
    }

    fn reject(&mut self, reason: RejectReason) {
        self.counts.rejected.add(reason, 1);
    }

    /// Refuses a point for `reason`. Its encoded attributes are still decoded, so that a
    /// malformed one makes the request invalid on this path as on the prost path.
    fn refuse(&mut self, reason: RejectReason, attrs: PointAttrs<'a, '_>) -> Result<(), WireError> {
        self.reject(reason);
        validate(attrs)
    }

    /// Checks what every point shares; returns the metric and the timestamp in ns, or `None`
    /// for a point refused or skipped.
    fn admit(
        &mut self,
        times: &PointTimes,
        attrs: PointAttrs<'a, '_>,
    ) -> Result<Option<(CurrentMetric<'e>, i64)>, WireError> {
        self.counts.received += 1;
        if times.flags & FLAG_NO_RECORDED_VALUE != 0 {
            self.counts.skipped += 1;
            return validate(attrs).map(|()| None);
        }
        let Some(metric) = self.metric else { return validate(attrs).map(|()| None) };
        let reason = if metric.route == Route::Invalid {
            Some(RejectReason::InvalidPoint)
        } else if times.time == 0 || times.time > i64::MAX as u64 {
            Some(RejectReason::MissingTimestamp)
        } else if attrs.len() > self.max_attributes {
            Some(RejectReason::TooManyAttributes)
        } else {
            None
        };
        match reason {
            Some(reason) => self.refuse(reason, attrs).map(|()| None),
            None => Ok(Some((metric, times.time as i64))),
        }
    }

    /// The series id of a point with `attrs` under the current resource, scope and metric, or
    /// `None` when the series table is full. Encoded attributes are looked up by the hash of
    /// their bytes first and decoded only when those bytes are new; the series found through
    /// its order-independent identity then gets the bytes' hash as an alias.
    fn intern(&mut self, metric: &CurrentMetric<'e>, attrs: PointAttrs<'a, '_>) -> Result<Option<u32>, WireError> {
        let decoded: Vec<Attr<'a>>;
        let (list, alias): (&[Attr<'a>], Option<u64>) = match attrs {
            PointAttrs::Decoded(list) => (list, None),
            PointAttrs::Encoded { messages, wire_hash } => {
                let alias = mix(&[self.resource_hash, self.scope_hash, metric.hash, wire_hash, ENCODED_DOMAIN]);
                if let Some(id) = self.table.get(alias) {
                    return Ok(Some(id));
                }
                decoded = messages.iter().map(|message| decode_attribute(message)).collect::<Result<_, _>>()?;
                (&decoded, Some(alias))
            }
        };
        let hash = mix(&[self.resource_hash, self.scope_hash, metric.hash, hash_attrs(list)]);
        let interner = self.interner;
        let id = match self.table.get(hash) {
            Some(id) => id,
            None if self.too_long(list) || self.too_long(&self.resource_attrs) => {
                self.reject(RejectReason::AttributeTooLong);
                return Ok(None);
            }
            None if interner.is_full(&self.table) => {
                self.reject(RejectReason::SeriesLimit);
                return Ok(None);
            }
            None => {
                let info = SeriesDescription {
                    resource: &self.resource_attrs,
                    point: list,
                    metric: metric.name,
                    unit: metric.unit,
                    kind: metric.kind,
                    cumulative: matches!(metric.route, Route::Cumulative | Route::Histogram(true)),
                }
                .info();
                match RwLockReadGuard::unlocked(&mut self.table, || interner.register(hash, info)) {
                    Ok(id) => id,
                    Err(_) => {
                        self.reject(RejectReason::SeriesLimit);
                        return Ok(None);
                    }
                }
            }
        };
        if let Some(alias) = alias {
            RwLockReadGuard::unlocked(&mut self.table, || interner.add_alias(alias, id));
        }
        Ok(Some(id))
    }

    fn push_histogram(
        &mut self,
        metric: &CurrentMetric<'e>,
        attrs: PointAttrs<'a, '_>,
        mut row: HistogramRow,
    ) -> Result<(), WireError> {
        // Scaled first, so that a value the unit's scale takes past f64's range is refused
        // as not finite rather than stored as ±∞.
        if metric.scale != 1.0 {
            let scale = |v: &mut f64| *v *= metric.scale;
            row.bounds.iter_mut().for_each(scale);
            row.quantiles.iter_mut().for_each(|(_, v)| scale(v));
            row.sum.iter_mut().chain(row.min.iter_mut()).chain(row.max.iter_mut()).for_each(scale);
        }
        let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
        if !(finite(row.sum)
            && finite(row.min)
            && finite(row.max)
            && row.bounds.iter().all(|b| b.is_finite())
            && row.quantiles.iter().all(|(_, v)| v.is_finite()))
        {
            return self.refuse(RejectReason::NonFiniteValue, attrs);
        }
        if !histogram_is_well_formed(&row) {
            return self.refuse(RejectReason::InvalidPoint, attrs);
        }
        let Some(series) = self.intern(metric, attrs)? else { return Ok(()) };
        row.series = series;
        self.batch.histograms.push(row);
        self.batch.histogram_cumulative.push(metric.route == Route::Histogram(true));
        Ok(())
    }
}

/// Hash domain of encoded-attribute aliases, kept apart from identity hashes.
const ENCODED_DOMAIN: u64 = 0xBB67_AE85_84CA_A73B;

/// Decodes encoded attributes only to check them.
fn validate(attrs: PointAttrs<'_, '_>) -> Result<(), WireError> {
    if let PointAttrs::Encoded { messages, .. } = attrs {
        for message in messages {
            decode_attribute(message)?;
        }
    }
    Ok(())
}

/// Buckets match bounds, bounds increase, counts add up, quantile levels lie in [0, 1].
fn histogram_is_well_formed(row: &HistogramRow) -> bool {
    let buckets_match = row.counts.is_empty() || row.counts.len() == row.bounds.len() + 1;
    let increasing = row.bounds.windows(2).all(|w| w[0] < w[1]);
    let counts_add_up =
        row.counts.is_empty() || row.counts.iter().try_fold(0u64, |a, c| a.checked_add(*c)) == Some(row.count);
    let levels_valid = row.quantiles.iter().all(|(q, _)| (0.0..=1.0).contains(q));
    buckets_match && increasing && counts_add_up && levels_valid
}

/// Start time in ns (0 when unknown), clamped to what a signed nanosecond clock holds.
fn start_ns(times: &PointTimes) -> i64 {
    times.start.min(i64::MAX as u64) as i64
}

/// A histogram row with the fields every histogram-like point has; the series is set when
/// the row is interned.
fn row_header(times: &PointTimes, ts: i64, count: u64) -> HistogramRow {
    HistogramRow { start: start_ns(times), ts, count, ..HistogramRow::default() }
}

fn kind_and_route(shape: Shape) -> (SeriesKind, Route) {
    let histogram_route = |t: Temporality| match t {
        Temporality::Cumulative => Route::Histogram(true),
        Temporality::Delta => Route::Histogram(false),
        Temporality::Unspecified => Route::Invalid,
    };
    match shape {
        Shape::Gauge => (SeriesKind::Gauge, Route::Number),
        Shape::Sum { temporality: Temporality::Unspecified, .. } => (SeriesKind::Gauge, Route::Invalid),
        Shape::Sum { monotonic: true, temporality: Temporality::Cumulative } => {
            (SeriesKind::Counter, Route::Cumulative)
        }
        Shape::Sum { monotonic: true, temporality: Temporality::Delta } => (SeriesKind::Counter, Route::Number),
        Shape::Sum { monotonic: false, temporality: Temporality::Cumulative } => (SeriesKind::Gauge, Route::Number),
        Shape::Sum { monotonic: false, temporality: Temporality::Delta } => (SeriesKind::UpDownDelta, Route::Number),
        Shape::Histogram(t) | Shape::ExponentialHistogram(t) => (SeriesKind::Histogram, histogram_route(t)),
        Shape::Summary => (SeriesKind::Summary, Route::Histogram(true)),
    }
}

fn shape_code(kind: SeriesKind, route: Route) -> u64 {
    let kind_code = kind as u64;
    let route_code = match route {
        Route::Number => 0,
        Route::Cumulative => 1,
        Route::Histogram(false) => 2,
        Route::Histogram(true) => 3,
        Route::Invalid => 4,
    };
    kind_code * 8 + route_code
}

impl<'e, 'a: 'e> MetricsVisitor<'a> for BatchBuilder<'e, 'a> {
    fn resource(&mut self, attrs: &[Attr<'a>]) {
        self.resource_attrs.clear();
        self.resource_attrs.extend_from_slice(attrs);
        self.resource_hash = hash_attrs(attrs);
    }

    fn scope(&mut self, name: &'a str, version: &'a str) {
        self.scope_hash = xxh3_64_with_seed(version.as_bytes(), xxh3_64(name.as_bytes()));
    }

    fn metric(&mut self, meta: &MetricMeta<'a>) {
        let (kind, route) = kind_and_route(meta.shape);
        let (name, scale) = self.mapping.lookup(meta.name).unwrap_or((meta.name, 1.0));
        self.metric = Some(CurrentMetric {
            name,
            unit: meta.unit,
            scale,
            hash: xxh3_64_with_seed(meta.name.as_bytes(), shape_code(kind, route)),
            kind,
            route,
        });
    }

    fn number_point(&mut self, attrs: PointAttrs<'a, '_>, point: &NumberPoint) -> Result<(), WireError> {
        let Some((metric, ts)) = self.admit(&point.times, attrs)? else { return Ok(()) };
        let Some(value) = point.value else { return self.refuse(RejectReason::InvalidPoint, attrs) };
        // Scaled before the check: a value its unit's scale takes past f64's range is refused.
        let value = value * metric.scale;
        if !value.is_finite() {
            return self.refuse(RejectReason::NonFiniteValue, attrs);
        }
        let Some(series) = self.intern(&metric, attrs)? else { return Ok(()) };
        if metric.route == Route::Cumulative {
            self.batch.cumulative.push(series, start_ns(&point.times), ts, value);
        } else {
            self.batch.numbers.push(series, ts, value);
        }
        Ok(())
    }

    fn histogram_point(&mut self, attrs: PointAttrs<'a, '_>, point: &HistogramPoint<'_>) -> Result<(), WireError> {
        let Some((metric, ts)) = self.admit(&point.times, attrs)? else { return Ok(()) };
        let row = HistogramRow {
            sum: point.sum,
            min: point.min,
            max: point.max,
            bounds: point.bounds.to_vec(),
            counts: point.counts.to_vec(),
            ..row_header(&point.times, ts, point.count)
        };
        self.push_histogram(&metric, attrs, row)
    }

    fn exponential_histogram_point(
        &mut self,
        attrs: PointAttrs<'a, '_>,
        point: &ExponentialHistogramPoint<'_>,
    ) -> Result<(), WireError> {
        let Some((metric, ts)) = self.admit(&point.times, attrs)? else { return Ok(()) };
        let Some((bounds, counts)) = to_explicit(point) else { return self.refuse(RejectReason::InvalidPoint, attrs) };
        let header = row_header(&point.times, ts, point.count);
        let row = HistogramRow { sum: point.sum, min: point.min, max: point.max, bounds, counts, ..header };
        self.push_histogram(&metric, attrs, row)
    }

    fn summary_point(&mut self, attrs: PointAttrs<'a, '_>, point: &SummaryPoint<'_>) -> Result<(), WireError> {
        let Some((metric, ts)) = self.admit(&point.times, attrs)? else { return Ok(()) };
        let row = HistogramRow {
            sum: Some(point.sum),
            quantiles: point.quantiles.to_vec(),
            ..row_header(&point.times, ts, point.count)
        };
        self.push_histogram(&metric, attrs, row)
    }
}
