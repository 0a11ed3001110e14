//! Arrow schemas of the tables the engine serves: `series`, `samples`, `windows`,
//! `histograms`, `node_scores`, `forecasts`, and the rows of the Parquet history (windows'
//! aggregates, forecast steps' node values, forecasts).

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ironspider_scores::{NODE_QUANTITIES, Presence};
use std::sync::{Arc, LazyLock};

/// Timestamps are nanoseconds since the Unix epoch, in UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn float_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, false)))
}

fn dictionary_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The descriptive columns of a series, shared by `series` and the history.
fn series_descriptive_fields() -> Vec<Field> {
    vec![
        Field::new("node", dictionary_utf8(), true),
        Field::new("metric", dictionary_utf8(), false),
        Field::new("device", dictionary_utf8(), true),
        Field::new("pod", dictionary_utf8(), true),
        Field::new("namespace", dictionary_utf8(), true),
        Field::new("cluster", dictionary_utf8(), true),
        Field::new("unit", dictionary_utf8(), false),
        Field::new("kind", dictionary_utf8(), false),
        Field::new("attributes", DataType::Utf8, false),
    ]
}

/// The per-series aggregate columns of a closed window.
fn aggregate_fields() -> Vec<Field> {
    vec![
        Field::new("count", DataType::UInt64, false),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
        Field::new("mean", DataType::Float64, true),
        Field::new("last", DataType::Float64, true),
        Field::new("p95", DataType::Float64, true),
        Field::new("sum", DataType::Float64, true),
        Field::new("rate", DataType::Float64, true),
    ]
}

/// `series(series_id, node, metric, device, pod, namespace, cluster, unit, kind, attributes)`.
pub static SERIES: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![Field::new("series_id", DataType::UInt32, false)];
    fields.extend(series_descriptive_fields());
    Arc::new(Schema::new(fields))
});

/// `samples(series_id, ts, value)`: every accepted number point of the live retention.
pub static SAMPLES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::UInt32, false),
        Field::new("ts", timestamp_type(), false),
        Field::new("value", DataType::Float64, false),
    ]))
});

/// `windows(series_id, window_start, window_end, count, min, max, mean, last, p95, sum, rate)`.
pub static WINDOWS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new("series_id", DataType::UInt32, false),
        Field::new("window_start", timestamp_type(), false),
        Field::new("window_end", timestamp_type(), false),
    ];
    fields.extend(aggregate_fields());
    Arc::new(Schema::new(fields))
});

/// `histograms(series_id, ts, count, sum, min, max, bounds, counts, quantiles, quantile_values)`:
/// histogram and summary points of the live retention (count, sum and buckets are deltas for
/// cumulative sources; summary quantiles are as sent).
pub static HISTOGRAMS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::UInt32, false),
        Field::new("ts", timestamp_type(), false),
        Field::new("count", DataType::UInt64, false),
        Field::new("sum", DataType::Float64, true),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
        Field::new("bounds", float_list(), false),
        Field::new("counts", DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, false))), false),
        Field::new("quantiles", float_list(), false),
        Field::new("quantile_values", float_list(), false),
    ]))
});

/// Rows of the Parquet history: a closed window's aggregates with the series described in
/// full, because series ids are not stable across restarts.
pub static HISTORY: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields =
        vec![Field::new("window_start", timestamp_type(), false), Field::new("window_end", timestamp_type(), false)];
    fields.extend(series_descriptive_fields());
    fields.extend(aggregate_fields());
    Arc::new(Schema::new(fields))
});

/// `node_scores(window_end, node, cpu, memory, gpu, gpu_memory, pressure, health,
/// cost_per_hour, idle_cost_per_hour)`: each node's scores as of the end of each window, a
/// column per [`ironspider_scores::NODE_QUANTITIES`] entry in its order. Utilisation and
/// pressure are null when the node reported nothing in that window (health and cost are still
/// given: a silent node exists, costs money and loses health).
pub static NODE_SCORES: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![Field::new("window_end", timestamp_type(), false), Field::new("node", DataType::Utf8, false)];
    fields.extend(
        NODE_QUANTITIES.iter().map(|q| Field::new(q.name, DataType::Float64, q.presence == Presence::Reported)),
    );
    Arc::new(Schema::new(fields))
});

/// `forecasts(issued_at, node, resource, horizon_seconds, p10, p50, p90, model)`: each
/// forecast as issued at the end of a completed step (`issued_at`) for `horizon_seconds`
/// after it; `resource` is `cpu`, `memory`, `gpu`, `gpu_memory` or `pressure` (the node
/// quantities of that name). The live `forecasts` table, the `forecasts_history` Parquet
/// files and `replay`'s `forecasts.parquet` share it.
pub static FORECASTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("issued_at", timestamp_type(), false),
        Field::new("node", DataType::Utf8, false),
        Field::new("resource", DataType::Utf8, false),
        Field::new("horizon_seconds", DataType::Int64, false),
        Field::new("p10", DataType::Float64, false),
        Field::new("p50", DataType::Float64, false),
        Field::new("p90", DataType::Float64, false),
        Field::new("model", DataType::Utf8, false),
    ]))
});

/// `node_steps_history(step_start, step_end, node, resource, value, windows)`: the value
/// each node and resource was fed to its forecaster for a completed step (the mean of its
/// `windows` window values in the step); what a restarted engine warm-starts from.
pub static NODE_STEPS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("step_start", timestamp_type(), false),
        Field::new("step_end", timestamp_type(), false),
        Field::new("node", DataType::Utf8, false),
        Field::new("resource", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("windows", DataType::UInt32, false),
    ]))
});
