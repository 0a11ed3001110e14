//! Reading the `node_steps` history back for a warm start: which files, and their rows.
//!
//! A file is `<data_dir>/history/node_steps/date=…/<step_start_ns>.parquet` (one per
//! completed step, [`crate::history`]). The newest one before the current step is found
//! (listing only the date partitions that can hold a useful step); if it is older than the
//! caller's oldest useful step, nothing is read (`stale`); else the files of the `reach`
//! steps ending with it are read, oldest first. A file of another step length (the
//! configuration changed), an unreadable file or a row naming an unknown resource is
//! skipped and counted, never fatal: a serve that cannot warm-start starts cold.

use super::RESOURCES;
use crate::history::{HistoryTable, day, first_parts, partitions};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a warm start read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarmStart {
    /// Steps fed.
    pub steps: usize,
    /// Values fed (node, resource, step).
    pub values: usize,
    /// Files or rows skipped: unreadable, of another step length, an unknown resource.
    pub skipped: usize,
    /// Whether the newest step of the history was too old to resume from.
    pub stale: bool,
    /// Wall seconds it took.
    pub seconds: f64,
}

/// One step's values: `(node, resource index in RESOURCES, value)`.
pub(super) type StepRows = Vec<(Arc<str>, usize, f64)>;

/// The files a warm start reads.
#[derive(Debug, Default)]
pub(super) struct StepFiles {
    /// Oldest first.
    pub(super) paths: Vec<PathBuf>,
    /// Whether the newest step was before the oldest useful one.
    pub(super) stale: bool,
    /// Whether the files' steps start at more than one offset within a step: a history
    /// written with the nodes' steps staggered, whose files' starts give the nodes' phases.
    pub(super) staggered: bool,
}

/// The step files below `data_dir` to feed (module doc): steps are indices on a grid of
/// `step_ns`; the newest wanted is before `current`, and no older than `oldest_useful`.
pub(super) fn step_files(data_dir: &Path, step_ns: i64, oldest_useful: i64, current: i64, reach: i64) -> StepFiles {
    // A day's margin: partitions are by the UTC date of a step's start.
    let first_day = day(oldest_useful.saturating_sub(reach).saturating_mul(step_ns).saturating_sub(86_400_000_000_000));
    let mut files: Vec<(i64, PathBuf)> = partitions(data_dir, HistoryTable::NodeSteps)
        .into_iter()
        .filter(|(date, _)| *date >= first_day)
        .flat_map(|(_, partition)| first_parts(&partition))
        .filter(|(start, _)| start.div_euclid(step_ns) < current)
        .collect();
    files.sort_unstable();
    let Some(newest) = files.last().map(|(start, _)| start.div_euclid(step_ns)) else { return StepFiles::default() };
    if newest < oldest_useful {
        return StepFiles { paths: Vec::new(), stale: true, staggered: false };
    }
    files.retain(|(start, _)| start.div_euclid(step_ns) > newest - reach);
    let offset = |(start, _): &(i64, PathBuf)| start.rem_euclid(step_ns);
    let staggered = files.first().is_some_and(|first| files.iter().any(|file| offset(file) != offset(first)));
    StepFiles { paths: files.into_iter().map(|(_, p)| p).collect(), stale: false, staggered }
}

/// One step's values from `file`, with its start (ns since the epoch): `(node, resource
/// index, value)` rows. `None` (counted in `report.skipped`) for a file that cannot be read,
/// is of another step length or holds more than one step.
pub(super) fn read_step(file: &Path, step_ns: i64, report: &mut super::WarmStart) -> Option<(i64, StepRows)> {
    let batches = match crate::history::read_batches(file) {
        Ok(batches) => batches,
        Err(error) => {
            tracing::warn!(file = %file.display(), %error, "node_steps history: step file skipped");
            report.skipped += 1;
            return None;
        }
    };
    let mut step = None;
    let mut rows = Vec::new();
    for batch in &batches {
        let Some(columns) = Columns::of(batch) else {
            report.skipped += 1;
            return None;
        };
        for i in 0..batch.num_rows() {
            let (start, end) = (columns.start.value(i), columns.end.value(i));
            if end - start != step_ns || step.is_some_and(|first| first != start) {
                report.skipped += 1;
                return None;
            }
            step = Some(start);
            let Some(r) = RESOURCES.iter().position(|r| *r == columns.resource.value(i)) else {
                report.skipped += 1;
                continue;
            };
            rows.push((Arc::from(columns.node.value(i)), r, columns.value.value(i)));
        }
    }
    report.values += rows.len();
    Some((step?, rows))
}

/// The columns a step file holds (`schema::NODE_STEPS`), typed.
struct Columns<'b> {
    start: &'b arrow::array::PrimitiveArray<TimestampNanosecondType>,
    end: &'b arrow::array::PrimitiveArray<TimestampNanosecondType>,
    node: &'b arrow::array::StringArray,
    resource: &'b arrow::array::StringArray,
    value: &'b arrow::array::PrimitiveArray<Float64Type>,
}

impl<'b> Columns<'b> {
    fn of(batch: &'b RecordBatch) -> Option<Self> {
        let column = |name: &str| batch.column_by_name(name).filter(|c| c.null_count() == 0);
        Some(Self {
            start: column("step_start")?.as_primitive_opt()?,
            end: column("step_end")?.as_primitive_opt()?,
            node: column("node")?.as_string_opt()?,
            resource: column("resource")?.as_string_opt()?,
            value: column("value")?.as_primitive_opt()?,
        })
    }
}
