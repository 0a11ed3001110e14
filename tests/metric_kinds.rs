//! Every OTLP metric kind through the real server, compressed and not, checked value by value
//! against what the data model says it becomes: gauges as sent, cumulative monotonic sums as
//! per-point deltas with reset detection, delta sums as sent, non-monotonic cumulative sums
//! as gauges, cumulative histograms as bucket deltas, exponential histograms as explicit
//! buckets, summaries with their quantiles. Then the closed windows, the Parquet history,
//! and `ironspider query`.

use crate::common::{Server, attr, encode, now_ns};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point, summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;
use tonic::codec::CompressionEncoding;

const MS: u64 = 1_000_000;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const DELTA: i32 = AggregationTemporality::Delta as i32;

fn number(start: u64, ts: u64, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: ts,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric { name: name.into(), unit: "1".into(), data: Some(data), ..Default::default() }
}

fn sum(points: Vec<NumberDataPoint>, temporality: i32, monotonic: bool) -> Data {
    Data::Sum(Sum { data_points: points, aggregation_temporality: temporality, is_monotonic: monotonic })
}

fn histogram_point(start: u64, ts: u64, sum: f64, counts: Vec<u64>) -> HistogramDataPoint {
    HistogramDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: ts,
        count: counts.iter().sum(),
        sum: Some(sum),
        explicit_bounds: vec![1.0, 5.0],
        bucket_counts: counts,
        ..Default::default()
    }
}

/// One request with every kind; `start` is the cumulative start time, points at `t + k ms`.
fn every_kind(start: u64, t: u64) -> ExportMetricsServiceRequest {
    let metrics = vec![
        metric("k.gauge", Data::Gauge(Gauge { data_points: vec![number(0, t, 0.25), number(0, t + MS, 0.75)] })),
        metric(
            "k.counter",
            sum(
                vec![number(start, t, 10.0), number(start, t + MS, 15.0), number(start, t + 2 * MS, 4.0)],
                CUMULATIVE,
                true,
            ),
        ),
        metric("k.delta", sum(vec![number(t - MS, t, 3.0), number(t, t + MS, 4.0)], DELTA, true)),
        metric("k.updown", sum(vec![number(start, t, 7.0), number(start, t + MS, 5.0)], CUMULATIVE, false)),
        metric("k.updown_delta", sum(vec![number(t - MS, t, -2.0)], DELTA, false)),
        metric(
            "k.histogram",
            Data::Histogram(Histogram {
                data_points: vec![
                    histogram_point(start, t, 6.0, vec![1, 1, 1]),
                    histogram_point(start, t + MS, 16.0, vec![1, 2, 2]),
                ],
                aggregation_temporality: CUMULATIVE,
            }),
        ),
        metric(
            "k.exponential",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: t,
                    count: 4,
                    sum: Some(9.0),
                    scale: 0,
                    zero_count: 1,
                    positive: Some(Buckets { offset: 0, bucket_counts: vec![1, 2] }),
                    ..Default::default()
                }],
                aggregation_temporality: DELTA,
            }),
        ),
        metric(
            "k.summary",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    start_time_unix_nano: start,
                    time_unix_nano: t,
                    count: 10,
                    sum: 20.0,
                    quantile_values: vec![
                        ValueAtQuantile { quantile: 0.5, value: 2.0 },
                        ValueAtQuantile { quantile: 0.95, value: 3.5 },
                    ],
                    ..Default::default()
                }],
            }),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![attr("k8s.node.name", "node-k"), attr("k8s.cluster.name", "lab")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

async fn values(server: &Server, metric: &str) -> (String, Vec<f64>) {
    let rows = server
        .sql(&format!(
            "SELECT s.kind, v.value FROM samples v JOIN series s USING (series_id) WHERE s.metric = '{metric}' ORDER BY v.ts"
        ))
        .await
        .expect("query");
    let kind = rows.first().and_then(|r| r["kind"].as_str()).unwrap_or("none").to_string();
    (kind, rows.iter().map(|r| r["value"].as_f64().expect("a value")).collect())
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().expect("a list").iter().map(|v| v.as_f64().expect("a number")).collect()
}

async fn histogram_rows(server: &Server, metric: &str) -> Vec<Value> {
    server
        .sql(&format!(
            "SELECT h.count, h.sum, h.bounds, h.counts, h.quantiles, h.quantile_values FROM histograms h \
             JOIN series s USING (series_id) WHERE s.metric = '{metric}' ORDER BY h.ts"
        ))
        .await
        .expect("query")
}

async fn check_every_kind(server: &Server) {
    assert_eq!(values(server, "k.gauge").await, ("gauge".into(), vec![0.25, 0.75]));
    assert_eq!(values(server, "k.counter").await, ("counter".into(), vec![10.0, 5.0, 4.0]), "a drop is a reset");
    assert_eq!(values(server, "k.delta").await, ("counter".into(), vec![3.0, 4.0]));
    assert_eq!(values(server, "k.updown").await, ("gauge".into(), vec![7.0, 5.0]));
    assert_eq!(values(server, "k.updown_delta").await, ("updown_delta".into(), vec![-2.0]));

    let histogram = histogram_rows(server, "k.histogram").await;
    assert_eq!(histogram.len(), 2);
    assert_eq!((histogram[0]["count"].as_u64(), histogram[0]["sum"].as_f64()), (Some(3), Some(6.0)));
    assert_eq!((histogram[1]["count"].as_u64(), histogram[1]["sum"].as_f64()), (Some(2), Some(10.0)), "the delta");
    assert_eq!(floats(&histogram[1]["counts"]), vec![0.0, 1.0, 1.0]);
    assert_eq!(floats(&histogram[1]["bounds"]), vec![1.0, 5.0]);

    // Scale 0: base 2; the zero bucket, then positive buckets (1, 2] and (2, 4].
    let exponential = histogram_rows(server, "k.exponential").await;
    assert_eq!(floats(&exponential[0]["bounds"]), vec![0.0, 2.0, 4.0]);
    assert_eq!(floats(&exponential[0]["counts"]), vec![1.0, 1.0, 2.0, 0.0]);

    let summary = histogram_rows(server, "k.summary").await;
    assert_eq!((summary[0]["count"].as_u64(), summary[0]["sum"].as_f64()), (Some(10), Some(20.0)));
    assert_eq!(floats(&summary[0]["quantiles"]), vec![0.5, 0.95]);
    assert_eq!(floats(&summary[0]["quantile_values"]), vec![2.0, 3.5]);

    let nodes = server.sql("SELECT DISTINCT node, cluster FROM series").await.expect("query");
    assert_eq!(nodes.len(), 1);
    assert_eq!((nodes[0]["node"].as_str(), nodes[0]["cluster"].as_str()), (Some("node-k"), Some("lab")));
}

#[tokio::test]
async fn every_kind_over_grpc_plain_gzip_and_zstd_and_over_http() {
    for compression in [None, Some(CompressionEncoding::Gzip), Some(CompressionEncoding::Zstd)] {
        let server = Server::start(&[], &[]);
        let t = now_ns() + MS;
        let body = encode(&every_kind(t - MS / 2, t));
        let answer = server.export_grpc_compressed(body, compression).await.expect("accepted");
        let answer = ExportMetricsServiceResponse::decode(answer).expect("a response");
        assert_eq!(answer.partial_success, None, "{compression:?}");
        check_every_kind(&server).await;
        // 2 + 3 + 2 + 2 + 1 number points, 2 + 1 + 1 histogram-like points.
        assert_eq!(server.metric("ironspider_points_accepted_total").await, 14.0);
    }
    let server = Server::start(&[], &[]);
    let t = now_ns() + MS;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, &encode(&every_kind(t - MS / 2, t))).expect("compress");
    let body = gzip.finish().expect("compress");
    let (status, _, _) = server.post_otlp("application/x-protobuf", &[("content-encoding", "gzip")], body).await;
    assert_eq!(status, 200);
    check_every_kind(&server).await;
}

#[tokio::test]
async fn closed_windows_are_aggregated_written_to_history_and_queryable_from_the_cli() {
    let server = Server::start(&["--window", "1", "--lateness", "0"], &[]);
    let t = now_ns() + MS;
    server.export_grpc(encode(&every_kind(t - MS / 2, t))).await.expect("accepted");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.metric("ironspider_history_files_written_total").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "no history written");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let window = server
        .sql(
            "SELECT w.count, w.min, w.max, w.mean, w.last, w.sum, w.rate, w.window_end - w.window_start AS span \
              FROM windows w JOIN series s USING (series_id) WHERE s.metric = 'k.counter'",
        )
        .await
        .expect("query");
    assert_eq!(window.len(), 1, "all three points share one 1 s window");
    let row = &window[0];
    assert_eq!((row["count"].as_u64(), row["min"].as_f64(), row["max"].as_f64()), (Some(3), Some(4.0), Some(10.0)));
    assert_eq!((row["sum"].as_f64(), row["last"].as_f64()), (Some(19.0), Some(4.0)));
    assert_eq!(row["rate"].as_f64(), Some(19.0), "19 over a one-second window");

    let history = server
        .sql("SELECT node, metric, kind, count, sum FROM history WHERE metric = 'k.histogram'")
        .await
        .expect("query the Parquet history");
    assert_eq!(history.len(), 1);
    assert_eq!((history[0]["node"].as_str(), history[0]["kind"].as_str()), (Some("node-k"), Some("histogram")));
    assert_eq!((history[0]["count"].as_u64(), history[0]["sum"].as_f64()), (Some(5), Some(16.0)));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ironspider"))
        .args(["query", "--server", &format!("http://{}", server.http)])
        .arg("SELECT metric, kind FROM series WHERE metric LIKE 'k.%' ORDER BY metric")
        .output()
        .expect("run ironspider query");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("k.exponential") && table.contains("updown_delta"), "{table}");
    assert!(table.trim_end().ends_with("(8 rows)"), "{table}");
}
