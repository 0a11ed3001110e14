//! SQL over the live windows and the Parquet history, through DataFusion.
//!
//! Queries are read-only (no DDL, DML or statements). Tables: `series`, `samples`,
//! `windows`, `histograms`, `node_scores`, `forecasts` (live, from a snapshot taken when the
//! query starts), and from the Parquet history (each with a `date` partition column):
//! `history` (closed windows' aggregates), `node_steps_history` (the value each node and
//! resource fed its forecaster, per step) and `forecasts_history` (every forecast issued).
//! Results come back as Arrow batches; [`to_json_rows`] renders them as a JSON array with
//! one object per row.

use crate::error::EngineError;
use crate::history::HistoryTable;
use crate::schema;
use crate::store::StoreSnapshot;
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::json::writer::{JsonArray, WriterBuilder};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use std::path::Path;
use std::sync::Arc;

/// Everything a query reads from memory, captured at one instant.
#[derive(Debug, Clone)]
pub struct TablesSnapshot {
    /// The `series` table.
    pub series: RecordBatch,
    /// The window store's batches.
    pub store: StoreSnapshot,
    /// The `node_scores` rows.
    pub node_scores: Vec<RecordBatch>,
    /// The `forecasts` rows.
    pub forecasts: Vec<RecordBatch>,
}

fn register(
    context: &SessionContext,
    name: &str,
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), EngineError> {
    let table = MemTable::try_new(schema.clone(), vec![batches])?;
    context.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Runs one SQL statement over `tables` and, when `data_dir` is given, its history.
pub async fn run(
    tables: TablesSnapshot,
    data_dir: Option<&Path>,
    query: &str,
) -> Result<Vec<RecordBatch>, EngineError> {
    // The PostgreSQL dialect: the generic one accepts trailing commas in a projection, which
    // makes `SELECT node, cluster FROM series` misparse (`CLUSTER` is a keyword).
    let config = SessionConfig::new().set_str("datafusion.sql_parser.dialect", "PostgreSQL");
    let context = SessionContext::new_with_config(config);
    register(&context, "series", &schema::SERIES, vec![tables.series])?;
    register(&context, "samples", &schema::SAMPLES, tables.store.samples)?;
    register(&context, "windows", &schema::WINDOWS, tables.store.windows)?;
    register(&context, "histograms", &schema::HISTOGRAMS, tables.store.histograms)?;
    register(&context, "node_scores", &schema::NODE_SCORES, tables.node_scores)?;
    register(&context, "forecasts", &schema::FORECASTS, tables.forecasts)?;
    let history = [
        ("history", HistoryTable::Windows, &schema::HISTORY),
        ("node_steps_history", HistoryTable::NodeSteps, &schema::NODE_STEPS),
        ("forecasts_history", HistoryTable::Forecasts, &schema::FORECASTS),
    ];
    for (name, table, schema) in history {
        let Some(dir) = data_dir.map(|d| table.dir(d)).filter(|dir| dir.is_dir()) else { continue };
        let options = ParquetReadOptions::default()
            .schema(schema)
            .table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
        context.register_parquet(name, dir.to_string_lossy().as_ref(), options).await?;
    }
    // Read-only: no DDL (CREATE EXTERNAL TABLE could read any file), no DML (COPY … TO could
    // write one), no SET or transactions.
    let read_only = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let frame = context.sql_with_options(query, read_only).await?;
    Ok(frame.collect().await?)
}

/// Renders batches as a JSON array of objects keyed by column name; nulls are written as
/// `null`, timestamps as RFC 3339 strings.
pub fn to_json_rows(batches: &[RecordBatch]) -> Result<Vec<u8>, EngineError> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(b"[]".to_vec());
    }
    let mut writer = WriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(Vec::new());
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(writer.into_inner())
}
