//! `ironspider replay`: runs a dataset through the same ingest → engine path as `serve`,
//! on a virtual clock, as fast as the machine allows.
//!
//! The loader regularises the dataset into a trace; each timestamp of the trace becomes one
//! OTLP export request, encoded and handed to the same [`Ingestor`] (fast decoder, batch
//! builder, engine) that serves the receivers. Before each request the [`ManualClock`] moves
//! to its timestamp and the windows it passed close, so scores are computed window by
//! window exactly as live. Every window's `node_scores` rows go to
//! `OUT/node_scores.parquet`, every forecasting step's `forecasts` rows (the live forecasts of
//! `serve`, on the grid of [`forecast_config`]) to `OUT/forecasts.parquet`; the report goes
//! to `OUT/summary.json` and the terminal. With `--alerts`, the rules of [`alerts::rules`]
//! are evaluated after every window close at the virtual time: their firing episodes go to
//! `OUT/alerts.parquet`, and how far ahead of CPU overloads each rule fired to the report.

pub mod alerts;
pub mod summary;

use alerts::AlertLog;
use anyhow::Context;
use ironspider_datasets::{LoadReport, Trace, bitbrains, genai, otlp};
use ironspider_engine::alerts::{Alerts, AlertsConfig};
use ironspider_engine::{Engine, EngineConfig, ForecastConfig, ManualClock, schema};
use ironspider_ingest::metrics::Transport;
use ironspider_ingest::{DecoderKind, Encoded, Format, IngestConfig, Ingestor};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use summary::{PointCounts, ScoreTotals, Summary};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The decoders `--decoder` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Decoder {
    /// The in-place decoder.
    Fast,
    /// The prost reference decoder.
    Prost,
}

/// The datasets `replay` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetKind {
    /// Bitbrains GWA-T-12 Rnd: a directory of per-VM CSVs (each VM a node).
    Bitbrains,
    /// Alibaba GenAI 2026 (GenTD26): the pod GPU and memory series (each pod a node with
    /// one GPU).
    Genai,
}

/// Arguments of `ironspider replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Which dataset format DIR holds.
    #[arg(value_enum)]
    pub dataset: DatasetKind,
    /// Where the dataset lies (Bitbrains: the folder of `N.csv` files; GenAI: the folder of
    /// `pod_*_anon.csv` files).
    pub dir: PathBuf,
    /// Output directory for `node_scores.parquet`, `forecasts.parquet` and `summary.json`.
    #[arg(long, default_value = "replay-out")]
    pub out: PathBuf,
    /// Window length in seconds (default: the dataset's sampling step).
    #[arg(long)]
    pub window: Option<u64>,
    /// GPU memory size of every GPU in GiB, for datasets that report only GPU memory used
    /// (GenAI); without it GPU memory utilisation is unknown.
    #[arg(long)]
    pub gpu_memory_gib: Option<f64>,
    /// Protobuf decoder of the ingest path: `fast` (as `serve` runs) or `prost` (the
    /// reference decoder, the benchmarks' baseline).
    #[arg(long, value_enum, default_value = "fast")]
    pub decoder: Decoder,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Evaluate the predictive and threshold CPU rules at every window and report their lead
    /// times against overload events (`OUT/alerts.parquet`; [`alerts`]).
    #[arg(long)]
    pub alerts: bool,
}

fn load(args: &ReplayArgs) -> anyhow::Result<(Trace, LoadReport)> {
    let loaded = match args.dataset {
        DatasetKind::Bitbrains => bitbrains::load(&args.dir),
        DatasetKind::Genai => genai::load(&args.dir, args.gpu_memory_gib.map(|gib| gib * GIB)),
    };
    loaded.with_context(|| format!("cannot load the {:?} dataset from {}", args.dataset, args.dir.display()))
}

/// The engine's settings for a replay: windows of the dataset's step that close as soon as
/// the clock passes them, no Parquet history of raw windows, a short live retention (the
/// sinks drain the tables after every request), forecasts on [`forecast_config`]'s grid.
fn engine_config(window_seconds: u64) -> EngineConfig {
    EngineConfig {
        window_seconds,
        lateness_seconds: 0,
        retention_seconds: window_seconds.saturating_mul(4),
        history: false,
        forecast: forecast_config(window_seconds),
        ..EngineConfig::default()
    }
}

/// The forecasting grid of a replay with windows of `window_seconds`: the step is the
/// smallest multiple of the window that is at least 300 s (300 s itself for Bitbrains, whose
/// step it is, so the defaults of `serve` and the backtest's grid; 342 s for GenAI's 57 s),
/// the horizons 1, 3 and 12 steps, the season the whole number of steps nearest a day.
pub fn forecast_config(window_seconds: u64) -> ForecastConfig {
    let window = window_seconds.max(1);
    let step = window * 300u64.div_ceil(window);
    let season = step * (86_400 + step / 2).div_euclid(step).max(1);
    ForecastConfig {
        step_seconds: step,
        horizons_seconds: vec![step, 3 * step, 12 * step],
        season_seconds: season,
        ..ForecastConfig::default()
    }
}

/// A zstd-compressed Parquet file of `schema` at `path`.
fn parquet_writer(path: &Path, schema: &arrow::datatypes::SchemaRef) -> anyhow::Result<ArrowWriter<std::fs::File>> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?)).build();
    Ok(ArrowWriter::try_new(file, schema.clone(), Some(properties))?)
}

/// Writes `node_scores` batches to Parquet and sums them for the report.
struct ScoreSink {
    writer: ArrowWriter<std::fs::File>,
    totals: ScoreTotals,
    window_seconds: f64,
    newest: i64,
}

/// Writes `forecasts` batches to Parquet and counts their rows.
struct ForecastSink {
    writer: ArrowWriter<std::fs::File>,
    rows: usize,
    newest: i64,
}

impl ForecastSink {
    /// Takes the rows of every step the engine completed since the last call.
    fn drain(&mut self, engine: &Engine) -> anyhow::Result<()> {
        for (step_end, batch) in engine.forecasts_since(self.newest) {
            self.writer.write(&batch)?;
            self.rows += batch.num_rows();
            self.newest = step_end;
        }
        Ok(())
    }
}

impl ScoreSink {
    fn create(path: &Path, window_seconds: u64) -> anyhow::Result<Self> {
        let writer = parquet_writer(path, &schema::NODE_SCORES)?;
        Ok(Self { writer, totals: ScoreTotals::default(), window_seconds: window_seconds as f64, newest: i64::MIN })
    }

    /// Takes the rows of every window the engine scored since the last call (their CPU to
    /// `log`, when alerts are replayed).
    fn drain(&mut self, engine: &Engine, mut log: Option<&mut AlertLog>) -> anyhow::Result<()> {
        for (window_end, batch) in engine.node_scores_since(self.newest) {
            if let Some(log) = log.as_deref_mut() {
                log_cpu(log, window_end, &batch);
            }
            self.writer.write(&batch)?;
            self.totals.add(window_end, &batch, self.window_seconds);
            self.newest = window_end;
        }
        Ok(())
    }
}

/// Keeps each reporting node's CPU of a `node_scores` batch.
fn log_cpu(log: &mut AlertLog, window_end: i64, batch: &arrow::record_batch::RecordBatch) {
    use arrow::array::{Array, Float64Array, StringArray};
    let node = batch.column_by_name("node").and_then(|c| c.as_any().downcast_ref::<StringArray>());
    let cpu = batch.column_by_name("cpu").and_then(|c| c.as_any().downcast_ref::<Float64Array>());
    let (Some(node), Some(cpu)) = (node, cpu) else { return };
    for i in (0..batch.num_rows()).filter(|i| cpu.is_valid(*i)) {
        log.cpu(node.value(i), window_end, cpu.value(i));
    }
}

/// Writes the firing episodes to `path` (`alertname, node, active_at, fired_at,
/// resolved_at`, times as timestamps; `resolved_at` null while still firing at the end).
fn write_episodes(path: &Path, episodes: &[alerts::Episode]) -> anyhow::Result<()> {
    use arrow::array::{ArrayRef, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let time = || DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("alertname", DataType::Utf8, false),
        Field::new("node", DataType::Utf8, false),
        Field::new("active_at", time(), false),
        Field::new("fired_at", time(), false),
        Field::new("resolved_at", time(), true),
    ]));
    let times = |f: fn(&alerts::Episode) -> Option<i64>| -> ArrayRef {
        Arc::new(TimestampNanosecondArray::from_iter(episodes.iter().map(f)).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(episodes.iter().map(|e| e.rule.as_str()))),
        Arc::new(StringArray::from_iter_values(episodes.iter().map(|e| e.node.as_str()))),
        times(|e| Some(e.active_at)),
        times(|e| Some(e.fired_at)),
        times(|e| e.resolved_at),
    ];
    let mut writer = parquet_writer(path, &schema)?;
    writer.write(&arrow::record_batch::RecordBatch::try_new(schema, columns)?)?;
    writer.close()?;
    Ok(())
}

/// Runs the replay and writes its outputs; returns the summary.
pub fn run(args: &ReplayArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let (trace, rows) = load(args)?;
    let window_seconds = args.window.unwrap_or(trace.step_seconds).max(1);
    let (first, last) = trace.span().context("the dataset has no rows")?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;

    let clock = Arc::new(ManualClock::new(first));
    let registry = prometheus::Registry::new();
    let engine = Arc::new(Engine::new(engine_config(window_seconds), clock.clone(), &registry)?);
    let decoder = match args.decoder {
        Decoder::Fast => DecoderKind::Fast,
        Decoder::Prost => DecoderKind::Prost,
    };
    let ingestor = Ingestor::new(Arc::clone(&engine), IngestConfig { decoder, ..IngestConfig::default() }, &registry)?;
    let mut sink = ScoreSink::create(&args.out.join("node_scores.parquet"), window_seconds)?;
    let forecasts_path = args.out.join("forecasts.parquet");
    let mut forecasts =
        ForecastSink { writer: parquet_writer(&forecasts_path, &schema::FORECASTS)?, rows: 0, newest: i64::MIN };
    let mut points = PointCounts::default();
    let config = engine.config();
    let rules = AlertsConfig { default_rules: false, rules: alerts::rules(), ..AlertsConfig::default() };
    let watch = args.alerts.then(|| Alerts::new(&rules, config.anomaly.threshold)).transpose()?;
    let mut log = AlertLog::default();
    let bar = crate::progress::bar(trace.steps() as u64, "steps", args.no_progress);
    for (ts, request) in otlp::requests(&trace) {
        clock.advance_to(ts);
        engine.close_due_windows();
        if let Some(watch) = &watch {
            log.observe(&watch.evaluate(&engine.scores(), &engine.forecasts(), ts));
        }
        sink.drain(&engine, watch.as_ref().map(|_| &mut log))?;
        forecasts.drain(&engine)?;
        let outcome =
            ingestor.submit(Transport::Replay, &Encoded::new(Format::OtlpProtobuf, request.encode_to_vec()))?;
        points.received += outcome.received;
        points.accepted += outcome.accepted;
        for (reason, n) in outcome.rejected.nonzero() {
            *points.rejected.entry(reason.as_str().to_string()).or_default() += n;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    engine.shutdown();
    sink.drain(&engine, watch.as_ref().map(|_| &mut log))?;
    sink.writer.close()?;
    forecasts.drain(&engine)?;
    forecasts.writer.close()?;

    let simulated_seconds = (last - first) as f64 / 1e9 + window_seconds as f64;
    let alert_reports = match &watch {
        Some(watch) => {
            write_episodes(&args.out.join("alerts.parquet"), &log.episodes)?;
            let events = log.events(window_seconds as i64 * 1_000_000_000);
            let node_days = trace.nodes.len() as f64 * simulated_seconds / 86_400.0;
            watch.rules().iter().map(|rule| alerts::score(rule, &log.episodes, &events, node_days)).collect()
        }
        None => Vec::new(),
    };
    let wall_seconds = started.elapsed().as_secs_f64();
    let summary = Summary {
        dataset: format!("{:?}", args.dataset).to_lowercase(),
        source: args.dir.display().to_string(),
        window_seconds,
        nodes: trace.nodes.len(),
        windows: sink.totals.windows(),
        node_windows_scored: sink.totals.node_windows(),
        rows,
        points,
        pressure_threshold: summary::HIGH_PRESSURE,
        top_pressure_nodes: sink.totals.top_pressure_nodes(),
        cost: sink.totals.cost(),
        forecast_rows: forecasts.rows,
        simulated_seconds,
        wall_seconds,
        speedup: simulated_seconds / wall_seconds.max(1e-9),
        alerts: alert_reports,
    };
    let path = args.out.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forecast_grid_is_the_backtest_grid_for_bitbrains_and_a_valid_multiple_for_genai() {
        let bitbrains = engine_config(300);
        let defaults = ForecastConfig::default();
        assert_eq!(bitbrains.forecast, defaults, "300 s windows: serve's defaults, the backtest's grid");
        // 57 s windows: 6 windows = 342 s; a day is 252.6 steps, so 253 steps = 86,526 s.
        let genai = forecast_config(57);
        assert_eq!((genai.step_seconds, genai.season_seconds), (342, 86_526));
        assert_eq!(genai.horizons_seconds, [342, 1026, 4104]);
        for window in [1, 57, 300, 301, 7200] {
            assert_eq!(engine_config(window).validate(), Ok(()), "window {window}");
        }
    }
}
