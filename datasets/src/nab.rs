//! The Numenta Anomaly Benchmark's layout (NAB v1.1, `../shared/datasets/nab`): the label
//! windows, a detector's results file per data file, and the published per-file scores,
//! read for the scorer (`ironspider_models::nab`).
//!
//! - `labels/combined_windows.json`: for each data file (`<category>/<name>.csv`), its
//!   windows as `[start, end]` timestamps (`2014-04-10 07:15:00.000000`), which
//!   [`window_rows`] turns into row ranges of the file: each limit must be one of the file's
//!   timestamps (compared on their first 19 characters, `YYYY-MM-DD HH:MM:SS`).
//! - `results/<detector>/<category>/<detector>_<name>.csv`: a detector's output, one row per
//!   data row, read by its header (`timestamp`, `anomaly_score`; the column order differs
//!   between detectors), [`read_rows`].
//! - `results/<detector>/<detector>_<profile>_scores.csv`: the published score of each file
//!   and the totals, [`read_published`].
//! - `data/<category>/<name>.csv`: the series themselves (`timestamp,value`), [`data_files`]
//!   and [`read_rows`].

use crate::DatasetError;
use std::collections::BTreeMap;
use std::path::Path;

/// Each data file's label windows, by its path below `data/`: `[start, end]` timestamps.
pub type LabelWindows = BTreeMap<String, Vec<[String; 2]>>;

/// `labels/combined_windows.json` below the NAB folder `root`.
pub fn label_windows(root: &Path) -> Result<LabelWindows, DatasetError> {
    let path = root.join("labels/combined_windows.json");
    let text = read(&path)?;
    serde_json::from_str(&text).map_err(|e| DatasetError::Empty(format!("{}: {e}", path.display())))
}

/// The rows `(first, last)` of each window in a file whose rows carry `timestamps`; a limit
/// that is none of them is an error naming it.
pub fn window_rows(timestamps: &[String], windows: &[[String; 2]]) -> Result<Vec<(usize, usize)>, DatasetError> {
    let second = |t: &str| t.get(..19).unwrap_or(t).to_string();
    let index: BTreeMap<String, usize> = timestamps.iter().enumerate().map(|(i, t)| (second(t), i)).collect();
    let row = |limit: &String| {
        index
            .get(&second(limit))
            .copied()
            .ok_or_else(|| DatasetError::Empty(format!("the window limit {limit} is not a timestamp of the file")))
    };
    windows.iter().map(|[start, end]| Ok((row(start)?, row(end)?))).collect()
}

/// A CSV file's rows as the scorer and the detectors read them: each row's timestamp and
/// one numeric column (a data file's values, a results file's anomaly scores).
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// The rows' timestamps, as written.
    pub timestamps: Vec<String>,
    /// The column's values (NaN where a field does not parse: the caller counts them).
    pub values: Vec<f64>,
}

/// The column of a data file's values.
pub const VALUE: &str = "value";
/// The column of a results file's anomaly scores.
pub const ANOMALY_SCORE: &str = "anomaly_score";

/// The data files below `root/data`, as `<category>/<name>.csv`, sorted.
pub fn data_files(root: &Path) -> Result<Vec<String>, DatasetError> {
    let data = root.join("data");
    let list = |dir: &Path| {
        std::fs::read_dir(dir)
            .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect::<Result<Vec<_>, _>>())
            .map_err(|error| DatasetError::Io { path: dir.display().to_string(), error })
    };
    let mut files = Vec::new();
    for category in list(&data)?.into_iter().filter(|p| p.is_dir()) {
        for file in list(&category)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "csv")) {
            if let (Some(c), Some(f)) = (category.file_name(), file.file_name()) {
                files.push(format!("{}/{}", c.to_string_lossy(), f.to_string_lossy()));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The `timestamp` column and the numeric column `name` ([`VALUE`], [`ANOMALY_SCORE`]) of a
/// CSV file, found by its header (the column order differs between NAB's detectors).
pub fn read_rows(path: &Path, name: &'static str) -> Result<Rows, DatasetError> {
    let text = read(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let column = |name: &'static str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| DatasetError::MissingColumn { path: path.display().to_string(), column: name })
    };
    let (time, value) = (column("timestamp")?, column(name)?);
    let mut rows = Rows::default();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        rows.timestamps.push(fields.get(time).copied().unwrap_or("").to_string());
        rows.values.push(fields.get(value).and_then(|s| s.trim().parse().ok()).unwrap_or(f64::NAN));
    }
    Ok(rows)
}

/// One row of a published scores file: a data file's (or, with `file` empty, the totals')
/// threshold, score and counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The data file, below `data/`; empty on the totals row.
    pub file: String,
    /// The threshold the detector's scores were cut at (NaN on the totals row, which has
    /// none).
    pub threshold: f64,
    /// The raw score S.
    pub score: f64,
    /// True positives, true negatives, false positives, false negatives (rows).
    pub counts: [usize; 4],
}

/// `results/<detector>/<detector>_<profile>_scores.csv` below the NAB folder `root`.
pub fn read_published(root: &Path, detector: &str, profile: &str) -> Result<Vec<Published>, DatasetError> {
    let path = root.join(format!("results/{detector}/{detector}_{profile}_scores.csv"));
    let text = read(&path)?;
    let bad = |line: &str| DatasetError::Empty(format!("{}: a row that does not parse: {line}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let number = |i: usize| f.get(i).and_then(|v| v.trim().parse::<f64>().ok());
            let count = |i: usize| f.get(i).and_then(|v| v.trim().parse::<usize>().ok());
            let counts = [count(5), count(6), count(7), count(8)];
            match (number(4), counts) {
                (Some(score), [Some(tp), Some(tn), Some(fp), Some(fn_)]) => Ok(Published {
                    file: f.get(2).copied().unwrap_or("").to_string(),
                    threshold: number(3).unwrap_or(f64::NAN),
                    score,
                    counts: [tp, tn, fp, fn_],
                }),
                _ => Err(bad(line)),
            }
        })
        .collect()
}

fn read(path: &Path) -> Result<String, DatasetError> {
    std::fs::read_to_string(path).map_err(|error| DatasetError::Io { path: path.display().to_string(), error })
}
