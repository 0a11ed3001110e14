//! The Bitbrains GWA-T-12 "Rnd" trace (Shen, van Beek, Iosup, CCGrid 2015): one CSV per VM,
//! every VM replayed as a node.
//!
//! File format (see the dataset's PROVENANCE.md): fields separated by `;` plus a tab, a
//! header row, then `timestamp; CPU cores; CPU capacity provisioned [MHz]; CPU usage [MHz];
//! CPU usage [%]; memory capacity provisioned [KB]; memory usage [KB]; disk read [KB/s];
//! disk write [KB/s]; network received [KB/s]; network transmitted [KB/s]`. The header says
//! milliseconds but timestamps are Unix **seconds**.
//!
//! Regularisation, each step counted in the [`LoadReport`]:
//! - timestamps are floored to the 300 s step; a row landing on a step its VM already has is
//!   a `duplicate_timestamp` (the first row of the step is kept), one landing before it is
//!   `out_of_order`;
//! - rows with a wrong field count or an unparsable number are `malformed`, with NaN or
//!   infinity `non_finite`, with a negative value `negative_value`, with a timestamp not after
//!   1970 or past what a signed 64-bit nanosecond clock holds (2262) `bad_timestamp`;
//! - rows with 0 cores are `zero_cores`: the VM is powered off or not provisioned, so it has
//!   no capacity to score;
//! - CPU usage over 100 % (about 5 % of rows, up to 106 %) is clamped to 100 % and memory
//!   usage over capacity to the capacity (notes `cpu_over_100_percent`,
//!   `memory_over_capacity`);
//! - gaps are not filled: a VM that stops reporting is a silent node, as it would be live
//!   (notes `gaps` and `missing_steps`).
//!
//! Each row becomes: `system.cpu.logical.count` = cores; `system.cpu.utilization{state=idle}`
//! = 1 − usage % / 100; `system.memory.usage{state=used|free}` in bytes (KB × 1024), so the
//! node frame reads CPU = usage %, memory = usage / capacity, capacity = cores and memory.

use crate::DatasetError;
use crate::report::LoadReport;
use crate::trace::{Column, Trace};
use std::path::{Path, PathBuf};

/// The trace's sampling step.
pub const STEP_SECONDS: i64 = 300;
const FIELDS: usize = 11;

/// The readings of a Bitbrains trace.
pub const COLUMNS: [Column; 4] = [
    Column { metric: "system.cpu.logical.count", unit: "{cpu}", attribute: None },
    Column { metric: "system.cpu.utilization", unit: "1", attribute: Some(("state", "idle")) },
    Column { metric: "system.memory.usage", unit: "By", attribute: Some(("state", "used")) },
    Column { metric: "system.memory.usage", unit: "By", attribute: Some(("state", "free")) },
];

/// A parsed data row, before regularisation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    ts_seconds: i64,
    cores: f64,
    cpu_percent: f64,
    memory_kb: f64,
    memory_used_kb: f64,
}

/// The latest timestamp whose nanoseconds fit an `i64` (2262-04-11), in seconds.
const MAX_TIMESTAMP_SECONDS: f64 = (i64::MAX / 1_000_000_000) as f64;

/// Parses one data line, or names why it cannot be used.
fn parse(line: &str) -> Result<Row, &'static str> {
    let fields: Vec<&str> = line.split(';').map(str::trim).collect();
    if fields.len() != FIELDS {
        return Err("malformed");
    }
    let mut numbers = [0.0; FIELDS];
    for (number, field) in numbers.iter_mut().zip(&fields) {
        *number = field.parse::<f64>().map_err(|_| "malformed")?;
    }
    if numbers.iter().any(|n| !n.is_finite()) {
        return Err("non_finite");
    }
    if numbers.iter().any(|n| *n < 0.0) {
        return Err("negative_value");
    }
    if numbers[0] < 1.0 || numbers[0] > MAX_TIMESTAMP_SECONDS {
        return Err("bad_timestamp");
    }
    if numbers[1] == 0.0 {
        return Err("zero_cores");
    }
    Ok(Row {
        ts_seconds: numbers[0] as i64,
        cores: numbers[1],
        cpu_percent: numbers[4],
        memory_kb: numbers[5],
        memory_used_kb: numbers[6],
    })
}

/// The trace values of a row: see the module doc.
fn readings(row: &Row, report: &mut LoadReport) -> [f64; 4] {
    if row.cpu_percent > 100.0 {
        report.note("cpu_over_100_percent");
    }
    let busy = row.cpu_percent.min(100.0) / 100.0;
    let (capacity, used) = (row.memory_kb * 1024.0, row.memory_used_kb * 1024.0);
    if used > capacity && capacity > 0.0 {
        report.note("memory_over_capacity");
    }
    let (used, free) =
        if capacity > 0.0 { (used.min(capacity), capacity - used.min(capacity)) } else { (f64::NAN, f64::NAN) };
    [row.cores, 1.0 - busy, used, free]
}

/// Reads one VM's file into `trace` as node `node`.
fn load_file(text: &str, node: u32, trace: &mut Trace, report: &mut LoadReport) {
    let mut previous_step: Option<i64> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if line.starts_with("Timestamp") {
            continue;
        }
        report.rows_read += 1;
        let row = match parse(line) {
            Ok(row) => row,
            Err(reason) => {
                report.reject(reason);
                continue;
            }
        };
        let step = row.ts_seconds - row.ts_seconds.rem_euclid(STEP_SECONDS);
        match previous_step {
            Some(previous) if step == previous => {
                report.reject("duplicate_timestamp");
                continue;
            }
            Some(previous) if step < previous => {
                report.reject("out_of_order");
                continue;
            }
            Some(previous) if step > previous + STEP_SECONDS => {
                report.note("gaps");
                report.note_n("missing_steps", ((step - previous) / STEP_SECONDS - 1) as u64);
            }
            _ => {}
        }
        previous_step = Some(step);
        trace.push(step * 1_000_000_000, node, &readings(&row, report));
        report.rows_used += 1;
    }
}

/// The CSV files of `dir`, ordered by VM number (names that are not numbers last).
pub(crate) fn csv_files(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let io = |error| DatasetError::Io { path: dir.display().to_string(), error };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "csv"))
        .collect();
    let number = |path: &PathBuf| path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u64>().ok());
    files.sort_by_key(|path| (number(path).unwrap_or(u64::MAX), path.clone()));
    Ok(files)
}

/// Reads the text of one VM's file as node `vm-0`, rows regularised as the module doc says
/// (the loader of each file of [`load`]; the fuzz target `dataset_csv` drives it directly).
pub fn from_text(text: &str) -> (Trace, LoadReport) {
    let mut trace = Trace {
        nodes: vec!["vm-0".to_string()],
        columns: COLUMNS.to_vec(),
        step_seconds: STEP_SECONDS as u64,
        ..Trace::default()
    };
    let mut report = LoadReport { files: 1, ..LoadReport::default() };
    load_file(text, 0, &mut trace, &mut report);
    trace.sort();
    (trace, report)
}

/// Loads every `*.csv` of `dir` (one VM each, node `vm-<file stem>`). Files that cannot be
/// read are counted (`unreadable_files`) and skipped; rows are regularised as the module doc
/// says. Fails only when `dir` cannot be listed or holds no usable row.
pub fn load(dir: &Path) -> Result<(Trace, LoadReport), DatasetError> {
    let mut trace = Trace { columns: COLUMNS.to_vec(), step_seconds: STEP_SECONDS as u64, ..Trace::default() };
    let mut report = LoadReport::default();
    for path in csv_files(dir)? {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(_) => {
                report.note("unreadable_files");
                continue;
            }
        };
        report.files += 1;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let node = trace.nodes.len() as u32;
        trace.nodes.push(format!("vm-{stem}"));
        load_file(&String::from_utf8_lossy(&bytes), node, &mut trace, &mut report);
    }
    if trace.keys.is_empty() {
        return Err(DatasetError::Empty(format!("no usable Bitbrains rows in {} (*.csv files)", dir.display())));
    }
    trace.sort();
    Ok((trace, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]";

    fn line(ts: i64, cores: u32, percent: f64, memory_kb: f64, used_kb: f64) -> String {
        format!("{ts};\t{cores};\t5000.0;\t100.0;\t{percent};\t{memory_kb};\t{used_kb};\t0.0;\t1.5;\t0.2;\t1.0")
    }

    /// Found by the fuzz target `dataset_csv`: a timestamp of 10^10 s overflowed the
    /// conversion to nanoseconds (a panic in debug builds, a wrapped time in release).
    #[test]
    fn a_timestamp_past_2262_is_a_bad_timestamp() {
        let text = [
            HEADER.to_string(),
            line(10_000_000_000, 2, 50.0, 4096.0, 1024.0),
            line(9_223_372_036, 2, 50.0, 4096.0, 1024.0),
        ]
        .join("\n");
        let (trace, report) = from_text(&text);
        assert_eq!(report.rows_rejected.get("bad_timestamp"), Some(&1));
        assert_eq!(trace.keys, [(9_223_372_036 / 300 * 300 * 1_000_000_000, 0)], "the last second that fits is kept");
    }

    #[test]
    fn quirks_are_regularised_and_counted() {
        let text = [
            HEADER.to_string(),
            line(1_372_629_804, 2, 50.0, 4096.0, 1024.0),
            line(1_372_629_850, 2, 60.0, 4096.0, 1024.0), // same 300 s step: duplicate
            line(1_372_630_104, 2, 104.0, 4096.0, 8192.0), // clamped twice
            line(1_372_630_104 - 600, 2, 10.0, 4096.0, 1024.0), // goes back
            line(1_372_631_304, 0, 0.0, 4096.0, 0.0),     // powered off
            "1372631604;\t2;\t5000.0;\tNaN;\t1.0;\t4096.0;\t1.0;\t0;\t0;\t0;\t0".to_string(),
            "1372631904;\t2;\t5000.0".to_string(),        // truncated
            line(1_372_632_204, 2, 25.0, 4096.0, 2048.0), // after a gap of 6 steps
        ]
        .join("\n");
        let mut trace = Trace { columns: COLUMNS.to_vec(), nodes: vec!["vm-1".into()], ..Trace::default() };
        let mut report = LoadReport::default();
        load_file(&text, 0, &mut trace, &mut report);
        assert_eq!((report.rows_read, report.rows_used), (8, 3));
        let rejected: Vec<(&str, u64)> = report.rows_rejected.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            rejected,
            [("duplicate_timestamp", 1), ("malformed", 1), ("non_finite", 1), ("out_of_order", 1), ("zero_cores", 1)]
        );
        assert_eq!(report.notes["cpu_over_100_percent"], 1);
        assert_eq!(report.notes["memory_over_capacity"], 1);
        assert_eq!((report.notes["gaps"], report.notes["missing_steps"]), (1, 6));
        // 1372629804 s floored to the 300 s step is 1372629600 s.
        assert_eq!(trace.keys[0], (1_372_629_600_000_000_000, 0));
        // 2 cores, 50 % busy → idle 0.5; 1 MiB of 4 MiB used
        assert_eq!(trace.row(0), &[2.0, 0.5, 1024.0 * 1024.0, 3.0 * 1024.0 * 1024.0]);
        // 104 % → idle 0; 8 MiB used of 4 MiB → all of it
        assert_eq!(trace.row(1), &[2.0, 0.0, 4.0 * 1024.0 * 1024.0, 0.0]);
    }

    #[test]
    fn a_directory_without_usable_rows_is_an_error_and_broken_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("2.csv"), format!("{HEADER}\n{}\n", line(1_372_629_804, 1, 5.0, 1.0, 1.0)))
            .unwrap();
        std::fs::write(dir.path().join("10.csv"), b"\xff\xfe garbage;\x00\n").unwrap();
        let (trace, report) = load(dir.path()).unwrap();
        assert_eq!(trace.nodes, ["vm-2", "vm-10"], "numeric order");
        assert_eq!((report.files, report.rows_used, report.rows_rejected["malformed"]), (2, 1, 1));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(load(empty.path()), Err(DatasetError::Empty(_))));
        assert!(matches!(load(&empty.path().join("missing")), Err(DatasetError::Io { .. })));
    }
}
