"""Fixtures of the end-to-end suite (see harness.py for the server wrapper).

`server` starts one `ironspider serve` with the default test settings; `start_server(**options)`
starts as many as a test needs, each on its own free ports and, unless given one, its own
data dir. Every server is stopped with SIGTERM after the test (a server that then does not
exit 0 within 20 s fails the test's teardown); when a test fails, the output
of each server (and of any other process a test attached with `attach_log`) is added to the
failure report.

`prometheus(*targets, job=..., remote_write_url=...)` starts a real Prometheus (Debian's
`prometheus`; skipped without it, failed when CI is set) and stops it before any server.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness import (IronSpider, free_port, prometheus_config, require_binary, start_helper, start_ironspider,
                     stop_helper)


@pytest.fixture
def start_server(tmp_path, request):
    """`start_server(window=10, lateness=30, max_series=10000, data_dir=None, extra_args=(), env=None,
    tls_ca=None)`
    starts a server and returns its IronSpider; all are stopped after the test."""
    started: list[IronSpider] = []
    request.node._ironspider_servers = started

    def start(*, window: int = 10, lateness: int = 30, max_series: int = 10_000,
              data_dir: Path | None = None, extra_args=(), env=None, tls_ca: Path | None = None) -> IronSpider:
        server = start_ironspider(tmp_path, len(started), data_dir, window, lateness, max_series, list(extra_args),
                                  env, tls_ca)
        started.append(server)
        return server

    yield start
    problems = []
    for i, server in enumerate(started):
        if server.returncode is not None:  # the test stopped it and checked what it wanted
            continue
        try:
            if server.stop() != 0:
                problems.append(f"ironspider #{i} exited {server.returncode} after SIGTERM:\n{server.stderr()}")
        except AssertionError as error:
            problems.append(f"ironspider #{i}: {error}\n{server.stderr()}")
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def server(start_server) -> IronSpider:
    """One server: 10 s windows, 30 s lateness, at most 10,000 series, a temp data dir."""
    return start_server()


@pytest.fixture
def prometheus(tmp_path, request, start_server):
    """`prometheus(*targets, job="ironspider", remote_write_url=None)` starts Prometheus
    scraping http://TARGET/metrics of each target every second (and sending what it scrapes
    to `remote_write_url` if given) and returns its base URL.

    It depends on `start_server` so that it is stopped first: Prometheus with a remote-write
    target that has gone away would otherwise retry until its flush deadline (5 s here)."""
    binary = require_binary("prometheus", "prometheus")
    processes: list[subprocess.Popen] = []

    def start(*targets: str, job: str = "ironspider", remote_write_url: str | None = None,
              config_text: str | None = None) -> str:
        """`config_text`, when given, is the whole configuration (targets and job unused)."""
        name = f"prometheus-{len(processes)}"
        config = tmp_path / f"{name}.yml"
        config.write_text(config_text or prometheus_config(job, list(targets), remote_write_url))
        check_config(config)
        port = free_port()
        args = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / (name + '-data')}",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=info",
                "--storage.remote.flush-deadline=5s"]
        url = f"http://127.0.0.1:{port}"
        processes.append(start_helper(request, name, args, tmp_path / f"{name}.log", f"{url}/-/ready", tmp_path))
        return url

    yield start
    for process in processes:
        stop_helper(process)


def check_config(config: Path) -> None:
    """`promtool check config`, when promtool is there."""
    promtool = shutil.which("promtool")
    if promtool:
        check = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True,
                               timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, server in enumerate(getattr(item, "_ironspider_servers", [])):
            state = "running" if server.process.poll() is None else f"exited {server.process.returncode}"
            report.sections.append(
                (f"ironspider #{i} stderr ({state}; {' '.join(server.args[1:])})", server.stderr() or "(empty)"))
        for title, path in getattr(item, "_e2e_logs", []):
            try:
                text = Path(path).read_text(errors="replace")
            except OSError as error:
                text = f"({error})"
            report.sections.append((title, text[-20_000:] or "(empty)"))
