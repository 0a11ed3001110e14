//! The live cluster's typical pod mix, for the fragmentation term of `prioritize`: the types
//! ([`PodType`]) of the last `mix_pods` pods `filter` was asked about, each pod counted once
//! however often the scheduler retries it, reduced to FGD's typical mix
//! ([`TypicalMix::from_counts`], most frequent types covering [`MIX_COVERAGE`] of the pods).
//! The mix is worked out again only after a new pod arrives.

use crate::cluster::PodSpec;
use crate::policy::frag::{PodType, TypicalMix};
use hashbrown::HashMap;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;

/// Share of the recent pods the typical mix covers (the FGD artifact's default, 95 %).
pub const MIX_COVERAGE: f64 = 0.95;

#[derive(Debug, Default)]
struct Recent {
    order: VecDeque<PodType>,
    counts: HashMap<PodType, u64>,
    mix: Option<Arc<TypicalMix>>,
}

/// The types of the most recent pods and the typical mix they make.
#[derive(Debug)]
pub struct PodMix {
    capacity: usize,
    recent: Mutex<Recent>,
}

impl PodMix {
    /// A mix over the last `capacity` pods (at least one).
    pub fn new(capacity: usize) -> Self {
        PodMix { capacity: capacity.max(1), recent: Mutex::default() }
    }

    /// Counts a newly seen pod, forgetting the oldest beyond the capacity.
    pub fn observe(&self, pod: &PodSpec) {
        let mut recent = self.recent.lock();
        let kind = PodType::of(pod);
        *recent.counts.entry(kind.clone()).or_default() += 1;
        recent.order.push_back(kind);
        while recent.order.len() > self.capacity {
            let Some(oldest) = recent.order.pop_front() else { break };
            if let Some(count) = recent.counts.get_mut(&oldest) {
                *count -= 1;
                if *count == 0 {
                    recent.counts.remove(&oldest);
                }
            }
        }
        recent.mix = None;
    }

    /// The typical mix of the recent pods; `None` before the first pod.
    pub fn current(&self) -> Option<Arc<TypicalMix>> {
        let mut recent = self.recent.lock();
        if recent.order.is_empty() {
            return None;
        }
        if recent.mix.is_none() {
            let counts = recent.counts.iter().map(|(kind, n)| (kind.clone(), *n));
            let mix = TypicalMix::from_counts(counts, MIX_COVERAGE);
            recent.mix = Some(Arc::new(mix));
        }
        recent.mix.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demand::GpuDemand;

    fn pod(milli: u32) -> PodSpec {
        PodSpec { cpu: 1000, gpu: GpuDemand::Fraction(milli), ..PodSpec::default() }
    }

    #[test]
    fn the_mix_follows_the_most_recent_pods() {
        let mix = PodMix::new(3);
        assert_eq!(mix.current(), None);
        for milli in [500, 500, 250] {
            mix.observe(&pod(milli));
        }
        let shares = |mix: &PodMix| {
            let current = mix.current().expect("a mix");
            current.types.iter().map(|(kind, p)| (kind.milli, *p)).collect::<Vec<_>>()
        };
        assert_eq!(shares(&mix), [(500, 2.0 / 3.0), (250, 1.0 / 3.0)]);
        mix.observe(&pod(250));
        assert_eq!(shares(&mix), [(250, 2.0 / 3.0), (500, 1.0 / 3.0)], "the oldest 500 is forgotten");
        mix.observe(&pod(250));
        assert_eq!(shares(&mix), [(250, 1.0)]);
    }
}
