//! A regularised dataset: per node and timestamp, one value per column (NaN where the
//! source had none), rows in time order.

/// One reading a trace carries: a canonical metric name, its unit and at most one
/// attribute (such as `state=used` or `hw.id=gpu0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Canonical (OpenTelemetry) metric name.
    pub metric: &'static str,
    /// UCUM unit.
    pub unit: &'static str,
    /// Point attribute, if any.
    pub attribute: Option<(&'static str, &'static str)>,
}

/// Rows of readings, sorted by timestamp then node.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Node names; rows refer to them by index.
    pub nodes: Vec<String>,
    /// What each value of a row is.
    pub columns: Vec<Column>,
    /// `(timestamp ns, node index)` of each row.
    pub keys: Vec<(i64, u32)>,
    /// Row-major values, `columns.len()` per row; NaN means "not reported".
    pub values: Vec<f64>,
    /// The sampling step of the source, in seconds (the natural window for replay).
    pub step_seconds: u64,
}

impl Trace {
    /// The values of row `row`.
    pub fn row(&self, row: usize) -> &[f64] {
        let width = self.columns.len();
        &self.values[row * width..(row + 1) * width]
    }

    /// Appends a row (kept unsorted until [`Trace::sort`]).
    pub fn push(&mut self, ts_ns: i64, node: u32, values: &[f64]) {
        debug_assert_eq!(values.len(), self.columns.len());
        self.keys.push((ts_ns, node));
        self.values.extend_from_slice(values);
    }

    /// Sorts rows by timestamp, then node.
    pub fn sort(&mut self) {
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        order.sort_by_key(|&i| self.keys[i]);
        let width = self.columns.len();
        let mut values = Vec::with_capacity(self.values.len());
        for &i in &order {
            values.extend_from_slice(&self.values[i * width..(i + 1) * width]);
        }
        self.keys = order.iter().map(|&i| self.keys[i]).collect();
        self.values = values;
    }

    /// First and last timestamps (ns), `None` when empty.
    pub fn span(&self) -> Option<(i64, i64)> {
        Some((self.keys.first()?.0, self.keys.last()?.0))
    }

    /// Number of distinct timestamps (the replay's steps).
    pub fn steps(&self) -> usize {
        self.keys.chunk_by(|a, b| a.0 == b.0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_keeps_each_row_with_its_values() {
        let column = Column { metric: "m", unit: "1", attribute: None };
        let mut trace = Trace { columns: vec![column, column], ..Trace::default() };
        trace.push(20, 0, &[2.0, 2.5]);
        trace.push(10, 1, &[1.0, 1.5]);
        trace.push(10, 0, &[0.0, 0.5]);
        trace.sort();
        assert_eq!(trace.keys, [(10, 0), (10, 1), (20, 0)]);
        assert_eq!((trace.row(0), trace.row(2)), (&[0.0, 0.5][..], &[2.0, 2.5][..]));
        assert_eq!((trace.span(), trace.steps()), (Some((10, 20)), 2));
    }
}
