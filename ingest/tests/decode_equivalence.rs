//! Property test: the fast decoder (protobuf bytes read in place) and the reference decoder
//! (prost structs) turn any export request into the same engine rows, the same series table
//! and the same rejection counts.

use ironspider_ingest::differential::{fast_rows, reference_rows};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint, exponential_histogram_data_point, metric::Data,
    number_data_point, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;
use prost::Message;

/// Small pools so that generated requests repeat series, as real traffic does.
const KEYS: &[&str] = &["k8s.node.name", "host.name", "hw.id", "state", "cpu", "k8s.pod.name", "device", "x"];
const METRICS: &[&str] = &["system.cpu.utilization", "DCGM_FI_DEV_GPU_UTIL", "hw.gpu.memory.usage", "custom.metric"];

fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        "[a-c]{0,3}".prop_map(any_value::Value::StringValue),
        any::<bool>().prop_map(any_value::Value::BoolValue),
        (-3i64..3).prop_map(any_value::Value::IntValue),
        prop_oneof![Just(0.5), Just(-1.0), Just(f64::NAN)].prop_map(any_value::Value::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..3).prop_map(any_value::Value::BytesValue),
    ];
    let scalar = leaf.clone().prop_map(|v| AnyValue { value: Some(v) });
    prop_oneof![
        8 => scalar.clone(),
        1 => prop::collection::vec(scalar, 0..3)
            .prop_map(|values| AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values })) }),
        1 => Just(AnyValue { value: None }),
    ]
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec((prop::sample::select(KEYS), any_value()), 0..max).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(key, value)| KeyValue { key: key.to_string(), value: Some(value), ..Default::default() })
            .collect()
    })
}

/// Timestamps: mostly valid, sometimes zero (missing) or past i64::MAX.
fn time() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 1_700_000_000_000_000_000u64..1_700_000_000_000_000_100, 1 => Just(0u64), 1 => Just(u64::MAX)]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![8 => -1e6f64..1e6, 1 => Just(f64::NAN), 1 => Just(f64::INFINITY)]
}

fn number_point() -> impl Strategy<Value = NumberDataPoint> {
    let value = prop_oneof![
        4 => float().prop_map(number_data_point::Value::AsDouble).prop_map(Some),
        2 => (-1000i64..1000).prop_map(number_data_point::Value::AsInt).prop_map(Some),
        1 => Just(None),
    ];
    (attributes(4), time(), time(), value, 0u32..2).prop_map(|(attributes, start, time, value, flags)| {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: time,
            value,
            flags,
            ..Default::default()
        }
    })
}

fn histogram_point() -> impl Strategy<Value = HistogramDataPoint> {
    (attributes(3), time(), prop::collection::vec(0u64..5, 0..5), prop::option::of(float()), 0u32..2, any::<bool>())
        .prop_map(|(attributes, time, counts, sum, flags, bounds_match)| {
            let buckets = if bounds_match { counts.len().saturating_sub(1) } else { counts.len() };
            HistogramDataPoint {
                attributes,
                start_time_unix_nano: 1,
                time_unix_nano: time,
                count: counts.iter().sum(),
                sum,
                explicit_bounds: (0..buckets).map(|i| i as f64 * 2.5).collect(),
                bucket_counts: counts,
                flags,
                min: sum.map(|s| s - 1.0),
                max: sum,
                ..Default::default()
            }
        })
}

fn exponential_point() -> impl Strategy<Value = ExponentialHistogramDataPoint> {
    let buckets = (-3i32..3, prop::collection::vec(0u64..4, 0..4))
        .prop_map(|(offset, bucket_counts)| exponential_histogram_data_point::Buckets { offset, bucket_counts });
    (attributes(3), time(), -2i32..4, 0u64..3, buckets.clone(), buckets, any::<bool>()).prop_map(
        |(attributes, time, scale, zero_count, positive, negative, consistent)| {
            let total =
                zero_count + positive.bucket_counts.iter().sum::<u64>() + negative.bucket_counts.iter().sum::<u64>();
            ExponentialHistogramDataPoint {
                attributes,
                time_unix_nano: time,
                scale,
                zero_count,
                count: if consistent { total } else { total + 1 },
                sum: Some(1.0),
                positive: Some(positive),
                negative: Some(negative),
                zero_threshold: 0.001,
                ..Default::default()
            }
        },
    )
}

fn summary_point() -> impl Strategy<Value = SummaryDataPoint> {
    let quantile =
        (0.0f64..1.2, float()).prop_map(|(quantile, value)| summary_data_point::ValueAtQuantile { quantile, value });
    (attributes(3), time(), 0u64..100, -10.0f64..10.0, prop::collection::vec(quantile, 0..3)).prop_map(
        |(attributes, time, count, sum, quantile_values)| SummaryDataPoint {
            attributes,
            start_time_unix_nano: 1,
            time_unix_nano: time,
            count,
            sum,
            quantile_values,
            ..Default::default()
        },
    )
}

fn data() -> impl Strategy<Value = Data> {
    let points = || prop::collection::vec(number_point(), 0..4);
    prop_oneof![
        points().prop_map(|data_points| Data::Gauge(Gauge { data_points })),
        (points(), 0i32..3, any::<bool>()).prop_map(|(data_points, aggregation_temporality, is_monotonic)| {
            Data::Sum(Sum { data_points, aggregation_temporality, is_monotonic })
        }),
        (prop::collection::vec(histogram_point(), 0..3), 0i32..3).prop_map(|(data_points, aggregation_temporality)| {
            Data::Histogram(Histogram { data_points, aggregation_temporality })
        }),
        (prop::collection::vec(exponential_point(), 0..3), 1i32..3).prop_map(
            |(data_points, aggregation_temporality)| {
                Data::ExponentialHistogram(ExponentialHistogram { data_points, aggregation_temporality })
            }
        ),
        prop::collection::vec(summary_point(), 0..3).prop_map(|data_points| Data::Summary(Summary { data_points })),
    ]
}

fn metric() -> impl Strategy<Value = Metric> {
    (prop::sample::select(METRICS), prop::option::of(data())).prop_map(|(name, data)| Metric {
        name: name.to_string(),
        unit: "1".into(),
        data,
        ..Default::default()
    })
}

fn request() -> impl Strategy<Value = ExportMetricsServiceRequest> {
    let scope = (prop::option::of("[ab]{1,2}"), prop::collection::vec(metric(), 0..4)).prop_map(|(name, metrics)| {
        ScopeMetrics {
            scope: name.map(|name| InstrumentationScope { name, ..Default::default() }),
            metrics,
            ..Default::default()
        }
    });
    let resource = (prop::option::of(attributes(3)), prop::collection::vec(scope, 0..3)).prop_map(
        |(attributes, scope_metrics)| ResourceMetrics {
            resource: attributes.map(|attributes| Resource { attributes, ..Default::default() }),
            scope_metrics,
            ..Default::default()
        },
    );
    prop::collection::vec(resource, 0..3).prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fast_and_prost_paths_produce_the_same_rows(request in request()) {
        let bytes = request.encode_to_vec();
        let decoded = ExportMetricsServiceRequest::decode(&bytes[..]).expect("prost decodes what it encoded");
        prop_assert_eq!(fast_rows(&bytes).expect("the fast path decodes valid protobuf"), reference_rows(&decoded));
    }

    #[test]
    fn both_paths_agree_on_truncated_requests(request in request(), cut in any::<prop::sample::Index>()) {
        let bytes = request.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let truncated = &bytes[..cut.index(bytes.len())];
        let prost_accepts = ExportMetricsServiceRequest::decode(truncated).is_ok();
        prop_assert_eq!(fast_rows(truncated).is_ok(), prost_accepts);
    }
}

/// One series sent with its attributes in two orders: two encodings, one series, on both
/// paths; the second encoding becomes an alias of the first.
#[test]
fn attribute_order_does_not_split_a_series() {
    let key_value = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    };
    let point = |ts, attributes| NumberDataPoint {
        attributes,
        time_unix_nano: ts,
        value: Some(number_data_point::Value::AsDouble(1.0)),
        ..Default::default()
    };
    let forward = vec![key_value("cpu", "0"), key_value("state", "idle")];
    let backward = vec![key_value("state", "idle"), key_value("cpu", "0")];
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "system.cpu.utilization".into(),
                    data: Some(Data::Gauge(Gauge { data_points: vec![point(10, forward), point(20, backward)] })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let bytes = request.encode_to_vec();
    let (rows, series) = fast_rows(&bytes).expect("decodes");
    assert_eq!(series.len(), 1, "{series:?}");
    assert!(rows.contains("series: [0, 0]"), "{rows}");
    assert_eq!((rows, series), reference_rows(&request));
}

/// A value that is finite as sent but not once its unit is scaled (DCGM's framebuffer MiB
/// become bytes, × 2^20) is refused as `non_finite_value` on both paths, never stored as ∞.
#[test]
fn a_value_past_the_range_once_scaled_is_refused_as_not_finite() {
    let point = |value: f64| NumberDataPoint {
        time_unix_nano: 10,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "DCGM_FI_DEV_FB_USED".into(),
                    data: Some(Data::Gauge(Gauge { data_points: vec![point(1e308), point(2048.0)] })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let (rows, _) = fast_rows(&request.encode_to_vec()).expect("decodes");
    assert!(rows.contains("value: [2147483648.0]"), "only 2048 MiB is stored, in bytes: {rows}");
    // RejectCounts in `RejectReason::ALL` order: non_finite_value first.
    assert!(rows.contains("rejected: RejectCounts([1, 0, 0"), "{rows}");
    assert_eq!(fast_rows(&request.encode_to_vec()).unwrap(), reference_rows(&request));
}

/// Found by the fuzz target `otlp_protobuf` (fuzz/): an unknown field encoded as a group
/// (wire type 3, proto2's deprecated encoding), which prost skips to its end tag and the fast
/// decoder refused. Both now skip it, at the top level and inside a message, nested too, and
/// both refuse an end tag that closes no group or another field's group.
#[test]
fn unknown_group_fields_are_skipped_as_prost_skips_them() {
    let found: &[u8] = b"state\xfa\xff\xfa\xff\x6b\xf8\x10\xff\x02\x41\x0a\x10\xf8\x02\x6b\x0a\x41\xff";
    let request = ExportMetricsServiceRequest::decode(found).expect("prost accepts the fuzzer's input");
    assert_eq!(fast_rows(found).expect("the fast path accepts it too"), reference_rows(&request));

    // Field 20 of a Metric (unknown) as a group holding a varint, a nested group (field 10)
    // and a string.
    let mut metric = b"\x0a\x01m".to_vec(); // name "m"
    metric.extend_from_slice(b"\xa3\x01\x08\x01\x53\x54\x12\x02hi\xa4\x01");
    metric.extend_from_slice(b"\x2a\x00"); // an empty gauge (field 5)
    let scope = [&[0x12, metric.len() as u8][..], &metric].concat(); // ScopeMetrics.metrics (2)
    let resource = [&[0x12, scope.len() as u8][..], &scope].concat(); // ResourceMetrics.scope_metrics (2)
    let bytes = [&[0x0a, resource.len() as u8][..], &resource].concat();
    let request = ExportMetricsServiceRequest::decode(&bytes[..]).expect("prost skips the group");
    assert_eq!(fast_rows(&bytes).expect("so does the fast path"), reference_rows(&request));

    for refused in [&b"\x74"[..], b"\x73\x7c", b"\x73"] {
        assert!(ExportMetricsServiceRequest::decode(refused).is_err());
        assert!(fast_rows(refused).is_err(), "{refused:?}");
    }
}

/// Found by the fuzz target `otlp_protobuf`: a histogram (or exponential histogram) with a
/// field 3, which only a Sum has (`is_monotonic`). prost skips it as unknown whatever its
/// wire type; the fast decoder read it as a Sum's and refused a length-delimited one.
#[test]
fn a_histograms_unknown_field_3_is_skipped_whatever_its_wire_type() {
    for data_field in [0x4a, 0x52] {
        // Histogram / ExponentialHistogram (fields 9, 10) = { temporality 2, field 3: "ab" }.
        let data = [0x10, 0x02, 0x1a, 0x02, b'a', b'b'];
        let metric = [&[0x0a, 0x01, b'h', data_field, data.len() as u8][..], &data].concat();
        let scope = [&[0x12, metric.len() as u8][..], &metric].concat();
        let resource = [&[0x12, scope.len() as u8][..], &scope].concat();
        let bytes = [&[0x0a, resource.len() as u8][..], &resource].concat();
        let request = ExportMetricsServiceRequest::decode(&bytes[..]).expect("prost skips the unknown field");
        assert_eq!(fast_rows(&bytes).expect("so does the fast path"), reference_rows(&request));
    }
}
