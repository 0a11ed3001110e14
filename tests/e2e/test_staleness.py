"""Staleness: a node whose exporter stops loses health, with the `stale` factor named, within
three windows.

Two "nodes" — two OpenTelemetry SDK MeterProviders whose Resource has k8s.node.name =
node-a / node-b — export hostmetrics-shaped observable gauges (`system.cpu.utilization` by
`cpu` and `state`, `system.memory.usage` by `state`, in bytes) every 250 ms, node-a over
OTLP/gRPC and node-b over OTLP/HTTP, to a server with 1 s windows and no lateness. Once both
are at health 100, node-b's MeterProvider is shut down (its last export goes out during the
shutdown; nothing after it) while node-a keeps exporting.

The timing bound. node-b's newest point is stamped at most at the end of the shutdown, time
T_last, so it falls in the window ending at E ≤ T_last + 1 s. With 1 s windows, no lateness
and the default `stale_windows = 3` (health = 100 − 100 · missed / 3), the server's
watermark passes E + 1 s (missed = 1: health 67, factor `stale`) and E + 2 s (missed = 2:
health 33, below 50) at most 3 s after T_last; the window closer ticks every 100 ms (window
/ 10) and publishes the scores on that tick. The test measures from the moment it *calls*
shutdown (T_stop ≤ T_last) and allows three windows plus MARGIN_S = 1.5 s, which covers the
shutdown's own final export (T_last − T_stop, a few ms), the closer's tick (≤ 100 ms), the
test's polling interval (50 ms) and the API round trip, with room for a loaded machine.

node-b is stopped 50 ms after a window starts, the worst case: E is then almost a full
window after T_stop, so the health falls to 67 about 2 s and below 50 about 3 s after T_stop
(measured over 14 runs: 1.97–2.09 s and 2.97–3.06 s). The timings are printed (pytest -s
shows them).
"""

from __future__ import annotations

import time

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from harness import record_exports

WINDOW_S = 1
STALE_WINDOWS = 3  # the server's default health.stale_windows
MARGIN_S = 1.5  # see the module docstring
DEADLINE_S = STALE_WINDOWS * WINDOW_S + MARGIN_S
EXPORT_INTERVAL_MS = 250
POLL_S = 0.05
ALIGN_S = 0.05  # node-b is stopped this long after a window starts
GIB = 1024 ** 3

# What each node observes at every collection: CPU utilisation 1 − mean idle = 0.35, memory
# used / (used + free) = 0.375 — far below the sustained-pressure threshold.
CPU_SHARES = [({"cpu": "0", "state": "idle"}, 0.7), ({"cpu": "0", "state": "user"}, 0.2),
              ({"cpu": "1", "state": "idle"}, 0.6), ({"cpu": "1", "state": "user"}, 0.3)]
MEMORY_BYTES = [({"state": "used"}, 6 * GIB), ({"state": "free"}, 10 * GIB)]
CPU_UTILISATION = 0.35
MEMORY_UTILISATION = 0.375


class HostNode:
    """One node's MeterProvider exporting hostmetrics-shaped gauges every 250 ms."""

    def __init__(self, name: str, server, transport: str):
        self.name = name
        self.results: list[MetricExportResult] = []
        if transport == "grpc":
            exporter = GrpcMetricExporter(endpoint=f"http://{server.otlp_grpc}", insecure=True, timeout=5)
        else:
            exporter = HttpMetricExporter(endpoint=server.otlp_http_url, timeout=5)
        record_exports(exporter, self.results)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=EXPORT_INTERVAL_MS)
        resource = Resource.create({"k8s.node.name": name, "service.name": "ironspider-e2e-hostmetrics"})
        self.provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = self.provider.get_meter("ironspider-e2e-hostmetrics", "1.0.0")

        def cpu(options: CallbackOptions):
            return [Observation(value, attrs) for attrs, value in CPU_SHARES]

        def memory(options: CallbackOptions):
            return [Observation(value, attrs) for attrs, value in MEMORY_BYTES]

        meter.create_observable_gauge("system.cpu.utilization", callbacks=[cpu], unit="1")
        meter.create_observable_gauge("system.memory.usage", callbacks=[memory], unit="By")
        self.stopped = False

    def shutdown(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.provider.shutdown(timeout_millis=5_000)


def by_node(server) -> dict[str, dict]:
    return {row["node"]: row for row in server.nodes()}


def factor_names(row: dict) -> list[str]:
    return [f["factor"] for f in row["factors"]]


def wait_until_both_healthy(server, timeout: float = 20.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout
    nodes = {}
    while time.monotonic() < deadline:
        nodes = by_node(server)
        if all(name in nodes and nodes[name]["health"] == 100 for name in ("node-a", "node-b")):
            return nodes
        time.sleep(POLL_S)
    pytest.fail(f"node-a and node-b not both at health 100 within {timeout}s: {nodes}")


def assert_healthy(row: dict) -> None:
    assert row["health"] == 100, row
    assert "stale" not in factor_names(row), row
    assert row["factors"] == [], row


def consistent_reads(server, attempts: int = 20):
    """node-b's health from the API, from /metrics and from the newest `node_scores` row,
    read between two API reads that agree — so no window was published in between that
    changed it (health only falls while node-b is silent)."""
    query = ("SELECT node, health, cpu FROM node_scores WHERE node = 'node-b' "
             "ORDER BY window_end DESC LIMIT 1")
    reads = []
    for _ in range(attempts):
        before = by_node(server)["node-b"]
        gauge = server.metric("ironspider_node_health", node="node-b")
        rows = server.sql(query)
        after = by_node(server)["node-b"]
        reads.append((before["health"], gauge, rows, after["health"]))
        if before["health"] == after["health"]:
            return after, gauge, rows
        time.sleep(POLL_S)
    pytest.fail(f"node-b's health kept changing between reads: {reads}")


def test_stopped_exporter_is_stale_within_three_windows(start_server):
    server = start_server(window=WINDOW_S, lateness=0)
    node_a = HostNode("node-a", server, "grpc")
    node_b = HostNode("node-b", server, "http")
    try:
        nodes = wait_until_both_healthy(server)
        for row in nodes.values():
            assert_healthy(row)
            assert row["cpu"] == pytest.approx(CPU_UTILISATION), row
            assert row["memory"] == pytest.approx(MEMORY_UTILISATION), row
        previous_b = nodes["node-b"]["health"]

        # --- stop node-b's exporter just after a window starts; node-a keeps exporting ---
        # Windows are aligned on the epoch (wall clock), so node-b's last point then opens a
        # window and its silence is counted from that window's end, almost a window later:
        # the worst case for the bound.
        time.sleep(WINDOW_S - time.time() % WINDOW_S + ALIGN_S)
        t_stop = time.monotonic()
        node_b.shutdown()
        shutdown_s = time.monotonic() - t_stop
        assert node_b.results and all(r == MetricExportResult.SUCCESS for r in node_b.results), node_b.results

        first_fall = first_below_50 = first_stale = None  # seconds after t_stop
        timeline = []  # (seconds after t_stop, node-b health, node-b factors)
        fallen = None
        while True:
            nodes = by_node(server)
            elapsed = time.monotonic() - t_stop
            b = nodes["node-b"]
            timeline.append((round(elapsed, 3), b["health"], factor_names(b)))
            assert_healthy(nodes["node-a"])
            if first_fall is None and b["health"] < previous_b:
                first_fall = elapsed
            if first_stale is None and "stale" in factor_names(b):
                first_stale = elapsed
            if b["health"] < 50 and "stale" in factor_names(b):
                first_below_50 = elapsed
                fallen = b
                break
            if elapsed > DEADLINE_S:
                break
            time.sleep(POLL_S)
        print(f"\nnode-b stopped (shutdown took {shutdown_s:.3f} s): health first below {previous_b} after "
              f"{first_fall} s, `stale` named after {first_stale} s, below 50 after {first_below_50} s "
              f"(deadline {DEADLINE_S} s); timeline of changes: "
              f"{[t for k, t in enumerate(timeline) if k == 0 or t[1:] != timeline[k - 1][1:]]}")
        assert fallen is not None, (
            f"node-b's health did not fall below 50 with a `stale` factor within {STALE_WINDOWS} windows + "
            f"{MARGIN_S} s of its exporter stopping (shutdown took {shutdown_s:.3f} s); first fall after "
            f"{first_fall} s, `stale` after {first_stale} s; timeline: {timeline}")
        assert first_below_50 <= DEADLINE_S, first_below_50
        assert fallen["health"] < previous_b, fallen
        [stale] = [f for f in fallen["factors"] if f["factor"] == "stale"]
        assert stale["penalty"] == pytest.approx(100 - fallen["health"]), fallen  # the only factor
        assert stale["detail"].startswith("no data for "), stale

        # --- /metrics and the node_scores table agree with the API ---
        api, gauge, rows = consistent_reads(server)
        assert api["health"] < 50 and "stale" in factor_names(api), api
        assert gauge == pytest.approx(api["health"]), (gauge, api)
        assert rows == [{"node": "node-b", "health": pytest.approx(api["health"]), "cpu": None}], (rows, api)

        # node-a is still exporting, reporting and healthy
        a = by_node(server)["node-a"]
        assert_healthy(a)
        assert server.metric("ironspider_node_health", node="node-a") == 100
        assert node_a.results and all(r == MetricExportResult.SUCCESS for r in node_a.results), node_a.results
        [row_a] = server.sql("SELECT node, health, cpu FROM node_scores WHERE node = 'node-a' "
                             "ORDER BY window_end DESC LIMIT 1")
        assert row_a == {"node": "node-a", "health": 100, "cpu": pytest.approx(CPU_UTILISATION)}, row_a
    finally:
        node_a.shutdown()
        node_b.shutdown()
