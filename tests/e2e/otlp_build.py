"""Hand-built OTLP export requests (the protobuf classes of opentelemetry-proto), for tests
that need exact control over timestamps, values and point counts."""

from __future__ import annotations

import time

import requests
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

NS = 1_000_000_000


def now_ns() -> int:
    return time.time_ns()


def attributes(attrs: dict) -> list[KeyValue]:
    out = []
    for key, value in attrs.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=str(value))
        out.append(KeyValue(key=key, value=any_value))
    return out


def gauge(name: str, points: list[tuple[int, float]], unit: str = "1", attrs: dict | None = None) -> m.Metric:
    """A gauge metric: one data point per (time_unix_nano, value), all with `attrs`."""
    return m.Metric(
        name=name,
        unit=unit,
        gauge=m.Gauge(data_points=[
            m.NumberDataPoint(time_unix_nano=ts, as_double=float(value), attributes=attributes(attrs or {}))
            for ts, value in points
        ]),
    )


def gauge_series(name: str, ts: int, series: list[tuple[dict, float]], unit: str = "1") -> m.Metric:
    """A gauge with one data point at `ts` per (attributes, value): several series of one
    metric, as a hostmetrics receiver sends per-CPU or per-state values."""
    return m.Metric(
        name=name,
        unit=unit,
        gauge=m.Gauge(data_points=[
            m.NumberDataPoint(time_unix_nano=ts, as_double=float(value), attributes=attributes(attrs))
            for attrs, value in series
        ]),
    )


def delta_counter(name: str, points: list[tuple[int, int, float]], unit: str = "1",
                  attrs: dict | None = None, as_int: bool = False) -> m.Metric:
    """A monotonic delta sum: one point per (start, time, increase), sent as as_int when
    `as_int`, else as_double."""
    def point(start, ts, value):
        value_field = {"as_int": int(value)} if as_int else {"as_double": float(value)}
        return m.NumberDataPoint(start_time_unix_nano=start, time_unix_nano=ts, attributes=attributes(attrs or {}),
                                 **value_field)

    return m.Metric(
        name=name,
        unit=unit,
        sum=m.Sum(
            aggregation_temporality=m.AGGREGATION_TEMPORALITY_DELTA,
            is_monotonic=True,
            data_points=[point(start, ts, value) for start, ts, value in points],
        ),
    )


def cumulative_counter(name: str, points: list[tuple[int, int, float]], unit: str = "1",
                       attrs: dict | None = None) -> m.Metric:
    """A monotonic cumulative sum: one point per (start, time, running total)."""
    metric = delta_counter(name, points, unit, attrs)
    metric.sum.aggregation_temporality = m.AGGREGATION_TEMPORALITY_CUMULATIVE
    return metric


def summary(name: str, points: list[tuple[int, int, int, float, list[tuple[float, float]]]], unit: str = "s",
            attrs: dict | None = None) -> m.Metric:
    """A summary: one point per (start, time, count, sum, [(quantile, value), ...])."""
    return m.Metric(
        name=name,
        unit=unit,
        summary=m.Summary(data_points=[
            m.SummaryDataPoint(
                start_time_unix_nano=start, time_unix_nano=ts, count=count, sum=total,
                quantile_values=[m.SummaryDataPoint.ValueAtQuantile(quantile=q, value=v) for q, v in quantiles],
                attributes=attributes(attrs or {}))
            for start, ts, count, total, quantiles in points
        ]),
    )


def delta_histogram(name: str, points: list[tuple[int, int, list[float], list[int], float, float, float]],
                    unit: str = "ms", attrs: dict | None = None) -> m.Metric:
    """A delta explicit-bucket histogram: one point per (start, time, bounds, counts, sum, min, max)."""
    return m.Metric(
        name=name,
        unit=unit,
        histogram=m.Histogram(
            aggregation_temporality=m.AGGREGATION_TEMPORALITY_DELTA,
            data_points=[
                m.HistogramDataPoint(start_time_unix_nano=start, time_unix_nano=ts, count=sum(counts),
                                     explicit_bounds=bounds, bucket_counts=counts, sum=total, min=lo, max=hi,
                                     attributes=attributes(attrs or {}))
                for start, ts, bounds, counts, total, lo, hi in points
            ],
        ),
    )


def resource_metrics(node: str | None, metrics: list[m.Metric], resource_attrs: dict | None = None) -> m.ResourceMetrics:
    """One resource (k8s.node.name = node unless None), one scope, the given metrics."""
    node_attrs = {} if node is None else {"k8s.node.name": node}
    resource = Resource(attributes=attributes({**node_attrs, **(resource_attrs or {})}))
    return m.ResourceMetrics(
        resource=resource,
        scope_metrics=[m.ScopeMetrics(scope=InstrumentationScope(name="ironspider-e2e", version="1"),
                                      metrics=metrics)],
    )


def request(node: str | None, metrics: list[m.Metric], resource_attrs: dict | None = None) -> ExportMetricsServiceRequest:
    """A request with one resource (k8s.node.name = node), one scope, the given metrics."""
    return ExportMetricsServiceRequest(resource_metrics=[resource_metrics(node, metrics, resource_attrs)])


def count_points(req: ExportMetricsServiceRequest) -> int:
    total = 0
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                total += len(getattr(metric, kind).data_points)
    return total


def post_protobuf(url: str, req: ExportMetricsServiceRequest) -> ExportMetricsServiceResponse:
    """POSTs `req` as application/x-protobuf; asserts 200 and returns the decoded answer."""
    response = requests.post(url, data=req.SerializeToString(),
                             headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.content!r}"
    assert response.headers.get("Content-Type", "").startswith("application/x-protobuf"), response.headers
    answer = ExportMetricsServiceResponse()
    answer.ParseFromString(response.content)
    return answer
