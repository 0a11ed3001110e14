//! Deterministic OTLP export requests for the load generator and the benchmarks.
//!
//! The series universe is `nodes × metrics`; request `r` carries the `points_per_request`
//! series starting at `r · points_per_request` (wrapping), grouped by node into resources.
//! Requests are encoded once with a sentinel timestamp whose byte offsets are remembered,
//! so that each send stamps fresh timestamps without re-encoding. With `churn`, every point
//! also carries a `loadgen.churn` attribute whose 16-character value is stamped per send
//! likewise ([`Template::stamped_churn`]): a new value makes every point a new series.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// Timestamp written into templates and replaced at send time (a valid nanosecond time).
const SENTINEL_TS: u64 = 0x1A2B_3C4D_5E6F_7081;

/// `loadgen.churn` value written into templates and replaced at send time.
const SENTINEL_CHURN: &[u8; 16] = b"~churn~sentinel~";

/// The point shapes the load generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadShape {
    /// Gauges with five point attributes (about 220 bytes per point).
    Gauge5,
    /// Gauges with two point attributes.
    Gauge2,
    /// Delta histograms with 16 buckets and two point attributes.
    Histogram16,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadSpec {
    /// Point shape.
    pub shape: PayloadShape,
    /// Distinct nodes.
    pub nodes: usize,
    /// Metrics per node.
    pub metrics: usize,
    /// Points in each request.
    pub points_per_request: usize,
    /// Give every point a `loadgen.churn` attribute to stamp (module doc).
    pub churn: bool,
}

/// One pre-encoded request and where its timestamps sit.
#[derive(Debug, Clone)]
pub struct Template {
    /// The encoded `ExportMetricsServiceRequest`.
    pub bytes: Vec<u8>,
    /// Byte offsets of every `time_unix_nano` value.
    pub timestamp_offsets: Vec<usize>,
    /// Byte offsets of every `loadgen.churn` value (none without `churn`).
    pub churn_offsets: Vec<usize>,
    /// Data points in the request.
    pub points: usize,
    /// The first series it carries (see [`request`]).
    pub first: usize,
}

impl Template {
    /// The request with every point stamped at `ts` (ns since the epoch).
    pub fn stamped(&self, ts: u64) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        let le = ts.to_le_bytes();
        for &offset in &self.timestamp_offsets {
            bytes[offset..offset + 8].copy_from_slice(&le);
        }
        bytes
    }

    /// The request with every point stamped at `ts` and its `loadgen.churn` attribute set to
    /// `generation` in 16 hexadecimal digits: each generation's points are series of their own.
    pub fn stamped_churn(&self, ts: u64, generation: u64) -> Vec<u8> {
        let mut bytes = self.stamped(ts);
        let value = format!("{generation:016x}");
        for &offset in &self.churn_offsets {
            bytes[offset..offset + 16].copy_from_slice(value.as_bytes());
        }
        bytes
    }
}

fn string_attr(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value)) }),
        ..Default::default()
    }
}

fn point_attrs(spec: &PayloadSpec, metric: usize) -> Vec<KeyValue> {
    let shape = spec.shape;
    let mut attrs = vec![
        string_attr("k8s.pod.name", format!("workload-{:05}-7f9c6d", metric % 500)),
        string_attr("k8s.namespace.name", format!("team-{}", metric % 7)),
    ];
    if shape == PayloadShape::Gauge5 {
        attrs.push(string_attr("k8s.container.name", format!("container-{}", metric % 3)));
        attrs.push(string_attr("device", format!("nvme{}n1", metric % 4)));
        attrs.push(string_attr("state", ["used", "free", "cached", "buffered"][metric % 4].to_string()));
    }
    if spec.churn {
        attrs.push(string_attr("loadgen.churn", String::from_utf8_lossy(SENTINEL_CHURN).into_owned()));
    }
    attrs
}

fn metric_for(spec: &PayloadSpec, metric: usize) -> Metric {
    let attributes = point_attrs(spec, metric);
    let data = match spec.shape {
        PayloadShape::Gauge5 | PayloadShape::Gauge2 => Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes,
                time_unix_nano: SENTINEL_TS,
                value: Some(number_data_point::Value::AsDouble(0.25 + (metric % 100) as f64 / 200.0)),
                ..Default::default()
            }],
        }),
        PayloadShape::Histogram16 => {
            let bounds: Vec<f64> = (0..15).map(|i| 0.001 * 2f64.powi(i)).collect();
            let counts: Vec<u64> = (0..16).map(|i| ((metric + i) % 5) as u64).collect();
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes,
                    time_unix_nano: SENTINEL_TS,
                    count: counts.iter().sum(),
                    sum: Some(1.5),
                    bucket_counts: counts,
                    explicit_bounds: bounds,
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            })
        }
    };
    Metric {
        name: format!("loadgen.node.metric_{metric:04}"),
        unit: "1".into(),
        data: Some(data),
        ..Default::default()
    }
}

fn resource(node: usize) -> Resource {
    Resource {
        attributes: vec![
            string_attr("k8s.node.name", format!("node-{node:05}")),
            string_attr("host.name", format!("node-{node:05}")),
            string_attr("k8s.cluster.name", "loadgen".into()),
            string_attr("service.name", "ironspider-loadgen".into()),
        ],
        ..Default::default()
    }
}

/// The request carrying series `first .. first + points` (wrapping over the universe).
pub fn request(spec: &PayloadSpec, first: usize) -> ExportMetricsServiceRequest {
    let universe = (spec.nodes * spec.metrics).max(1);
    let mut resource_metrics: Vec<ResourceMetrics> = Vec::new();
    for k in 0..spec.points_per_request {
        let series = (first + k) % universe;
        let (node, metric) = (series / spec.metrics.max(1), series % spec.metrics.max(1));
        let same_node = resource_metrics.last().is_some_and(|rm| rm.resource == Some(resource(node)));
        if !same_node {
            resource_metrics.push(ResourceMetrics {
                resource: Some(resource(node)),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope { name: "ironspider.loadgen".into(), ..Default::default() }),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        if let Some(scope) = resource_metrics.last_mut().and_then(|rm| rm.scope_metrics.last_mut()) {
            scope.metrics.push(metric_for(spec, metric));
        }
    }
    ExportMetricsServiceRequest { resource_metrics }
}

/// Every distinct request of the spec (at most `max_templates`), encoded.
pub fn templates(spec: &PayloadSpec, max_templates: usize) -> Vec<Template> {
    let universe = (spec.nodes * spec.metrics).max(1);
    let count = universe.div_ceil(spec.points_per_request.max(1)).clamp(1, max_templates.max(1));
    (0..count)
        .map(|r| {
            let bytes = request(spec, r * spec.points_per_request).encode_to_vec();
            let sentinel = SENTINEL_TS.to_le_bytes();
            let timestamp_offsets =
                bytes.windows(8).enumerate().filter(|(_, w)| *w == sentinel).map(|(i, _)| i).collect();
            let churn_offsets =
                bytes.windows(16).enumerate().filter(|(_, w)| *w == SENTINEL_CHURN).map(|(i, _)| i).collect();
            Template {
                bytes,
                timestamp_offsets,
                churn_offsets,
                points: spec.points_per_request,
                first: r * spec.points_per_request,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_timestamp_is_found_and_stamped() {
        for shape in [PayloadShape::Gauge5, PayloadShape::Gauge2, PayloadShape::Histogram16] {
            let spec = PayloadSpec { shape, nodes: 3, metrics: 5, points_per_request: 7, churn: false };
            let templates = templates(&spec, 100);
            assert_eq!(templates.len(), 3, "15 series in requests of 7");
            for template in &templates {
                assert_eq!(template.timestamp_offsets.len(), 7);
                let stamped = ExportMetricsServiceRequest::decode(&template.stamped(42)[..]).unwrap();
                let points: usize =
                    stamped.resource_metrics.iter().flat_map(|rm| &rm.scope_metrics).map(|sm| sm.metrics.len()).sum();
                assert_eq!(points, 7);
            }
        }
    }

    #[test]
    fn gauge5_points_weigh_about_220_bytes() {
        let spec = PayloadSpec {
            shape: PayloadShape::Gauge5,
            nodes: 10,
            metrics: 100,
            points_per_request: 1000,
            churn: false,
        };
        let template = &templates(&spec, 1)[0];
        let per_point = template.bytes.len() / template.points;
        assert!((200..=240).contains(&per_point), "{per_point} bytes per point");
    }

    #[test]
    fn churn_stamps_a_new_attribute_value_on_every_point() {
        let spec =
            PayloadSpec { shape: PayloadShape::Gauge2, nodes: 2, metrics: 3, points_per_request: 4, churn: true };
        let template = &templates(&spec, 1)[0];
        assert_eq!(template.churn_offsets.len(), 4);
        let request = ExportMetricsServiceRequest::decode(&template.stamped_churn(42, 0xbeef)[..]).unwrap();
        let values: Vec<String> = request
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .flat_map(|m| match &m.data {
                Some(Data::Gauge(gauge)) => gauge.data_points.clone(),
                _ => Vec::new(),
            })
            .flat_map(|point| point.attributes)
            .filter(|kv| kv.key == "loadgen.churn")
            .filter_map(|kv| match kv.value.and_then(|v| v.value) {
                Some(any_value::Value::StringValue(text)) => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(values, vec!["000000000000beef"; 4]);
    }
}
