"""The alerting rules shipped in deploy/prometheus/ are valid for Prometheus 2.42 and fire
as their unit tests say (a forged bind, evictions refused, SQL overload, live memory shed,
the series limit, throttled ingest), run by the real promtool; metrics they name are ones the
server exposes."""

import shutil
import subprocess
from pathlib import Path

import pytest

import otlp_build as otlp

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture
def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed (scripts/test installs Debian's prometheus)")
    return path


def test_the_rules_check_and_their_unit_tests_pass(promtool):
    checked = subprocess.run([promtool, "check", "rules", "ironspider-rules.yaml"], cwd=RULES,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "ironspider-rules.test.yaml"], cwd=RULES,
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_sql_metric_the_rules_name_is_exposed(server):
    """The bind and eviction counters exist only with a cluster (their names are checked in
    scheduler-extender/tests/kubernetes.rs); the SQL one on every server, from its first query."""
    assert "ironspider_sql_queries_total" in (RULES / "ironspider-rules.yaml").read_text()
    server.sql("SELECT 1 AS one")
    assert '# TYPE ironspider_sql_queries_total counter' in server.metrics_text()
    assert 'ironspider_sql_queries_total{outcome="ok"} 1' in server.metrics_text()


def test_the_overload_metrics_the_rules_name_are_exposed(server):
    rules = (RULES / "ironspider-rules.yaml").read_text()
    for name in ("ironspider_windows_shed_total", "ironspider_points_rejected_total", "ironspider_requests_total"):
        assert name in rules
    otlp.post_protobuf(server.otlp_http_url, otlp.request("node-a", [otlp.gauge("e2e.rules", [(otlp.now_ns(), 1.0)])]))
    exposed = server.metrics_text()
    assert "ironspider_windows_shed_total 0" in exposed
    assert 'ironspider_points_rejected_total{reason="series_limit"} 0' in exposed
    assert 'ironspider_requests_total{outcome="success",transport="http"} 1' in exposed
