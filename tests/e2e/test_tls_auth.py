"""TLS and bearer tokens with real clients (issue 15). One server per test speaks TLS on all
three listeners with a certificate from a throw-away CA (tests/e2e/pki.py), verifies client
certificates against a second CA, and holds an ingest and a read token in files:

- the Python OpenTelemetry SDK exports over TLS, gRPC and HTTP, with its ingest token;
- without a token, or with a wrong one, the SDK's exports fail (401 / UNAUTHENTICATED) and
  nothing is stored;
- Prometheus 2.42 scrapes /metrics over TLS with the read token (`up` 1) and is refused
  without it (`up` 0);
- a client certificate from the client CA carries the scheduler role (filter answered), one
  from an unknown CA ends its handshake;
- certificate files rewritten in place reach new connections without a restart.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

import grpc
from harness import IronSpider, instant_query, record_exports
from pki import Authority, Issued

INGEST_TOKEN = "ingest-9f2c"
READ_TOKEN = "read-41ab"
HOUR_MS = 3_600_000
FILTER_BODY = {"Pod": {"metadata": {"name": "p", "namespace": "default", "uid": "u-1"},
                       "spec": {"containers": []}}, "NodeNames": []}


@dataclass
class Secured:
    server: IronSpider
    ca: Authority
    directory: Path
    client: Issued  # from the client CA
    rogue: Issued  # from a CA the server does not know
    read_token_file: Path

    def get(self, path: str, token: str | None = READ_TOKEN, **kwargs) -> requests.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return requests.get(f"{self.server.api_url}{path}", headers=headers, verify=str(self.ca.cert),
                            timeout=10, **kwargs)

    def points(self, metric: str) -> int:
        response = requests.post(f"{self.server.api_url}/api/v1/sql", verify=str(self.ca.cert), timeout=30,
                                 headers={"authorization": f"Bearer {READ_TOKEN}"},
                                 data=("SELECT count(*) AS n FROM samples JOIN series USING (series_id) "
                                       f"WHERE metric = '{metric}'").encode())
        assert response.status_code == 200, response.text
        return response.json()[0]["n"]

    def metric(self, sample: str) -> float:
        text = self.get("/metrics").text
        return next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(sample + " ")), 0.0)


@pytest.fixture(autouse=True)
def no_ca_bundle_override(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's own `verify`,
    which is how the SDK's HTTP exporter passes `certificate_file`: with either set (some
    machines set both to the system bundle), the exporter would not trust the test CA."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def secured(tmp_path, start_server) -> Secured:
    ca = Authority.create(tmp_path, "server-ca")
    clients = Authority.create(tmp_path, "client-ca")
    rogue = Authority.create(tmp_path, "rogue-ca")
    server_cert = ca.issue("server")
    tokens = {}
    for role, token in (("ingest", INGEST_TOKEN), ("read", READ_TOKEN)):
        tokens[role] = tmp_path / f"{role}.token"
        tokens[role].write_text(token + "\n")
    config = tmp_path / "tls.toml"
    config.write_text(
        "[tls]\n"
        f'cert_file = "{server_cert.cert}"\nkey_file = "{server_cert.key}"\n'
        f'client_ca_file = "{clients.cert}"\nreload_seconds = 1\n'
        "[auth.token_files]\n"
        f'ingest = "{tokens["ingest"]}"\nread = "{tokens["read"]}"\n')
    server = start_server(extra_args=["--config", str(config)], tls_ca=ca.cert)
    return Secured(server, ca, tmp_path, clients.issue("kube-scheduler", client=True),
                   rogue.issue("intruder", client=True), tokens["read"])


def grpc_exporter(secured: Secured, headers: dict | None) -> GrpcMetricExporter:
    credentials = grpc.ssl_channel_credentials(root_certificates=secured.ca.cert.read_bytes())
    return GrpcMetricExporter(endpoint=f"https://{secured.server.otlp_grpc}", insecure=False,
                              credentials=credentials, headers=headers, timeout=10)


def http_exporter(secured: Secured, headers: dict | None) -> HttpMetricExporter:
    return HttpMetricExporter(endpoint=secured.server.otlp_http_url, certificate_file=str(secured.ca.cert),
                              headers=headers, timeout=10)


def export_once(exporter, node: str, metric: str) -> list:
    """One gauge point exported by the SDK through `exporter`; the export results."""
    results: list = []
    record_exports(exporter, results)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=HOUR_MS)
    provider = MeterProvider(resource=Resource.create({"k8s.node.name": node}), metric_readers=[reader])
    try:
        provider.get_meter("ironspider-e2e").create_gauge(metric).set(42.0)
        provider.force_flush(timeout_millis=20_000)
    finally:
        provider.shutdown(timeout_millis=5_000)
    return results


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_otel_sdk_exports_over_tls_with_its_token(secured, transport):
    make = grpc_exporter if transport == "grpc" else http_exporter
    metric = f"e2e.tls.{transport}"
    headers = {"authorization": f"Bearer {INGEST_TOKEN}"}
    results = export_once(make(secured, headers), "node-tls", metric)
    assert results and all(r == MetricExportResult.SUCCESS for r in results), results
    assert secured.points(metric) == len(results)  # one point per export (flush, then shutdown)


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_missing_or_wrong_token_is_refused_and_changes_nothing(secured, transport):
    make = grpc_exporter if transport == "grpc" else http_exporter
    metric = f"e2e.refused.{transport}"
    for headers in (None, {"authorization": "Bearer not-the-token"}, {"authorization": f"Bearer {READ_TOKEN}"}):
        results = export_once(make(secured, headers), "node-refused", metric)
        assert results and all(r == MetricExportResult.FAILURE for r in results), (headers, results)
    assert secured.points(metric) == 0
    listener = "otlp_grpc" if transport == "grpc" else "otlp_http"
    for reason in ("missing", "unknown", "forbidden"):
        sample = f'ironspider_auth_refusals_total{{listener="{listener}",reason="{reason}"}}'
        assert secured.metric(sample) >= 1, sample
    # The raw answers: 401 with a Bearer challenge; gRPC UNAUTHENTICATED.
    if transport == "http":
        response = requests.post(secured.server.otlp_http_url, data=b"", verify=str(secured.ca.cert), timeout=10,
                                 headers={"content-type": "application/x-protobuf"})
        assert (response.status_code, response.headers.get("www-authenticate")) == (401, "Bearer")
    else:
        credentials = grpc.ssl_channel_credentials(root_certificates=secured.ca.cert.read_bytes())
        with grpc.secure_channel(secured.server.otlp_grpc, credentials) as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
            with pytest.raises(grpc.RpcError) as refused:
                export(b"", timeout=10)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_prometheus_scrapes_over_tls_with_the_read_token(secured, prometheus):
    target = secured.server.http
    job = lambda name, auth: (  # noqa: E731
        f"  - job_name: {name}\n    scheme: https\n    metrics_path: /metrics\n"
        f"    tls_config:\n      ca_file: {secured.ca.cert}\n{auth}"
        f"    static_configs:\n      - targets: ['{target}']\n")
    config = ("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
              + job("with-token", f"    authorization:\n      credentials_file: {secured.read_token_file}\n")
              + job("without-token", ""))
    url = prometheus(config_text=config)

    def up(name: str) -> float | None:
        result = instant_query(url, f'up{{job="{name}"}}')
        return float(result[0]["value"][1]) if result else None

    deadline = time.monotonic() + 60
    while (up("with-token"), up("without-token")) != (1.0, 0.0):
        assert time.monotonic() < deadline, (up("with-token"), up("without-token"))
        time.sleep(0.5)
    scraped = instant_query(url, 'ironspider_connections_open{job="with-token",listener="http"}')
    assert scraped and float(scraped[0]["value"][1]) >= 1, scraped
    assert secured.metric('ironspider_auth_refusals_total{listener="http",reason="missing"}') >= 1


def test_client_certificates_from_the_client_ca_only(secured):
    url = f"{secured.server.api_url}/scheduler/filter"
    verify = str(secured.ca.cert)
    client = (str(secured.client.cert), str(secured.client.key))
    # kube-scheduler's way: mutual TLS, no token; the certificate carries the scheduler role only.
    assert requests.post(url, json=FILTER_BODY, cert=client, verify=verify, timeout=10).status_code == 200
    assert requests.get(f"{secured.server.api_url}/metrics", cert=client, verify=verify, timeout=10).status_code == 403
    assert requests.post(url, json=FILTER_BODY, verify=verify, timeout=10).status_code == 401
    # A certificate the client CA did not sign ends the handshake.
    rogue = (str(secured.rogue.cert), str(secured.rogue.key))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(url, json=FILTER_BODY, cert=rogue, verify=verify, timeout=10)
    assert secured.metric('ironspider_connections_refused_total{listener="http",reason="tls"}') >= 1


def served_certificate(address: str, ca: Path) -> bytes:
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.getpeercert(binary_form=True)


def test_a_rotated_certificate_reaches_new_connections(secured):
    before = served_certificate(secured.server.otlp_http, secured.ca.cert)
    rotated = secured.ca.issue("server-rotated")
    expected = ssl.PEM_cert_to_DER_cert(rotated.cert.read_text())
    assert expected != before
    # Rewritten in place, as cert-manager does: the certificate first, then its key.
    (secured.directory / "server.crt").write_bytes(rotated.cert.read_bytes())
    (secured.directory / "server.key").write_bytes(rotated.key.read_bytes())
    deadline = time.monotonic() + 30
    while served_certificate(secured.server.otlp_http, secured.ca.cert) != expected:
        assert time.monotonic() < deadline, "the rotated certificate was never served"
        time.sleep(0.2)
    assert secured.get("/readyz", token=None).status_code == 200
    assert secured.metric('ironspider_reloads_total{outcome="ok",what="tls"}') >= 1
