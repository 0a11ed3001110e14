"""A predictive alert reaches a webhook receiver through a real Alertmanager (Debian's
prometheus-alertmanager 0.25), and so does its resolution.

One "node", an OpenTelemetry SDK MeterProvider, exports hostmetrics-shaped gauges every
250 ms to a server on a 1-second grid (windows and forecasting steps of 1 s, the naive
forecaster with a band from 8 errors) whose one rule, `MemorySoonFull`, fires when memory's
p90 forecast reaches 0.5 within 2 s, and which pushes its alerts to Alertmanager
(`--alertmanager`, resent every 2 s). Alertmanager routes every alert to a webhook receiver
run by this test (group_wait and group_interval 1 s, send_resolved).

Memory is first at 0.8 of the node's memory: once the forecaster has its band (some ten
steps), the p90 forecast is about 0.8, the alert fires, and the receiver gets a `firing`
notification carrying the alert's labels and its `expected_crossing` annotation. Then memory
drops to 0.1: the naive forecast follows at the next step and its p90 stays well below 0.5,
the alert resolves, IronSpider pushes it with `endsAt` at its resolution, and the receiver
gets a `resolved` notification for it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from harness import free_port, require_binary, start_helper, stop_helper

GIB = 1024 ** 3
NODE = "am-node"
RULES = """
[engine.forecast]
model = "naive"
step_seconds = 1
horizons_seconds = [1, 2]
season_seconds = 4
band_window = 16
band_min_errors = 8

[alerts]
default_rules = false
resend_seconds = 2

[[alerts.rules]]
name = "MemorySoonFull"
kind = "predictive"
resource = "memory"
quantile = "p90"
threshold = 0.5
within_seconds = 2
severity = "page"
annotations = { description = "memory of {node} forecast at {value}" }
"""
ALERTMANAGER_CONFIG = """
route:
  receiver: hook
  group_by: ['alertname', 'node']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{port}/hook
        send_resolved: true
"""


class Receiver:
    """A webhook receiver keeping every notification Alertmanager posts."""

    def __init__(self):
        self.notifications: list[dict] = []
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def statuses(self) -> list[tuple[str, str]]:
        """(notification status, alert status) of every MemorySoonFull alert received."""
        return [(n["status"], a["status"]) for n in self.notifications for a in n["alerts"]
                if a["labels"].get("alertname") == "MemorySoonFull"]

    def close(self):
        self.server.shutdown()


class MemoryNode:
    """A node exporting CPU (0.3) and memory at `self.used` of 16 GiB every 250 ms."""

    def __init__(self, server):
        self.used = 0.8
        exporter = OTLPMetricExporter(endpoint=f"http://{server.otlp_grpc}", insecure=True, timeout=5)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=250)
        resource = Resource.create({"k8s.node.name": NODE, "service.name": "ironspider-e2e-alerts"})
        self.provider = MeterProvider(resource=resource, metric_readers=[reader])
        meter = self.provider.get_meter("ironspider-e2e-alerts", "1.0.0")

        def cpu(options: CallbackOptions):
            return [Observation(0.7, {"cpu": "0", "state": "idle"}), Observation(0.3, {"cpu": "0", "state": "user"})]

        def memory(options: CallbackOptions):
            used = self.used * 16 * GIB
            return [Observation(used, {"state": "used"}), Observation(16 * GIB - used, {"state": "free"})]

        meter.create_observable_gauge("system.cpu.utilization", callbacks=[cpu], unit="1")
        meter.create_observable_gauge("system.memory.usage", callbacks=[memory], unit="By")

    def shutdown(self):
        self.provider.shutdown(timeout_millis=5_000)


@pytest.fixture
def receiver():
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def alertmanager(request, tmp_path, receiver):
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG.format(port=receiver.port))
    port = free_port()
    args = [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    process = start_helper(request, "alertmanager", args, tmp_path / "alertmanager.log",
                           f"http://127.0.0.1:{port}/-/ready", tmp_path)
    yield f"http://127.0.0.1:{port}"
    stop_helper(process)


def wait_for(what: str, predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout}s")


def test_a_predictive_alert_and_its_resolution_reach_the_receiver_through_alertmanager(
        start_server, tmp_path, alertmanager, receiver):
    config = tmp_path / "ironspider.toml"
    config.write_text(RULES)
    server = start_server(window=1, lateness=0, extra_args=["--config", str(config), "--alertmanager", alertmanager])
    node = MemoryNode(server)
    try:
        firing = wait_for("a firing notification", lambda: [
            a for n in receiver.notifications if n["status"] == "firing" for a in n["alerts"]
            if a["labels"].get("alertname") == "MemorySoonFull"], timeout=60)
        alert = firing[0]
        assert alert["labels"]["node"] == NODE
        assert alert["labels"]["severity"] == "page"
        assert alert["labels"]["resource"] == "memory"
        assert alert["annotations"]["description"].startswith(f"memory of {NODE} forecast at 0.")
        assert "expected_crossing" in alert["annotations"]
        assert alert["generatorURL"].endswith("/api/v1/alerts")
        # The server lists it as firing, and shows it on /metrics.
        listed = requests.get(f"{server.api_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        assert [a["state"] for a in listed if a["labels"]["alertname"] == "MemorySoonFull"] == ["firing"]
        assert server.metric("ironspider_alerts", alertname="MemorySoonFull", node=NODE, resource="memory",
                             severity="page", alertstate="firing") == 1
        # Alertmanager holds it too.
        held = requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
        assert [a["labels"]["node"] for a in held if a["labels"]["alertname"] == "MemorySoonFull"] == [NODE]

        node.used = 0.1
        wait_for("a resolved notification", lambda: ("resolved", "resolved") in receiver.statuses(), timeout=60)
        assert server.metric("ironspider_alertmanager_pushes_total", outcome="sent") >= 2
        assert server.metric("ironspider_alertmanager_pushes_total", default=0, outcome="failed") == 0
    finally:
        node.shutdown()


def test_an_unreachable_alertmanager_is_retried_counted_and_blocks_nothing(start_server, tmp_path):
    config = tmp_path / "ironspider.toml"
    config.write_text(RULES)
    nobody = f"http://127.0.0.1:{free_port()}"
    server = start_server(window=1, lateness=0, extra_args=["--config", str(config), "--alertmanager", nobody])
    node = MemoryNode(server)
    try:
        wait_for("the alert firing", lambda: [
            a for a in requests.get(f"{server.api_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            if a["state"] == "firing"], timeout=60)
        failed = wait_for("failed pushes counted", lambda: server.metric(
            "ironspider_alertmanager_pushes_total", default=0, outcome="failed") >= 2, timeout=30)
        assert failed
        # The engine goes on: the node is scored in the newest windows, and the API answers.
        assert requests.get(f"{server.api_url}/readyz", timeout=5).status_code == 200
        first = {row["node"]: row["updated_at"] for row in server.nodes()}[NODE]
        time.sleep(2.5)
        assert {row["node"]: row["updated_at"] for row in server.nodes()}[NODE] > first
        assert "alertmanager push failed" in server.stderr()
    finally:
        node.shutdown()
