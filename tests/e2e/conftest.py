"""Fixtures of the end-to-end suite (see harness.py for the server wrapper).

`server` starts one `ironspider serve` with the default test settings; `start_server(**options)`
starts as many as a test needs, each on its own free ports and, unless given one, its own
data dir. Every server is stopped with SIGTERM after the test (a server that then does not
exit 0 within 20 s fails the test's teardown); when a test fails, the output
of each server (and of any other process a test attached with `attach_log`) is added to the
failure report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import IronSpider, start_ironspider


@pytest.fixture
def start_server(tmp_path, request):
    """`start_server(window=10, lateness=30, max_series=10000, data_dir=None, extra_args=())`
    starts a server and returns its IronSpider; all are stopped after the test."""
    started: list[IronSpider] = []
    request.node._ironspider_servers = started

    def start(*, window: int = 10, lateness: int = 30, max_series: int = 10_000,
              data_dir: Path | None = None, extra_args=()) -> IronSpider:
        server = start_ironspider(tmp_path, len(started), data_dir, window, lateness, max_series, list(extra_args))
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
