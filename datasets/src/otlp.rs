//! A trace as OTLP export requests: one request per timestamp, one resource per node
//! (`host.name`), one gauge point per reported value.

use crate::trace::Trace;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }),
        ..KeyValue::default()
    }
}

fn resource_metrics(trace: &Trace, ts_ns: i64, node: u32, values: &[f64]) -> ResourceMetrics {
    let metrics = trace
        .columns
        .iter()
        .zip(values)
        .filter(|(_, value)| !value.is_nan())
        .map(|(column, value)| {
            let point = NumberDataPoint {
                attributes: column.attribute.iter().map(|(k, v)| string_attribute(k, v)).collect(),
                time_unix_nano: u64::try_from(ts_ns).unwrap_or(0),
                value: Some(number_data_point::Value::AsDouble(*value)),
                ..NumberDataPoint::default()
            };
            Metric {
                name: column.metric.to_string(),
                unit: column.unit.to_string(),
                data: Some(Data::Gauge(Gauge { data_points: vec![point] })),
                ..Metric::default()
            }
        })
        .collect();
    let host = string_attribute("host.name", &trace.nodes[node as usize]);
    ResourceMetrics {
        resource: Some(Resource { attributes: vec![host], ..Resource::default() }),
        scope_metrics: vec![ScopeMetrics { metrics, ..ScopeMetrics::default() }],
        ..ResourceMetrics::default()
    }
}

/// The trace's requests in time order: `(timestamp ns, request with every node's readings at
/// that timestamp)`.
pub fn requests(trace: &Trace) -> impl Iterator<Item = (i64, ExportMetricsServiceRequest)> + '_ {
    let mut row = 0;
    trace.keys.chunk_by(|a, b| a.0 == b.0).map(move |group| {
        let ts_ns = group[0].0;
        let resource_metrics = group
            .iter()
            .map(|&(_, node)| {
                let built = resource_metrics(trace, ts_ns, node, trace.row(row));
                row += 1;
                built
            })
            .collect();
        (ts_ns, ExportMetricsServiceRequest { resource_metrics })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Column;

    #[test]
    fn one_request_per_timestamp_and_unreported_values_left_out() {
        let columns = vec![
            Column { metric: "system.cpu.logical.count", unit: "{cpu}", attribute: None },
            Column { metric: "system.memory.usage", unit: "By", attribute: Some(("state", "used")) },
        ];
        let mut trace = Trace { nodes: vec!["a".into(), "b".into()], columns, ..Trace::default() };
        trace.push(5, 0, &[2.0, 100.0]);
        trace.push(5, 1, &[4.0, f64::NAN]);
        trace.push(9, 0, &[2.0, 120.0]);
        let requests: Vec<_> = requests(&trace).collect();
        assert_eq!(requests.iter().map(|(ts, _)| *ts).collect::<Vec<_>>(), [5, 9]);
        let at_5 = &requests[0].1.resource_metrics;
        assert_eq!(at_5.len(), 2);
        assert_eq!(at_5[1].scope_metrics[0].metrics.len(), 1, "node b's NaN memory is left out");
        let memory = &at_5[0].scope_metrics[0].metrics[1];
        let Some(Data::Gauge(gauge)) = &memory.data else { panic!("gauge expected") };
        assert_eq!(gauge.data_points[0].attributes[0].key, "state");
        assert_eq!(gauge.data_points[0].value, Some(number_data_point::Value::AsDouble(100.0)));
    }
}
