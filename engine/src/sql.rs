//! SQL over the live windows and the Parquet history, through DataFusion.
//!
//! Queries are read-only (no DDL, DML or statements). Tables: `series`, `samples`,
//! `windows`, `histograms`, `node_scores`, `forecasts` (live, from a snapshot taken when the
//! query starts), and from the Parquet history (each with a `date` partition column):
//! `history` (closed windows' aggregates), `node_steps_history` (the value each node and
//! resource fed its forecaster, per step) and `forecasts_history` (every forecast issued).
//! Results come back as Arrow batches; [`to_json_rows`] renders them as a JSON array with
//! one object per row.
//!
//! ## Limits (`[engine.sql]`, [`SqlConfig`])
//!
//! A query's text is at most `max_query_bytes`; it is parsed first, and only the tables it
//! names are snapshot (a query of `node_scores` never touches the window store, so it never
//! waits on ingest's lock or copies an open window). Its joins, sorts and aggregations draw
//! on a memory pool of `memory_limit_bytes` (DataFusion's `GreedyMemoryPool`: past it the
//! operator fails with "Resources exhausted"; nothing spills to disk), its plan runs on `threads` partitions, and
//! its result stops with [`EngineError::ResultTooLarge`] at more than `max_result_rows` rows
//! or `max_result_bytes` bytes of Arrow memory.
//!
//! **Joins without keys.** A nested-loop or cross join (`a.value < b.value`, `FROM a, b`)
//! compares every row of one side with every row of the other, in polls that each take
//! one batch of one side against the whole other: such a query cannot be cancelled between
//! its comparisons, and two 200,000-row sides (4·10¹⁰ pairs) hold a thread for a minute
//! after their time limit. So a plan whose such join would compare more than
//! `max_join_pairs` pairs, by its inputs' row-count estimates, or whose inputs have no
//! estimate, is refused before it runs ([`EngineError::TooExpensive`]).
//!
//! **Deep expressions.** The parser stops nesting (parentheses, function calls, subqueries)
//! at its recursion limit (50), but a left-deep chain such as `1+1+…+1` parses in a loop
//! into a tree as deep as it is long, and planning it takes time and memory that grow much
//! faster than its length (measured in a debug build: 1,000 terms 1.2 s to plan, 2,000 terms
//! 10 s, 4,000 terms 56 s; 32,000, the most 64 KiB holds, did not end in 16 minutes and
//! 5 GB). So the parsed statement's expressions are measured first, and one nested deeper
//! than [`MAX_EXPRESSION_DEPTH`] is refused before it is planned
//! ([`EngineError::TooDeep`]). Dropping the parsed tree still recurses once per level, so a
//! query runs on a thread of [`STACK_BYTES`] (the address space is reserved; only what a
//! query touches is committed), and DataFusion's `recursive_protection` grows the stack on
//! the heap where its planner and optimizer recurse. The time limit, the concurrency limit and the threads a query
//! runs on are the caller's (`ironspider serve`'s SQL pool).

use crate::config::SqlConfig;
use crate::error::EngineError;
use crate::history::HistoryTable;
use crate::schema;
use crate::store::StoreSnapshot;
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::json::writer::{JsonArray, WriterBuilder};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::joins::{CrossJoinExec, NestedLoopJoinExec};
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext, execute_stream};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::{CopyToSource, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Expr, Visit, Visitor};
use futures_util::StreamExt;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

/// The stack of a thread that runs queries (module doc): 256 MiB of address space.
pub const STACK_BYTES: usize = 256 << 20;

/// The deepest nesting of expressions a query may have (module doc): `a + b + c` is 3 deep
/// (`+(+(a, b), c)`), so is `f(g(x))`.
pub const MAX_EXPRESSION_DEPTH: usize = 500;

/// Counts how deep expressions nest, stopping past [`MAX_EXPRESSION_DEPTH`].
#[derive(Default)]
struct Depth {
    now: usize,
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.now += 1;
        if self.now > MAX_EXPRESSION_DEPTH { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.now -= 1;
        ControlFlow::Continue(())
    }
}

/// Refuses a statement whose expressions nest deeper than [`MAX_EXPRESSION_DEPTH`].
fn check_depth(statement: &DfStatement) -> Result<(), EngineError> {
    let too_deep = match statement {
        DfStatement::Statement(statement) => statement.visit(&mut Depth::default()).is_break(),
        DfStatement::Explain(explain) => return check_depth(&explain.statement),
        DfStatement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(query) => query.visit(&mut Depth::default()).is_break(),
            CopyToSource::Relation(_) => false,
        },
        DfStatement::CreateExternalTable(_) | DfStatement::Reset(_) => false,
    };
    if too_deep { Err(EngineError::TooDeep { limit: MAX_EXPRESSION_DEPTH }) } else { Ok(()) }
}

/// Everything a query reads from memory, captured at one instant; the tables it does not
/// name are left empty.
#[derive(Debug, Clone, Default)]
pub struct TablesSnapshot {
    /// The `series` table (none: not asked for).
    pub series: Option<RecordBatch>,
    /// The window store's batches.
    pub store: StoreSnapshot,
    /// The `node_scores` rows.
    pub node_scores: Vec<RecordBatch>,
    /// The `forecasts` rows.
    pub forecasts: Vec<RecordBatch>,
}

/// The live tables a query names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveTables {
    /// `series`.
    pub series: bool,
    /// `samples`, `windows` or `histograms`: the window store.
    pub store: bool,
    /// `node_scores`.
    pub node_scores: bool,
    /// `forecasts`.
    pub forecasts: bool,
}

/// The history tables, by SQL name.
fn history_tables() -> [(&'static str, HistoryTable, &'static SchemaRef); 3] {
    [
        ("history", HistoryTable::Windows, &schema::HISTORY),
        ("node_steps_history", HistoryTable::NodeSteps, &schema::NODE_STEPS),
        ("forecasts_history", HistoryTable::Forecasts, &schema::FORECASTS),
    ]
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

/// A session for one query within `limits`.
fn session(limits: &SqlConfig) -> Result<SessionContext, EngineError> {
    // The PostgreSQL dialect: the generic one accepts trailing commas in a projection, which
    // makes `SELECT node, cluster FROM series` misparse (`CLUSTER` is a keyword).
    let config = SessionConfig::new()
        .set_str("datafusion.sql_parser.dialect", "PostgreSQL")
        .with_target_partitions(limits.threads);
    let pool = Arc::new(GreedyMemoryPool::new(limits.memory_limit_bytes));
    // No spilling: a query past its memory fails rather than filling the disk.
    let no_spill = DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled);
    let runtime = RuntimeEnvBuilder::new().with_memory_pool(pool).with_disk_manager_builder(no_spill).build_arc()?;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// Runs one SQL statement within `limits` over the live tables `tables` gives for the ones
/// it names, and, when `data_dir` is given, its history.
pub async fn run(
    tables: impl FnOnce(LiveTables) -> TablesSnapshot,
    data_dir: Option<&Path>,
    query: &str,
    limits: &SqlConfig,
) -> Result<Vec<RecordBatch>, EngineError> {
    if query.len() > limits.max_query_bytes {
        return Err(EngineError::QueryTooLong { bytes: query.len(), limit: limits.max_query_bytes });
    }
    let context = session(limits)?;
    let state = context.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(query, &dialect)?;
    check_depth(&statement)?;
    let named: Vec<String> =
        state.resolve_table_references(&statement)?.iter().map(|table| table.table().to_string()).collect();
    let names = |candidates: &[&str]| named.iter().any(|n| candidates.contains(&n.as_str()));
    let live = LiveTables {
        series: names(&["series"]),
        store: names(&["samples", "windows", "histograms"]),
        node_scores: names(&["node_scores"]),
        forecasts: names(&["forecasts"]),
    };
    let snapshot = tables(live);
    let series = snapshot.series.unwrap_or_else(|| RecordBatch::new_empty(schema::SERIES.clone()));
    register(&context, "series", &schema::SERIES, vec![series])?;
    register(&context, "samples", &schema::SAMPLES, snapshot.store.samples)?;
    register(&context, "windows", &schema::WINDOWS, snapshot.store.windows)?;
    register(&context, "histograms", &schema::HISTOGRAMS, snapshot.store.histograms)?;
    register(&context, "node_scores", &schema::NODE_SCORES, snapshot.node_scores)?;
    register(&context, "forecasts", &schema::FORECASTS, snapshot.forecasts)?;
    for (name, table, schema) in history_tables().into_iter().filter(|(name, ..)| names(&[name])) {
        let Some(dir) = data_dir.map(|d| table.dir(d)).filter(|dir| dir.is_dir()) else { continue };
        let options = ParquetReadOptions::default()
            .schema(schema)
            .table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
        context.register_parquet(name, dir.to_string_lossy().as_ref(), options).await?;
    }
    let plan = context.state().statement_to_plan(statement).await?;
    // Read-only: no DDL (CREATE EXTERNAL TABLE could read any file), no DML (COPY … TO could
    // write one), no SET or transactions.
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false).verify_plan(&plan)?;
    let frame = context.execute_logical_plan(plan).await?;
    let task = Arc::new(frame.task_ctx());
    let physical = frame.create_physical_plan().await?;
    check_join_cost(&physical, limits.max_join_pairs)?;
    let mut stream = execute_stream(physical, task)?;
    collect_capped(&mut stream, limits).await
}

/// Refuses a plan whose nested-loop or cross joins would compare more than `limit` row
/// pairs (module doc), by their inputs' row counts as DataFusion estimates them (exact for
/// the live tables and `VALUES`, from Parquet metadata for the history); a join with an
/// input of no estimate (`generate_series`, say) is refused too.
fn check_join_cost(plan: &Arc<dyn ExecutionPlan>, limit: u64) -> Result<(), EngineError> {
    for child in plan.children() {
        check_join_cost(child, limit)?;
    }
    let sides = match (plan.downcast_ref::<NestedLoopJoinExec>(), plan.downcast_ref::<CrossJoinExec>()) {
        (Some(join), _) => (join.left(), join.right()),
        (None, Some(join)) => (join.left(), join.right()),
        (None, None) => return Ok(()),
    };
    let statistics = StatisticsContext::new();
    let rows = |side: &Arc<dyn ExecutionPlan>| {
        let estimate = statistics.compute(side.as_ref(), &StatisticsArgs::new()).ok()?;
        estimate.num_rows.get_value().map(|n| *n as u128)
    };
    match (rows(sides.0), rows(sides.1)) {
        (Some(left), Some(right)) if left * right <= u128::from(limit) => Ok(()),
        (Some(left), Some(right)) => Err(EngineError::TooExpensive { pairs: Some(left * right), limit }),
        _ => Err(EngineError::TooExpensive { pairs: None, limit }),
    }
}

/// The batches of `stream`, refused once they pass the result limits.
async fn collect_capped(
    stream: &mut datafusion::physical_plan::SendableRecordBatchStream,
    limits: &SqlConfig,
) -> Result<Vec<RecordBatch>, EngineError> {
    let (mut batches, mut rows, mut bytes) = (Vec::new(), 0usize, 0usize);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        bytes += batch.get_array_memory_size();
        if rows > limits.max_result_rows || bytes > limits.max_result_bytes {
            return Err(EngineError::ResultTooLarge { rows: limits.max_result_rows, bytes: limits.max_result_bytes });
        }
        batches.push(batch);
    }
    Ok(batches)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `query` on empty tables within `limits`; returns the result and the live tables
    /// it asked for.
    async fn query(query: &str, limits: &SqlConfig) -> (Result<Vec<RecordBatch>, EngineError>, LiveTables) {
        let mut asked = LiveTables::default();
        let result = run(
            |needed| {
                asked = needed;
                TablesSnapshot::default()
            },
            None,
            query,
            limits,
        )
        .await;
        (result, asked)
    }

    fn rows(batches: &[RecordBatch]) -> usize {
        batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The first row's first column, an `Int64`.
    fn first_i64(batches: &[RecordBatch]) -> i64 {
        batches[0].column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0)
    }

    #[tokio::test]
    async fn only_the_tables_a_query_names_are_snapshot() {
        let limits = SqlConfig::default();
        let (result, asked) = query("SELECT 1", &limits).await;
        assert_eq!((rows(&result.unwrap()), asked), (1, LiveTables::default()));
        let (_, asked) = query("SELECT count(*) FROM node_scores", &limits).await;
        assert_eq!(asked, LiveTables { node_scores: true, ..LiveTables::default() });
        let (_, asked) = query("SELECT * FROM windows w JOIN series s USING (series_id)", &limits).await;
        assert_eq!(asked, LiveTables { series: true, store: true, ..LiveTables::default() });
    }

    #[tokio::test]
    async fn a_result_past_its_row_limit_is_refused_with_the_limit_named() {
        let limits = SqlConfig { max_result_rows: 100, ..SqlConfig::default() };
        let (fits, _) = query("SELECT * FROM generate_series(1, 99)", &limits).await;
        assert_eq!(rows(&fits.unwrap()), 99, "generate_series(1, 99) has 99 rows");
        let (refused, _) = query("SELECT * FROM generate_series(1, 1000000000000000000)", &limits).await;
        let message = refused.unwrap_err().to_string();
        assert!(message.starts_with("the result has more than 100 rows"), "{message}");
    }

    #[tokio::test]
    async fn a_join_without_keys_past_its_pair_limit_is_refused_before_it_runs() {
        let limits = SqlConfig { max_join_pairs: 100, ..SqlConfig::default() };
        let values = |n: usize| (1..=n).map(|i| format!("({i})")).collect::<Vec<_>>().join(", ");
        let join = |left: usize, right: usize| {
            format!(
                "SELECT count(*) AS n FROM (VALUES {}) AS a(x), (VALUES {}) AS b(y) WHERE a.x < b.y",
                values(left),
                values(right)
            )
        };
        let (fits, _) = query(&join(10, 10), &limits).await;
        let n = first_i64(&fits.unwrap());
        assert_eq!(n, 10 * 9 / 2, "pairs x < y among 1..10");
        let (refused, _) = query(&join(10, 11), &limits).await;
        assert_eq!(
            refused.unwrap_err().to_string(),
            "a join without keys would compare 110 row pairs, more than 100 (engine.sql.max_join_pairs)"
        );
        let unknown = "SELECT count(*) FROM generate_series(1, 5) a, generate_series(1, 5) b";
        let (refused, _) = query(unknown, &limits).await;
        assert_eq!(
            refused.unwrap_err().to_string(),
            "a join without keys over an input of unknown size is refused (engine.sql.max_join_pairs = 100)"
        );
    }

    #[tokio::test]
    async fn a_query_past_its_memory_pool_fails_and_the_next_one_runs() {
        let limits = SqlConfig { memory_limit_bytes: 16 << 20, ..SqlConfig::default() };
        let sort = "SELECT value FROM generate_series(1, 10000000) AS t(value) ORDER BY value DESC LIMIT 1";
        let (refused, _) = query(&sort.replace("LIMIT 1", "OFFSET 9999999"), &limits).await;
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("Resources exhausted"), "{message}");
        let (small, _) =
            query("SELECT value FROM generate_series(1, 1000) AS t(value) ORDER BY value DESC", &limits).await;
        assert_eq!(rows(&small.unwrap()), 1000);
    }

    /// Runs `query` with the default limits on a thread of [`STACK_BYTES`], as serve does.
    fn on_a_query_thread(query_text: String) -> Result<Vec<RecordBatch>, EngineError> {
        let thread = std::thread::Builder::new().stack_size(STACK_BYTES);
        let handle = thread
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                runtime.block_on(async { query(&query_text, &SqlConfig::default()).await.0 })
            })
            .unwrap();
        handle.join().expect("no panic, no overflow")
    }

    /// `SELECT 1+1+…+1 AS n` with `terms` ones.
    fn sum(terms: usize) -> String {
        format!("SELECT 1{} AS n", "+1".repeat(terms - 1))
    }

    #[test]
    fn deep_expressions_end_in_an_answer_or_an_error_never_a_stack_overflow() {
        // The crash: `SELECT 1+1+…+1`, 60,000 terms (120 KB), overflowed the stack
        // and aborted serve. 500 terms nest 500 deep (499 additions and a literal): answered.
        let batches = on_a_query_thread(sum(MAX_EXPRESSION_DEPTH)).unwrap();
        assert_eq!(first_i64(&batches), MAX_EXPRESSION_DEPTH as i64);
        let refused = on_a_query_thread(sum(MAX_EXPRESSION_DEPTH + 1)).unwrap_err();
        assert_eq!(refused.to_string(), "the query nests expressions deeper than 500 (engine.sql): simplify it");
        // The deepest chain 64 KiB holds is refused as quickly, after it is parsed.
        let longest = sum((SqlConfig::default().max_query_bytes - "SELECT 1 AS n".len()) / 2);
        assert!(longest.len() <= SqlConfig::default().max_query_bytes);
        assert!(matches!(on_a_query_thread(longest), Err(EngineError::TooDeep { .. })));
        let explained = on_a_query_thread(format!("EXPLAIN {}", sum(1_000))).unwrap_err();
        assert!(matches!(explained, EngineError::TooDeep { .. }));
        let nested = format!("SELECT {}1{}", "(".repeat(30_000), ")".repeat(30_000));
        let message = on_a_query_thread(nested).unwrap_err().to_string();
        assert!(message.contains("RecursionLimitExceeded"), "{message}");
        let too_long = on_a_query_thread(sum(60_000)).unwrap_err();
        assert_eq!(
            too_long.to_string(),
            "the query is 120011 bytes; at most 65536 are accepted (engine.sql.max_query_bytes)"
        );
    }
}
