"""The harness of the end-to-end suite: the real `ironspider` binary on free loopback ports,
and the helpers for the other real programs the tests run (Prometheus, node_exporter).

The binary is `$IRONSPIDER_BIN`, by default `~/.cache/ironspider/target/debug/ironspider`
(built by `CARGO_TARGET_DIR=$HOME/.cache/ironspider/target cargo build`).

The fixtures that use it are in conftest.py.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

DEFAULT_BIN = Path.home() / ".cache" / "ironspider" / "target" / "debug" / "ironspider"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
HELPER_STOP_TIMEOUT_S = 15.0


def binary_path() -> Path:
    return Path(os.environ.get("IRONSPIDER_BIN", str(DEFAULT_BIN)))


def free_port() -> int:
    """A port nobody listens on now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus_text(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a Prometheus text exposition: {(name, sorted label pairs): value}."""
    samples = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE_LINE.match(line)
        if match is None:
            raise ValueError(f"unparsable exposition line: {line!r}")
        name, labels, value = match.groups()
        pairs = tuple(sorted(_LABEL.findall(labels or "")))
        samples[(name, pairs)] = float(value)
    return samples


class SqlError(Exception):
    """The SQL endpoint answered something other than 200."""

    def __init__(self, status: int, text: str):
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.text = text


@dataclass
class IronSpider:
    """One running `ironspider serve`."""

    process: subprocess.Popen
    otlp_grpc: str  # host:port
    otlp_http: str  # host:port
    http: str  # host:port
    data_dir: Path
    stderr_path: Path
    args: list[str] = field(default_factory=list)
    returncode: int | None = None
    scheme: str = "http"  # "https" when the server was started with [tls]
    ready_ns: int = 0  # wall clock when /readyz first answered 200: after the engine started

    @property
    def api_url(self) -> str:
        return f"{self.scheme}://{self.http}"

    @property
    def otlp_http_url(self) -> str:
        """The OTLP/HTTP metrics endpoint."""
        return f"{self.scheme}://{self.otlp_http}/v1/metrics"

    @property
    def remote_write_url(self) -> str:
        """The Prometheus remote-write receiver (on the HTTP API address)."""
        return f"{self.api_url}/api/v1/write"

    def nodes(self) -> list[dict]:
        """`GET /api/v1/nodes`: the scores of every node."""
        response = requests.get(f"{self.api_url}/api/v1/nodes", timeout=10)
        response.raise_for_status()
        return response.json()

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sql_response(self, query: str) -> requests.Response:
        return requests.post(f"{self.api_url}/api/v1/sql", data=query.encode(), timeout=30)

    def sql(self, query: str) -> list[dict]:
        """Rows of `query` as dicts; raises SqlError on a non-200 answer."""
        response = self.sql_response(query)
        if response.status_code != 200:
            raise SqlError(response.status_code, response.text)
        return response.json()

    def metrics_text(self) -> str:
        response = requests.get(f"{self.api_url}/metrics", timeout=10)
        response.raise_for_status()
        return response.text

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return parse_prometheus_text(self.metrics_text())

    def metric(self, name: str, default: float | None = None, **labels: str) -> float:
        """The value of the one sample `name{labels}` (exact label set) on /metrics."""
        key = (name, tuple(sorted(labels.items())))
        samples = self.metrics()
        if key in samples:
            return samples[key]
        if default is not None:
            return default
        present = sorted(k for k in samples if k[0] == name)
        raise KeyError(f"{name}{labels} not on /metrics; samples of that name: {present}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError(f"ironspider did not exit within {timeout}s of SIGTERM; killed it")
        self.returncode = self.process.returncode
        return self.returncode


def start_ironspider(tmp_dir: Path, index: int, data_dir: Path | None, window: int, lateness: int,
           max_series: int, extra_args: list[str], env_extra: dict[str, str] | None = None,
           tls_ca: Path | None = None) -> IronSpider:
    """Starts a server. `env_extra` adds environment variables (tokens, say); with `tls_ca`
    the server speaks TLS (its configuration comes through `extra_args`) and readiness is
    asked over HTTPS, trusting that CA."""
    binary = binary_path()
    if not binary.is_file():
        pytest.fail(f"ironspider binary not found at {binary} (set IRONSPIDER_BIN or run "
                    f"`CARGO_TARGET_DIR=$HOME/.cache/ironspider/target cargo build`)")
    data_dir = data_dir or (tmp_dir / f"data-{index}")
    data_dir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for attempt in range(3):  # a freed port can be taken again before the server binds it
        grpc, http_otlp, http_api = (f"127.0.0.1:{free_port()}" for _ in range(3))
        if len({grpc, http_otlp, http_api}) < 3:
            continue
        args = [
            str(binary), "serve",
            "--otlp-grpc", grpc, "--otlp-http", http_otlp, "--http", http_api,
            "--data-dir", str(data_dir),
            "--window", str(window), "--lateness", str(lateness),
            "--max-series", str(max_series),
            *extra_args,
        ]
        stderr_path = tmp_dir / f"ironspider-{index}-{attempt}.stderr"
        # The server reads IRONSPIDER_* as configuration (and refuses unknown keys such as
        # IRONSPIDER_BIN): only the flags above configure it here.
        env = {k: v for k, v in os.environ.items() if not k.startswith("IRONSPIDER_")}
        env.setdefault("RUST_LOG", "info")
        env["NO_COLOR"] = "1"
        env.update(env_extra or {})
        with open(stderr_path, "wb") as stderr:
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                       env=env, cwd=tmp_dir)
        server = IronSpider(process, grpc, http_otlp, http_api, data_dir, stderr_path, args,
                            scheme="https" if tls_ca else "http")
        verify = str(tls_ca) if tls_ca else True
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if requests.get(f"{server.api_url}/readyz", timeout=1, verify=verify).status_code == 200:
                    server.ready_ns = time.time_ns()
                    return server
            except requests.RequestException:
                pass
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
            process.wait()
            pytest.fail(f"ironspider not ready within {READY_TIMEOUT_S}s: {args}\n{server.stderr()}")
        last_error = server.stderr()
        if "cannot listen" not in last_error:
            break
    pytest.fail(f"ironspider exited during startup:\n{last_error}")


def attach_log(request, title: str, path: Path) -> None:
    """Shows the file at `path` in the report if the test fails."""
    if not hasattr(request.node, "_e2e_logs"):
        request.node._e2e_logs = []
    request.node._e2e_logs.append((title, path))


def require_binary(binary: str, package: str) -> str:
    """The path of `binary`. When it is not on PATH the test is skipped, or fails when the
    environment variable CI is set."""
    path = shutil.which(binary)
    if path is None:
        message = (f"`{binary}` is not on PATH: install Debian's package "
                   f"(apt-get install -y --no-install-recommends {package})")
        if "CI" in os.environ:
            pytest.fail(message + " — required in CI (CI is set)")
        pytest.skip(message)
    return path


def start_helper(request, name: str, args: list[str], log_path: Path, ready_url: str, cwd: Path,
                 timeout: float = READY_TIMEOUT_S) -> subprocess.Popen:
    """Starts another program (Prometheus, node_exporter) with its output in `log_path`
    (shown in the report if the test fails) and waits until `ready_url` answers 200."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=cwd)
    attach_log(request, f"{name} log", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if requests.get(ready_url, timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop_helper(process)
    pytest.fail(f"{name} not ready within {timeout}s:\n{log_path.read_text(errors='replace')}")


def stop_helper(process: subprocess.Popen, timeout: float = HELPER_STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait; SIGKILL if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def prometheus_config(job: str, targets: list[str], remote_write_url: str | None = None) -> str:
    """A Prometheus configuration scraping `targets` (host:port, /metrics) every second as
    `job`, and sending everything it scrapes to `remote_write_url` if given."""
    lines = [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        f"  - job_name: {job}",
        "    metrics_path: /metrics",
        "    static_configs:",
        f"      - targets: [{', '.join(repr(t) for t in targets)}]",
    ]
    if remote_write_url is not None:
        lines += [
            "remote_write:",
            f"  - url: {remote_write_url}",
            "    queue_config:",
            "      batch_send_deadline: 1s",
        ]
    return "\n".join(lines) + "\n"


def instant_query(url: str, promql: str) -> list[dict]:
    """The `result` of a PromQL query at the current time on the Prometheus at `url` (a
    vector, or a matrix for a range selector)."""
    response = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def record_exports(exporter, results: list) -> None:
    """Wraps an OpenTelemetry exporter's `export` so that each export's result is appended to
    `results` (the SDK's periodic reader otherwise drops it)."""
    export = exporter.export

    def recording_export(*args, **kwargs):
        result = export(*args, **kwargs)
        results.append(result)
        return result

    exporter.export = recording_export
