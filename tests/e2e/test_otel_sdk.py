"""The real OpenTelemetry Python SDK exporting to the real server, over OTLP/gRPC and
OTLP/HTTP (protobuf), with cumulative and delta temporality.

Three "nodes" (three MeterProviders whose Resource has k8s.node.name = node-a/b/c) each
export a gauge, an observable gauge, a counter, an up-down counter and a histogram in two
flushes (phase 1, then phase 2) with known values. The SQL tables and /metrics must then
hold exactly what was sent.
"""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

from harness import record_exports

NODES = ["node-a", "node-b", "node-c"]
CLUSTER = "e2e-cluster"
BOUNDS = [1.0, 5.0, 10.0]
HOUR_MS = 3_600_000

GAUGE = "e2e.gpu.temperature"
OBSERVED = "e2e.cpu.utilization"
COUNTER = "e2e.requests"
UPDOWN = "e2e.queue.depth"
HISTOGRAM = "e2e.latency"


def plan(i: int) -> dict:
    """The known measurements of node i, per phase."""
    return {
        GAUGE: [[40.5 + i], [41.25 + i, 42.75 + i]],  # sync gauge: only the last set() is exported
        OBSERVED: [0.25 + i / 8, 0.875 - i / 16],  # what the callback observes at each flush
        COUNTER: [[1, 2, 3 * (i + 1)], [4 + i]],
        UPDOWN: [[5, -2], [4 + i]],
        HISTOGRAM: [[0.5, 2, 3, 7, 12], [100 + i, 4]],
    }


def bucket_counts(values: list[float]) -> list[int]:
    """Explicit-bucket counts with OTel's (lower, upper] buckets for BOUNDS."""
    counts = [0] * (len(BOUNDS) + 1)
    for v in values:
        counts[next((k for k, b in enumerate(BOUNDS) if v <= b), len(BOUNDS))] += 1
    return counts


def make_exporter(transport: str, server, temporality: AggregationTemporality):
    preferred = {Counter: temporality, UpDownCounter: temporality, Histogram: temporality}
    if transport.startswith("grpc"):
        compression = grpc.Compression.Gzip if transport.endswith("gzip") else grpc.Compression.NoCompression
        return GrpcMetricExporter(endpoint=f"http://{server.otlp_grpc}", insecure=True, timeout=10,
                                  compression=compression, preferred_temporality=preferred)
    compression = HttpCompression.Gzip if transport.endswith("gzip") else HttpCompression.NoCompression
    return HttpMetricExporter(endpoint=server.otlp_http_url, timeout=10, compression=compression,
                              preferred_temporality=preferred)


class Node:
    """One node's MeterProvider, its instruments, and the results of its exports."""

    def __init__(self, name: str, transport: str, server, temporality: AggregationTemporality):
        self.name = name
        self.results: list[MetricExportResult] = []
        exporter = make_exporter(transport, server, temporality)
        record_exports(exporter, self.results)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=HOUR_MS)
        resource = Resource.create({
            "k8s.node.name": name,
            "k8s.cluster.name": CLUSTER,
            "service.name": "ironspider-e2e",
        })
        self.provider = MeterProvider(
            resource=resource,
            metric_readers=[reader],
            views=[View(instrument_name=HISTOGRAM, aggregation=ExplicitBucketHistogramAggregation(BOUNDS))],
        )
        meter = self.provider.get_meter("ironspider-e2e", "1.0.0")
        self.gauge = meter.create_gauge(GAUGE, unit="Cel")
        self.counter = meter.create_counter(COUNTER, unit="{request}")
        self.updown = meter.create_up_down_counter(UPDOWN, unit="{item}")
        self.histogram = meter.create_histogram(HISTOGRAM, unit="ms")
        self.observed: float | None = None

        def observe(options: CallbackOptions):
            if self.observed is not None:
                yield Observation(self.observed, {"cpu": 0})

        meter.create_observable_gauge(OBSERVED, callbacks=[observe], unit="1")

    def record(self, measurements: dict, phase: int) -> None:
        self.observed = measurements[OBSERVED][phase]
        for value in measurements[GAUGE][phase]:
            self.gauge.set(value, {"hw.id": "gpu-0"})
        for value in measurements[COUNTER][phase]:
            self.counter.add(value, {"route": "/v1"})
        for value in measurements[UPDOWN][phase]:
            self.updown.add(value)
        for value in measurements[HISTOGRAM][phase]:
            self.histogram.record(value, {"route": "/v1"})

    def flush(self) -> None:
        assert self.provider.force_flush(timeout_millis=20_000), f"{self.name}: force_flush timed out"
        assert self.results and self.results[-1] == MetricExportResult.SUCCESS, \
            f"{self.name}: export results {self.results}"


VARIANTS = [
    pytest.param("grpc", AggregationTemporality.CUMULATIVE, id="grpc-cumulative"),
    pytest.param("http", AggregationTemporality.CUMULATIVE, id="http-protobuf-cumulative"),
    pytest.param("grpc-gzip", AggregationTemporality.DELTA, id="grpc-gzip-delta"),
    pytest.param("http-gzip", AggregationTemporality.DELTA, id="http-protobuf-gzip-delta"),
]

POINTS_PER_FLUSH = 5  # one point per instrument: each has a single attribute set


@pytest.mark.parametrize("transport,temporality", VARIANTS)
def test_three_nodes_export_exact_values(server, transport, temporality):
    cumulative = temporality == AggregationTemporality.CUMULATIVE
    nodes = [Node(name, transport, server, temporality) for name in NODES]
    plans = [plan(i) for i in range(len(NODES))]
    try:
        for phase in (0, 1):
            for node, measurements in zip(nodes, plans):
                node.record(measurements, phase)
                node.flush()
        points_sent = len(NODES) * 2 * POINTS_PER_FLUSH
        flushes = len(NODES) * 2

        # --- series: one per node and metric, fully described ---
        series = server.sql(
            # "cluster" quoted: unquoted after a comma DataFusion's parser takes it for a
            # keyword (see test_api.py::test_every_series_column_can_be_selected_unquoted).
            'SELECT node, metric, kind, unit, device, pod, namespace, "cluster", attributes '
            "FROM series ORDER BY node, metric")
        expected_series = []
        for name in NODES:
            expected_series += [
                {"node": name, "metric": COUNTER, "kind": "counter", "unit": "{request}", "device": None,
                 "pod": None, "namespace": None, "cluster": CLUSTER, "attributes": "route=/v1"},
                {"node": name, "metric": OBSERVED, "kind": "gauge", "unit": "1", "device": "0",
                 "pod": None, "namespace": None, "cluster": CLUSTER, "attributes": "cpu=0"},
                {"node": name, "metric": GAUGE, "kind": "gauge", "unit": "Cel", "device": "gpu-0",
                 "pod": None, "namespace": None, "cluster": CLUSTER, "attributes": "hw.id=gpu-0"},
                {"node": name, "metric": HISTOGRAM, "kind": "histogram", "unit": "ms", "device": None,
                 "pod": None, "namespace": None, "cluster": CLUSTER, "attributes": "route=/v1"},
                {"node": name, "metric": UPDOWN, "kind": "gauge" if cumulative else "updown_delta",
                 "unit": "{item}", "device": None, "pod": None, "namespace": None, "cluster": CLUSTER,
                 "attributes": ""},
            ]
        expected_series.sort(key=lambda r: (r["node"], r["metric"]))
        assert series == expected_series

        # --- number samples, in time order per series ---
        rows = server.sql(
            "SELECT s.node, s.metric, p.value FROM samples p JOIN series s ON p.series_id = s.series_id "
            "ORDER BY s.node, s.metric, p.ts")
        got = {}
        for row in rows:
            got.setdefault((row["node"], row["metric"]), []).append(row["value"])
        expected = {}
        for name, measurements in zip(NODES, plans):
            # gauge: the last value set before each flush
            expected[(name, GAUGE)] = [measurements[GAUGE][0][-1], measurements[GAUGE][1][-1]]
            expected[(name, OBSERVED)] = measurements[OBSERVED]
            # counter: cumulative totals are stored as deltas; delta points as sent
            expected[(name, COUNTER)] = [sum(measurements[COUNTER][0]), sum(measurements[COUNTER][1])]
            phase_sums = [sum(measurements[UPDOWN][0]), sum(measurements[UPDOWN][1])]
            if cumulative:  # a non-monotonic cumulative sum is a gauge of the running total
                expected[(name, UPDOWN)] = [phase_sums[0], phase_sums[0] + phase_sums[1]]
            else:
                expected[(name, UPDOWN)] = phase_sums
        assert got == expected

        totals = server.sql(
            "SELECT s.node, SUM(p.value) AS total, COUNT(*) AS n FROM samples p "
            f"JOIN series s ON p.series_id = s.series_id WHERE s.metric = '{COUNTER}' "
            "GROUP BY s.node ORDER BY s.node")
        assert totals == [
            {"node": name, "total": sum(m[COUNTER][0]) + sum(m[COUNTER][1]), "n": 2}
            for name, m in zip(NODES, plans)
        ]

        # --- histograms: one row per flush, deltas of the cumulative histogram ---
        rows = server.sql(
            "SELECT s.node, h.count, h.sum, h.min, h.max, h.bounds, h.counts FROM histograms h "
            "JOIN series s ON h.series_id = s.series_id ORDER BY s.node, h.ts")
        assert [r["node"] for r in rows] == [n for n in NODES for _ in (0, 1)]
        for k, (name, measurements) in enumerate(zip(NODES, plans)):
            first, second = rows[2 * k], rows[2 * k + 1]
            p1, p2 = measurements[HISTOGRAM]
            assert (first["count"], first["sum"], first["bounds"], first["counts"]) == \
                (len(p1), sum(p1), BOUNDS, bucket_counts(p1)), first
            assert (first["min"], first["max"]) == (min(p1), max(p1)), first
            assert (second["count"], second["sum"], second["bounds"], second["counts"]) == \
                (len(p2), sum(p2), BOUNDS, bucket_counts(p2)), second
            if not cumulative:  # delta points carry the interval's own min and max
                assert (second["min"], second["max"]) == (min(p2), max(p2)), second
        all_values = [v for m in plans for phase in m[HISTOGRAM] for v in phase]
        [total] = server.sql("SELECT SUM(count) AS count, SUM(sum) AS sum FROM histograms")
        assert total == {"count": len(all_values), "sum": sum(all_values)}

        # --- self-metrics ---
        metrics = server.metrics()
        transport_label = "grpc" if transport.startswith("grpc") else "http"
        assert metrics[("ironspider_points_accepted_total", ())] == points_sent
        assert metrics[("ironspider_points_received_total", ())] == points_sent
        rejected = {k: v for k, v in metrics.items() if k[0] == "ironspider_points_rejected_total" and v}
        assert rejected == {}
        assert metrics[("ironspider_active_series", ())] == len(NODES) * POINTS_PER_FLUSH
        requests_total = {k[1]: v for k, v in metrics.items() if k[0] == "ironspider_requests_total" and v}
        assert requests_total == {(("outcome", "success"), ("transport", transport_label)): flushes}
    finally:
        for node in nodes:
            node.provider.shutdown(timeout_millis=5_000)


def test_exponential_histogram_becomes_explicit_buckets(server):
    """An exponential histogram (SDK view) over OTLP/HTTP: stored with explicit bounds, the
    counts of every recorded value in the bucket whose bounds hold it."""
    exporter = HttpMetricExporter(endpoint=server.otlp_http_url, timeout=10)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=HOUR_MS)
    provider = MeterProvider(
        resource=Resource.create({"k8s.node.name": "node-exp"}),
        metric_readers=[reader],
        views=[View(instrument_name="e2e.exp", aggregation=ExponentialBucketHistogramAggregation(max_size=20))],
    )
    try:
        histogram = provider.get_meter("ironspider-e2e").create_histogram("e2e.exp", unit="s")
        phases = [[0, 0.375, 1, 2, 3, 7, 12, 100], [4, 5, 6.5]]  # binary-exact sums
        for values in phases:
            for v in values:
                histogram.record(v)
            assert provider.force_flush(timeout_millis=20_000)
        rows = server.sql("SELECT h.count, h.sum, h.bounds, h.counts, s.kind FROM histograms h "
                          "JOIN series s ON h.series_id = s.series_id ORDER BY h.ts")
        assert len(rows) == 2, rows
        for row, values in zip(rows, phases):
            assert row["kind"] == "histogram"
            assert (row["count"], row["sum"]) == (len(values), sum(values)), row
            bounds = row["bounds"]
            assert bounds == sorted(bounds) and len(row["counts"]) == len(bounds) + 1, row
            expected = [0] * (len(bounds) + 1)
            for v in values:  # buckets are (lower, upper]
                expected[next((k for k, b in enumerate(bounds) if v <= b), len(bounds))] += 1
            assert row["counts"] == expected, row
        assert server.metric("ironspider_points_accepted_total") == 2
    finally:
        provider.shutdown(timeout_millis=5_000)
