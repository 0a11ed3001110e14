"""The HTTP API and the receivers' edges, with hand-built OTLP requests: OTLP/JSON, partial
success (series limit and per-point rejections) over both transports, request errors, SQL errors."""

from __future__ import annotations

import math

import grpc
import pytest
import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

import otlp_build as otlp
from harness import SqlError

NS = otlp.NS


def test_health_endpoints(server):
    assert requests.get(f"{server.api_url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{server.api_url}/readyz", timeout=5).status_code == 200


def test_bad_sql_is_400_with_the_error_text(server):
    response = server.sql_response("SELEC nonsense")
    assert response.status_code == 400, response.text
    assert response.text.strip(), "400 without an error text"
    response = server.sql_response("SELECT * FROM no_such_table")
    assert response.status_code == 400, response.text
    assert "no_such_table" in response.text
    with pytest.raises(SqlError):
        server.sql("SELECT missing_column FROM series")


def test_every_series_column_can_be_selected_unquoted(server):
    """The documented columns of `series`, listed as a user would write them."""
    now = otlp.now_ns()
    otlp.post_protobuf(server.otlp_http_url, otlp.request(
        "node-a", [otlp.gauge("e2e.columns", [(now, 1.0)], attrs={"gpu": "3"})],
        resource_attrs={"k8s.cluster.name": "c1", "k8s.pod.name": "p1", "k8s.namespace.name": "ns1"}))
    query = "SELECT series_id, node, metric, device, pod, namespace, cluster, unit, kind, attributes FROM series"
    response = server.sql_response(query)
    assert response.status_code == 200, f"{query!r} -> HTTP {response.status_code}: {response.text}"
    [row] = response.json()
    assert {k: v for k, v in row.items() if k != "series_id"} == {
        "node": "node-a", "metric": "e2e.columns", "device": "3", "pod": "p1", "namespace": "ns1",
        "cluster": "c1", "unit": "1", "kind": "gauge", "attributes": "gpu=3"}


def test_empty_tables_answer_empty_arrays(server):
    for table in ("series", "samples", "windows", "histograms"):
        assert server.sql(f"SELECT * FROM {table}") == [], table


def test_otlp_json_request(server):
    """OTLP/JSON as the spec encodes it (lowerCamelCase keys, integer enums, 64-bit integers
    as decimal strings), made from the protobuf classes with protobuf's own JSON mapping."""
    now = otlp.now_ns()
    start = now - 10 * NS
    req = otlp.request("node-json", [
        otlp.gauge("e2e.json.gauge", [(now - 3 * NS, 1.5), (now - 2 * NS, -2.25), (now - NS, 3.0)], unit="1"),
        otlp.delta_counter("e2e.json.counter", [(start, now - 2 * NS, 7), (now - 2 * NS, now - NS, 5)], as_int=True),
        otlp.delta_histogram("e2e.json.histogram",
                             [(start, now - NS, [1.0, 5.0], [1, 2, 1], 12.5, 0.5, 7.0)]),
    ])
    body = json_format.MessageToJson(req, use_integers_for_enums=True)
    response = requests.post(server.otlp_http_url, data=body, headers={"Content-Type": "application/json"},
                             timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json().get("partialSuccess") in (None, {}), response.text

    rows = server.sql("SELECT s.node, s.metric, s.kind, p.value FROM samples p "
                      "JOIN series s ON p.series_id = s.series_id ORDER BY s.metric, p.ts")
    assert rows == [
        {"node": "node-json", "metric": "e2e.json.counter", "kind": "counter", "value": 7.0},
        {"node": "node-json", "metric": "e2e.json.counter", "kind": "counter", "value": 5.0},
        {"node": "node-json", "metric": "e2e.json.gauge", "kind": "gauge", "value": 1.5},
        {"node": "node-json", "metric": "e2e.json.gauge", "kind": "gauge", "value": -2.25},
        {"node": "node-json", "metric": "e2e.json.gauge", "kind": "gauge", "value": 3.0},
    ]
    [histogram] = server.sql("SELECT count, sum, min, max, bounds, counts FROM histograms")
    assert histogram == {"count": 4, "sum": 12.5, "min": 0.5, "max": 7.0, "bounds": [1.0, 5.0], "counts": [1, 2, 1]}
    assert server.metric("ironspider_points_accepted_total") == 6
    assert server.metric("ironspider_requests_total", transport="http", outcome="success") == 1


def test_otlp_json_enum_names_are_not_silently_dropped(server):
    """OTLP/JSON senders should write enums as integers, but protobuf's own JSON mapping (and
    so some clients) writes their names. The server may store the point or refuse the request;
    it must not answer full success while dropping the point."""
    now = otlp.now_ns()
    req = otlp.request("node-json", [otlp.delta_counter("e2e.json.enum_name", [(now - 2 * NS, now - NS, 3)])])
    body = json_format.MessageToJson(req)  # "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA"
    assert '"AGGREGATION_TEMPORALITY_DELTA"' in body
    response = requests.post(server.otlp_http_url, data=body, headers={"Content-Type": "application/json"},
                             timeout=10)
    if response.status_code == 200 and not response.json().get("partialSuccess"):
        stored = server.sql("SELECT value FROM samples")
        received = server.metric("ironspider_points_received_total")
        assert stored == [{"value": 3.0}], (
            f"HTTP 200 {response.text!r} (full success) but samples = {stored}, "
            f"ironspider_points_received_total = {received}")
    else:
        assert response.status_code == 400 or response.json().get("partialSuccess"), response.text


def test_series_limit_gives_partial_success_on_both_transports(start_server):
    server = start_server(max_series=2)
    now = otlp.now_ns()
    req = otlp.request("node-a", [
        otlp.gauge("e2e.limit", [(now - NS, float(k))], attrs={"k": str(k)}) for k in range(3)
    ])
    answer = otlp.post_protobuf(server.otlp_http_url, req)
    assert answer.partial_success.rejected_data_points == 1, answer
    assert "series_limit" in answer.partial_success.error_message, answer

    grpc_req = otlp.request("node-b", [otlp.gauge("e2e.limit", [(now - NS, 9.0)])])
    with grpc.insecure_channel(server.otlp_grpc) as channel:
        stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        grpc_answer = stub.Export(grpc_req, timeout=10)
    assert grpc_answer.partial_success.rejected_data_points == 1, grpc_answer
    assert "series_limit" in grpc_answer.partial_success.error_message, grpc_answer

    assert len(server.sql("SELECT * FROM series")) == 2
    assert server.metric("ironspider_points_accepted_total") == 2
    assert server.metric("ironspider_points_rejected_total", reason="series_limit") == 2
    assert server.metric("ironspider_active_series") == 2
    assert server.metric("ironspider_requests_total", transport="http", outcome="partial_success") == 1
    assert server.metric("ironspider_requests_total", transport="grpc", outcome="partial_success") == 1


def test_each_rejection_reason_is_counted(start_server):
    server = start_server(window=1, lateness=1)
    now = otlp.now_ns()
    metrics = [
        otlp.gauge("e2e.ok", [(now, 1.0)]),
        otlp.gauge("e2e.duplicate", [(now, 1.0), (now, 2.0)]),
        otlp.gauge("e2e.nan", [(now, math.nan)]),
        otlp.gauge("e2e.infinite", [(now, math.inf)]),
        otlp.gauge("e2e.no_timestamp", [(0, 1.0)]),
        otlp.gauge("e2e.future", [(now + 3600 * NS, 1.0)]),
        otlp.gauge("e2e.late", [(now - 120 * NS, 1.0)]),
        otlp.gauge("e2e.attrs", [(now, 1.0)], attrs={f"a{k}": k for k in range(200)}),
    ]
    req = otlp.request("node-a", metrics)
    answer = otlp.post_protobuf(server.otlp_http_url, req)
    assert answer.partial_success.rejected_data_points == 7, answer
    expected = {"duplicate_timestamp": 1, "non_finite_value": 2, "missing_timestamp": 1,
                "future_timestamp": 1, "late": 1, "too_many_attributes": 1}
    for reason, n in expected.items():
        assert reason in answer.partial_success.error_message, answer
        assert server.metric("ironspider_points_rejected_total", reason=reason) == n, reason
    assert server.metric("ironspider_points_accepted_total") == 2
    assert server.metric("ironspider_points_received_total") == 9
    assert server.metric("ironspider_late_points_total") == 1
    rows = server.sql("SELECT s.metric, p.value FROM samples p JOIN series s ON p.series_id = s.series_id "
                      "ORDER BY s.metric")
    assert rows == [{"metric": "e2e.duplicate", "value": 1.0}, {"metric": "e2e.ok", "value": 1.0}]


def test_undecodable_and_unsupported_requests(server):
    url = server.otlp_http_url
    response = requests.post(url, data=b"\xff\xff\xff not protobuf",
                             headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert response.status_code == 400, response.content
    response = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400, response.content
    response = requests.post(url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert response.status_code == 415, response.content

    with grpc.insecure_channel(server.otlp_grpc) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as error:
            export(b"\xff\xff\xff not protobuf", timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value

    assert server.metric("ironspider_requests_total", transport="http", outcome="invalid") == 3
    assert server.metric("ironspider_requests_total", transport="grpc", outcome="invalid") == 1
    assert server.metric("ironspider_points_accepted_total") == 0
    # an empty request is valid and stores nothing
    otlp.post_protobuf(url, ExportMetricsServiceRequest())
    assert server.sql("SELECT * FROM series") == []


def test_sql_api_cannot_write_files(server, tmp_path):
    """The SQL endpoint is a query API: statements that write to the server's file system
    (DataFusion's COPY ... TO) must be refused."""
    target = tmp_path / "written-by-sql.csv"
    response = server.sql_response(f"COPY (SELECT 1 AS a) TO '{target}' STORED AS CSV")
    written = target.exists()
    assert response.status_code == 400 and not written, (
        f"COPY TO answered HTTP {response.status_code} {response.text!r}; file written: {written}")


def test_oversized_requests_are_refused_and_counted_on_both_transports(server):
    limit = 16 * 1024 * 1024  # ingest.max_request_bytes default
    now = otlp.now_ns()
    big = otlp.request("node-a", [otlp.gauge("e2e.big", [(now, 1.0)], attrs={"pad": "x" * (limit + 1024)})])
    body = big.SerializeToString()
    assert len(body) > limit
    response = requests.post(server.otlp_http_url, data=body, headers={"Content-Type": "application/x-protobuf"},
                             timeout=30)
    assert response.status_code == 413, response.content[:300]
    with grpc.insecure_channel(server.otlp_grpc, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            stub.Export(big, timeout=30)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.value
    assert server.metric("ironspider_points_accepted_total") == 0
    assert server.metric("ironspider_requests_total", transport="http", outcome="too_large") == 1
    assert server.metric("ironspider_requests_total", default=0.0, transport="grpc", outcome="too_large") == 1


def test_concurrent_exporters_lose_nothing(server):
    """Eight clients at once (four per transport), 25 requests of 8 points each: every point
    is stored exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    clients, requests_per_client, series_per_request, points_per_series = 8, 25, 4, 2
    base = otlp.now_ns() - 5 * NS

    def build(client: int, k: int):
        metrics = [
            otlp.gauge("e2e.concurrent", [(base + k * 1_000_000 + p, float(k)) for p in range(points_per_series)],
                       attrs={"client": client, "series": s})
            for s in range(series_per_request)
        ]
        return otlp.request(f"node-{client}", metrics)

    def run(client: int) -> int:
        sent = 0
        if client % 2:
            with grpc.insecure_channel(server.otlp_grpc) as channel:
                stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
                for k in range(requests_per_client):
                    req = build(client, k)
                    answer = stub.Export(req, timeout=10)
                    assert not answer.HasField("partial_success"), answer
                    sent += otlp.count_points(req)
        else:
            with requests.Session() as session:
                for k in range(requests_per_client):
                    req = build(client, k)
                    response = session.post(server.otlp_http_url, data=req.SerializeToString(),
                                            headers={"Content-Type": "application/x-protobuf"}, timeout=10)
                    assert response.status_code == 200, response.content
                    sent += otlp.count_points(req)
        return sent

    with ThreadPoolExecutor(clients) as pool:
        sent = sum(pool.map(run, range(clients)))
    assert sent == clients * requests_per_client * series_per_request * points_per_series
    assert server.metric("ironspider_points_accepted_total") == sent
    [row] = server.sql("SELECT COUNT(*) AS n, COUNT(DISTINCT series_id) AS series, SUM(value) AS total FROM samples")
    expected_total = clients * series_per_request * points_per_series * sum(range(requests_per_client))
    assert row == {"n": sent, "series": clients * series_per_request, "total": expected_total}
    assert server.metric("ironspider_requests_total", transport="grpc", outcome="success") == \
        clients // 2 * requests_per_client
    assert server.metric("ironspider_requests_total", transport="http", outcome="success") == \
        clients // 2 * requests_per_client
