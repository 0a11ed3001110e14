"""Closed windows (1 s windows, 1 s lateness) and the Parquet history across a restart."""

from __future__ import annotations

import time

import pytest

import otlp_build as otlp

NS = otlp.NS


def wait_for_rows(server, query: str, n: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = server.sql(query)
        if len(rows) >= n:
            return rows
        time.sleep(0.2)
    pytest.fail(f"{query!r}: {len(rows)} rows after {timeout}s, expected {n}: {rows}")


def test_window_aggregates(start_server):
    server = start_server(window=1, lateness=1)
    # A window two seconds ahead: certainly open when the points arrive, closed ~4 s later.
    w = (otlp.now_ns() // NS + 2) * NS
    gauge_values = [3.0, 1.0, 4.0, 1.0, 5.0]
    increments = [2.0, 3.0, 5.0]
    req = otlp.request("node-a", [
        otlp.gauge("e2e.win.gauge", [(w + (k + 1) * NS // 10, v) for k, v in enumerate(gauge_values)]),
        otlp.delta_counter("e2e.win.counter", [(w, w + (k + 1) * NS // 10, v) for k, v in enumerate(increments)]),
        otlp.delta_histogram("e2e.win.histogram", [(w, w + NS // 2, [1.0, 5.0, 10.0], [1, 2, 1, 2], 124.5, 0.5, 100.0)]),
    ])
    answer = otlp.post_protobuf(server.otlp_http_url, req)
    assert not answer.HasField("partial_success"), answer

    query = ("SELECT s.metric, w.window_start, w.window_end, w.count, w.min, w.max, w.mean, w.last, w.p95, "
             "w.sum, w.rate FROM windows w JOIN series s ON w.series_id = s.series_id ORDER BY s.metric")
    rows = wait_for_rows(server, query, 3)
    by_metric = {row.pop("metric"): row for row in rows}
    assert set(by_metric) == {"e2e.win.counter", "e2e.win.gauge", "e2e.win.histogram"}
    starts = {r["window_start"] for r in rows}
    ends = {r["window_end"] for r in rows}
    assert len(starts) == 1 and len(ends) == 1, rows
    start_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(w // NS))
    end_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(w // NS + 1))
    assert starts.pop().startswith(start_text) and ends.pop().startswith(end_text), rows

    gauge = by_metric["e2e.win.gauge"]
    assert {k: gauge[k] for k in ("count", "min", "max", "last", "sum", "rate")} == \
        {"count": 5, "min": 1.0, "max": 5.0, "last": 5.0, "sum": 14.0, "rate": None}
    assert gauge["mean"] == pytest.approx(2.8)
    assert gauge["p95"] == pytest.approx(4.8)  # type-7 quantile of [1, 1, 3, 4, 5]

    counter = by_metric["e2e.win.counter"]
    assert {k: counter[k] for k in ("count", "min", "max", "last", "sum", "rate")} == \
        {"count": 3, "min": 2.0, "max": 5.0, "last": 5.0, "sum": 10.0, "rate": 10.0}
    assert counter["mean"] == pytest.approx(10 / 3)
    assert counter["p95"] == pytest.approx(4.8)  # type-7 quantile of [2, 3, 5]

    histogram = by_metric["e2e.win.histogram"]
    assert {k: histogram[k] for k in ("count", "min", "max", "sum", "last", "rate")} == \
        {"count": 6, "min": 0.5, "max": 100.0, "sum": 124.5, "last": None, "rate": None}
    assert histogram["mean"] == pytest.approx(20.75)
    assert histogram["p95"] == pytest.approx(10.0)  # rank 5.7 falls in the +Inf bucket: its lower edge

    assert server.metric("ironspider_windows_closed_total") >= 1
    # The window is closed: a point for it now is late.
    late = otlp.request("node-a", [otlp.gauge("e2e.win.gauge", [(w + NS // 2, 9.0)])])
    answer = otlp.post_protobuf(server.otlp_http_url, late)
    assert answer.partial_success.rejected_data_points == 1, answer
    assert server.metric("ironspider_points_rejected_total", reason="late") == 1


def test_history_survives_a_restart(start_server, tmp_path):
    data_dir = tmp_path / "shared-data"
    first = start_server(data_dir=data_dir)  # 10 s windows, 30 s lateness: nothing closes by itself
    now = otlp.now_ns()
    for i, node in enumerate(("node-a", "node-b")):
        req = otlp.request(node, [otlp.gauge("e2e.hist.gauge", [(now - 3 * NS, 1.0 + i), (now - 2 * NS, 3.0 + i)])])
        otlp.post_protobuf(first.otlp_http_url, req)
    assert first.stop() == 0, f"exit code after SIGTERM\n{first.stderr()}"
    files = sorted((data_dir / "history" / "windows").rglob("*.parquet"))
    assert files, f"no Parquet history under {data_dir} after shutdown\n{first.stderr()}"

    second = start_server(data_dir=data_dir)
    # The live retention comes back as aggregates; the history keeps no raw points.
    assert second.sql("SELECT * FROM samples") == []
    live = second.sql("SELECT s.node, w.count, w.sum FROM windows w JOIN series s ON w.series_id = s.series_id "
                      "ORDER BY s.node")
    assert live == [{"node": "node-a", "count": 2, "sum": 4.0}, {"node": "node-b", "count": 2, "sum": 6.0}]
    rows = second.sql("SELECT node, metric, kind, SUM(count) AS count, SUM(sum) AS sum, MIN(min) AS min, "
                      "MAX(max) AS max FROM history GROUP BY node, metric, kind ORDER BY node")
    assert rows == [
        {"node": "node-a", "metric": "e2e.hist.gauge", "kind": "gauge", "count": 2, "sum": 4.0, "min": 1.0, "max": 3.0},
        {"node": "node-b", "metric": "e2e.hist.gauge", "kind": "gauge", "count": 2, "sum": 6.0, "min": 2.0, "max": 4.0},
    ]
