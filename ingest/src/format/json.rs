//! OTLP/JSON request decoding.
//!
//! OTLP/JSON is the proto3 JSON mapping (lowerCamelCase names, 64-bit integers as strings)
//! with hex trace and span ids; the `opentelemetry-proto` serde types read that. Two things
//! a proto3 JSON reader must also accept are normalised first: original snake_case field
//! names, and enum values given by name (`"AGGREGATION_TEMPORALITY_DELTA"`). After decoding,
//! every metric whose JSON carries a data field must have decoded one: the serde types
//! flatten the data field and turn its errors into "no data", which would drop points
//! silently, so such a request is refused instead, naming the metric.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The JSON names of a metric's data field.
const DATA_FIELDS: [&str; 5] = ["gauge", "sum", "histogram", "exponentialHistogram", "summary"];

/// Why an OTLP/JSON body was refused: what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON, or not the shape of an export request.
    #[error("invalid OTLP/JSON: {0}")]
    Syntax(serde_json::Error),
    /// A metric names a data field whose content did not decode.
    #[error(
        "invalid OTLP/JSON: the data of metric {metric:?} ({path}) does not decode: check its field names and value types"
    )]
    MetricData {
        /// The metric's name.
        metric: String,
        /// Where it is: `resourceMetrics[r].scopeMetrics[s].metrics[m]`.
        path: String,
    },
}

/// Decodes an OTLP/JSON export request; the error says what is wrong and where.
pub fn decode(body: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    let mut value: Value = serde_json::from_slice(body).map_err(JsonError::Syntax)?;
    normalise(&mut value);
    let request = ExportMetricsServiceRequest::deserialize(&value).map_err(JsonError::Syntax)?;
    check_no_metric_lost(&value, &request)?;
    Ok(request)
}

/// `snake_case` → `lowerCamelCase`; names without an underscore are unchanged.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper_next = false;
    for c in name.chars() {
        if c == '_' {
            upper_next = !out.is_empty();
        } else if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The number of an `AggregationTemporality` given by name.
fn temporality_number(name: &str) -> Option<i64> {
    match name {
        "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Some(0),
        "AGGREGATION_TEMPORALITY_DELTA" => Some(1),
        "AGGREGATION_TEMPORALITY_CUMULATIVE" => Some(2),
        _ => None,
    }
}

/// Field names to lowerCamelCase and enum names to numbers, everywhere in the tree. Object
/// keys in OTLP are always field names: user data (attribute keys) sits in values.
fn normalise(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Object(fields) => {
            let renamed: Map<String, Value> = std::mem::take(fields)
                .into_iter()
                .map(|(key, mut child)| {
                    let key = if key.contains('_') { camel_case(&key) } else { key };
                    if key == "aggregationTemporality"
                        && let Some(number) = child.as_str().and_then(temporality_number)
                    {
                        child = Value::from(number);
                    }
                    normalise(&mut child);
                    (key, child)
                })
                .collect();
            *fields = renamed;
        }
        _ => {}
    }
}

fn items<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Fails when a metric's JSON names a data field that did not decode.
fn check_no_metric_lost(json: &Value, request: &ExportMetricsServiceRequest) -> Result<(), JsonError> {
    for (r, (resource_json, resource)) in
        items(json, "resourceMetrics").iter().zip(&request.resource_metrics).enumerate()
    {
        for (s, (scope_json, scope)) in
            items(resource_json, "scopeMetrics").iter().zip(&resource.scope_metrics).enumerate()
        {
            for (m, (metric_json, metric)) in items(scope_json, "metrics").iter().zip(&scope.metrics).enumerate() {
                let has_data_field = DATA_FIELDS.iter().any(|field| metric_json.get(field).is_some());
                if has_data_field && metric.data.is_none() {
                    return Err(JsonError::MetricData {
                        metric: metric.name.clone(),
                        path: format!("resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}]"),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;

    fn sum_request(fields: &str) -> String {
        format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"s","sum":{{{fields},
            "dataPoints":[{{"timeUnixNano":"5","asInt":"3"}}]}}}}]}}]}}]}}"#
        )
    }

    #[test]
    fn enum_names_and_snake_case_names_are_read_like_numbers_and_camel_case() {
        for fields in [
            r#""aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true"#,
            r#""aggregation_temporality":1,"is_monotonic":true"#,
        ] {
            let request = decode(sum_request(fields).as_bytes()).unwrap();
            let Some(Data::Sum(sum)) = &request.resource_metrics[0].scope_metrics[0].metrics[0].data else {
                panic!("a sum")
            };
            assert_eq!((sum.aggregation_temporality, sum.is_monotonic), (1, true), "{fields}");
            assert_eq!(sum.data_points[0].time_unix_nano, 5);
        }
        assert_eq!(camel_case("start_time_unix_nano"), "startTimeUnixNano");
        assert_eq!(camel_case("_private"), "private");
    }

    #[test]
    fn a_metric_whose_data_does_not_decode_is_an_error_not_a_silent_drop() {
        let body = sum_request(r#""aggregationTemporality":"NOT_A_TEMPORALITY""#);
        let error = decode(body.as_bytes()).unwrap_err().to_string();
        assert!(error.contains(r#"metric "s""#) && error.contains("metrics[0]"), "{error}");
    }
}
