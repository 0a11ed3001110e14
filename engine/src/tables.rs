//! Building the Arrow batches of the `series`, `windows`, `node_scores` and `forecasts`
//! tables and of the history rows (windows' aggregates, forecast steps' node values).

use crate::aggregate::SeriesAggregate;
use crate::forecasts::{CompletedStep, ForecastRow};
use crate::schema;
use crate::series::{SeriesInfo, SeriesTable};
use crate::store::batch;
use arrow::array::Int64Array;
use arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, StringDictionaryBuilder, TimestampNanosecondArray, UInt32Array,
    UInt64Array,
};
use arrow::datatypes::Int32Type;
use ironspider_scores::ScoresSnapshot;
use ironspider_scores::{NODE_QUANTITIES, Presence};
use std::sync::Arc;

/// The descriptive columns (`node` … `attributes`) for a sequence of series.
fn descriptive_columns<'a>(infos: impl Iterator<Item = &'a SeriesInfo>) -> Vec<ArrayRef> {
    let mut node = StringDictionaryBuilder::<Int32Type>::new();
    let mut metric = StringDictionaryBuilder::<Int32Type>::new();
    let mut device = StringDictionaryBuilder::<Int32Type>::new();
    let mut pod = StringDictionaryBuilder::<Int32Type>::new();
    let mut namespace = StringDictionaryBuilder::<Int32Type>::new();
    let mut cluster = StringDictionaryBuilder::<Int32Type>::new();
    let mut unit = StringDictionaryBuilder::<Int32Type>::new();
    let mut kind = StringDictionaryBuilder::<Int32Type>::new();
    let mut attributes = Vec::new();
    for info in infos {
        node.append_option(info.node.as_deref());
        metric.append_value(&info.metric);
        device.append_option(info.device.as_deref());
        pod.append_option(info.pod.as_deref());
        namespace.append_option(info.namespace.as_deref());
        cluster.append_option(info.cluster.as_deref());
        unit.append_value(&info.unit);
        kind.append_value(info.kind().as_str());
        attributes.push(info.attributes.as_str());
    }
    vec![
        Arc::new(node.finish()),
        Arc::new(metric.finish()),
        Arc::new(device.finish()),
        Arc::new(pod.finish()),
        Arc::new(namespace.finish()),
        Arc::new(cluster.finish()),
        Arc::new(unit.finish()),
        Arc::new(kind.finish()),
        Arc::new(StringArray::from(attributes)),
    ]
}

/// The `series` table.
pub fn series_batch(table: &SeriesTable) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from_iter_values(table.iter().map(|(id, _)| id)))];
    columns.extend(descriptive_columns(table.iter().map(|(_, info)| info.as_ref())));
    batch(&schema::SERIES, columns)
}

fn aggregate_columns(aggregates: &[SeriesAggregate]) -> Vec<ArrayRef> {
    let column = |f: fn(&SeriesAggregate) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(aggregates.iter().map(f)))
    };
    vec![
        Arc::new(UInt64Array::from_iter_values(aggregates.iter().map(|a| a.count))),
        column(|a| a.min),
        column(|a| a.max),
        column(|a| a.mean),
        column(|a| a.last),
        column(|a| a.p95),
        column(|a| a.sum),
        column(|a| a.rate),
    ]
}

fn constant_timestamps(value: i64, rows: usize) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(vec![value; rows]).with_timezone("UTC"))
}

/// The `windows` rows of one closed window.
pub fn windows_batch(start: i64, end: i64, aggregates: &[SeriesAggregate]) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(aggregates.iter().map(|a| a.series))),
        constant_timestamps(start, aggregates.len()),
        constant_timestamps(end, aggregates.len()),
    ];
    columns.extend(aggregate_columns(aggregates));
    batch(&schema::WINDOWS, columns)
}

/// The history rows of one closed window: aggregates with each series described in full.
/// Series missing from `table` (which cannot happen for ids the table issued) are skipped.
pub fn history_batch(start: i64, end: i64, aggregates: &[SeriesAggregate], table: &SeriesTable) -> RecordBatch {
    let known: Vec<(&SeriesAggregate, &SeriesInfo)> =
        aggregates.iter().filter_map(|a| table.info(a.series).map(|info| (a, info.as_ref()))).collect();
    let mut columns = vec![constant_timestamps(start, known.len()), constant_timestamps(end, known.len())];
    columns.extend(descriptive_columns(known.iter().map(|(_, info)| *info)));
    let kept: Vec<SeriesAggregate> = known.iter().map(|(a, _)| (*a).clone()).collect();
    columns.extend(aggregate_columns(&kept));
    batch(&schema::HISTORY, columns)
}

/// The `node_scores` rows of one snapshot: one per node, at the snapshot's window end, a
/// column per [`NODE_QUANTITIES`] entry.
pub fn node_scores_batch(snapshot: &ScoresSnapshot) -> RecordBatch {
    let scores: Vec<_> = snapshot.nodes.values().collect();
    let mut columns: Vec<ArrayRef> = vec![
        constant_timestamps(snapshot.window_end, scores.len()),
        Arc::new(StringArray::from_iter_values(scores.iter().map(|s| s.node.as_str()))),
    ];
    columns.extend(NODE_QUANTITIES.iter().map(|quantity| -> ArrayRef {
        let values = scores.iter().map(|s| quantity.in_window(s));
        match quantity.presence {
            Presence::Reported => Arc::new(Float64Array::from_iter(values)),
            // Always known; NaN stands for a value the formula could not give.
            Presence::Always => Arc::new(Float64Array::from_iter_values(values.map(|v| v.unwrap_or(f64::NAN)))),
        }
    }));
    batch(&schema::NODE_SCORES, columns)
}

/// The `forecasts` rows issued at `issued_at` (`CompletedStep::forecasts`: those of the
/// trackers fed in the step ending then; a silent node's older forecasts were appended when
/// they were issued).
pub fn forecasts_batch<'a>(rows: impl Iterator<Item = ForecastRow<'a>>, issued_at: i64) -> RecordBatch {
    let rows: Vec<_> = rows.collect();
    let float = |f: fn(&crate::forecasts::ForecastRow<'_>) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
    };
    let columns: Vec<ArrayRef> = vec![
        constant_timestamps(issued_at, rows.len()),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.node))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.resource))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.horizon_seconds as i64))),
        float(|r| r.p10),
        float(|r| r.p50),
        float(|r| r.p90),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.model))),
    ];
    batch(&schema::FORECASTS, columns)
}

/// The `node_steps_history` rows of a completed step: the value each node and resource was
/// fed.
pub fn node_steps_batch(step: &CompletedStep) -> RecordBatch {
    let inputs = &step.inputs;
    let columns: Vec<ArrayRef> = vec![
        constant_timestamps(step.start, inputs.len()),
        constant_timestamps(step.end, inputs.len()),
        Arc::new(StringArray::from_iter_values(inputs.iter().map(|i| i.node.as_ref()))),
        Arc::new(StringArray::from_iter_values(inputs.iter().map(|i| i.resource))),
        Arc::new(Float64Array::from_iter_values(inputs.iter().map(|i| i.value))),
        Arc::new(UInt32Array::from_iter_values(inputs.iter().map(|i| i.windows))),
    ];
    batch(&schema::NODE_STEPS, columns)
}
