//! Remote-write series to an OTLP export request, so that they take the same path as OTLP
//! points (validation, canonical names, interning, windows).
//!
//! The mapping follows the OpenTelemetry compatibility spec for Prometheus where it has one:
//! - **Resource.** `job` → `service.name`, `instance` → `service.instance.id`. The node is
//!   the `kubernetes_node` label, else `node` (both → `k8s.node.name`), else the host part of
//!   `instance` with its port removed (→ `host.name`), so that node_exporter on :9100 and
//!   DCGM exporter on :9400 of one machine land on one node. An instance-type label
//!   (`node_kubernetes_io_instance_type`, `beta_kubernetes_io_instance_type`,
//!   `instance_type`) becomes `node.kubernetes.io/instance-type`, which selects a price.
//! - **Point attributes.** Every other label except `__name__`.
//! - **Kind.** Remote write 1.0 carries no type with a sample, so the kind comes from the
//!   name, as Prometheus' own conventions fix it: `_total`, `_count`, `_sum` and `_bucket`
//!   are monotonic cumulative sums (whose first point is a baseline, since no start time is
//!   sent); every other name is a gauge.
//! - **Samples.** Milliseconds become nanoseconds; a staleness marker becomes a point flagged
//!   "no recorded value" (skipped, not an error).
//!
//! A series without `__name__` and native-histogram samples are refused as `invalid_point`.
//!
//! ## Bounded memory
//!
//! OTLP gives every point its own attributes, so a series of `s` samples and `l` labels
//! becomes `s · l` attribute copies: a 0.5 MB snappy body of 100,000 samples of one series
//! with 102 labels became 10 million copies and took resident memory from 50 MB to 925 MB,
//! and one label of 1 MB on 100,000 samples would be 100 GB. So, before any per-sample
//! work, a series with more point attributes than `ingest.max_attributes_per_point` has all
//! its samples refused as `too_many_attributes`, and one with a label name or value longer
//! than `ingest.max_attribute_bytes` as `attribute_too_long` (as the batch builder would
//! refuse each point); and the conversion hands out the request in chunks
//! ([`for_each_chunk`]) of at most [`CHUNK_BYTES`] of converted points, counted as each
//! point's attribute text plus a fixed size per point and per attribute (a long series is
//! split across chunks), each converted, walked and dropped before the next: the converted
//! form of a request never holds more than one chunk, however long its labels.

use super::proto::{TimeSeries, WriteRequest};
use ironspider_engine::{RejectCounts, RejectReason};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::BTreeMap;

/// Labels that name the node, most specific first (before `instance`).
const NODE_LABELS: &[&str] = &["kubernetes_node", "node"];
/// Labels that become resource attributes rather than point attributes.
const RESOURCE_LABELS: [&str; 4] = ["job", "instance", "kubernetes_node", "node"];
/// Labels that carry the node's instance type (Kubernetes' `node.kubernetes.io/instance-type`
/// label as Kubernetes service discovery and relabelling spell it), first found wins.
const INSTANCE_TYPE_LABELS: [&str; 3] =
    ["node_kubernetes_io_instance_type", "beta_kubernetes_io_instance_type", "instance_type"];
/// OTLP point flag: no recorded value.
const FLAG_NO_RECORDED_VALUE: u32 = 1;
/// Name suffixes of Prometheus counters and of histogram and summary parts.
const COUNTER_SUFFIXES: &[&str] = &["_total", "_count", "_sum", "_bucket"];

/// The converted request and the points refused on the way.
#[derive(Debug, Default)]
pub struct Converted {
    /// One resource per (job, instance, node).
    pub request: ExportMetricsServiceRequest,
    /// Samples that could not be expressed as OTLP points, by reason.
    pub rejected: RejectCounts,
}

/// `host:port` or `[v6]:port` without the port; anything else unchanged.
pub fn host_of(instance: &str) -> &str {
    if let Some(rest) = instance.strip_prefix('[') {
        return rest.split_once(']').map_or(instance, |(host, _)| host);
    }
    match instance.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => instance,
    }
}

/// Whether a series of this name is a counter (see the module doc).
pub fn is_counter(name: &str) -> bool {
    COUNTER_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }),
        ..KeyValue::default()
    }
}

fn label<'s>(series: &'s TimeSeries, name: &str) -> Option<&'s str> {
    series.labels.iter().find(|l| l.name == name).map(|l| l.value.as_str())
}

fn resource_attributes(series: &TimeSeries) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(3);
    if let Some(job) = label(series, "job") {
        attributes.push(string_attribute("service.name", job));
    }
    let instance = label(series, "instance");
    if let Some(instance) = instance {
        attributes.push(string_attribute("service.instance.id", instance));
    }
    if let Some(instance_type) = INSTANCE_TYPE_LABELS.iter().find_map(|name| label(series, name)) {
        attributes.push(string_attribute("node.kubernetes.io/instance-type", instance_type));
    }
    if let Some(node) = NODE_LABELS.iter().find_map(|name| label(series, name)) {
        attributes.push(string_attribute("k8s.node.name", node));
    } else if let Some(instance) = instance {
        attributes.push(string_attribute("host.name", host_of(instance)));
    }
    attributes
}

fn metric(name: &str, series: &TimeSeries, samples: &[super::proto::Sample]) -> Metric {
    let attributes: Vec<KeyValue> = series
        .labels
        .iter()
        .filter(|l| l.name != "__name__" && !RESOURCE_LABELS.contains(&l.name.as_str()))
        .map(|l| string_attribute(&l.name, &l.value))
        .collect();
    let data_points = samples
        .iter()
        .map(|sample| NumberDataPoint {
            attributes: attributes.clone(),
            time_unix_nano: u64::try_from(sample.timestamp).unwrap_or(0).saturating_mul(1_000_000),
            value: Some(number_data_point::Value::AsDouble(if sample.is_stale_marker() { 0.0 } else { sample.value })),
            flags: if sample.is_stale_marker() { FLAG_NO_RECORDED_VALUE } else { 0 },
            ..NumberDataPoint::default()
        })
        .collect();
    let data = if is_counter(name) {
        Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })
    } else {
        Data::Gauge(Gauge { data_points })
    };
    Metric { name: name.to_string(), data: Some(data), ..Metric::default() }
}

/// The series of one resource: its attributes and metrics.
struct ResourceGroup {
    attributes: Vec<KeyValue>,
    metrics: Vec<Metric>,
}

/// Bytes of converted points one chunk holds at most (module doc).
pub const CHUNK_BYTES: usize = 16 << 20;

/// Bytes of converted points a whole request may come to ([`converted_bytes`]): far above
/// real traffic (Prometheus sends at most 2,000 samples a request by default, about 3 MB
/// converted even while catching up), and a bound on the copying a small hostile body can
/// ask for (a 4 KB label on 100,000 samples would be 400 MB).
pub const MAX_CONVERTED_BYTES: usize = 256 << 20;

/// Bytes an OTLP point attribute takes beside its key and value text (a `KeyValue`, its
/// `AnyValue` and two `String` headers, rounded up).
const ATTRIBUTE_BYTES: usize = 96;

/// Bytes an OTLP `NumberDataPoint` takes beside its attributes, rounded up.
const POINT_BYTES: usize = 96;

/// The limits applied to a series before any per-sample work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `ingest.max_attributes_per_point`.
    pub max_attributes: usize,
    /// `ingest.max_attribute_bytes`: the longest label name or value.
    pub max_attribute_bytes: usize,
}

impl Limits {
    /// No limit (for tests and tools).
    pub const NONE: Limits = Limits { max_attributes: usize::MAX, max_attribute_bytes: usize::MAX };

    /// Why every sample of `series` is refused, if it is: no `__name__`, or past a limit.
    fn refusal(&self, series: &TimeSeries) -> Option<RejectReason> {
        if label(series, "__name__").is_none_or(str::is_empty) {
            Some(RejectReason::InvalidPoint)
        } else if series.labels.iter().any(|l| l.name.len().max(l.value.len()) > self.max_attribute_bytes) {
            Some(RejectReason::AttributeTooLong)
        } else if point_labels(series).count() > self.max_attributes {
            Some(RejectReason::TooManyAttributes)
        } else {
            None
        }
    }
}

/// The labels of a series that become point attributes: all but `__name__` and the
/// resource labels.
fn point_labels(series: &TimeSeries) -> impl Iterator<Item = &super::proto::Label> {
    series.labels.iter().filter(|l| l.name != "__name__" && !RESOURCE_LABELS.contains(&l.name.as_str()))
}

/// Bytes one converted point of `series` takes (module doc).
fn point_bytes(series: &TimeSeries) -> usize {
    POINT_BYTES + point_labels(series).map(|l| ATTRIBUTE_BYTES + l.name.len() + l.value.len()).sum::<usize>()
}

/// A chunk being filled: series grouped by resource.
#[derive(Default)]
struct Chunk<'r> {
    by_resource: BTreeMap<[Option<&'r str>; 4], ResourceGroup>,
    bytes: usize,
    rejected: RejectCounts,
}

impl Chunk<'_> {
    fn into_converted(self) -> Converted {
        let resource_metrics = self
            .by_resource
            .into_values()
            .map(|ResourceGroup { attributes, metrics }| ResourceMetrics {
                resource: Some(Resource { attributes, ..Resource::default() }),
                scope_metrics: vec![ScopeMetrics { metrics, ..ScopeMetrics::default() }],
                ..ResourceMetrics::default()
            })
            .collect();
        Converted { request: ExportMetricsServiceRequest { resource_metrics }, rejected: self.rejected }
    }
}

/// What the series of `request` that `limits` let through come to once converted: each
/// sample's point with a copy of its series' labels (module doc). O(series), no copying.
pub fn converted_bytes(request: &WriteRequest, limits: Limits) -> usize {
    request
        .timeseries
        .iter()
        .filter(|series| limits.refusal(series).is_none())
        .map(|series| series.samples.len().saturating_mul(point_bytes(series)))
        .fold(0, usize::saturating_add)
}

/// Converts a decoded write request (see the module doc for the mapping) chunk by chunk,
/// handing each to `each` before the next is built; stops at `each`'s first error. Series
/// past `limits` are refused whole, and a chunk holds at most `budget` bytes of points, or
/// one point when a single one is larger (module doc; [`CHUNK_BYTES`] in the pipeline).
pub fn for_each_chunk<E>(
    request: &WriteRequest,
    limits: Limits,
    budget: usize,
    mut each: impl FnMut(Converted) -> Result<(), E>,
) -> Result<(), E> {
    let mut chunk = Chunk::default();
    for series in &request.timeseries {
        let native_histograms = series.histograms.len() as u64;
        chunk.rejected.add(RejectReason::InvalidPoint, native_histograms);
        if let Some(reason) = limits.refusal(series) {
            chunk.rejected.add(reason, series.samples.len() as u64);
            continue;
        }
        let name = label(series, "__name__").unwrap_or_default();
        let per_sample = point_bytes(series);
        let key = RESOURCE_LABELS.map(|name| label(series, name));
        let mut samples = &series.samples[..];
        while !samples.is_empty() {
            if chunk.bytes + per_sample > budget && chunk.bytes > 0 {
                each(std::mem::take(&mut chunk).into_converted())?;
            }
            let room = (budget.saturating_sub(chunk.bytes) / per_sample).max(1);
            let (now, later) = samples.split_at(room.min(samples.len()));
            let group = chunk
                .by_resource
                .entry(key)
                .or_insert_with(|| ResourceGroup { attributes: resource_attributes(series), metrics: Vec::new() });
            group.metrics.push(metric(name, series, now));
            chunk.bytes += now.len() * per_sample;
            samples = later;
        }
    }
    each(chunk.into_converted())
}

/// Converts a whole decoded write request in one piece, with no attribute limit (for
/// tests and tools; the pipeline converts in chunks).
pub fn to_otlp(request: &WriteRequest) -> Converted {
    let mut whole = Converted::default();
    let _: Result<(), std::convert::Infallible> = for_each_chunk(request, Limits::NONE, usize::MAX, |chunk| {
        whole = chunk;
        Ok(())
    });
    whole
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::remote_write::proto::{Label, STALE_NAN_BITS, Sample};

    fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| Label { name: (*n).into(), value: (*v).into() }).collect(),
            samples: samples.iter().map(|(value, timestamp)| Sample { value: *value, timestamp: *timestamp }).collect(),
            histograms: Vec::new(),
        }
    }

    fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
        attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
    }

    #[test]
    fn instance_ports_are_removed_and_other_text_is_kept() {
        assert_eq!(host_of("10.0.0.7:9100"), "10.0.0.7");
        assert_eq!(host_of("[::1]:9100"), "::1");
        assert_eq!(host_of("node-a"), "node-a");
        assert_eq!(host_of("fe80::1"), "fe80::1");
        assert_eq!(host_of("host:http"), "host:http");
    }

    #[test]
    fn counters_are_cumulative_sums_and_the_rest_gauges_on_one_resource_per_node() {
        let cpu = series(
            &[
                ("__name__", "node_cpu_seconds_total"),
                ("cpu", "0"),
                ("instance", "10.0.0.7:9100"),
                ("job", "node"),
                ("mode", "idle"),
            ],
            &[(12.5, 1_700_000_000_000)],
        );
        let memory = series(
            &[("__name__", "node_memory_MemTotal_bytes"), ("instance", "10.0.0.7:9100"), ("job", "node")],
            &[(8e9, 1_700_000_000_000), (f64::from_bits(STALE_NAN_BITS), 1_700_000_015_000)],
        );
        let converted = to_otlp(&WriteRequest { timeseries: vec![cpu, memory] });
        assert_eq!(converted.rejected.total(), 0);
        let [resource] = &converted.request.resource_metrics[..] else { panic!("one resource expected") };
        let attributes = &resource.resource.as_ref().unwrap().attributes;
        assert_eq!(attribute(attributes, "host.name"), Some("10.0.0.7"));
        assert_eq!(attribute(attributes, "service.name"), Some("node"));
        let metrics = &resource.scope_metrics[0].metrics;
        let Some(Data::Sum(sum)) = &metrics[0].data else { panic!("counter expected") };
        assert!(sum.is_monotonic && sum.aggregation_temporality == AggregationTemporality::Cumulative as i32);
        let point = &sum.data_points[0];
        assert_eq!(point.time_unix_nano, 1_700_000_000_000_000_000);
        let keys: Vec<&str> = point.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["cpu", "mode"]);
        let Some(Data::Gauge(gauge)) = &metrics[1].data else { panic!("gauge expected") };
        assert_eq!((gauge.data_points[0].flags, gauge.data_points[1].flags), (0, FLAG_NO_RECORDED_VALUE));
    }

    #[test]
    fn node_labels_win_over_instance_and_nameless_series_are_refused() {
        let named = series(
            &[("__name__", "up"), ("instance", "10.0.0.7:9100"), ("instance_type", "m5.large"), ("node", "worker-3")],
            &[(1.0, 1)],
        );
        let nameless = series(&[("instance", "x:1")], &[(1.0, 1), (2.0, 2)]);
        let converted = to_otlp(&WriteRequest { timeseries: vec![named, nameless] });
        let attributes = &converted.request.resource_metrics[0].resource.as_ref().unwrap().attributes;
        assert_eq!(attribute(attributes, "k8s.node.name"), Some("worker-3"));
        assert_eq!(attribute(attributes, "host.name"), None);
        assert_eq!(attribute(attributes, "node.kubernetes.io/instance-type"), Some("m5.large"));
        assert_eq!(converted.rejected.get(RejectReason::InvalidPoint), 2);
    }

    /// A converted point: its metric's name, its attribute count and its timestamp.
    type Point = (String, usize, u64);

    /// Every chunk's points, and the refusals.
    fn chunks(request: &WriteRequest, limits: Limits, budget: usize) -> (Vec<Vec<Point>>, RejectCounts) {
        let (mut seen, mut rejected) = (Vec::new(), RejectCounts::default());
        let _: Result<(), ()> = for_each_chunk(request, limits, budget, |chunk| {
            rejected.merge(&chunk.rejected);
            let metrics = chunk.request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics);
            let points = metrics.flat_map(|m| match &m.data {
                Some(Data::Gauge(g)) => g
                    .data_points
                    .iter()
                    .map(|p| (m.name.clone(), p.attributes.len(), p.time_unix_nano))
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            });
            seen.push(points.collect());
            Ok(())
        });
        (seen, rejected)
    }

    #[test]
    fn a_series_past_the_attribute_limit_is_refused_whole_and_chunks_stay_within_their_budget() {
        let labels = |n: usize| {
            let mut labels: Vec<(String, String)> = (0..n).map(|i| (format!("l{i}"), "v".to_string())).collect();
            labels.push(("__name__".into(), "g".into()));
            labels
        };
        let make = |n: usize, samples: i64| {
            let labels = labels(n);
            let labels: Vec<(&str, &str)> = labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            series(&labels, &(0..samples).map(|t| (1.0, t)).collect::<Vec<_>>())
        };
        // Labels `l0`, `l1`, ... of value `v`: a point of n labels takes 96 + n · (96 + 3)
        // bytes: 294 for 2 labels, 393 for 3. With a budget of 1,200 bytes, a chunk holds 4
        // points of 2 labels (1,176), or 1 of 2 and 2 of 3 (1,080), or 3 of 3 (1,179).
        let request = WriteRequest { timeseries: vec![make(2, 5), make(4, 3), make(3, 4)] };
        let limits = Limits { max_attributes: 3, max_attribute_bytes: 4096 };
        let (seen, rejected) = chunks(&request, limits, 1_200);
        assert_eq!(rejected.get(RejectReason::TooManyAttributes), 3, "the 4-label series, whole");
        let sizes: Vec<Vec<usize>> = seen.iter().map(|c| c.iter().map(|p| p.1).collect()).collect();
        assert_eq!(sizes, [vec![2; 4], vec![2, 3, 3], vec![3, 3]], "4 + 1 + 2 + 2 samples, ≤ 1,200 bytes each");
        let stamps: Vec<u64> = seen.iter().flatten().map(|p| p.2 / 1_000_000).collect();
        assert_eq!(stamps, [0, 1, 2, 3, 4, 0, 1, 2, 3], "every sample once, in order");
        let whole = to_otlp(&request);
        assert_eq!(whole.rejected.total(), 0, "to_otlp has no attribute limit");
        // 5 · 294 + 4 · 393 (the 4-label series refused).
        assert_eq!(converted_bytes(&request, limits), 3_042);
    }

    #[test]
    fn a_series_with_a_label_past_the_length_limit_is_refused_whole_before_conversion() {
        let long = "x".repeat(33);
        let request = WriteRequest {
            timeseries: vec![
                series(&[("__name__", "g"), ("path", &long)], &[(1.0, 1), (2.0, 2)]),
                series(&[("__name__", "g"), ("instance", &long)], &[(1.0, 1)]),
                series(&[("__name__", "g"), (&long, "v")], &[(1.0, 1)]),
                series(&[("__name__", "g"), ("path", "short")], &[(1.0, 1)]),
            ],
        };
        let limits = Limits { max_attributes: 8, max_attribute_bytes: 32 };
        let (seen, rejected) = chunks(&request, limits, CHUNK_BYTES);
        assert_eq!(rejected.get(RejectReason::AttributeTooLong), 4, "values, resource labels and names alike");
        assert_eq!(seen.concat().len(), 1, "only the short series is converted");
        // One point of one attribute: 96 + 96 + "path".len() + "short".len().
        assert_eq!(converted_bytes(&request, limits), 201);
    }
}
