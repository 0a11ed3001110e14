//! The reference decoder: prost decodes the request into structs (allocating every string),
//! and this walker drives a [`MetricsVisitor`] over them. It serves OTLP/JSON (serde fills
//! the same structs), cold paths, and the property tests that hold the fast path to it.

use crate::attrs::{Attr, AttrValue, Nested};
use crate::visitor::{
    ExponentialHistogramPoint, HistogramPoint, MetricMeta, MetricsVisitor, NumberPoint, PointAttrs, PointTimes, Shape,
    SummaryPoint, Temporality,
};
use crate::wire::WireError;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};

fn attrs(key_values: &[KeyValue]) -> Vec<Attr<'_>> {
    key_values
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                None => AttrValue::Empty,
                Some(any_value::Value::StringValue(s)) => AttrValue::Str(s),
                Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
                Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
                Some(any_value::Value::DoubleValue(d)) => AttrValue::Double(*d),
                Some(any_value::Value::BytesValue(b)) => AttrValue::Bytes(b),
                Some(any_value::Value::StringValueStrindex(i)) => AttrValue::StrIndex(*i),
                Some(any_value::Value::ArrayValue(a)) => AttrValue::Nested(Nested::Array(a)),
                Some(any_value::Value::KvlistValue(l)) => AttrValue::Nested(Nested::KvList(l)),
            };
            Attr { key: &kv.key, value }
        })
        .collect()
}

fn times(start: u64, time: u64, flags: u32) -> PointTimes {
    PointTimes { start, time, flags }
}

/// Walks a decoded request. Fails only if the visitor does (it never does for decoded
/// attributes).
pub fn walk<'a>(
    request: &'a ExportMetricsServiceRequest,
    visitor: &mut impl MetricsVisitor<'a>,
) -> Result<(), WireError> {
    for resource_metrics in &request.resource_metrics {
        let resource_attrs = resource_metrics.resource.as_ref().map(|r| attrs(&r.attributes)).unwrap_or_default();
        visitor.resource(&resource_attrs);
        for scope_metrics in &resource_metrics.scope_metrics {
            let (name, version) =
                scope_metrics.scope.as_ref().map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            visitor.scope(name, version);
            for metric in &scope_metrics.metrics {
                let Some(data) = &metric.data else { continue };
                let shape = match data {
                    Data::Gauge(_) => Shape::Gauge,
                    Data::Sum(sum) => Shape::Sum {
                        monotonic: sum.is_monotonic,
                        temporality: Temporality::from_otlp(sum.aggregation_temporality),
                    },
                    Data::Histogram(h) => Shape::Histogram(Temporality::from_otlp(h.aggregation_temporality)),
                    Data::ExponentialHistogram(h) => {
                        Shape::ExponentialHistogram(Temporality::from_otlp(h.aggregation_temporality))
                    }
                    Data::Summary(_) => Shape::Summary,
                };
                visitor.metric(&MetricMeta { name: &metric.name, unit: &metric.unit, shape });
                walk_points(data, visitor)?;
            }
        }
    }
    Ok(())
}

fn walk_points<'a>(data: &'a Data, visitor: &mut impl MetricsVisitor<'a>) -> Result<(), WireError> {
    let number_points = match data {
        Data::Gauge(gauge) => gauge.data_points.as_slice(),
        Data::Sum(sum) => sum.data_points.as_slice(),
        _ => &[],
    };
    for point in number_points {
        let value = point.value.map(|v| match v {
            number_data_point::Value::AsDouble(d) => d,
            number_data_point::Value::AsInt(i) => i as f64,
        });
        let number = NumberPoint { times: times(point.start_time_unix_nano, point.time_unix_nano, point.flags), value };
        visitor.number_point(PointAttrs::Decoded(&attrs(&point.attributes)), &number)?;
    }
    match data {
        Data::Histogram(histogram) => {
            for p in &histogram.data_points {
                let point = HistogramPoint {
                    times: times(p.start_time_unix_nano, p.time_unix_nano, p.flags),
                    count: p.count,
                    sum: p.sum,
                    min: p.min,
                    max: p.max,
                    bounds: &p.explicit_bounds,
                    counts: &p.bucket_counts,
                };
                visitor.histogram_point(PointAttrs::Decoded(&attrs(&p.attributes)), &point)?;
            }
        }
        Data::ExponentialHistogram(histogram) => {
            for p in &histogram.data_points {
                let (positive_offset, positive) =
                    p.positive.as_ref().map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..]));
                let (negative_offset, negative) =
                    p.negative.as_ref().map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..]));
                let point = ExponentialHistogramPoint {
                    times: times(p.start_time_unix_nano, p.time_unix_nano, p.flags),
                    count: p.count,
                    sum: p.sum,
                    min: p.min,
                    max: p.max,
                    scale: p.scale,
                    zero_count: p.zero_count,
                    zero_threshold: p.zero_threshold,
                    positive_offset,
                    positive,
                    negative_offset,
                    negative,
                };
                visitor.exponential_histogram_point(PointAttrs::Decoded(&attrs(&p.attributes)), &point)?;
            }
        }
        Data::Summary(summary) => {
            for p in &summary.data_points {
                let quantiles: Vec<(f64, f64)> = p.quantile_values.iter().map(|q| (q.quantile, q.value)).collect();
                let point = SummaryPoint {
                    times: times(p.start_time_unix_nano, p.time_unix_nano, p.flags),
                    count: p.count,
                    sum: p.sum,
                    quantiles: &quantiles,
                };
                visitor.summary_point(PointAttrs::Decoded(&attrs(&p.attributes)), &point)?;
            }
        }
        Data::Gauge(_) | Data::Sum(_) => {}
    }
    Ok(())
}
