//! What a loader did with a dataset's rows.

use serde::Serialize;
use std::collections::BTreeMap;

/// Rows read, used and refused (by reason), plus notes on what regularisation changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// Files read.
    pub files: u64,
    /// Data rows read (headers excluded).
    pub rows_read: u64,
    /// Rows that became trace rows (possibly after clamping).
    pub rows_used: u64,
    /// Rows refused, by reason.
    pub rows_rejected: BTreeMap<String, u64>,
    /// Counts of adjustments that kept a row (for example values clamped to their range)
    /// and of facts worth knowing (gaps), by name.
    pub notes: BTreeMap<String, u64>,
}

impl LoadReport {
    /// Counts one refused row.
    pub fn reject(&mut self, reason: &str) {
        *self.rows_rejected.entry(reason.to_string()).or_default() += 1;
    }

    /// Counts one note.
    pub fn note(&mut self, what: &str) {
        self.note_n(what, 1);
    }

    /// Adds `n` to a note.
    pub fn note_n(&mut self, what: &str, n: u64) {
        *self.notes.entry(what.to_string()).or_default() += n;
    }

    /// Rows refused, all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rows_rejected.values().sum()
    }
}
