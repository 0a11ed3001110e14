//! The exact neighbourhood of one order statistic of a moving window: how a band reads its
//! p10, p50 or p90 error at every step while touching a few cache lines, not the window.
//!
//! ## Contract
//!
//! A [`Near`] holds, for a range of values `[lo, hi]` of the window (`f64::total_cmp`
//! order, as the window's values are ordered everywhere in [`crate::conformal`]):
//!
//! - the window's distinct values in the range, ascending, each with how many errors of the
//!   window have it (at most [`NEAR`] distinct values; `lo` and `hi` are the first and last);
//! - `below`, how many errors of the window are less than `lo`.
//!
//! It is told every error that enters the window ([`Near::insert`]) and every one that
//! leaves it ([`Near::remove`]), and keeps that invariant: an error below `lo` moves
//! `below`, one above `hi` changes nothing, one inside changes a count. So the `k`-th
//! smallest error of the window (1-based) is in the range exactly when
//! `below < k ≤ below + Σ counts`, and is then the value where the running sum of the
//! counts from `lo` first reaches `k − below` ([`Near::nth`]). When it is not (the window
//! drifted away from the range, or the range emptied), the caller rebuilds it from the
//! window sorted ([`Near::rebuild`]): the distinct value holding rank `k`, with up to
//! `NEAR/2 − 1` distinct values before it and as many after as fit.
//!
//! A new distinct value inside a full range drops the end of the range farther from the
//! rank kept (the low end's errors join `below`), so the range keeps the rank near its
//! middle. Values rather than slots make ties cheap: a window of 576 equal errors (a series
//! the model fits exactly) is one entry.
//!
//! ## Why
//!
//! A sorted index of the whole window answers any rank, but keeping it sorted costs two
//! searches and a shift of a third of it per step: with thousands of series stepped in turn
//! and each window cold, some forty cache lines per horizon, each a wait on memory. The
//! three ranks a band reads move by at most one per step, and the errors that enter or leave
//! fall mostly outside a rank's small range, so a step usually reads one line per rank (the
//! counts) and the value it answers. Rebuilding sorts a copy of the window. How often, for a
//! window of 576 errors read at p10, p50 and p90 every step over 20,000 steps (counted once,
//! by a scratch counter): 106 rebuilds of the three for independent uniform errors (about
//! one per 190 steps, the window's first filling included), 855 when the errors drift as a
//! random walk (one per 23 steps).

/// Distinct values a range holds: with the counts and the header they fill one 64-byte
/// cache line, and the values 3½ more.
pub(super) const NEAR: usize = 28;

/// The window's errors in a range of values around one order statistic (module doc).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(super) struct Near {
    /// Errors of the window below `values[0]`.
    below: u32,
    /// Distinct values held: 0 when it holds no range (fresh, or emptied by removals).
    len: u32,
    /// How many errors of the window have each value.
    counts: [u16; NEAR],
    /// The distinct values, ascending by `f64::total_cmp`.
    values: [f64; NEAR],
}

impl Near {
    /// A neighbourhood holding no range: [`Near::nth`] answers nothing until rebuilt.
    pub(super) fn empty() -> Self {
        Near { below: 0, len: 0, counts: [0; NEAR], values: [0.0; NEAR] }
    }

    /// Forgets the range (the caller no longer tells it every error).
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Reads one value from each of its cache lines (`Conformal::touch`).
    pub(super) fn touch(&self) -> u64 {
        crate::forecast::touch_lines(&self.values) ^ u64::from(self.below)
    }

    /// The held values.
    fn held(&self) -> &[f64] {
        &self.values[..self.len as usize]
    }

    /// Where `e` is or would go among the held values.
    fn place(&self, e: f64) -> usize {
        self.held().partition_point(|v| v.total_cmp(&e).is_lt())
    }

    /// The window lost the error `e`.
    pub(super) fn remove(&mut self, e: f64) {
        let Some((&lo, &hi)) = self.held().first().zip(self.held().last()) else { return };
        if e.total_cmp(&lo).is_lt() {
            self.below -= 1;
        } else if e.total_cmp(&hi).is_le() {
            let i = self.place(e);
            self.counts[i] -= 1;
            if self.counts[i] == 0 {
                self.drop_at(i);
            }
        }
    }

    /// The window gained the error `e`; `k` is the rank this neighbourhood is kept around
    /// (it decides which end a full range drops).
    pub(super) fn insert(&mut self, e: f64, k: usize) {
        let Some((&lo, &hi)) = self.held().first().zip(self.held().last()) else { return };
        if e.total_cmp(&lo).is_lt() {
            self.below += 1;
            return;
        }
        if e.total_cmp(&hi).is_gt() {
            return;
        }
        let mut i = self.place(e);
        if self.values[i].total_cmp(&e).is_eq() {
            self.counts[i] += 1;
            return;
        }
        // A new distinct value strictly between lo and hi (so 1 ≤ i < len). A full range
        // drops the end farther from rank `k`, after which `e` may lie just outside it.
        if self.len as usize == NEAR {
            if self.index_of_rank(k).is_some_and(|at| at < NEAR / 2) {
                self.len -= 1;
                if i == self.len as usize {
                    // Above the new high end: counted by nothing, as every error above.
                    return;
                }
            } else {
                self.below += u32::from(self.counts[0]);
                self.drop_at(0);
                if i == 1 {
                    // Below the new low end (the old second value).
                    self.below += 1;
                    return;
                }
                i -= 1;
            }
        }
        let len = self.len as usize;
        self.values.copy_within(i..len, i + 1);
        self.counts.copy_within(i..len, i + 1);
        (self.values[i], self.counts[i]) = (e, 1);
        self.len += 1;
    }

    /// Removes the held value at `i`.
    fn drop_at(&mut self, i: usize) {
        let len = self.len as usize;
        self.values.copy_within(i + 1..len, i);
        self.counts.copy_within(i + 1..len, i);
        self.len -= 1;
    }

    /// The index of the held value with rank `k` in the window, if held.
    fn index_of_rank(&self, k: usize) -> Option<usize> {
        let mut left = k.checked_sub(self.below as usize).filter(|&r| r >= 1)?;
        for (i, &count) in self.counts[..self.len as usize].iter().enumerate() {
            let count = usize::from(count);
            if left <= count {
                return Some(i);
            }
            left -= count;
        }
        None
    }

    /// The `k`-th smallest error of the window (1-based), if the range holds it.
    pub(super) fn nth(&self, k: usize) -> Option<f64> {
        self.index_of_rank(k).map(|i| self.values[i])
    }

    /// Takes the range around rank `k` (1 ≤ `k` ≤ `sorted.len()`) from the whole window
    /// sorted ascending by `f64::total_cmp` (module doc).
    pub(super) fn rebuild(&mut self, sorted: &[f64], k: usize) {
        let run_start = |end: usize| {
            let v = sorted[end - 1];
            sorted[..end].partition_point(|x| x.total_cmp(&v).is_lt())
        };
        let mut start = run_start(k);
        for _ in 1..NEAR / 2 {
            if start == 0 {
                break;
            }
            start = run_start(start);
        }
        self.below = start as u32;
        self.len = 0;
        let mut at = start;
        while at < sorted.len() && (self.len as usize) < NEAR {
            let v = sorted[at];
            let run = sorted[at..].partition_point(|x| x.total_cmp(&v).is_le());
            let i = self.len as usize;
            (self.values[i], self.counts[i]) = (v, run as u16);
            self.len += 1;
            at += run;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{NEAR, Near};
    use proptest::prelude::*;

    fn sorted(window: &[f64]) -> Vec<f64> {
        let mut s = window.to_vec();
        s.sort_by(f64::total_cmp);
        s
    }

    #[test]
    fn a_range_by_hand() {
        // Window 5, 1, 3, 3, 9 → sorted 1, 3, 3, 5, 9; rank 3 is the second 3.
        let window = [5.0, 1.0, 3.0, 3.0, 9.0];
        let mut near = Near::empty();
        assert_eq!(near.nth(3), None, "nothing held before a rebuild");
        near.rebuild(&sorted(&window), 3);
        // Fewer than NEAR/2 distinct values below: the range starts at the smallest.
        assert_eq!((near.below, near.held(), &near.counts[..4]), (0, &[1.0, 3.0, 5.0, 9.0][..], &[1, 2, 1, 1][..]));
        assert_eq!(
            [1, 2, 3, 4, 5, 6].map(|k| near.nth(k)),
            [Some(1.0), Some(3.0), Some(3.0), Some(5.0), Some(9.0), None]
        );
        // 1 leaves, 4 enters: window 5, 3, 3, 9, 4 → sorted 3, 3, 4, 5, 9.
        near.remove(1.0);
        near.insert(4.0, 3);
        assert_eq!((near.below, near.held()), (0, &[3.0, 4.0, 5.0, 9.0][..]));
        assert_eq!(near.nth(3), Some(4.0));
        // 0 enters below the range; 10 above it is counted by nothing. Window sorted:
        // 0, 3, 3, 4, 5, 9, 10: rank 3 is a 3, and rank 7 (10) is past the range.
        near.insert(0.0, 3);
        near.insert(10.0, 3);
        assert_eq!((near.below, near.nth(3), near.nth(7)), (1, Some(3.0), None));
    }

    #[test]
    fn a_full_range_drops_the_end_farther_from_its_rank() {
        // 0, 1, …, 39: rank 20 (value 19) keeps 13 values below it (6 … 18) and 14 after.
        let window: Vec<f64> = (0..40).map(f64::from).collect();
        let mut near = Near::empty();
        near.rebuild(&window, 20);
        assert_eq!((near.below, near.len as usize, near.values[0], near.values[NEAR - 1]), (6, NEAR, 6.0, 33.0));
        // 19.5 enters: rank 20 is at index 13 of 28, below the middle: the high end goes.
        near.insert(19.5, 20);
        assert_eq!((near.below, near.values[0], near.values[NEAR - 1], near.nth(20)), (6, 6.0, 32.0, Some(19.0)));
        // Kept around rank 22 (20, at index 15: above the middle), 6.5 enters: the low end
        // (6) goes to `below`, and so does 6.5, inside the old range but below the new one.
        near.insert(6.5, 22);
        // Window 0 … 39, 19.5 and 6.5: the 22nd smallest is 19.5.
        assert_eq!((near.below, near.values[0], near.nth(22)), (8, 7.0, Some(19.5)));
    }

    proptest! {
        /// Against sorting the window at every step: a neighbourhood told every error that
        /// enters and leaves answers its rank exactly, or says it cannot and is rebuilt.
        #[test]
        fn it_gives_what_sorting_the_window_gives(
            errors in proptest::collection::vec(prop_oneof![-3i32..3, -60i32..60, -10_000i32..10_000], 1..600),
            window in 1usize..200,
            tenths in 1usize..10,
        ) {
            let mut near = Near::empty();
            let mut ring: Vec<f64> = Vec::new();
            for (i, e) in errors.iter().enumerate() {
                let e = f64::from(*e) / 4.0;
                if ring.len() == window {
                    near.remove(ring.remove(0));
                }
                ring.push(e);
                let k = (tenths * ring.len()).div_ceil(10).clamp(1, ring.len());
                near.insert(e, k);
                let want = sorted(&ring)[k - 1];
                let got = near.nth(k).unwrap_or_else(|| {
                    near.rebuild(&sorted(&ring), k);
                    near.nth(k).expect("a rebuilt range holds its rank")
                });
                prop_assert_eq!(got.to_bits(), want.to_bits(), "step {}", i);
                prop_assert!(near.len as usize <= NEAR);
            }
        }
    }
}
