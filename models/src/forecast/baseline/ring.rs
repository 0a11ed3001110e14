//! A fixed-capacity ring buffer: the bounded memory behind the windowed baselines and the
//! conformal calibrator.
//!
//! **Contract:** holds at most `capacity` values; pushing into a full ring evicts (and
//! returns) the oldest. Its memory is allocated once, at construction, and never grows.
//! `ago(0)` is the newest value, `ago(len − 1)` the oldest.

/// A ring of at most `capacity` values, oldest evicted first.
#[derive(Debug, Clone)]
pub(crate) struct Ring<T> {
    /// The values; `buf.len() < cap` only until the ring first fills.
    buf: Vec<T>,
    /// The fixed capacity (at least 1).
    cap: usize,
    /// Where the next push writes once the ring is full (the oldest value's slot).
    next: usize,
}

impl Ring<f64> {
    /// Reads the slot the next push writes and those of the `ahead` values after it (one per
    /// cache line, and the last), folded ([`crate::Forecaster::touch`]).
    pub(crate) fn touch(&self, ahead: usize) -> u64 {
        let len = self.buf.len();
        if len == 0 {
            return 0;
        }
        let slots = (0..=ahead.min(len - 1)).step_by(crate::forecast::PER_LINE).chain([ahead.min(len - 1)]);
        slots.fold(0, |folded, k| folded ^ self.buf[(self.next + k) % len].to_bits())
    }
}

impl<T> Ring<T> {
    /// An empty ring for `capacity` values (raised to 1 if 0).
    pub(crate) fn new(capacity: usize) -> Self {
        let cap = capacity.max(1);
        Ring { buf: Vec::with_capacity(cap), cap, next: 0 }
    }

    /// Adds `value` as the newest; returns the evicted oldest value when the ring was full.
    pub(crate) fn push(&mut self, value: T) -> Option<T> {
        if self.buf.len() < self.cap {
            self.buf.push(value);
            return None;
        }
        let old = std::mem::replace(&mut self.buf[self.next], value);
        self.next = wrapped_index(self.next + 1, self.cap);
        Some(old)
    }

    /// How many values it holds.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether it holds `capacity` values.
    pub(crate) fn is_full(&self) -> bool {
        self.buf.len() == self.cap
    }

    /// The fixed capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Whether the last push completed a full turn (the write position is back at the
    /// start), so that a caller can do something once every `capacity` pushes.
    pub(crate) fn wrapped(&self) -> bool {
        self.is_full() && self.next == 0
    }

    /// Where in the buffer the value pushed `k` pushes before the newest sits.
    fn index_ago(&self, k: usize) -> Option<usize> {
        let len = self.buf.len();
        if k >= len {
            return None;
        }
        // Once full, the newest sits just before `next`; before that, at the end.
        let newest = if self.is_full() { wrapped_index(self.next + len - 1, len) } else { len - 1 };
        Some(wrapped_index(newest + len - k, len))
    }

    /// The value pushed `k` pushes before the newest (`k = 0`: the newest).
    pub(crate) fn ago(&self, k: usize) -> Option<&T> {
        self.buf.get(self.index_ago(k)?)
    }

    /// The values in no particular order (for sums and sorts).
    pub(crate) fn values(&self) -> &[T] {
        &self.buf
    }

    /// The memory held, in values: the allocated capacity of the buffer.
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }
}

/// `i mod len` for `i < 2·len`, by a subtraction: a ring's index moves by less than a turn,
/// where a division (`%`) costs tens of cycles.
fn wrapped_index(i: usize, len: usize) -> usize {
    if i >= len { i - len } else { i }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn evicts_the_oldest_and_counts_back_from_the_newest() {
        let mut r = Ring::new(3);
        assert_eq!(r.ago(0), None);
        assert_eq!(r.push(1), None);
        assert_eq!(r.push(2), None);
        assert_eq!((r.ago(0), r.ago(1), r.ago(2)), (Some(&2), Some(&1), None));
        assert_eq!(r.push(3), None);
        assert!(r.wrapped());
        assert_eq!(r.push(4), Some(1));
        assert!(!r.wrapped());
        assert_eq!((r.ago(0), r.ago(1), r.ago(2), r.ago(3)), (Some(&4), Some(&3), Some(&2), None));
        assert_eq!((r.len(), r.capacity()), (3, 3));
    }

    #[test]
    fn a_zero_capacity_is_raised_to_one() {
        let mut r = Ring::new(0);
        assert_eq!(r.push(7), None);
        assert_eq!(r.push(8), Some(7));
        assert_eq!(r.ago(0), Some(&8));
    }
}
