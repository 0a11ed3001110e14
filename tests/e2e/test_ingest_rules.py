"""How points become rows, with hand-built OTLP/HTTP requests: cumulative-to-delta rules,
summaries, name mapping, node identity fallbacks."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

import otlp_build as otlp

NS = otlp.NS


def samples_of(server, metric: str) -> list[float]:
    rows = server.sql("SELECT p.value FROM samples p JOIN series s ON p.series_id = s.series_id "
                      f"WHERE s.metric = '{metric}' ORDER BY p.ts")
    return [r["value"] for r in rows]


def test_cumulative_counter_deltas_baseline_reset_and_order(server):
    now = otlp.now_ns()
    before_server = now - 3600 * NS  # the counter was running before the server started
    after_server = server.ready_ns   # this one started while the server was up
    t = [now - 10 * NS + k * NS for k in range(6)]
    first = otlp.request("node-a", [
        otlp.cumulative_counter("e2e.old.counter", [(before_server, t[0], 100), (before_server, t[1], 130)]),
        otlp.cumulative_counter("e2e.new.counter", [(after_server, after_server + NS // 100, 40)]),
    ])
    answer = otlp.post_protobuf(server.otlp_http_url, first)
    assert not answer.HasField("partial_success"), answer
    second = otlp.request("node-a", [
        otlp.cumulative_counter("e2e.old.counter", [
            (before_server, t[2], 5),     # a drop: the counter restarted, delta = 5
            (before_server, t[3], 12),    # +7
            (before_server, t[3], 15),    # same timestamp: duplicate_timestamp
            (before_server, t[1], 20),    # older than the previous point: out_of_order
        ]),
    ])
    answer = otlp.post_protobuf(server.otlp_http_url, second)
    assert answer.partial_success.rejected_data_points == 2, answer

    # the first point of a series older than the server is only a baseline: no sample
    assert samples_of(server, "e2e.old.counter") == [30.0, 5.0, 7.0]
    # a series that started after the server: its first total counts in full
    assert samples_of(server, "e2e.new.counter") == [40.0]
    assert server.metric("ironspider_points_accepted_total") == 5  # the baseline point is accepted
    assert server.metric("ironspider_points_rejected_total", reason="duplicate_timestamp") == 1
    assert server.metric("ironspider_points_rejected_total", reason="out_of_order") == 1


def test_cumulative_histogram_becomes_deltas(server):
    start = server.ready_ns  # after the server started: the first point counts in full

    def point(ts, counts, total):
        return metrics_pb2.HistogramDataPoint(start_time_unix_nano=start, time_unix_nano=ts, count=sum(counts),
                                              explicit_bounds=[1.0, 10.0], bucket_counts=counts, sum=total)

    metric = metrics_pb2.Metric(name="e2e.cum.histogram", unit="s", histogram=metrics_pb2.Histogram(
        aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
        data_points=[point(start + NS // 100, [1, 2, 0], 9.5), point(start + NS // 50, [1, 5, 1], 60.5)]))
    otlp.post_protobuf(server.otlp_http_url, otlp.request("node-a", [metric]))
    rows = server.sql("SELECT count, sum, counts FROM histograms ORDER BY ts")
    assert rows == [{"count": 3, "sum": 9.5, "counts": [1, 2, 0]}, {"count": 4, "sum": 51.0, "counts": [0, 3, 1]}]


def test_summary_points(server):
    start = server.ready_ns  # after the server started: the first point counts in full
    quantiles = [(0.5, 0.25), (0.95, 0.75), (0.99, 1.5)]
    req = otlp.request("node-a", [otlp.summary("e2e.summary", [(start, start + NS // 100, 10, 4.5, quantiles)])])
    otlp.post_protobuf(server.otlp_http_url, req)
    [series] = server.sql("SELECT metric, kind, unit FROM series")
    assert series == {"metric": "e2e.summary", "kind": "summary", "unit": "s"}
    [row] = server.sql("SELECT count, sum, quantiles, quantile_values, bounds, counts FROM histograms")
    assert row == {"count": 10, "sum": 4.5, "quantiles": [0.5, 0.95, 0.99], "quantile_values": [0.25, 0.75, 1.5],
                   "bounds": [], "counts": []}


def test_dcgm_names_map_to_otel_names_with_scale(server):
    now = otlp.now_ns()
    req = otlp.request("node-gpu", [
        otlp.gauge("DCGM_FI_DEV_GPU_UTIL", [(now - NS, 50.0)], unit="%", attrs={"gpu": "0", "UUID": "GPU-abc"}),
        otlp.gauge("DCGM_FI_DEV_FB_USED", [(now - NS, 2.0)], unit="MiB", attrs={"gpu": "0", "UUID": "GPU-abc"}),
    ])
    otlp.post_protobuf(server.otlp_http_url, req)
    rows = server.sql("SELECT s.metric, s.device, p.value FROM samples p JOIN series s ON p.series_id = s.series_id "
                      "ORDER BY s.metric")
    assert rows == [
        {"metric": "hw.gpu.memory.usage", "device": "GPU-abc", "value": 2.0 * 1024 * 1024},
        {"metric": "hw.gpu.utilization", "device": "GPU-abc", "value": 0.5},
    ]


def test_node_identity_falls_back_to_host_name_then_service_instance(server):
    now = otlp.now_ns()
    gauge = [otlp.gauge("e2e.identity", [(now - NS, 1.0)])]
    req = ExportMetricsServiceRequest(resource_metrics=[
        otlp.resource_metrics("k8s-node", gauge, {"host.name": "host-1", "service.instance.id": "inst-1"}),
        otlp.resource_metrics(None, gauge, {"host.name": "host-2", "service.instance.id": "inst-2"}),
        otlp.resource_metrics(None, gauge, {"service.instance.id": "inst-3"}),
        otlp.resource_metrics(None, gauge, {"service.name": "nameless"}),
    ])
    answer = otlp.post_protobuf(server.otlp_http_url, req)
    assert not answer.HasField("partial_success"), answer
    rows = server.sql("SELECT node FROM series ORDER BY node NULLS LAST")
    assert rows == [{"node": "host-2"}, {"node": "inst-3"}, {"node": "k8s-node"}, {"node": None}]
