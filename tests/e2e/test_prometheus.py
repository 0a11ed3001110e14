"""A real Prometheus scraping the server's /metrics, and promtool linting the exposition.

Prometheus and promtool come from Debian's `prometheus` package. Without them on PATH these
tests are skipped when the environment variable CI is unset, and fail when it is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import requests

import otlp_build as otlp
from harness import attach_log, free_port

SCRAPE_TIMEOUT_S = 30.0


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        message = (f"`{binary}` is not on PATH: install Debian's package "
                   f"(apt-get install -y --no-install-recommends prometheus)")
        if "CI" in os.environ:
            pytest.fail(message + " — required in CI (CI is set)")
        pytest.skip(message)
    return path


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


@pytest.fixture
def prometheus(tmp_path, request):
    """`prometheus(target)` starts Prometheus scraping http://target/metrics every second and
    returns its base URL; it is stopped after the test (its log shown on failure)."""
    binary = require("prometheus")
    processes = []

    def start(target: str) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: ironspider\n"
            "    metrics_path: /metrics\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        promtool = shutil.which("promtool")
        if promtool:
            check = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True,
                                   timeout=30)
            assert check.returncode == 0, check.stdout + check.stderr
        log_path = tmp_path / "prometheus.log"
        log = open(log_path, "wb")
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=info"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=tmp_path)
        log.close()
        processes.append(process)
        attach_log(request, "prometheus log", log_path)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited {process.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"prometheus not ready in 30s:\n{log_path.read_text(errors='replace')}")

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def instant_query(url: str, query: str) -> list[dict]:
    response = requests.get(f"{url}/api/v1/query", params={"query": query}, timeout=5)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


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
    require("prometheus")
    promtool = require("promtool")
    send_known_points(server)  # so that labelled counters and histograms have samples
    text = server.metrics_text()
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, (
        f"promtool check metrics exited {result.returncode}\n--- output ---\n{result.stdout}{result.stderr}"
        f"\n--- /metrics ---\n{text}")
