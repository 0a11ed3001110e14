"""A real node_exporter, scraped by a real Prometheus that remote-writes everything to the
server (`POST /api/v1/write`): within 60 s this machine appears in `/api/v1/nodes` as node
"127.0.0.1" (the `instance` label without its port), with CPU and memory utilisation that
agree within 0.05 with node_exporter's own counters, which the test scrapes directly.

node_exporter and Prometheus come from Debian's `prometheus-node-exporter` and `prometheus`
packages. Without them on PATH the test is skipped when the environment variable CI is unset,
and fails when it is set.

How the test lines its numbers up with the server's. Prometheus stamps every sample with the
time of its scrape. The server turns `node_cpu_seconds_total` into deltas (the first sample
of each counter is only a baseline), and the window [end − 5 s, end) sums the deltas of the
scrapes stamped inside it: CPU = 1 − Δidle / Δall over the span from the last scrape before
the window to the last scrape inside it. The test takes the scrape times from Prometheus (its
`up` samples), reads node_exporter itself every 0.2 s in a background thread, and interpolates
its own readings at the two ends of that span. Memory is 1 − MemAvailable / MemTotal, the
mean of the test's readings inside the window.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import pytest
import requests

from harness import free_port, instant_query, parse_prometheus_text, require_binary, start_helper, stop_helper

WINDOW_S = 5
LATENESS_S = 15  # remote write delivers a little after the scrape
APPEAR_TIMEOUT_S = 60.0
TOLERANCE = 0.05
SAMPLE_PERIOD_S = 0.2
JOB = "node"
NODE = "127.0.0.1"  # node_exporter's instance, 127.0.0.1:PORT, without the port
NODE_KEYS = {"node", "cpu", "memory", "gpu", "gpu_memory", "pressure", "health", "cost_per_hour",
             "idle_cost_per_hour", "anomaly", "peer_deviation", "updated_at", "factors"}


@dataclass(frozen=True)
class Reading:
    """One direct scrape of node_exporter."""

    t: float  # wall clock in seconds: the middle of the request
    cpu_idle: float  # Σ node_cpu_seconds_total{mode="idle"} over the CPUs
    cpu_all: float  # Σ node_cpu_seconds_total over the CPUs and modes
    mem_available: float  # node_memory_MemAvailable_bytes
    mem_total: float  # node_memory_MemTotal_bytes


def read_exporter(address: str) -> Reading:
    """Scrapes node_exporter at `address` once."""
    before = time.time()
    response = requests.get(f"http://{address}/metrics", timeout=5)
    after = time.time()
    response.raise_for_status()
    cpu_idle = cpu_all = 0.0
    memory = {}
    for (name, labels), value in parse_prometheus_text(response.text).items():
        if name == "node_cpu_seconds_total":
            cpu_all += value
            if ("mode", "idle") in labels:
                cpu_idle += value
        elif name in ("node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"):
            memory[name] = value
    return Reading((before + after) / 2, cpu_idle, cpu_all, memory["node_memory_MemAvailable_bytes"],
                   memory["node_memory_MemTotal_bytes"])


class ExporterSampler:
    """Reads node_exporter every `period` seconds in a background thread until stopped."""

    def __init__(self, address: str, period: float = SAMPLE_PERIOD_S):
        self.address = address
        self.period = period
        self._readings: list[Reading] = []
        self._failures: list[str] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="node-exporter-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def readings(self) -> list[Reading]:
        """The readings so far, oldest first."""
        return list(self._readings)  # appends are atomic: a copy is a consistent prefix

    def failures(self) -> list[str]:
        return list(self._failures)

    def _run(self) -> None:
        next_read = time.monotonic()
        while not self._stopped.is_set():
            try:
                self._readings.append(read_exporter(self.address))
            except (requests.RequestException, KeyError) as error:
                self._failures.append(f"{time.time():.3f}: {error!r}")
            next_read += self.period
            self._stopped.wait(max(0.0, next_read - time.monotonic()))


def counters_at(readings: list[Reading], t: float) -> tuple[float, float] | None:
    """(Σidle, Σall) CPU seconds at wall time `t`, interpolated linearly between the two
    readings around it; None when `t` is not between two readings."""
    for before, after in zip(readings, readings[1:]):
        if before.t <= t <= after.t:
            share = (t - before.t) / (after.t - before.t) if after.t > before.t else 0.0
            return (before.cpu_idle + share * (after.cpu_idle - before.cpu_idle),
                    before.cpu_all + share * (after.cpu_all - before.cpu_all))
    return None


def scrape_times(prometheus_url: str) -> list[float]:
    """Times (s) of Prometheus' successful scrapes of node_exporter in the last two minutes:
    the timestamps of its `up` samples equal to 1."""
    [series] = instant_query(prometheus_url, f'up{{job="{JOB}"}}[2m]')
    return [float(t) for t, value in series["values"] if value == "1"]


def counter_span(scrapes: list[float], start: float, end: float) -> tuple[float, float] | None:
    """The span of time whose counter increases the window [start, end) sums: from the last
    scrape before it to the last scrape inside it. None unless the window lies entirely
    after the first scrape (the baseline) and has a scrape in it."""
    before = [t for t in scrapes if t < start]
    inside = [t for t in scrapes if start <= t < end]
    if not before or not inside:
        return None
    return before[-1], inside[-1]


@dataclass
class Comparison:
    """The server's utilisation of this machine in one window, and the test's own."""

    window_end: float
    server_cpu: float | None
    server_memory: float | None
    expected_cpu: float | None = None
    expected_memory: float | None = None
    note: str = ""

    @property
    def agrees(self) -> bool:
        values = (self.server_cpu, self.server_memory, self.expected_cpu, self.expected_memory)
        return (None not in values and abs(self.server_cpu - self.expected_cpu) <= TOLERANCE
                and abs(self.server_memory - self.expected_memory) <= TOLERANCE)

    def __str__(self) -> str:
        end = datetime.fromtimestamp(self.window_end).astimezone().isoformat()
        return (f"window ending {end}: server cpu={self.server_cpu} memory={self.server_memory}; "
                f"node_exporter cpu={self.expected_cpu} memory={self.expected_memory}"
                f"{'; ' + self.note if self.note else ''} -> {self.verdict}")

    @property
    def verdict(self) -> str:
        if self.expected_cpu is None:
            return "not compared"
        return "agrees" if self.agrees else "differs"


def compare(node: dict, prometheus_url: str, readings: list[Reading]) -> Comparison:
    """Compares the server's `node` entry with node_exporter's counters over its window."""
    end = datetime.fromisoformat(node["updated_at"]).timestamp()
    start = end - WINDOW_S
    comparison = Comparison(end, node["cpu"], node["memory"])
    span = counter_span(scrape_times(prometheus_url), start, end)
    if span is None:
        comparison.note = "the window is not entirely after Prometheus' first scrape"
        return comparison
    first, last = counters_at(readings, span[0]), counters_at(readings, span[1])
    inside = [r for r in readings if start <= r.t < end]
    if first is None or last is None or not inside:
        comparison.note = f"the test's readings do not cover the span {span}"
        return comparison
    comparison.expected_cpu = 1.0 - (last[0] - first[0]) / (last[1] - first[1])
    comparison.expected_memory = 1.0 - (sum(r.mem_available for r in inside) / len(inside)) / inside[-1].mem_total
    comparison.note = f"counters over {span[1] - span[0]:.2f} s"
    return comparison


def check_entry(node: dict) -> None:
    """The shape of a `/api/v1/nodes` entry for this machine and the ranges of its values."""
    assert set(node) == NODE_KEYS, node
    end = datetime.fromisoformat(node["updated_at"]).timestamp()
    assert end % WINDOW_S == 0, f"updated_at is not the end of a {WINDOW_S} s window: {node}"
    for key in ("cpu", "memory"):
        assert node[key] is None or 0.0 <= node[key] <= 1.0, node
    assert node["gpu"] is None and node["gpu_memory"] is None, node


def compare_windows(server, prometheus_url: str, sampler: ExporterSampler, timeout: float) -> list[Comparison]:
    """Compares each new window the server reports for this machine with the test's own
    readings until one agrees or `timeout` passes; returns every comparison made."""
    comparisons: list[Comparison] = []
    compared = set()  # updated_at of the windows compared
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = next((n for n in server.nodes() if n["node"] == NODE), None)
        if node is not None and node["updated_at"] not in compared:
            compared.add(node["updated_at"])
            check_entry(node)
            comparison = compare(node, prometheus_url, sampler.readings())
            comparisons.append(comparison)
            if comparison.agrees:
                break
        time.sleep(0.5)
    return comparisons


@pytest.fixture
def node_exporter(tmp_path, request) -> str:
    """node_exporter on a free loopback port (host:port); the systemd collector is off (it
    logs a D-Bus error on every scrape without systemd)."""
    binary = require_binary("prometheus-node-exporter", "prometheus-node-exporter")
    address = f"127.0.0.1:{free_port()}"
    args = [binary, f"--web.listen-address={address}", "--no-collector.systemd"]
    process = start_helper(request, "node_exporter", args, tmp_path / "node_exporter.log",
                           f"http://{address}/metrics", tmp_path)
    yield address
    stop_helper(process)


@pytest.fixture
def sampler(node_exporter) -> ExporterSampler:
    """The test's own readings of node_exporter, every 0.2 s for the whole test."""
    sampler = ExporterSampler(node_exporter)
    sampler.start()
    yield sampler
    sampler.stop()


@pytest.fixture
def busy_core():
    """One busy loop at nice 19 (it yields to everything else) for the whole test, so that
    this machine's CPU utilisation is well above 0 and agreeing on it means something."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.nice(19))
    yield
    process.kill()
    process.wait()


def test_node_exporter_through_prometheus_remote_write(start_server, node_exporter, sampler, prometheus,
                                                      busy_core):
    server = start_server(window=WINDOW_S, lateness=LATENESS_S)
    written_before = server.metric("ironspider_requests_total", 0.0, transport="remote_write", outcome="success")
    url = prometheus(node_exporter, job=JOB, remote_write_url=server.remote_write_url)

    comparisons = compare_windows(server, url, sampler, APPEAR_TIMEOUT_S)
    report = "\n".join(str(c) for c in comparisons) or f"node {NODE} never appeared: {server.nodes()}"
    assert comparisons and comparisons[-1].agrees, \
        f"no window agreed within {APPEAR_TIMEOUT_S:.0f} s:\n{report}\nsampler failures: {sampler.failures()}"
    print(report)

    written = server.metric("ironspider_requests_total", 0.0, transport="remote_write", outcome="success")
    assert written > written_before, server.metrics_text()
