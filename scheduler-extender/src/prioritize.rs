//! The extender's `prioritize`: a score of 0..=10 per node that passed the filters.
//!
//! Each node n gets terms in [0, 1]; the score is their weighted mean (weights from
//! `[scheduler.weights]`), times 10, rounded:
//!
//! `score_n = round(10 · Σ_t w_t · term_t(n) / Σ_t w_t)`, over the terms that apply.
//!
//! - **Headroom** `h_n = 1 − clamp(p̂_n, 0, 1)`, where the predicted pressure
//!   `p̂_n = max(p_n, f_n, p'_n)`: `p_n` is the engine's pressure now, `f_n` a forecast of it
//!   when a [`PressureForecast`] gives one, and `p'_n` the pressure with the requests of pods
//!   bound here within the last `burst_windows` windows and not yet visible in telemetry
//!   added ([`shifted_pressure`]; burst damping: Koordinator's and Crane's load-aware
//!   scheduling likewise count freshly assumed pods as load). A node with no telemetry yet
//!   (inventory only) has `p̂ = 0`.
//! - **Cost** `c_n = (π_max − π_n) / (π_max − π_min)`, with `π_n` the node's price per vCPU-hour
//!   among the candidates (1 for every candidate when all prices are equal): cheaper headroom
//!   first. Nodes whose price is unknown get 0.5.
//! - **Fragmentation** `φ_n = sigmoid(Δ_n / 1000)`, once a typical pod mix M is known
//!   ([`ironspider_placement::mix`]): the FGD idea (Weng et al., USENIX ATC '23) of placing where the
//!   expected GPU capacity the typical pods cannot use grows least. `Δ_n = F_n(M) − F_n'(M)`
//!   in GPU milli, with F the node fragmentation of [`ironspider_placement::policy::frag`], n the node as it
//!   is (CPU left = its vCPUs less the requests held there, GPUs as the ledger has them) and
//!   n' the node with the pod's CPU and the very GPU shares `bind` would take ([`choose`]).
//!   0.5 when the placement changes nothing (a node without GPUs), above when it lowers
//!   fragmentation, below when it raises it.
//!
//! kube-scheduler multiplies an extender's score by its weight and by 10
//! (`MaxNodeScore / MaxExtenderPriority`) and adds it to its plugins' sum (each plugin 0..100
//! times its weight; the defaults add up to about 1,200 at most). With weight 5, this
//! extender moves a node by up to 500 points: enough to decide between nodes the default
//! plugins rate alike, not enough to override a strong affinity.

use crate::config::Weights;
use crate::model::{Held, NodeFacts};
use crate::protocol::MAX_EXTENDER_PRIORITY;
use ironspider_placement::cluster::PodSpec;
use ironspider_placement::gpu::{Gpu, accepts, choose, free_milli};
use ironspider_placement::policy::fgd::sigmoid;
use ironspider_placement::policy::frag::TypicalMix;
use ironspider_scores::NodeScore;
use ironspider_scores::pressure::{PressureConfig, ResourceLoad, resource_pressure};

/// A forecast of a node's pressure: the seam through which forecasting feeds placement.
///
/// Nothing forecasts yet (the `ironspider-models` crate is empty), so `serve` wires
/// [`NoForecast`] and the predicted pressure is `max(p_n, p'_n)`. A forecaster plugs in here
/// (docs/architecture.md, "Add a forecaster").
pub trait PressureForecast: Send + Sync {
    /// The pressure expected over the next windows, when there is a forecast for the node.
    fn pressure(&self, node: &str, now: &NodeScore) -> Option<f64>;
}

/// No forecast: the pressure now stands for the pressure to come.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoForecast;

impl PressureForecast for NoForecast {
    fn pressure(&self, _node: &str, _now: &NodeScore) -> Option<f64> {
        None
    }
}

/// The pressure a node would be under with `cpu` more cores and `memory` more bytes in use
/// than telemetry shows (negative: fewer): its pressure now, moved by as much as the engine's
/// per-resource pressure `P` ([`resource_pressure`], no variability margin) of the scarcer of
/// CPU and memory moves when their utilisation shifts by the load's share of capacity:
///
/// `p' = clamp(p + max_r P(u_r + Δ_r / capacity_r) − max_r P(u_r), 0, 1)`
///
/// so the variability margin and stall share already in `p` carry over. `None` without
/// telemetry.
pub fn shifted_pressure(facts: &NodeFacts, cpu: f64, memory: f64, config: &PressureConfig) -> Option<f64> {
    let score = facts.score?;
    let pressure_of = |utilisation: Option<f64>, added: f64, capacity: Option<f64>| {
        let share = capacity.filter(|c| *c > 0.0).map_or(0.0, |c| added / c);
        let utilisation = (utilisation? + share).clamp(0.0, 1.0);
        Some(resource_pressure(ResourceLoad { utilisation, spread: 0.0 }, config))
    };
    let scarcest = |cpu: f64, memory: f64| {
        let cpu = pressure_of(score.cpu, cpu, facts.vcpus);
        let memory = pressure_of(score.memory, memory, facts.memory_bytes);
        cpu.into_iter().chain(memory).reduce(f64::max)
    };
    let (now, shifted) = (scarcest(0.0, 0.0)?, scarcest(cpu, memory)?);
    Some((score.pressure.unwrap_or(now) + shifted - now).clamp(0.0, 1.0))
}

/// `p̂_n` of the module doc.
pub fn predicted_pressure(
    node: &str,
    facts: &NodeFacts,
    held: Option<&Held>,
    forecast: &dyn PressureForecast,
    config: &PressureConfig,
) -> f64 {
    let Some(score) = facts.score else { return 0.0 };
    let mut predicted = score.pressure.unwrap_or(0.0);
    if let Some(forecast) = forecast.pressure(node, score) {
        predicted = predicted.max(forecast);
    }
    if let Some(held) = held.filter(|h| h.burst_cpu > 0.0 || h.burst_memory > 0.0) {
        predicted = predicted.max(shifted_pressure(facts, held.burst_cpu, held.burst_memory, config).unwrap_or(0.0));
    }
    predicted.clamp(0.0, 1.0)
}

/// A node's price per vCPU-hour, when telemetry priced it.
pub fn price_per_vcpu(facts: &NodeFacts) -> Option<f64> {
    let score = facts.score?;
    let vcpus = facts.vcpus.filter(|v| *v > 0.0)?;
    Some(score.cost_per_hour / vcpus)
}

/// `c_n` of the module doc for each price (`None`: unknown).
pub fn cost_terms(prices: &[Option<f64>]) -> Vec<f64> {
    let known = prices.iter().flatten();
    let (low, high) = known.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
    prices
        .iter()
        .map(|price| match price {
            None => 0.5,
            Some(_) if high - low <= f64::EPSILON => 1.0,
            Some(price) => (high - price) / (high - low),
        })
        .collect()
}

/// `φ_n` of the module doc for `pod` on a node with `cpu_free` CPU milli left and `devices`;
/// `None` when the pod's GPUs do not fit the devices.
pub fn fragmentation_term(mix: &TypicalMix, cpu_free: u64, devices: &[Gpu], pod: &PodSpec) -> Option<f64> {
    let free = free_milli(devices);
    let eligible = |device: usize| accepts(&pod.models, &devices[device].model);
    let shares = choose(&free, eligible, &pod.gpu)?;
    let model = devices.first().map_or("", |gpu| gpu.model.as_str());
    Some(sigmoid(mix.frag_change(cpu_free, &free, model, pod.cpu, &shares)))
}

/// One node's terms, each in [0, 1] (`None` when it does not apply).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Terms {
    /// Headroom.
    pub headroom: f64,
    /// Cost.
    pub cost: f64,
    /// Fragmentation avoided (GPU pods).
    pub fragmentation: Option<f64>,
}

/// `score_n` of the module doc.
pub fn combine(terms: &Terms, weights: &Weights) -> i64 {
    let fragmentation = terms.fragmentation.map(|term| (weights.fragmentation, term));
    let parts = [Some((weights.headroom, terms.headroom)), Some((weights.cost, terms.cost)), fragmentation];
    let parts = parts.iter().flatten();
    let total: f64 = parts.clone().map(|(w, _)| w.max(0.0)).sum();
    if total <= 0.0 {
        return 0;
    }
    let mean = parts.map(|(w, t)| w.max(0.0) * t.clamp(0.0, 1.0)).sum::<f64>() / total;
    ((mean * MAX_EXTENDER_PRIORITY as f64).round() as i64).clamp(0, MAX_EXTENDER_PRIORITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(pressure: f64, cpu: f64, cost_per_hour: f64) -> NodeScore {
        NodeScore { cpu: Some(cpu), memory: Some(0.1), pressure: Some(pressure), cost_per_hour, ..NodeScore::default() }
    }

    struct Fixed(f64);
    impl PressureForecast for Fixed {
        fn pressure(&self, _: &str, _: &NodeScore) -> Option<f64> {
            Some(self.0)
        }
    }

    #[test]
    fn burst_damping_counts_fresh_pods_as_load_and_a_forecast_can_only_raise_pressure() {
        let s = score(0.3, 0.4, 1.0);
        let facts =
            NodeFacts { vcpus: Some(8.0), memory_bytes: Some(1e9), gpu_model: None, score: Some(&s), slot: None };
        let config = PressureConfig::default();
        assert_eq!(predicted_pressure("n", &facts, None, &NoForecast, &config), 0.3);
        // Scarcest now: CPU 0.4 → 0.5 · 0.4 / 0.7 (memory 0.1 is less). With 4 fresh cores of
        // 8, CPU 0.9 → 0.5 + 0.5 · (0.9 − 0.7) / 0.3 (memory 0.2 is less); the pressure 0.3
        // moves by the difference.
        let held = Held { cpu: 4.0, memory: 1e8, burst_cpu: 4.0, burst_memory: 1e8 };
        let predicted = predicted_pressure("n", &facts, Some(&held), &NoForecast, &config);
        let expected = 0.3 + (0.5 + 0.5 * 0.2 / 0.3) - 0.5 * 0.4 / 0.7;
        assert!((predicted - expected).abs() < 1e-12, "{predicted}");
        let settled = Held { burst_cpu: 0.0, burst_memory: 0.0, ..held };
        assert_eq!(predicted_pressure("n", &facts, Some(&settled), &NoForecast, &config), 0.3, "only fresh pods count");
        assert_eq!(predicted_pressure("n", &facts, None, &Fixed(0.9), &config), 0.9);
        assert_eq!(predicted_pressure("n", &facts, None, &Fixed(0.1), &config), 0.3);
        let inventory_only = NodeFacts { score: None, ..facts };
        assert_eq!(predicted_pressure("n", &inventory_only, Some(&held), &NoForecast, &config), 0.0);
    }

    #[test]
    fn fragmentation_favours_the_node_where_the_typical_pods_lose_least_gpu() {
        use ironspider_placement::demand::GpuDemand;
        use ironspider_placement::policy::frag::PodType;
        let share = |milli: u32| PodType { cpu: 1000, milli, count: 1, models: vec![] };
        let mix = TypicalMix { types: vec![(share(500), 1.0)] };
        let devices = |free: [u32; 2]| -> Vec<Gpu> {
            free.iter().enumerate().map(|(i, f)| Gpu { id: format!("g{i}"), model: "A100".into(), free: *f }).collect()
        };
        let pod = PodSpec { cpu: 1000, gpu: GpuDemand::Fraction(500), ..PodSpec::default() };
        // [1000, 600]: bind takes 500 of the tightest device, 600 → 100, which a 500 share can
        // no longer use: F goes from 0 to 100, Δ = −100, φ = 1 / (1 + e^0.1).
        let frayed = fragmentation_term(&mix, 8000, &devices([1000, 600]), &pod).unwrap();
        assert!((frayed - 1.0 / (1.0 + 0.1f64.exp())).abs() < 1e-12, "{frayed}");
        // [1000, 500]: the share fills device 1 exactly; F stays 0, φ = 0.5.
        assert_eq!(fragmentation_term(&mix, 8000, &devices([1000, 500]), &pod), Some(0.5));
        // Too little CPU left for the typical pod after this one: the whole 1000 left is lost.
        let starved = fragmentation_term(&mix, 1500, &devices([1000, 500]), &pod).unwrap();
        assert!((starved - 1.0 / (1.0 + 1.0f64.exp())).abs() < 1e-12, "{starved}");
        assert_eq!(fragmentation_term(&mix, 8000, &devices([400, 300]), &pod), None, "does not fit");
        assert_eq!(fragmentation_term(&mix, 8000, &[], &PodSpec::default()), Some(0.5), "no GPUs, no change");
    }

    #[test]
    fn cost_terms_run_from_the_dearest_at_0_to_the_cheapest_at_1() {
        assert_eq!(cost_terms(&[Some(4.0), Some(2.0), Some(3.0), None]), [0.0, 1.0, 0.5, 0.5]);
        assert_eq!(cost_terms(&[Some(0.02), Some(0.02)]), [1.0, 1.0]);
    }

    #[test]
    fn the_score_is_the_weighted_mean_of_the_terms_times_ten() {
        let weights = Weights { headroom: 2.0, fragmentation: 1.0, cost: 0.5 };
        // (2 · 0.7 + 0.5 · 1.0) / 2.5 = 0.76 → 7.6 → 8
        assert_eq!(combine(&Terms { headroom: 0.7, cost: 1.0, fragmentation: None }, &weights), 8);
        // (2 · 0.7 + 0.5 · 1.0 + 1 · 0.2) / 3.5 = 0.6 → 6
        assert_eq!(combine(&Terms { headroom: 0.7, cost: 1.0, fragmentation: Some(0.2) }, &weights), 6);
        let none = Weights { headroom: 0.0, fragmentation: 0.0, cost: 0.0 };
        assert_eq!(combine(&Terms::default(), &none), 0);
    }
}
