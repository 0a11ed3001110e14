//! The Alibaba GenAI cluster trace 2026, GenTD26 (Alibaba `clusterdata`,
//! cluster-trace-v2026-GenAI; cite Lin et al., SoCC '25): per-pod GPU duty cycle, GPU memory
//! used and memory utilisation of a Stable Diffusion serving cluster, about one day at a
//! 57 s step. Each pod (its hashed `container_ip`) is replayed as a node with one GPU.
//!
//! Files read (CSV with a header; column order differs between files, so columns are found
//! by name): `pod_gpu_duty_cycle_anon.csv` (percent), `pod_gpu_memory_used_bytes_anon.csv`
//! (bytes), `pod_memory_util_anon.csv` (documented as a percentage, but every value lies in
//! [0, 1]: read as a ratio). Timestamps are anonymised Unix seconds that fall on a 57 s grid.
//!
//! Rows refused, by reason: `malformed` (wrong field count or unparsable number),
//! `non_finite`, `negative_value`, `missing_pod` (empty `container_ip`),
//! `duplicate_timestamp` (a pod's second value for one timestamp in one file; the first is
//! kept). Percentages over 100 and ratios over 1 are clamped (notes `clamped`). A file that is
//! missing or unreadable is noted (`unreadable_files`) and the others are still used.
//!
//! Each (timestamp, pod) becomes one trace row: `hw.gpu.utilization{hw.id=gpu0}` = duty / 100,
//! `hw.gpu.memory.usage{hw.id=gpu0}` in bytes, `hw.gpu.memory.limit{hw.id=gpu0}` when a GPU
//! memory size is given (the trace does not say which GPU the pods had), and
//! `system.memory.utilization{state=used}`. Readings a pod did not report are left out.

use crate::DatasetError;
use crate::report::LoadReport;
use crate::trace::{Column, Trace};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The trace's sampling step.
pub const STEP_SECONDS: u64 = 57;

const GPU: &str = "gpu0";

/// The file of per-pod GPU duty cycles, in percent.
pub const GPU_DUTY_FILE: &str = "pod_gpu_duty_cycle_anon.csv";

/// The readings of a GenAI trace.
pub const COLUMNS: [Column; 4] = [
    Column { metric: "hw.gpu.utilization", unit: "1", attribute: Some(("hw.id", GPU)) },
    Column { metric: "hw.gpu.memory.usage", unit: "By", attribute: Some(("hw.id", GPU)) },
    Column { metric: "hw.gpu.memory.limit", unit: "By", attribute: Some(("hw.id", GPU)) },
    Column { metric: "system.memory.utilization", unit: "1", attribute: Some(("state", "used")) },
];

/// One source file: its name, the trace column it fills, and how a value becomes a reading
/// in the canonical unit (with the largest valid reading, for clamping).
struct Source {
    file: &'static str,
    column: usize,
    scale: f64,
    max: f64,
}

const SOURCES: [Source; 3] = [
    Source { file: GPU_DUTY_FILE, column: 0, scale: 0.01, max: 1.0 },
    Source { file: "pod_gpu_memory_used_bytes_anon.csv", column: 1, scale: 1.0, max: f64::INFINITY },
    Source { file: "pod_memory_util_anon.csv", column: 3, scale: 1.0, max: 1.0 },
];

/// A parsed row: timestamp in ns, pod hash, reading.
type Reading = (i64, String, f64);

/// Parses one data line given the positions of the three columns.
pub(crate) fn parse(
    line: &str,
    at: [usize; 3],
    scale: f64,
    max: f64,
    report: &mut LoadReport,
) -> Result<Reading, &'static str> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let field = |i: usize| fields.get(i).copied().ok_or("malformed");
    let [ts_at, value_at, pod_at] = at;
    let ts: f64 = field(ts_at)?.parse().map_err(|_| "malformed")?;
    let value: f64 = field(value_at)?.parse().map_err(|_| "malformed")?;
    let pod = field(pod_at)?;
    if !ts.is_finite() || !value.is_finite() {
        return Err("non_finite");
    }
    if value < 0.0 || ts < 1.0 {
        return Err("negative_value");
    }
    if pod.is_empty() || pod.eq_ignore_ascii_case("none") {
        return Err("missing_pod");
    }
    let mut reading = value * scale;
    if reading > max {
        report.note("clamped");
        reading = max;
    }
    Ok(((ts * 1e9).round() as i64, pod.to_string(), reading))
}

/// The positions of `timestamp_anon`, `value` and `container_ip` in a header.
pub(crate) fn header_positions(header: &str) -> Option<[usize; 3]> {
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name| names.iter().position(|n| *n == name);
    Some([find("timestamp_anon")?, find("value")?, find("container_ip")?])
}

/// The node a pod is replayed as: `pod-` and the first 12 characters of its hash.
pub(crate) fn node_name(pod: &str) -> String {
    format!("pod-{}", pod.get(..12).unwrap_or(pod))
}

/// Reads one source file's rows into `rows` (keyed by timestamp and pod).
fn load_source(text: &str, source: &Source, rows: &mut HashMap<(i64, String), [f64; 4]>, report: &mut LoadReport) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(at) = lines.next().and_then(header_positions) else {
        report.note("unreadable_files");
        return;
    };
    let mut seen = HashSet::new();
    for line in lines {
        report.rows_read += 1;
        let (ts, pod, reading) = match parse(line, at, source.scale, source.max, report) {
            Ok(parsed) => parsed,
            Err(reason) => {
                report.reject(reason);
                continue;
            }
        };
        if !seen.insert((ts, pod.clone())) {
            report.reject("duplicate_timestamp");
            continue;
        }
        rows.entry((ts, pod)).or_insert([f64::NAN; 4])[source.column] = reading;
        report.rows_used += 1;
    }
}

/// The names of the three source files, in the order [`load`] reads them.
pub const FILES: [&str; 3] = [SOURCES[0].file, SOURCES[1].file, SOURCES[2].file];

/// Reads the text of the source file named `file` (one of [`FILES`]; another name reads
/// nothing and notes `unreadable_files`) as [`load`] reads each, and reports its rows (the
/// fuzz target `dataset_csv` drives it directly).
pub fn from_text(file: &str, text: &str) -> LoadReport {
    let mut report = LoadReport::default();
    match SOURCES.iter().find(|source| source.file == file) {
        Some(source) => {
            report.files = 1;
            load_source(text, source, &mut HashMap::new(), &mut report);
        }
        None => report.note("unreadable_files"),
    }
    report
}

/// Loads the three pod series of `dir`. `gpu_memory_bytes`, when given, is every pod's GPU
/// memory size (so GPU memory utilisation can be scored). Fails only when no file yields a
/// usable row.
pub fn load(dir: &Path, gpu_memory_bytes: Option<f64>) -> Result<(Trace, LoadReport), DatasetError> {
    if !dir.is_dir() {
        let error = std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory");
        return Err(DatasetError::Io { path: dir.display().to_string(), error });
    }
    let mut report = LoadReport::default();
    let mut rows: HashMap<(i64, String), [f64; 4]> = HashMap::new();
    for source in &SOURCES {
        match std::fs::read(dir.join(source.file)) {
            Ok(bytes) => {
                report.files += 1;
                load_source(&String::from_utf8_lossy(&bytes), source, &mut rows, &mut report);
            }
            Err(_) => report.note("unreadable_files"),
        }
    }
    if rows.is_empty() {
        return Err(DatasetError::Empty(format!("no usable GenAI pod rows in {}", dir.display())));
    }
    let mut pods: Vec<&String> = rows.keys().map(|(_, pod)| pod).collect::<HashSet<_>>().into_iter().collect();
    pods.sort();
    let index: HashMap<&String, u32> = pods.iter().enumerate().map(|(i, pod)| (*pod, i as u32)).collect();
    let mut trace = Trace {
        nodes: pods.iter().map(|pod| node_name(pod)).collect(),
        columns: COLUMNS.to_vec(),
        step_seconds: STEP_SECONDS,
        ..Trace::default()
    };
    for ((ts, pod), values) in &rows {
        let mut values = *values;
        if !values[1].is_nan() {
            values[2] = gpu_memory_bytes.unwrap_or(f64::NAN);
        }
        trace.push(*ts, index[pod], &values);
    }
    trace.sort();
    Ok((trace, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn the_three_files_join_per_pod_and_timestamp_with_bad_rows_counted() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "pod_gpu_duty_cycle_anon.csv",
            "value,timestamp_anon,container_ip\n50.0,1662858720.0,aaaa\n130.0,1662858777.0,aaaa\nNaN,1662858720.0,bbbb\n",
        );
        write(
            dir.path(),
            "pod_gpu_memory_used_bytes_anon.csv",
            "timestamp_anon,value,container_ip\n1662858720.0,1000.0,aaaa\n1662858720.0,2000.0,aaaa\n1662858720.0,5,\n",
        );
        write(
            dir.path(),
            "pod_memory_util_anon.csv",
            "value,timestamp_anon,container_ip\n0.25,1662858720.0,bbbb\n-0.1,1662858720.0,aaaa\n0.5;oops\n",
        );
        let (trace, report) = load(dir.path(), Some(4000.0)).unwrap();
        assert_eq!((report.files, report.rows_read, report.rows_used), (3, 9, 4));
        let rejected: Vec<(&str, u64)> = report.rows_rejected.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            rejected,
            [
                ("duplicate_timestamp", 1),
                ("malformed", 1),
                ("missing_pod", 1),
                ("negative_value", 1),
                ("non_finite", 1)
            ]
        );
        assert_eq!(report.notes["clamped"], 1, "130 % duty");
        assert_eq!(trace.nodes, ["pod-aaaa", "pod-bbbb"]);
        let t0 = 1_662_858_720_000_000_000;
        assert_eq!(trace.keys, [(t0, 0), (t0, 1), (t0 + 57_000_000_000, 0)]);
        let first = trace.row(0);
        assert_eq!((first[0], first[1], first[2]), (0.5, 1000.0, 4000.0));
        assert!(first[3].is_nan(), "pod aaaa's negative memory row was refused");
        assert!(trace.row(1)[0].is_nan() && trace.row(1)[3] == 0.25);
        assert_eq!(trace.row(2)[0], 1.0, "clamped to 100 %");
    }

    #[test]
    fn missing_files_are_noted_and_an_empty_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "pod_memory_util_anon.csv", "value,timestamp_anon,container_ip\n0.5,1662858720.0,cc\n");
        let (trace, report) = load(dir.path(), None).unwrap();
        assert_eq!((report.files, report.notes["unreadable_files"], trace.keys.len()), (1, 2, 1));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(load(empty.path(), None), Err(DatasetError::Empty(_))));
    }
}
