//! `ironspider evaluate forecasts DIR --out OUT`: the forecasters' backtest on a
//! Bitbrains-layout folder, by the protocol of [`ironspider_models::backtest`] on the panel of
//! [`ironspider_datasets::panel`] (the same panel and origins the statsforecast comparison
//! reads from `OUT/panel.csv`); `--layout genai` backtests the Alibaba GenAI pods' GPU duty
//! cycle instead, with its own panel, protocol and season (`src/evaluate/layout.rs`).
//!
//! Outputs:
//! - `OUT/forecasts.csv`: `series,model,origin,target,p10,p50,p90`, one row per model, origin
//!   and step (`origin` and `target` in Unix seconds on the panel's grid; `p50` is the model's
//!   point forecast, `p10`/`p90` empty before its conformal band has errors enough);
//! - `OUT/errors.csv`: `series,model,mase,mae,coverage_80`;
//! - `OUT/summary.json`: per model the mean and median MASE, mean MAE, mean coverage and the
//!   seconds its backtests took, the series kept and dropped, and `default_model`;
//! - `OUT/panel.csv`: `unique_id,ds,y`, the panel itself;
//! - a table on the terminal.
//!
//! `--with FILE` scores forecasts made elsewhere (statsforecast's, say, in the columns of
//! `forecasts.csv`, on `OUT/panel.csv`) with the very same scoring code, beside the models
//! (`src/evaluate/external.rs`).
//!
//! `ironspider evaluate anomalies` runs an anomaly detector over a folder in NAB's layout and
//! scores it by NAB's rules ([`anomalies`]).

pub mod anomalies;
mod external;
mod layout;

pub use layout::Layout;

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ironspider_datasets::panel::{Panel, PanelSeries};
use ironspider_models::backtest::{Forecast, Scores};
use ironspider_models::conformal::{BAND_MIN_ERRORS, BAND_WINDOW};
use ironspider_models::forecast::{FitSettings, GlobalModel};
use ironspider_models::{Conformal, forecast};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flags of `evaluate forecasts`.
#[derive(Debug, clap::Args)]
pub struct EvaluateForecastsArgs {
    /// A Bitbrains-layout folder (one `N.csv` per VM), or a GenAI one with `--layout genai`.
    pub dir: PathBuf,
    /// The folder's layout, which sets the panel, the protocol and the models' season.
    #[arg(long, value_enum, default_value_t)]
    pub layout: Layout,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Models to evaluate, comma-separated (default: every model of the catalogue that takes
    /// the layout's season).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Forecasts made elsewhere to score beside the models (the columns of `forecasts.csv`;
    /// `p50` is scored as the point forecast, `p10`/`p90` may be empty). Repeatable.
    #[arg(long = "with")]
    pub with: Vec<PathBuf>,
    /// Fit no global model: `global` is left out and the bank runs its other candidates, as
    /// the engine's live bank does today (`serve` fits none).
    #[arg(long)]
    pub no_global_fit: bool,
    /// Threads the backtests run in (default: the machine's cores). Each model's `seconds`
    /// are the sum of its backtests' own times, whatever the threads.
    #[arg(long)]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// The development run: every series cut short by one evaluation span (the last two
    /// days), so that the origins fall in the two days *before* the evaluated window. Models
    /// and settings are chosen on this run, never on the evaluation itself.
    #[arg(long)]
    pub development: bool,
}

/// One model's results over the panel.
#[derive(Debug, Default, Serialize)]
pub struct ModelSummary {
    /// The model's name.
    pub model: String,
    /// Series with a MASE (a positive in-sample scale).
    pub with_mase: usize,
    /// Mean MASE over the series with a MASE.
    pub mean_mase: f64,
    /// Median MASE over them.
    pub median_mase: f64,
    /// Mean MAE over every series.
    pub mean_mae: f64,
    /// Mean share of targets inside p10–p90.
    pub coverage_80: f64,
    /// Seconds its backtests took, all series.
    pub seconds: f64,
    /// Series it beat naive on (lower MASE), of those with a MASE, when naive was evaluated
    /// (and this is another model).
    pub better_than_naive: Option<usize>,
}

/// What `summary.json` holds.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Per model, in the order evaluated.
    pub models: Vec<ModelSummary>,
    /// Series backtested.
    pub series: usize,
    /// VMs left out of the panel, with the reason.
    pub dropped: Vec<(String, String)>,
    /// The model the engine uses live.
    pub default_model: &'static str,
    /// What became of the global model: fitted on how many series, or why not.
    pub global_fit: String,
}

/// Runs the backtest and writes its outputs; returns the summary.
pub fn run(args: &EvaluateForecastsArgs) -> anyhow::Result<Summary> {
    let (layout, horizon) = (args.layout, args.layout.protocol().horizon);
    // A model needing a fit is taken here; it is dropped later if the panel cannot fit one.
    let takes_season =
        |name: &str| forecast::needs_fit(name) || forecast::named(name, layout.season(), horizon).is_some();
    let names = if args.models.is_empty() {
        forecast::NAMES.iter().filter(|name| takes_season(name)).map(|n| n.to_string()).collect()
    } else {
        args.models.clone()
    };
    for name in &names {
        anyhow::ensure!(
            takes_season(name),
            "unknown model {name:?}, or one refusing a season of {}; the models are {}",
            layout.season(),
            forecast::NAMES.join(", ")
        );
    }
    let mut panel =
        layout.panel(&args.dir).with_context(|| format!("cannot build the panel of {}", args.dir.display()))?;
    if args.development {
        development_cut(&mut panel, layout.protocol().span());
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    write(&args.out.join("panel.csv"), &panel_csv(&panel))?;
    let (global, fit_took, global_fit) = if args.no_global_fit {
        (None, Duration::ZERO, "not fitted: --no-global-fit".to_string())
    } else {
        fit_global(layout, &panel, &names)
    };
    let names: Vec<String> = names.into_iter().filter(|name| !forecast::needs_fit(name) || global.is_some()).collect();
    let bar = crate::progress::bar((panel.series.len() * names.len()) as u64, "backtests", args.quiet);
    let mut forecasts_csv = String::from("series,model,origin,target,p10,p50,p90\n");
    let mut errors_csv = String::from("series,model,mase,mae,coverage_80\n");
    let jobs = args.jobs.or_else(|| std::thread::available_parallelism().ok()).map_or(1, usize::from);
    let mut runs = backtest_all(layout, &names, &panel.series, global.as_ref(), jobs, &bar)?.into_iter();
    let mut results: Vec<ModelRun> = Vec::new();
    for name in &names {
        let mut scores = BTreeMap::new();
        let mut took = if forecast::reads_global(name) { fit_took } else { Duration::ZERO };
        for (series, (forecasts, score, elapsed)) in panel.series.iter().zip(runs.by_ref()) {
            took += elapsed;
            append_forecasts(&mut forecasts_csv, series, name, &forecasts);
            append_errors(&mut errors_csv, &series.name, name, &score);
            scores.insert(series.name.clone(), score);
        }
        results.push(ModelRun { name: name.clone(), scores, took });
    }
    bar.finish_and_clear();
    for path in &args.with {
        for run in external::score(path, &panel, layout.protocol())? {
            for (series, score) in &run.scores {
                append_errors(&mut errors_csv, series, &run.name, score);
            }
            results.push(run);
        }
    }
    write(&args.out.join("forecasts.csv"), &forecasts_csv)?;
    write(&args.out.join("errors.csv"), &errors_csv)?;
    let summary = Summary {
        models: summarise(&results),
        series: panel.series.len(),
        dropped: panel.dropped,
        default_model: forecast::DEFAULT,
        global_fit,
    };
    write(&args.out.join("summary.json"), &serde_json::to_string_pretty(&summary)?)?;
    Ok(summary)
}

/// Cuts the last `span` values off every series (the development run; its doc).
fn development_cut(panel: &mut Panel, span: usize) {
    for series in &mut panel.series {
        let keep = series.values.len().saturating_sub(span);
        series.values.truncate(keep);
    }
}

/// The global model, fitted on every series' values up to and including its first origin
/// (what was known before any evaluated forecast), when a model in `names` uses it; the time
/// the fit took; and what became of it, for the summary. A panel too small to fit one runs
/// the bank without it (and `global` not at all).
fn fit_global(layout: Layout, panel: &Panel, names: &[String]) -> (Option<Arc<GlobalModel>>, Duration, String) {
    if !names.iter().any(|name| forecast::reads_global(name)) {
        return (None, Duration::ZERO, "not needed".into());
    }
    let started = Instant::now();
    let protocol = layout.protocol();
    let histories: Vec<&[f64]> = panel
        .series
        .iter()
        .filter_map(|series| {
            let first = *protocol.origins(series.values.len())?.first()?;
            Some(&series.values[..=first])
        })
        .collect();
    match GlobalModel::fit(&histories, FitSettings::for_season(layout.season(), protocol.horizon)) {
        Ok(model) => {
            let note = format!("fitted on {} series before their first origins", histories.len());
            (Some(Arc::new(model)), started.elapsed(), note)
        }
        Err(error) => (None, started.elapsed(), format!("not fitted: {error}")),
    }
}

/// One model's backtest of one series, and the time it took.
type Backtest = (Vec<Forecast>, Scores, Duration);

/// Every model's backtest of every series, model-major (`names[0]` on each series in
/// turn, then `names[1]`, …), run by `jobs` threads that each take the next undone pair.
/// The first error, if any, is returned once every thread has stopped.
fn backtest_all(
    layout: Layout,
    names: &[String],
    series: &[PanelSeries],
    global: Option<&Arc<GlobalModel>>,
    jobs: usize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<Backtest>> {
    let pairs = names.len() * series.len();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let run = |i: usize| -> anyhow::Result<Backtest> {
        let started = Instant::now();
        let (forecasts, score) = backtest(layout, &names[i / series.len()], &series[i % series.len()], global)?;
        bar.inc(1);
        Ok((forecasts, score, started.elapsed()))
    };
    let worker = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= pairs {
                return done;
            }
            let result = run(i);
            let failed = result.is_err();
            done.push((i, result));
            if failed {
                next.store(pairs, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    let finished: Vec<Vec<(usize, anyhow::Result<Backtest>)>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..jobs.clamp(1, pairs.max(1))).map(|_| scope.spawn(worker)).collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    let mut slots: Vec<Option<Backtest>> = (0..pairs).map(|_| None).collect();
    for (i, result) in finished.into_iter().flatten() {
        slots[i] = Some(result?);
    }
    slots.into_iter().map(|slot| slot.context("a backtest left undone after another failed")).collect()
}

/// One model's backtest of one series.
fn backtest(
    layout: Layout,
    name: &str,
    series: &PanelSeries,
    global: Option<&Arc<GlobalModel>>,
) -> anyhow::Result<(Vec<Forecast>, Scores)> {
    let protocol = layout.protocol();
    let mut model =
        forecast::named_with(name, layout.season(), protocol.horizon, global).context("a model of the catalogue")?;
    let mut band = Conformal::new(protocol.horizon, BAND_WINDOW, BAND_MIN_ERRORS).context("band settings")?;
    let forecasts = protocol
        .run(&series.values, model.as_mut(), &mut band)
        .with_context(|| format!("series {} with model {name}", series.name))?;
    let scores = protocol.score(&series.values, &forecasts);
    Ok((forecasts, scores))
}

fn append_forecasts(csv: &mut String, series: &PanelSeries, model: &str, forecasts: &[Forecast]) {
    for f in forecasts {
        let (p10, p90) = f.band.map_or((String::new(), String::new()), |b| (b.p10.to_string(), b.p90.to_string()));
        let _ = writeln!(
            csv,
            "{},{model},{},{},{p10},{},{p90}",
            series.name,
            series.time(f.origin),
            series.time(f.origin + f.h),
            f.point
        );
    }
}

fn append_errors(csv: &mut String, series: &str, model: &str, score: &Scores) {
    let _ = writeln!(csv, "{series},{model},{},{},{}", opt(score.mase), score.mae, opt(score.coverage_80));
}

fn panel_csv(panel: &Panel) -> String {
    let mut csv = String::from("unique_id,ds,y\n");
    for series in &panel.series {
        for (i, y) in series.values.iter().enumerate() {
            let _ = writeln!(csv, "{},{},{y}", series.name, series.time(i));
        }
    }
    csv
}

fn opt(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Mean and median of `values`, NaN for none.
fn mean_median(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    (values.iter().sum::<f64>() / n as f64, median)
}

/// One model's scores by series name, and the time its backtests took.
#[derive(Debug)]
pub struct ModelRun {
    /// The model (or the external forecasts' model column).
    pub name: String,
    /// Scores by series name.
    pub scores: BTreeMap<String, Scores>,
    /// Time its backtests took (zero for forecasts made elsewhere).
    pub took: Duration,
}

fn summarise(results: &[ModelRun]) -> Vec<ModelSummary> {
    let naive = results.iter().find(|run| run.name == "naive").map(|run| &run.scores);
    results
        .iter()
        .map(|run| {
            let mut mase: Vec<f64> = run.scores.values().filter_map(|s| s.mase).collect();
            let (mean_mase, median_mase) = mean_median(&mut mase);
            let (mean_mae, _) = mean_median(&mut run.scores.values().map(|s| s.mae).collect::<Vec<_>>());
            let (coverage_80, _) =
                mean_median(&mut run.scores.values().filter_map(|s| s.coverage_80).collect::<Vec<_>>());
            let better_than_naive = naive.filter(|_| run.name != "naive").map(|naive| {
                let naive_mase = |series: &String| naive.get(series).and_then(|s| s.mase);
                run.scores
                    .iter()
                    .filter(|(series, s)| matches!((s.mase, naive_mase(series)), (Some(m), Some(n)) if m < n))
                    .count()
            });
            ModelSummary {
                model: run.name.clone(),
                with_mase: mase.len(),
                mean_mase,
                median_mase,
                mean_mae,
                coverage_80,
                seconds: run.took.as_secs_f64(),
                better_than_naive,
            }
        })
        .collect()
}

/// The summary as a table.
pub fn render(summary: &Summary) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "model",
        "median MASE",
        "mean MASE",
        "mean MAE",
        "p10–p90 coverage",
        "better than naive",
        "seconds",
    ]);
    for m in &summary.models {
        table.add_row([
            m.model.clone(),
            format!("{:.3}", m.median_mase),
            format!("{:.3}", m.mean_mase),
            format!("{:.4}", m.mean_mae),
            format!("{:.1} %", m.coverage_80 * 100.0),
            m.better_than_naive.map_or(String::new(), |n| format!("{n} of {}", m.with_mase)),
            format!("{:.2}", m.seconds),
        ]);
    }
    format!(
        "{table}\n{} series, {} dropped; the engine's model: {}\n",
        summary.series,
        summary.dropped.len(),
        summary.default_model
    )
}
