//! The Numenta Anomaly Benchmark's scoring, NAB v1.1 (Lavin & Ahmad, "Evaluating Real-time
//! Anomaly Detection Algorithms — the Numenta Anomaly Benchmark", IEEE ICMLA 2015; the rules
//! as NAB v1.1's sweeper, optimiser and runner apply them): how a detector's per-row anomaly
//! scores over a corpus of labelled files become its published score.
//!
//! ## Contract
//!
//! A [`File`] is a detector's scores, one per row of a data file (each in [0, 1]), and the
//! file's label windows as row ranges ([`Window`]: sorted, disjoint, within the file). For a
//! profile's weights ([`Costs`]: A_TP, A_FP, A_FN):
//!
//! 1. **Probation**: the first `p = min(⌊0.15·N⌋, 750)` rows of a file of N rows are not
//!    scored at all ([`probation`]: 15 % of the file, at most 15 % of 5,000 rows); a window
//!    counts only if one of its rows is past probation.
//! 2. **Sweep value** of row i, with σ(x) = 2/(1 + e^{5x}) − 1 for x ≤ 3
//!    and −1 beyond (NAB's scaled sigmoid):
//!    - inside window `[L, R]` of `W = R − L + 1` rows: `A_TP · σ(−(R − i + 1)/W) / σ(−1)`,
//!      exactly A_TP at the window's first row and falling towards its last;
//!    - outside, before any window: `−A_FP`;
//!    - outside, after window `[L', R']` of `W'` rows: `A_FP · σ(|i − R'| / (W' − 1))`, near
//!      nothing right after the window and the full `−A_FP` three widths on (a window of one
//!      row, which NAB's labels never hold and its code would divide by zero for, counts as
//!      infinitely far: `−A_FP`).
//! 3. **Score at threshold t**: a row detects when its score is ≥ t;
//!    `S(t) = Σ_windows v_w + Σ_{detecting rows outside windows} sweep value`, where `v_w` is
//!    the largest sweep value among the window's detecting rows — its first detection; later
//!    ones add nothing — or `−A_FN` when none detects.
//! 4. **Threshold**: over the whole corpus at once (every file's scored rows together), the
//!    t among 1.1 and the detector's distinct scores that gives the largest S(t), ties to the
//!    highest t ([`optimal_threshold`]).
//! 5. **Per file and total**: each file's `S_file(t)` at that threshold ([`score_at`]); the
//!    raw score is their sum.
//! 6. **Normalised**: `100 · (S − S_null) / (S_perfect − S_null)` ([`normalised`]), where
//!    `S_null` is the score of a detector that never detects (`−A_FN` per counted window) and
//!    `S_perfect = A_TP ·` the number of label windows (NAB's runner counts them in the
//!    labels file).
//!
//! Counts ([`Counts`]) are of scored rows at the threshold, as NAB reports them: detecting
//! rows inside windows (TP) and outside (FP), the rest inside (FN) and outside (TN).

use std::cmp::Ordering;

/// A profile's weights: what a detected window earns, what a false detection and a missed
/// window cost (NAB's cost matrix; its true-negative weight is never used).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    /// A_TP: a window detected at its first row.
    pub true_positive: f64,
    /// A_FP: a false detection far from any window.
    pub false_positive: f64,
    /// A_FN: a window never detected.
    pub false_negative: f64,
}

/// NAB's three application profiles (`config/profiles.json` of NAB v1.1), by name.
pub const PROFILES: [(&str, Costs); 3] = [
    ("standard", Costs { true_positive: 1.0, false_positive: 0.11, false_negative: 1.0 }),
    ("reward_low_FP_rate", Costs { true_positive: 1.0, false_positive: 0.22, false_negative: 1.0 }),
    ("reward_low_FN_rate", Costs { true_positive: 1.0, false_positive: 0.11, false_negative: 2.0 }),
];

/// A label window: rows `first..=last` of its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Its first row.
    pub first: usize,
    /// Its last row.
    pub last: usize,
}

/// One data file as the scorer reads it: a detector's score per row and the label windows.
#[derive(Debug, Clone, Copy)]
pub struct File<'a> {
    /// The anomaly score of each row, in [0, 1].
    pub scores: &'a [f64],
    /// The label windows, in order and disjoint.
    pub windows: &'a [Window],
}

/// A file the scorer refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NabError {
    /// A score that is NaN or outside [0, 1].
    #[error("file {file}: the anomaly score {value} of row {row} is not in [0, 1]")]
    Score {
        /// The file's index in the corpus.
        file: usize,
        /// The row.
        row: usize,
        /// The score.
        value: f64,
    },
    /// A window that is empty, before or overlapping the one before it, or past the file.
    #[error(
        "file {file}: window {index} (rows {first}..={last}) is not after the one before it or not within the file's {rows} rows"
    )]
    Window {
        /// The file's index in the corpus.
        file: usize,
        /// The window's index in the file.
        index: usize,
        /// Its first row.
        first: usize,
        /// Its last row.
        last: usize,
        /// The file's rows.
        rows: usize,
    },
}

/// How many scored rows fell where, at a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Detecting rows inside windows.
    pub true_positives: usize,
    /// Quiet rows outside windows.
    pub true_negatives: usize,
    /// Detecting rows outside windows.
    pub false_positives: usize,
    /// Quiet rows inside windows.
    pub false_negatives: usize,
}

/// S(t) at one threshold, with its counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// t: rows scoring at least this detect.
    pub threshold: f64,
    /// S(t).
    pub score: f64,
    /// The rows, by where they fell.
    pub counts: Counts,
}

/// The probationary rows of a file of `rows` rows: `min(⌊0.15·rows⌋, 750)`.
pub fn probation(rows: usize) -> usize {
    let share = (0.15 * rows as f64).floor();
    share.min(0.15 * 5000.0) as usize
}

/// NAB's scaled sigmoid: `2/(1 + e^{5x}) − 1` for x ≤ 3, else −1.
fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 { -1.0 } else { 2.0 / (1.0 + (5.0 * x).exp()) - 1.0 }
}

/// The sweep value of every row of a file of `rows` rows (probationary ones included, as
/// NAB's results files list them), with the window each lies in; `windows` as [`check`]
/// accepts them.
fn sweep_values(rows: usize, windows: &[Window], costs: Costs) -> Vec<(f64, Option<usize>)> {
    let mut values = Vec::with_capacity(rows);
    let mut windows_ahead = windows.iter().enumerate().peekable();
    let (mut inside, mut before): (Option<(usize, Window)>, Option<Window>) = (None, None);
    for i in 0..rows {
        if let Some(&(index, &window)) = windows_ahead.peek().filter(|(_, w)| w.first == i) {
            inside = Some((index, window));
            windows_ahead.next();
        }
        let value = match (inside, before) {
            (Some((index, w)), _) => {
                let width = (w.last - w.first + 1) as f64;
                let position = -((w.last - i + 1) as f64) / width;
                (scaled_sigmoid(position) * costs.true_positive / scaled_sigmoid(-1.0), Some(index))
            }
            (None, None) => (-costs.false_positive, None),
            (None, Some(w)) => {
                let past = i.abs_diff(w.last) as f64 / (w.last - w.first) as f64;
                (scaled_sigmoid(past) * costs.false_positive, None)
            }
        };
        values.push(value);
        if let Some((_, w)) = inside.filter(|(_, w)| w.last == i) {
            before = Some(w);
            inside = None;
        }
    }
    values
}

/// A scored row: its anomaly score, sweep value and window (numbered across the corpus).
#[derive(Debug, Clone, Copy)]
struct Row {
    score: f64,
    value: f64,
    window: Option<usize>,
}

/// The scored rows of `files` (probation dropped), windows numbered across the corpus, and
/// how many windows there are in all; or the first file refused.
fn scored_rows(files: &[File], costs: Costs) -> Result<(Vec<Row>, usize), NabError> {
    let mut rows = Vec::new();
    let mut numbered = 0;
    for (f, file) in files.iter().enumerate() {
        check(f, file)?;
        let sweep = sweep_values(file.scores.len(), file.windows, costs);
        let skip = probation(file.scores.len());
        for (&score, &(value, window)) in file.scores.iter().zip(&sweep).skip(skip) {
            rows.push(Row { score, value, window: window.map(|w| numbered + w) });
        }
        numbered += file.windows.len();
    }
    Ok((rows, numbered))
}

/// Refuses scores outside [0, 1] (NaN included) and windows out of order or place.
fn check(f: usize, file: &File) -> Result<(), NabError> {
    if let Some((row, &value)) = file.scores.iter().enumerate().find(|(_, s)| !(0.0..=1.0).contains(*s)) {
        return Err(NabError::Score { file: f, row, value });
    }
    let rows = file.scores.len();
    let mut next_free = 0;
    for (index, w) in file.windows.iter().enumerate() {
        if w.first < next_free || w.last < w.first || w.last >= rows {
            return Err(NabError::Window { file: f, index, first: w.first, last: w.last, rows });
        }
        next_free = w.last + 1;
    }
    Ok(())
}

/// S(t) at 1.1 and at each distinct score, highest first (NAB's sweep over thresholds):
/// the rows sorted by score, descending and stable, each detecting from its own score on.
fn scores_by_threshold(rows: &[Row], windows: usize, costs: Costs) -> Vec<Scored> {
    let mut order: Vec<&Row> = rows.iter().collect();
    order.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));
    let mut window_values: Vec<Option<f64>> = vec![None; windows];
    for row in rows {
        if let Some(w) = row.window {
            window_values[w] = Some(-costs.false_negative);
        }
    }
    let inside = rows.iter().filter(|r| r.window.is_some()).count();
    let mut counts = Counts { false_negatives: inside, true_negatives: rows.len() - inside, ..Counts::default() };
    let (mut threshold, mut outside) = (1.1, 0.0);
    let total = |outside: f64, values: &[Option<f64>]| values.iter().flatten().sum::<f64>() + outside;
    let mut sweep = Vec::new();
    for row in order {
        if row.score != threshold {
            sweep.push(Scored { threshold, score: total(outside, &window_values), counts });
            threshold = row.score;
        }
        match row.window {
            Some(w) => {
                counts.true_positives += 1;
                counts.false_negatives -= 1;
                let best = window_values[w].get_or_insert(row.value);
                *best = best.max(row.value);
            }
            None => {
                counts.false_positives += 1;
                counts.true_negatives -= 1;
                outside += row.value;
            }
        }
    }
    sweep.push(Scored { threshold, score: total(outside, &window_values), counts });
    sweep
}

/// The threshold that gives the corpus its largest S(t) (ties to the highest), with that
/// S(t) over the whole corpus; or the first file refused.
pub fn optimal_threshold(files: &[File], costs: Costs) -> Result<Scored, NabError> {
    let (rows, windows) = scored_rows(files, costs)?;
    let sweep = scores_by_threshold(&rows, windows, costs);
    let best = sweep.iter().copied().reduce(|best, s| if s.score > best.score { s } else { best });
    Ok(best.expect("the sweep always holds the threshold 1.1"))
}

/// S_file(t) of `file` (index `f` in the corpus, for errors) at `threshold`.
pub fn score_at(f: usize, file: &File, costs: Costs, threshold: f64) -> Result<Scored, NabError> {
    let (rows, windows) = scored_rows(std::slice::from_ref(file), costs).map_err(|e| renumber(e, f))?;
    Ok(score_rows(&rows, windows, costs, threshold))
}

/// S(t) of scored rows whose windows are numbered below `windows` (step 3).
fn score_rows(rows: &[Row], windows: usize, costs: Costs, threshold: f64) -> Scored {
    let mut window_values: Vec<Option<f64>> = vec![None; windows];
    let (mut counts, mut outside) = (Counts::default(), 0.0);
    for row in rows {
        let detects = row.score >= threshold;
        match (row.window, detects) {
            (Some(w), true) => {
                counts.true_positives += 1;
                // Every sweep value inside a window is above −A_FN: the largest wins.
                let best = window_values[w].get_or_insert(row.value);
                *best = best.max(row.value);
            }
            (Some(w), false) => {
                counts.false_negatives += 1;
                window_values[w].get_or_insert(-costs.false_negative);
            }
            (None, true) => {
                counts.false_positives += 1;
                outside += row.value;
            }
            (None, false) => counts.true_negatives += 1,
        }
    }
    Scored { threshold, score: window_values.iter().flatten().sum::<f64>() + outside, counts }
}

/// `error` with the corpus index `f` of the file it names.
fn renumber(error: NabError, f: usize) -> NabError {
    match error {
        NabError::Score { row, value, .. } => NabError::Score { file: f, row, value },
        NabError::Window { index, first, last, rows, .. } => NabError::Window { file: f, index, first, last, rows },
    }
}

/// `100 · (score − null) / (perfect − null)`.
pub fn normalised(score: f64, null: f64, perfect: f64) -> f64 {
    100.0 * (score - null) / (perfect - null)
}

/// A corpus scored under one profile: the threshold, every file's score at it, and the
/// total, raw and normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusScore {
    /// The optimal threshold (step 4).
    pub threshold: f64,
    /// Each file's S_file(t), in the corpus's order.
    pub files: Vec<Scored>,
    /// Σ S_file(t).
    pub raw: f64,
    /// S_null: never detecting.
    pub null: f64,
    /// S_perfect: A_TP per label window.
    pub perfect: f64,
    /// The published score.
    pub normalised: f64,
}

/// Scores `files` under `costs` (steps 1–6), or refuses the first bad file.
pub fn score_corpus(files: &[File], costs: Costs) -> Result<CorpusScore, NabError> {
    let threshold = optimal_threshold(files, costs)?.threshold;
    let scored = files.iter().enumerate().map(|(f, file)| score_at(f, file, costs, threshold));
    let scored = scored.collect::<Result<Vec<_>, _>>()?;
    let raw = scored.iter().map(|s| s.score).sum();
    // Never detecting: no score reaches a threshold above 1.
    let (rows, windows) = scored_rows(files, costs)?;
    let null = score_rows(&rows, windows, costs, f64::INFINITY).score;
    let perfect = costs.true_positive * files.iter().map(|f| f.windows.len()).sum::<usize>() as f64;
    Ok(CorpusScore { threshold, files: scored, raw, null, perfect, normalised: normalised(raw, null, perfect) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: Costs = PROFILES[0].1;

    /// One window, rows 10..=19 (W = 10), in a file of 30 rows.
    const WINDOW: [Window; 1] = [Window { first: 10, last: 19 }];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn probation_is_15_percent_of_the_file_at_most_750_rows() {
        // ⌊0.15·30⌋ = 4, ⌊0.15·4032⌋ = ⌊604.8⌋ = 604; 0.15·5000 = 750 caps the rest.
        assert_eq!([30, 4032, 5000, 22_695].map(probation), [4, 604, 750, 750]);
    }

    #[test]
    fn sweep_values_by_hand() {
        // σ(x) = 2/(1 + e^{5x}) − 1; σ(−1) = 2/(1 + e^{−5}) − 1 = 0.98661…
        // Row 10, the window's first: σ(−10/10)/σ(−1) = 1 exactly.
        // Row 19, its last: σ(−1/10)/σ(−1) = 0.244918…/0.986614… = 0.248241549775…
        // Row 20, one past (W − 1 = 9): 0.11·σ(1/9) = 0.11·(−0.270847…) = −0.0297931…
        // Row 28, nine past: 0.11·σ(1) = 0.11·(−0.986614…) = −0.1085275…
        // Row 5, before any window: −0.11.
        let values = sweep_values(30, &WINDOW, STANDARD);
        let at = |i: usize| values[i].0;
        assert_eq!(at(10), 1.0);
        assert!(close(at(19), 0.248_241_549_775_429_92));
        assert!(close(at(20), -0.029_793_183_036_839_352));
        assert!(close(at(28), -0.108_527_572_796_657_34));
        assert_eq!(at(5), -0.11);
        assert_eq!((values[12].1, values[9].1, values[20].1), (Some(0), None, None));
        // Far past a window, σ is −1 beyond x = 3: the full −A_FP.
        let far = sweep_values(60, &WINDOW, STANDARD);
        assert_eq!(far[59].0, -0.11);
    }

    /// Scores of 30 rows: 1.0 at row 2 (in probation, rows 0–3), 0.9 at row 5 (before the
    /// window), 0.8 at row 12 and 0.95 at row 15 (inside), 0.7 at row 20 (just after).
    fn detections() -> Vec<f64> {
        let mut scores = vec![0.0; 30];
        for (row, score) in [(2, 1.0), (5, 0.9), (12, 0.8), (15, 0.95), (20, 0.7)] {
            scores[row] = score;
        }
        scores
    }

    #[test]
    fn the_threshold_and_score_by_hand() {
        // Row 12's value: σ(−8/10)/σ(−1) = 0.977106840922…; row 15's σ(−5/10)/σ(−1) =
        // 0.859792566909…; row 20's 0.11·σ(1/9) = −0.029793…; row 5's −0.11.
        // S(1.1) = −1 (window missed); S(0.95) = 0.8598 (row 15); S(0.9) = 0.7498 (+ row 5);
        // S(0.8) = 0.977107 − 0.11 = 0.867107 (row 12 is the window's first detection: row
        // 15 no longer counts); S(0.7) = 0.837314 (+ row 20); S(0) takes in 21 more false
        // positives. The best is t = 0.8.
        let scores = detections();
        let file = File { scores: &scores, windows: &WINDOW };
        let best = optimal_threshold(&[file], STANDARD).unwrap();
        assert_eq!(best.threshold, 0.8);
        assert!(close(best.score, 0.867_106_840_922_604_5));
        // Counts over the 26 scored rows: rows 12 and 15 detect inside (TP 2), row 5
        // outside (FP 1), the other 8 window rows are missed (FN 8), 15 quiet outside.
        let counts = Counts { true_positives: 2, true_negatives: 15, false_positives: 1, false_negatives: 8 };
        assert_eq!(best.counts, counts);
        let at_07 = score_at(0, &file, STANDARD, 0.7).unwrap();
        assert!(close(at_07.score, 0.837_313_657_885_765_2));
        // Null −1 (one window missed), perfect +1: 100·(0.867107 + 1)/2 = 93.355342…
        let corpus = score_corpus(&[file], STANDARD).unwrap();
        assert_eq!((corpus.null, corpus.perfect), (-1.0, 1.0));
        assert!(close(corpus.normalised, 93.355_342_046_130_23));
        assert_eq!(corpus.files, vec![best]);
    }

    #[test]
    fn a_window_inside_probation_counts_neither_way() {
        // Rows 0–3 are probationary; a window on rows 1..=2 is never scored: never detecting
        // scores 0, not −1.
        let scores = vec![0.0; 30];
        let windows = [Window { first: 1, last: 2 }];
        let file = File { scores: &scores, windows: &windows };
        let corpus = score_corpus(&[file], STANDARD).unwrap();
        assert_eq!((corpus.null, corpus.raw), (0.0, 0.0));
    }

    #[test]
    fn bad_scores_and_windows_are_refused() {
        let mut scores = detections();
        scores[7] = f64::NAN;
        let file = File { scores: &scores, windows: &WINDOW };
        assert!(matches!(optimal_threshold(&[file], STANDARD), Err(NabError::Score { file: 0, row: 7, .. })));
        scores[7] = 1.5;
        let file = File { scores: &scores, windows: &WINDOW };
        assert!(matches!(score_at(3, &file, STANDARD, 0.5), Err(NabError::Score { file: 3, row: 7, .. })));
        let scores = detections();
        let overlapping = [Window { first: 10, last: 15 }, Window { first: 15, last: 19 }];
        let file = File { scores: &scores, windows: &overlapping };
        assert!(matches!(score_corpus(&[file], STANDARD), Err(NabError::Window { index: 1, .. })));
        let past = [Window { first: 25, last: 30 }];
        let file = File { scores: &scores, windows: &past };
        assert!(matches!(score_corpus(&[file], STANDARD), Err(NabError::Window { index: 0, rows: 30, .. })));
    }
}
