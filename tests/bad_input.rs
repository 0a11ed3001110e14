//! Bad input against the real server: each kind gets its documented answer, the good points
//! of the same request are kept, and the server goes on serving.

use crate::common::{Server, attr, encode, gauge_point, gauge_request, now_ns};
use ironspider_ingest::source::http::RpcStatus;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use std::io::Write;
use tonic_types::StatusExt;

const SECOND: u64 = 1_000_000_000;

fn response(body: &[u8]) -> ExportMetricsServiceResponse {
    ExportMetricsServiceResponse::decode(body).expect("an ExportMetricsServiceResponse")
}

async fn count_samples(server: &Server, metric: &str) -> u64 {
    let rows = server
        .sql(&format!("SELECT count(*) AS n FROM samples JOIN series USING (series_id) WHERE metric = '{metric}'"))
        .await
        .expect("count query");
    rows[0]["n"].as_u64().expect("a count")
}

#[tokio::test]
async fn garbage_and_truncated_bodies_are_invalid_and_change_nothing() {
    let server = Server::start(&[], &[]);
    let good = encode(&gauge_request("n1", "test.gauge", vec![gauge_point(now_ns(), 1.0, vec![])]));
    // 0xff 0xff 0xff 0x20 is a field key of wire type 7, which protobuf does not have.
    let garbage = b"\xff\xff\xff\x20garbage".to_vec();
    let truncated = good[..good.len() - 3].to_vec();

    for body in [garbage.clone(), truncated.clone()] {
        let (status, headers, answer) = server.post_otlp("application/x-protobuf", &[], body).await;
        assert_eq!(status, 400);
        assert_eq!(headers["content-type"], "application/x-protobuf");
        let rpc = RpcStatus::decode(answer).expect("a google.rpc.Status body");
        assert_eq!(rpc.code, tonic::Code::InvalidArgument as i32);
        assert!(rpc.message.starts_with("cannot decode the export request"), "{}", rpc.message);
    }
    for body in [garbage, truncated] {
        let status = server.export_grpc(body).await.expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
    let answer = server.export_grpc(good).await.expect("a good request after bad ones");
    assert_eq!(response(&answer).partial_success, None);
    assert_eq!(count_samples(&server, "test.gauge").await, 1, "bad requests stored nothing");
    assert_eq!(server.metric("ironspider_requests_total{outcome=\"invalid\",transport=\"http\"}").await, 2.0);
}

#[tokio::test]
async fn oversized_requests_are_refused_before_and_after_decompression() {
    let server = Server::start(&[], &[("IRONSPIDER_INGEST__MAX_REQUEST_BYTES", "4096")]);
    let points =
        (0..200).map(|i| gauge_point(now_ns() + i, i as f64, vec![attr("padding", "xxxxxxxxxxxxxxxx")])).collect();
    let big = encode(&gauge_request("n1", "test.big", points));
    assert!(big.len() > 4096);

    let (status, _, answer) = server.post_otlp("application/x-protobuf", &[], big.clone()).await;
    assert_eq!(status, 413);
    let rpc = RpcStatus::decode(answer).expect("a google.rpc.Status body");
    assert!(rpc.message.contains("exceeds the limit of 4096 bytes"), "{}", rpc.message);

    // 1 MiB of zeros compresses to about a kilobyte: the limit applies to what it inflates to.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&vec![0u8; 1 << 20]).expect("compress");
    let bomb = gzip.finish().expect("compress");
    assert!(bomb.len() < 4096);
    let (status, _, _) = server.post_otlp("application/x-protobuf", &[("content-encoding", "gzip")], bomb).await;
    assert_eq!(status, 413);

    let status = server.export_grpc(big).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("too large"), "{}", status.message());

    let small = encode(&gauge_request("n1", "test.small", vec![gauge_point(now_ns(), 1.0, vec![])]));
    let (status, _, _) = server.post_otlp("application/x-protobuf", &[], small).await;
    assert_eq!(status, 200, "the server goes on serving");
}

#[tokio::test]
async fn otlp_json_follows_the_mapping_and_wrong_types_are_refused() {
    let server = Server::start(&[], &[]);
    let ts = now_ns();
    // lowerCamelCase fields, int64 values as strings, hex trace and span ids in an exemplar.
    let json = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"k8s.node.name","value":{{"stringValue":"json-node"}}}}]}},
        "scopeMetrics":[{{"scope":{{"name":"t"}},"metrics":[{{"name":"json.gauge","unit":"1","gauge":{{"dataPoints":[
        {{"timeUnixNano":"{ts}","asDouble":0.5,"exemplars":[{{"timeUnixNano":"{ts}","asDouble":1.0,
          "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}}]}},
        {{"timeUnixNano":"{}","asInt":"7","attributes":[{{"key":"cpu","value":{{"intValue":"3"}}}}]}}]}}}}]}}]}}]}}"#,
        ts + SECOND
    );
    let (status, headers, answer) = server.post_otlp("application/json", &[], json.into_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(headers["content-type"], "application/json");
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("a JSON answer");
    assert!(answer.get("partialSuccess").is_none(), "{answer}");
    let rows = server
        .sql("SELECT s.node, s.device, v.value FROM samples v JOIN series s USING (series_id) WHERE s.metric = 'json.gauge' ORDER BY v.ts")
        .await
        .expect("query");
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["node"].as_str(), rows[0]["value"].as_f64()), (Some("json-node"), Some(0.5)));
    assert_eq!((rows[1]["device"].as_str(), rows[1]["value"].as_f64()), (Some("3"), Some(7.0)));

    for bad in [
        r#"{"resourceMetrics":"not an array"}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":5}]}]}]}"#,
        "{",
    ] {
        let (status, _, answer) = server.post_otlp("application/json", &[], bad.as_bytes().to_vec()).await;
        assert_eq!(status, 400, "{bad}");
        let error: serde_json::Value = serde_json::from_slice(&answer).expect("a JSON google.rpc.Status");
        assert_eq!(error["code"], 3);
        assert!(error["message"].as_str().is_some_and(|m| m.contains("invalid OTLP/JSON")), "{error}");
    }
    let (status, _, _) = server.post_otlp("text/plain", &[], b"hello".to_vec()).await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn non_finite_missing_and_duplicate_points_are_rejected_and_the_rest_kept() {
    let server = Server::start(&[], &[]);
    let ts = now_ns();
    let points = vec![
        gauge_point(ts, 1.0, vec![]),
        gauge_point(ts + 1, f64::NAN, vec![]),
        gauge_point(ts + 2, f64::INFINITY, vec![]),
        gauge_point(ts + 3, f64::NEG_INFINITY, vec![]),
        gauge_point(0, 5.0, vec![]),
        gauge_point(ts + 4, 2.0, vec![]),
        gauge_point(ts + 4, 3.0, vec![]),
        gauge_point(ts - 5 * SECOND, 4.0, vec![]),
    ];
    let answer = server.export_grpc(encode(&gauge_request("n1", "test.values", points))).await.expect("accepted");
    let partial = response(&answer).partial_success.expect("a partial success");
    assert_eq!(partial.rejected_data_points, 5);
    for reason in ["3 non_finite_value", "1 missing_timestamp", "1 duplicate_timestamp"] {
        assert!(partial.error_message.contains(reason), "{reason} in {}", partial.error_message);
    }
    let rows = server
        .sql("SELECT value FROM samples JOIN series USING (series_id) WHERE metric = 'test.values' ORDER BY ts")
        .await
        .expect("query");
    let values: Vec<f64> = rows.iter().map(|r| r["value"].as_f64().expect("a value")).collect();
    assert_eq!(values, vec![4.0, 1.0, 2.0], "an out-of-order point within the lateness is kept");
    assert_eq!(server.metric("ironspider_points_rejected_total{reason=\"non_finite_value\"}").await, 3.0);
    assert_eq!(server.metric("ironspider_points_accepted_total").await, 3.0);
}

#[tokio::test]
async fn points_beyond_the_lateness_are_counted_late_and_never_merged() {
    let server = Server::start(&["--window", "1", "--lateness", "1"], &[]);
    let now = now_ns();
    let points = vec![
        gauge_point(now - 60 * SECOND, 1.0, vec![]),
        gauge_point(now, 2.0, vec![]),
        gauge_point(now + 3600 * SECOND, 3.0, vec![]),
    ];
    let answer = server.export_grpc(encode(&gauge_request("n1", "test.late", points))).await.expect("accepted");
    let partial = response(&answer).partial_success.expect("a partial success");
    assert_eq!(partial.rejected_data_points, 2);
    assert!(partial.error_message.contains("1 late"), "{}", partial.error_message);
    assert!(partial.error_message.contains("1 future_timestamp"), "{}", partial.error_message);
    assert_eq!(server.metric("ironspider_late_points_total").await, 1.0);

    // Wait for the window of the accepted point to close, then send into it again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.metric("ironspider_windows_closed_total").await < 1.0 {
        assert!(std::time::Instant::now() < deadline, "no window closed");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let again = encode(&gauge_request("n1", "test.late", vec![gauge_point(now + 1, 9.0, vec![])]));
    let partial = response(&server.export_grpc(again).await.expect("answered")).partial_success.expect("partial");
    assert!(partial.error_message.contains("1 late"), "{}", partial.error_message);
    let rows = server
        .sql("SELECT w.count, w.last FROM windows w JOIN series s USING (series_id) WHERE s.metric = 'test.late'")
        .await
        .expect("query");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["count"].as_u64(), rows[0]["last"].as_f64()),
        (Some(1), Some(2.0)),
        "nothing merged after close"
    );
}

#[tokio::test]
async fn a_cardinality_explosion_stops_at_the_series_limit_and_known_series_go_on() {
    let server = Server::start(&["--max-series", "1000"], &[]);
    let ts = now_ns();
    let mut accepted = 0;
    let mut rejected = 0;
    for request in 0..100 {
        let points =
            (0..1000).map(|i| gauge_point(ts, 1.0, vec![attr("request.id", &format!("{request}-{i}"))])).collect();
        let answer =
            server.export_grpc(encode(&gauge_request("n1", "test.explosion", points))).await.expect("answered");
        let refused = response(&answer).partial_success.map_or(0, |p| {
            assert!(p.error_message.contains("series_limit"), "{}", p.error_message);
            p.rejected_data_points
        });
        rejected += refused;
        accepted += 1000 - refused;
    }
    assert_eq!((accepted, rejected), (1000, 99_000));
    assert_eq!(server.metric("ironspider_active_series").await, 1000.0);
    assert_eq!(server.metric("ironspider_points_rejected_total{reason=\"series_limit\"}").await, 99_000.0);
    let known =
        encode(&gauge_request("n1", "test.explosion", vec![gauge_point(ts + 1, 2.0, vec![attr("request.id", "0-0")])]));
    assert_eq!(response(&server.export_grpc(known).await.expect("answered")).partial_success, None);
}

#[tokio::test]
async fn an_engine_that_cannot_keep_up_says_retry_later() {
    // One byte: the first point fits (nothing is held yet), and then the engine is full.
    let server = Server::start(&[], &[("IRONSPIDER_ENGINE__MAX_LIVE_BYTES", "1")]);
    let request = |value| encode(&gauge_request("n1", "test.throttle", vec![gauge_point(now_ns(), value, vec![])]));
    server.export_grpc(request(1.0)).await.expect("the first point fits");

    let (status, headers, _) = server.post_otlp("application/x-protobuf", &[], request(2.0)).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    let status = server.export_grpc(request(3.0)).await.expect_err("throttled");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let retry = status.get_details_retry_info().expect("a RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(std::time::Duration::from_secs(1)));
    assert_eq!(server.metric("ironspider_requests_total{outcome=\"throttled\",transport=\"grpc\"}").await, 1.0);
}

#[tokio::test]
async fn a_bad_query_is_a_400_with_the_error_text() {
    let server = Server::start(&[], &[]);
    let (status, text) = server.sql("SELECT nope FROM samples").await.expect_err("refused");
    assert_eq!(status, 400);
    assert!(text.contains("nope"), "{text}");
    let empty = server.sql("SELECT * FROM series").await.expect("an empty table is fine");
    assert!(empty.is_empty());
}

/// An attribute key or value past `ingest.max_attribute_bytes` (4096) keeps its series out
/// of the series table: its points are refused as `attribute_too_long`, point or resource
/// attribute alike, and the short series of the same request are kept.
#[tokio::test]
async fn a_series_with_an_attribute_past_the_length_limit_is_refused() {
    let server = Server::start(&[], &[]);
    let ts = now_ns();
    let long = "v".repeat(4097);
    let points = vec![
        gauge_point(ts, 1.0, vec![attr("path", &long)]),
        gauge_point(ts, 2.0, vec![attr(&long, "v")]),
        gauge_point(ts, 3.0, vec![attr("path", &long[..4096])]),
    ];
    let answer = server.export_grpc(encode(&gauge_request("n1", "test.long", points))).await.expect("answered");
    let partial = response(&answer).partial_success.expect("a partial success");
    assert_eq!(partial.rejected_data_points, 2);
    assert!(partial.error_message.contains("2 attribute_too_long"), "{}", partial.error_message);
    let answer =
        server.export_grpc(encode(&gauge_request(&long, "test.long", vec![gauge_point(ts, 4.0, vec![])]))).await;
    let partial = response(&answer.expect("answered")).partial_success.expect("a partial success");
    assert_eq!(partial.rejected_data_points, 1, "a node name is a resource attribute");
    assert_eq!(count_samples(&server, "test.long").await, 1, "the 4096-byte value is within the limit");
    assert_eq!(server.metric("ironspider_points_rejected_total{reason=\"attribute_too_long\"}").await, 3.0);
}
