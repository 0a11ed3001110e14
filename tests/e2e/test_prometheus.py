"""A real Prometheus scraping the server's /metrics, and promtool linting the exposition.

Prometheus and promtool come from Debian's `prometheus` package. Without them on PATH these
tests are skipped when the environment variable CI is unset, and fail when it is set.
"""

from __future__ import annotations

import subprocess
import time

import requests

import otlp_build as otlp
from harness import instant_query, require_binary

SCRAPE_TIMEOUT_S = 30.0


def send_known_points(server) -> int:
    """Three nodes, two gauges each, five points per series, over OTLP/HTTP protobuf."""
    now = otlp.now_ns()
    sent = 0
    for node in ("node-a", "node-b", "node-c"):
        metrics = [
            otlp.gauge("e2e.cpu.utilization", [(now - (5 - k) * otlp.NS, 0.1 * k) for k in range(5)]),
            otlp.gauge("e2e.memory.usage", [(now - (5 - k) * otlp.NS, 1000.0 + k) for k in range(5)], unit="By"),
        ]
        req = otlp.request(node, metrics)
        answer = otlp.post_protobuf(server.otlp_http_url, req)
        assert not answer.HasField("partial_success"), answer
        sent += otlp.count_points(req)
    assert sent == 30
    return sent


def test_prometheus_scrapes_points_accepted(server, prometheus):
    sent = send_known_points(server)
    url = prometheus(server.http)

    deadline = time.monotonic() + SCRAPE_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        last = instant_query(url, "ironspider_points_accepted_total")
        if last and float(last[0]["value"][1]) == sent:
            break
        time.sleep(0.5)
    targets = requests.get(f"{url}/api/v1/targets", timeout=5).json()
    assert last and float(last[0]["value"][1]) == sent, \
        f"ironspider_points_accepted_total in Prometheus: {last}; targets: {targets}"
    assert len(last) == 1
    assert last[0]["metric"]["job"] == "ironspider"
    assert last[0]["metric"]["instance"] == server.http

    up = instant_query(url, 'up{job="ironspider"}')
    assert [(r["metric"]["instance"], r["value"][1]) for r in up] == [(server.http, "1")], targets

    received = instant_query(url, "ironspider_points_received_total")
    assert float(received[0]["value"][1]) == sent
    requests_ok = instant_query(url, 'ironspider_requests_total{transport="http",outcome="success"}')
    assert float(requests_ok[0]["value"][1]) == 3
    series = instant_query(url, "ironspider_active_series")
    assert float(series[0]["value"][1]) == 6


def test_promtool_accepts_the_exposition(server):
    require_binary("prometheus", "prometheus")
    promtool = require_binary("promtool", "prometheus")
    send_known_points(server)  # so that labelled counters and histograms have samples
    text = server.metrics_text()
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, (
        f"promtool check metrics exited {result.returncode}\n--- output ---\n{result.stdout}{result.stderr}"
        f"\n--- /metrics ---\n{text}")
