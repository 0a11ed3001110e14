//! `ironspider evaluate anomalies DIR --out OUT`: a detector of
//! [`ironspider_models::anomaly`] over every series of a folder in NAB's layout
//! (`data/<category>/<name>.csv`, `timestamp,value`), scored by NAB's rules
//! ([`ironspider_models::nab`]) when the folder has labels (`labels/combined_windows.json`).
//! The detector sees each series' values once, in order, and never the labels: only the
//! scorer reads them.
//!
//! Outputs:
//! - `OUT/results/ironspider/<category>/ironspider_<name>.csv`: `timestamp,value,anomaly_score`,
//!   a row per data row (NAB's results layout, so NAB's own tools could score it);
//! - with labels, `OUT/final_results.json`, `{"ironspider": {"standard": …,
//!   "reward_low_FP_rate": …, "reward_low_FN_rate": …}}` (NAB's shape), and
//!   `OUT/thresholds.json`, the threshold chosen and the raw score per profile;
//! - a table on the terminal, beside the published detectors when the folder has NAB's
//!   `results/final_results.json`.
//!
//! A value that does not parse or is not finite is counted (`bad rows`), scored 0 and not
//! given to the detector; its row stays, so that the rows line up with the labels.

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ironspider_datasets::nab as layout;
use ironspider_models::anomaly;
use ironspider_models::nab::{self, File, PROFILES, Window};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The name the results are filed under, as NAB files a detector's.
const DETECTOR_LABEL: &str = "ironspider";

/// Flags of `evaluate anomalies`.
#[derive(Debug, clap::Args)]
pub struct EvaluateAnomaliesArgs {
    /// A folder in NAB's layout: `data/<category>/<name>.csv`, and optionally
    /// `labels/combined_windows.json` and the published `results/final_results.json`.
    pub dir: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// The detector (one of `ironspider_models::anomaly::NAMES`).
    #[arg(long, default_value = anomaly::DEFAULT)]
    pub detector: String,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// What a run found.
#[derive(Debug)]
pub struct AnomalySummary {
    /// The detector run.
    pub detector: String,
    /// Series scored.
    pub files: usize,
    /// Rows scored, all files.
    pub rows: usize,
    /// Rows whose value was not a finite number.
    pub bad_rows: usize,
    /// Series the labels file does not list, when there is one: run but not scored.
    pub unlabelled: Vec<String>,
    /// Per profile, with labels: the threshold, the raw and the normalised score.
    pub scores: Vec<(&'static str, f64, f64, f64)>,
    /// The published detectors' normalised scores per profile, when the folder has them.
    pub published: Vec<(String, [f64; 3])>,
}

/// Runs the detector over the folder, writes the outputs, and scores it when labelled.
pub fn run(args: &EvaluateAnomaliesArgs) -> anyhow::Result<AnomalySummary> {
    anyhow::ensure!(
        anomaly::named(&args.detector).is_some(),
        "unknown detector {:?}; the detectors are {}",
        args.detector,
        anomaly::NAMES.join(", ")
    );
    let names = layout::data_files(&args.dir).with_context(|| format!("no NAB layout in {}", args.dir.display()))?;
    anyhow::ensure!(!names.is_empty(), "{} has no data/<category>/<name>.csv files", args.dir.display());
    let labels_path = args.dir.join("labels/combined_windows.json");
    let labels = labels_path.is_file().then(|| layout::label_windows(&args.dir)).transpose()?;
    let bar = crate::progress::bar(names.len() as u64, "series", args.quiet);
    let mut summary = AnomalySummary {
        detector: args.detector.clone(),
        files: names.len(),
        rows: 0,
        bad_rows: 0,
        unlabelled: Vec::new(),
        scores: Vec::new(),
        published: Vec::new(),
    };
    let mut scored: Vec<(Vec<f64>, Vec<Window>)> = Vec::new();
    for name in &names {
        let series = layout::read_rows(&args.dir.join("data").join(name), layout::VALUE)?;
        let (scores, bad) = detect(&args.detector, &series.timestamps, &series.values);
        write_results(&args.out, name, &series, &scores)?;
        (summary.rows, summary.bad_rows) = (summary.rows + scores.len(), summary.bad_rows + bad);
        match labels.as_ref().map(|l| l.get(name)) {
            Some(Some(limits)) => {
                let rows =
                    layout::window_rows(&series.timestamps, limits).with_context(|| format!("labels of {name}"))?;
                scored.push((scores, rows.into_iter().map(|(first, last)| Window { first, last }).collect()));
            }
            Some(None) => summary.unlabelled.push(name.clone()),
            None => {}
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if labels.is_some() {
        let files: Vec<File> = scored.iter().map(|(scores, windows)| File { scores, windows }).collect();
        summary.scores = score(&files, &args.out)?;
        summary.published = published(&args.dir)?;
    }
    Ok(summary)
}

/// The detector's score of every value at its time; bad rows counted: a value that is not
/// a finite number (the detector scores it 0 and does not take it) or a timestamp that does
/// not parse (the value is taken at the time of the row before it, 0 for the first).
fn detect(detector: &str, timestamps: &[String], values: &[f64]) -> (Vec<f64>, usize) {
    let mut model = anomaly::named(detector).expect("checked by run");
    let (mut bad, mut at) = (0, 0);
    let scores = timestamps.iter().zip(values).map(|(text, &y)| {
        match time_ns(text) {
            Some(parsed) => at = parsed,
            None => bad += 1,
        }
        bad += usize::from(!y.is_finite());
        model.observe(at, y)
    });
    (scores.collect(), bad)
}

/// A NAB timestamp (`2014-04-02 14:29:00`, UTC) or an RFC 3339 one, in ns since the epoch;
/// `None` when it is neither (or out of range). The anomaly bench reads NAB's times so too.
pub fn time_ns(text: &str) -> Option<i64> {
    let text = text.trim();
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .map(|t| t.and_utc())
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()));
    parsed.ok()?.timestamp_nanos_opt()
}

/// `OUT/results/ironspider/<category>/ironspider_<name>.csv`.
fn write_results(out: &Path, name: &str, series: &layout::Rows, scores: &[f64]) -> anyhow::Result<()> {
    let (category, file) = name.split_once('/').unwrap_or(("", name));
    let dir = out.join("results").join(DETECTOR_LABEL).join(category);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut text = String::from("timestamp,value,anomaly_score\n");
    for ((timestamp, value), score) in series.timestamps.iter().zip(&series.values).zip(scores) {
        text.push_str(&format!("{timestamp},{value},{score}\n"));
    }
    let path = dir.join(format!("{DETECTOR_LABEL}_{file}"));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Scores the labelled files under every profile; writes `final_results.json` and
/// `thresholds.json`.
fn score(files: &[File], out: &Path) -> anyhow::Result<Vec<(&'static str, f64, f64, f64)>> {
    let (mut finals, mut thresholds, mut rows) = (Map::new(), Map::new(), Vec::new());
    for (profile, costs) in PROFILES {
        let corpus = nab::score_corpus(files, costs)?;
        finals.insert(profile.to_string(), json!(corpus.normalised));
        thresholds.insert(profile.to_string(), json!({"threshold": corpus.threshold, "score": corpus.raw}));
        rows.push((profile, corpus.threshold, corpus.raw, corpus.normalised));
    }
    let write = |file: &str, value: Value| {
        let path = out.join(file);
        let text = serde_json::to_string_pretty(&json!({ DETECTOR_LABEL: value }))?;
        std::fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
    };
    write("final_results.json", Value::Object(finals))?;
    write("thresholds.json", Value::Object(thresholds))?;
    Ok(rows)
}

/// The published board (`DIR/results/final_results.json`), if there: each detector's scores
/// in the order of [`PROFILES`], best standard score first.
fn published(dir: &Path) -> anyhow::Result<Vec<(String, [f64; 3])>> {
    let path = dir.join("results/final_results.json");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let board: Map<String, Value> = serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let mut rows: Vec<(String, [f64; 3])> = board
        .iter()
        .map(|(name, scores)| (name.clone(), PROFILES.map(|(p, _)| scores[p].as_f64().unwrap_or(f64::NAN))))
        .collect();
    rows.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    Ok(rows)
}

/// The table: ours, then the published board.
pub fn render(summary: &AnomalySummary) -> String {
    let mut text = format!(
        "{} over {} series, {} rows ({} bad)\n",
        summary.detector, summary.files, summary.rows, summary.bad_rows
    );
    if !summary.unlabelled.is_empty() {
        text.push_str(&format!("not in the labels, run but not scored: {}\n", summary.unlabelled.join(", ")));
    }
    if summary.scores.is_empty() {
        return text + "no labels: not scored\n";
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(["detector", "standard", "low FP", "low FN", "thresholds"]);
    let ours: Vec<String> = summary.scores.iter().map(|s| format!("{:.2}", s.3)).collect();
    let thresholds: Vec<String> = summary.scores.iter().map(|s| format!("{:.4}", s.1)).collect();
    table.add_row([
        format!("{DETECTOR_LABEL} ({})", summary.detector),
        ours[0].clone(),
        ours[1].clone(),
        ours[2].clone(),
        thresholds.join(" / "),
    ]);
    for (name, scores) in &summary.published {
        let cell = |v: f64| format!("{v:.2}");
        table.add_row([
            format!("{name} (published)"),
            cell(scores[0]),
            cell(scores[1]),
            cell(scores[2]),
            String::new(),
        ]);
    }
    text.push_str(&format!("{table}\n"));
    text
}
