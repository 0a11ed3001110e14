//! The NAB scorer (`ironspider_models::nab`) reproduces the Numenta Anomaly Benchmark's
//! published results from the published detectors' raw output in
//! `../shared/datasets/nab/results`: for ARTime (the board's leader) and windowedGaussian,
//! under each of the three profiles, the threshold, every file's score and counts as their
//! `<detector>_<profile>_scores.csv` give them, and the normalised scores of
//! `final_results.json` (74.85 / 65.15 / 80.36 and 39.65 / 20.87 / 47.41). And every other
//! published detector's total normalises to its published score.

use ironspider_datasets::nab::{self, Published};
use ironspider_datasets::shared::dataset;
use ironspider_models::nab::{File, PROFILES, Window, normalised, score_corpus};
use std::path::Path;

/// A detector's scores and windows for every labelled data file, in the labels' order.
struct Corpus {
    names: Vec<String>,
    scores: Vec<Vec<f64>>,
    windows: Vec<Vec<Window>>,
}

fn corpus(root: &Path, detector: &str) -> Corpus {
    let labels = nab::label_windows(root).expect("labels");
    let mut corpus = Corpus { names: Vec::new(), scores: Vec::new(), windows: Vec::new() };
    for (name, limits) in &labels {
        let (category, file) = name.split_once('/').expect("<category>/<file>");
        let path = root.join(format!("results/{detector}/{category}/{detector}_{file}"));
        let results = nab::read_rows(&path, nab::ANOMALY_SCORE).expect("results file");
        let rows = nab::window_rows(&results.timestamps, limits).expect("window limits are timestamps");
        corpus.windows.push(rows.into_iter().map(|(first, last)| Window { first, last }).collect());
        corpus.scores.push(results.values);
        corpus.names.push(name.clone());
    }
    corpus
}

/// `final_results.json`: every published detector's normalised score by profile.
fn published_finals(root: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(root.join("results/final_results.json")).expect("final_results.json");
    serde_json::from_str(&text).expect("JSON")
}

/// `final_results.json`'s score of `detector` under `profile`.
fn published_final(root: &Path, detector: &str, profile: &str) -> f64 {
    published_finals(root)[detector][profile].as_f64().expect("a number")
}

/// Scores `detector` under every profile and checks each against what NAB published.
fn reproduces(detector: &str) {
    let root = dataset("nab");
    let corpus = corpus(&root, detector);
    assert_eq!(corpus.names.len(), 58, "NAB v1.1 labels 58 files");
    assert_eq!(corpus.windows.iter().map(Vec::len).sum::<usize>(), 116, "and 116 windows");
    let files: Vec<File> =
        corpus.scores.iter().zip(&corpus.windows).map(|(scores, windows)| File { scores, windows }).collect();
    for (profile, costs) in PROFILES {
        let scored = score_corpus(&files, costs).expect("published results are valid");
        let published = nab::read_published(&root, detector, profile).expect("scores file");
        for row in published.iter().filter(|p| !p.file.is_empty()) {
            let i = corpus.names.iter().position(|n| *n == row.file).expect("a labelled file");
            let ours = &scored.files[i];
            let Published { threshold, score, counts, .. } = row;
            assert!((ours.score - score).abs() < 1e-9, "{detector} {profile} {}: {} vs {score}", row.file, ours.score);
            let c = ours.counts;
            let counts_ours = [c.true_positives, c.true_negatives, c.false_positives, c.false_negatives];
            assert_eq!(&counts_ours, counts, "{detector} {profile} {}", row.file);
            // The scores files round the threshold to six places.
            assert!((scored.threshold - threshold).abs() < 1e-6, "{detector} {profile}: {}", scored.threshold);
        }
        let expected = published_final(&root, detector, profile);
        assert!(
            (scored.normalised - expected).abs() < 1e-9,
            "{detector} {profile}: {} vs the published {expected}",
            scored.normalised
        );
    }
}

#[test]
fn artime_is_reproduced_file_by_file_and_in_total() {
    reproduces("ARTime");
}

#[test]
fn windowed_gaussian_is_reproduced_file_by_file_and_in_total() {
    reproduces("windowedGaussian");
}

/// Every published detector's raw total (the `Totals` row of its scores files), normalised
/// with the null and perfect scores the scorer finds for NAB's windows (−A_FN and A_TP per
/// window), is its score in `final_results.json` — all but `random`'s, whose scores files
/// are from another run than its published score (they normalise to 38.8, not 16.8).
#[test]
fn every_published_total_normalises_to_the_published_score() {
    let root = dataset("nab");
    let corpus = corpus(&root, "ARTime");
    let files: Vec<File> =
        corpus.scores.iter().zip(&corpus.windows).map(|(scores, windows)| File { scores, windows }).collect();
    let finals = published_finals(&root);
    let detectors = finals.as_object().expect("an object of detectors");
    assert!(detectors.len() >= 15, "the board: {:?}", detectors.keys());
    for (profile, costs) in PROFILES {
        let baseline = score_corpus(&files, costs).expect("valid");
        for (detector, scores) in detectors.iter().filter(|(name, _)| *name != "random") {
            let published = nab::read_published(&root, detector, profile).expect("scores file");
            let totals = published.iter().find(|p| p.file.is_empty()).expect("a Totals row");
            let ours = normalised(totals.score, baseline.null, baseline.perfect);
            let expected = scores[profile].as_f64().expect("a number");
            assert!((ours - expected).abs() < 1e-9, "{detector} {profile}: {ours} vs {expected}");
        }
    }
}
