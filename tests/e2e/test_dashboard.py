"""The Grafana dashboard deploy/grafana/ironspider.json.

The structure tests only read the file. The live test feeds a server hostmetrics-style OTLP
telemetry (a CPU node and a node with two GPUs), lets a real Prometheus scrape its /metrics,
and evaluates every expression of the dashboard through Prometheus' HTTP API, with the
dashboard's variables replaced as Grafana would (`$node` → `.*`, `$__rate_interval` → `1m`,
`$horizon` → `1`): each must return data. The server forecasts on a 1 s grid
(`FORECAST_CONFIG`) so that the forecast panel has data within seconds. Prometheus comes from Debian's `prometheus` package; without it the
live test is skipped, or fails when the environment variable CI is set.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests

import otlp_build as otlp
from harness import instant_query

DASHBOARD_PATH = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "ironspider.json"
GRID_COLUMNS = 24
DATASOURCE_UID = "${datasource}"
NODE_QUERY = "label_values(ironspider_node_health, node)"
HORIZON_QUERY = "label_values(ironspider_node_forecast, horizon)"
# What Grafana puts in place of the variables, for a query at "now" over the last minutes.
VARIABLES = {"node": ".*", "horizon": "1", "__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")

GIB = 1024.0 ** 3
CPU_NODE, GPU_NODE = "e2e-cpu-node", "e2e-gpu-node"
# Long enough for forecasts on FORECAST_CONFIG's grid: a season of 4 steps, then 8 errors at
# the 4-step horizon.
SEND_S = 16.0
SEND_PERIOD_S = 0.25
DATA_TIMEOUT_S = 30.0
# Live forecasts on a 1 s grid (the defaults forecast every 5 minutes); nodes stay forecast
# for a minute after they stop reporting.
FORECAST_CONFIG = """[engine.forecast]
step_seconds = 1
horizons_seconds = [1, 2, 4]
season_seconds = 4
band_window = 16
band_min_errors = 8
max_gap_steps = 60
"""


def load_dashboard() -> dict:
    return json.loads(DASHBOARD_PATH.read_text())


def all_panels(dashboard: dict) -> list[dict]:
    """Every panel, rows included, and the panels inside collapsed rows."""
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def queries(dashboard: dict) -> list[tuple[str, dict]]:
    """(panel title, target) of every query of the dashboard."""
    return [(panel["title"], target) for panel in all_panels(dashboard) for target in panel.get("targets", [])]


def variable(dashboard: dict, name: str) -> dict:
    matches = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    assert len(matches) == 1, f"template variable {name!r}: {matches}"
    return matches[0]


def expand(expr: str) -> str:
    """`expr` with every `$var`, `${var}` and `${var:format}` replaced from VARIABLES;
    KeyError for a variable the dashboard does not define or Grafana does not provide."""
    return _VARIABLE.sub(lambda match: VARIABLES[match.group(1) or match.group(2)], expr)


def overlaps(a: dict, b: dict) -> bool:
    """Whether two gridPos rectangles share a cell."""
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return load_dashboard()


def test_dashboard_variables(dashboard):
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36, dashboard["schemaVersion"]
    assert dashboard["uid"] and dashboard["title"]
    datasource = variable(dashboard, "datasource")
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus"), datasource
    node = variable(dashboard, "node")
    query = node["query"]["query"] if isinstance(node["query"], dict) else node["query"]
    assert (node["type"], query) == ("query", NODE_QUERY), node
    assert node["datasource"]["uid"] == DATASOURCE_UID, node
    assert node["includeAll"] and node["allValue"] == ".*", node
    horizon = variable(dashboard, "horizon")
    query = horizon["query"]["query"] if isinstance(horizon["query"], dict) else horizon["query"]
    assert (horizon["type"], query, horizon["current"]["value"]) == ("query", HORIZON_QUERY, "300"), horizon
    assert horizon["datasource"]["uid"] == DATASOURCE_UID and not horizon["multi"], horizon


def test_dashboard_panels_have_unique_ids_and_fit_the_grid(dashboard):
    panels = all_panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    for panel in panels:
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in "hwxy"), panel["title"]
        assert grid["h"] > 0 and grid["w"] > 0 and grid["x"] >= 0 and grid["y"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
    for i, a in enumerate(panels):
        for b in panels[i + 1:]:
            assert not overlaps(a["gridPos"], b["gridPos"]), f"{a['title']!r} overlaps {b['title']!r}"


def test_every_panel_queries_prometheus_through_the_datasource_variable(dashboard):
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, title
        targets = panel.get("targets", [])
        assert targets, f"{title!r} has no query"
        assert len({t["refId"] for t in targets}) == len(targets), f"{title!r}: duplicate refIds"
        for target in targets:
            assert target.get("expr", "").strip(), f"{title!r} {target.get('refId')}: no expr"
            assert target.get("datasource", panel["datasource"])["uid"] == DATASOURCE_UID, title
            expand(target["expr"])  # only variables the dashboard or Grafana defines


def hostmetrics(node: str, ts: int, cpus: int, gpus: int) -> otlp.ExportMetricsServiceRequest:
    """A hostmetrics-style snapshot of `node` at `ts`: idle and user share of each CPU,
    memory used and free, and for each GPU (`hw.id`) its utilisation, memory used and limit."""
    cpu_shares = [({"cpu": f"cpu{c}", "state": state}, share)
                  for c in range(cpus) for state, share in (("idle", 0.6), ("user", 0.4))]
    metrics = [
        otlp.gauge_series("system.cpu.utilization", ts, cpu_shares),
        otlp.gauge_series("system.memory.usage", ts, [({"state": "used"}, 6 * GIB), ({"state": "free"}, 10 * GIB)],
                          unit="By"),
    ]
    devices = [{"hw.id": f"gpu{g}"} for g in range(gpus)]
    if devices:
        metrics += [
            otlp.gauge_series("hw.gpu.utilization", ts, [(d, 0.3 + 0.4 * g) for g, d in enumerate(devices)]),
            otlp.gauge_series("hw.gpu.memory.usage", ts, [(d, 20 * GIB) for d in devices], unit="By"),
            otlp.gauge_series("hw.gpu.memory.limit", ts, [(d, 40 * GIB) for d in devices], unit="By"),
        ]
    return otlp.request(node, metrics)


def send_hostmetrics(server, seconds: float) -> None:
    """Both nodes report every SEND_PERIOD_S for `seconds`, over OTLP/HTTP."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = otlp.now_ns()
        for req in (hostmetrics(CPU_NODE, now, cpus=4, gpus=0), hostmetrics(GPU_NODE, now, cpus=2, gpus=2)):
            answer = otlp.post_protobuf(server.otlp_http_url, req)
            assert not answer.HasField("partial_success"), answer
        time.sleep(SEND_PERIOD_S)


def missing_data(url: str, dashboard: dict) -> list[str]:
    """The dashboard's queries that return nothing (or an error) on the Prometheus at `url`."""
    failures = []
    for title, target in queries(dashboard):
        expr = expand(target["expr"])
        try:
            result = instant_query(url, expr)
        except requests.HTTPError as error:
            result = f"HTTP {error.response.status_code}: {error.response.text}"
        if not result or isinstance(result, str):
            failures.append(f"{title!r} {target['refId']}: {target['expr']}\n    sent {expr!r} -> {result!r}")
    return failures


def node_variable_values(url: str) -> list[str]:
    """What Grafana offers for `$node`: Prometheus' values of the label `node` on the series
    of `ironspider_node_health` (the API behind `label_values`)."""
    response = requests.get(f"{url}/api/v1/label/node/values", params={"match[]": "ironspider_node_health"}, timeout=5)
    response.raise_for_status()
    return response.json()["data"]


def test_every_dashboard_expression_returns_data(start_server, prometheus, dashboard, tmp_path):
    config = tmp_path / "forecast.toml"
    config.write_text(FORECAST_CONFIG)
    server = start_server(window=1, lateness=1, extra_args=["--config", str(config)])
    url = prometheus(server.http)
    send_hostmetrics(server, SEND_S)

    deadline = time.monotonic() + DATA_TIMEOUT_S
    failures = missing_data(url, dashboard)
    while failures and time.monotonic() < deadline:
        time.sleep(1)
        failures = missing_data(url, dashboard)
    assert not failures, (f"{len(failures)} of {len(queries(dashboard))} dashboard queries returned no data "
                          f"after {DATA_TIMEOUT_S:.0f} s:\n" + "\n".join(failures)
                          + f"\n--- /api/v1/nodes ---\n{server.nodes()}")
    assert sorted(node_variable_values(url)) == sorted([CPU_NODE, GPU_NODE])
