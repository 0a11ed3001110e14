//! Peer outliers: how unlike its peers a node is in the same window — a second signal beside
//! each node's own history (the anomaly detectors), as the outlier detection of Datadog and
//! Grafana compares the members of a group.
//!
//! **Peers** are the nodes of the same shape that reported in the window: the same vCPUs,
//! memory (to the GiB), GPU count and GPU model (unknown counts as a value of its own).
//!
//! **Formula**, per resource `r` (`cpu`, `memory`, `gpu`, `gpu_memory`, `pressure`) over the
//! peers with a value of it, when there are at least [`MIN_PEERS`]: the median `x̃` and the
//! median absolute deviation `MAD = median |x − x̃|`, and each node's modified z-score
//!
//! ```text
//! M = 0.6745 · (x − x̃) / MAD                          (Iglewicz & Hoaglin, 1993)
//! M = (x − x̃) / (1.253314 · MeanAD)   when MAD = 0    (MeanAD = mean |x − x̃|)
//! M = 0                               when both are 0 (every peer alike)
//! ```
//!
//! 0.6745 is the 75th percentile of the standard normal, so that `M` reads as a z-score for
//! normal data; 1.253314 = √(π/2) does the same for the mean absolute deviation (IBM SPSS's
//! fallback when more than half the values are equal). Iglewicz and Hoaglin call a value
//! with `|M| > 3.5` a potential outlier ([`OUTLIER`]). A resource of fewer than
//! [`MIN_PEERS`] peers gets no score: a median and MAD of fewer are too easily moved by one
//! node.

use crate::quantity::NODE_QUANTITIES;
use crate::snapshot::NodeScore;
use std::collections::BTreeMap;

/// The fewest peers with a value for a resource to be scored.
pub const MIN_PEERS: usize = 5;

/// `|M|` above which a node is a potential outlier among its peers (Iglewicz & Hoaglin).
pub const OUTLIER: f64 = 3.5;

/// The quantities compared, by name (`crate::quantity::NODE_QUANTITIES`).
const RESOURCES: [&str; 5] = ["cpu", "memory", "gpu", "gpu_memory", "pressure"];

/// Sets every reporting node's `peer_deviation` (its modified z-score per resource, among
/// the nodes of its shape) in `scores`. Nodes are grouped by sorting on their shape
/// (computed once per node), and medians are found by selection: O(n log n) for n nodes.
pub fn assign(scores: &mut BTreeMap<String, NodeScore>) {
    let mut nodes: Vec<(Shape, &mut NodeScore)> = Vec::with_capacity(scores.len());
    for node in scores.values_mut() {
        node.peer_deviation.clear();
        if node.reported {
            nodes.push((shape(node), node));
        }
    }
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut values = Vec::new();
    let mut z = Vec::new();
    let mut start = 0;
    while start < nodes.len() {
        let end = start + nodes[start..].iter().take_while(|(key, _)| *key == nodes[start].0).count();
        let group = &mut nodes[start..end];
        let quantities = NODE_QUANTITIES.iter().filter(|q| RESOURCES.contains(&q.name));
        for quantity in quantities {
            let (resource, read) = (quantity.name, quantity.value);
            values.clear();
            values.extend(group.iter().filter_map(|(_, node)| read(node)));
            if !modified_z_into(&values, &mut z) {
                continue;
            }
            let scored = group.iter_mut().filter(|(_, node)| read(node).is_some());
            for ((_, node), m) in scored.zip(&z) {
                node.peer_deviation.push((resource, *m));
            }
        }
        start = end;
    }
}

/// What peers share: vCPUs (bits), memory in whole GiB, GPUs, GPU model.
type Shape = (Option<u64>, Option<i64>, usize, Option<String>);

/// The shape peers share (module doc), computed once per node.
fn shape(score: &NodeScore) -> Shape {
    let hardware = &score.hardware;
    (
        hardware.vcpus.map(f64::to_bits),
        hardware.memory_bytes.map(|b| (b / (1u64 << 30) as f64).round() as i64),
        hardware.gpu_ids.len(),
        hardware.gpu_model.clone(),
    )
}

/// Each value's modified z-score among `values` (module doc); `None` for fewer than
/// [`MIN_PEERS`].
pub fn modified_z(values: &[f64]) -> Option<Vec<f64>> {
    let mut z = Vec::new();
    modified_z_into(values, &mut z).then_some(z)
}

/// [`modified_z`] into `z`; false (and `z` left as it was) for fewer than [`MIN_PEERS`].
fn modified_z_into(values: &[f64], z: &mut Vec<f64>) -> bool {
    if values.len() < MIN_PEERS {
        return false;
    }
    let mut scratch = values.to_vec();
    let centre = median(&mut scratch);
    for (d, x) in scratch.iter_mut().zip(values) {
        *d = (x - centre).abs();
    }
    let mean_deviation = scratch.iter().sum::<f64>() / scratch.len() as f64;
    let mad = median(&mut scratch);
    z.clear();
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else if mean_deviation > 0.0 {
        1.253_314 * mean_deviation
    } else {
        z.resize(values.len(), 0.0);
        return true;
    };
    z.extend(values.iter().map(|x| (x - centre) / scale));
    true
}

/// The median of `values` (reordered): the middle one by selection, or the mean of the two
/// middle ones.
fn median(values: &mut [f64]) -> f64 {
    let (mid, odd) = (values.len() / 2, values.len() % 2 == 1);
    let (below, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if odd {
        return upper;
    }
    let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
    (lower + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Hardware;

    #[test]
    fn the_modified_z_score_by_hand() {
        // 0.2, 0.3, 0.3, 0.4, 0.9: median 0.3, deviations 0.1, 0, 0, 0.1, 0.6 → MAD 0.1;
        // 0.9 is 0.6745 · 0.6 / 0.1 = 4.047 (an outlier), 0.2 is −0.6745.
        let z = modified_z(&[0.2, 0.3, 0.3, 0.4, 0.9]).unwrap();
        assert!((z[4] - 4.047).abs() < 1e-9 && (z[0] + 0.6745).abs() < 1e-9, "{z:?}");
        assert!(z[4] > OUTLIER);
        // Four alike and one off: MAD 0, MeanAD 0.5/5 = 0.1 → M = 0.5 / 0.1253314 = 3.9894.
        let z = modified_z(&[0.1, 0.1, 0.1, 0.1, 0.6]).unwrap();
        assert!((z[4] - 0.5 / 0.125_331_4).abs() < 1e-9 && z[0] == 0.0, "{z:?}");
        assert_eq!(modified_z(&[0.5; 6]), Some(vec![0.0; 6]), "every peer alike");
        assert_eq!(modified_z(&[0.1, 0.2, 0.3, 0.4]), None, "four are too few");
    }

    proptest::proptest! {
        /// Differential: the selection-based medians give the scores a plain sort does.
        #[test]
        fn matches_a_sorted_computation(values in proptest::collection::vec(-1e3..1e3f64, 5..60)) {
            let sorted_median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                let n = v.len();
                if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
            };
            let centre = sorted_median(values.clone());
            let deviations: Vec<f64> = values.iter().map(|x| (x - centre).abs()).collect();
            let mad = sorted_median(deviations.clone());
            let mean = deviations.iter().sum::<f64>() / deviations.len() as f64;
            let z = modified_z(&values).unwrap();
            for (x, m) in values.iter().zip(z) {
                let expected = if mad > 0.0 {
                    0.6745 * (x - centre) / mad
                } else if mean > 0.0 {
                    (x - centre) / (1.253_314 * mean)
                } else {
                    0.0
                };
                proptest::prop_assert!((m - expected).abs() <= 1e-9 * expected.abs().max(1.0), "{} vs {}", m, expected);
            }
        }
    }

    #[test]
    fn only_nodes_of_one_shape_that_reported_are_peers() {
        let node = |name: &str, vcpus: f64, cpu: f64, reported: bool| NodeScore {
            node: name.into(),
            cpu: Some(cpu),
            reported,
            hardware: Hardware { vcpus: Some(vcpus), ..Hardware::default() },
            ..NodeScore::default()
        };
        let mut scores: BTreeMap<String, NodeScore> = [
            node("a", 8.0, 0.2, true),
            node("b", 8.0, 0.3, true),
            node("c", 8.0, 0.3, true),
            node("d", 8.0, 0.4, true),
            node("e", 8.0, 0.9, true),
            node("silent", 8.0, 0.99, false),
            node("big", 64.0, 0.9, true),
        ]
        .into_iter()
        .map(|n| (n.node.clone(), n))
        .collect();
        assign(&mut scores);
        assert_eq!(scores["e"].peer_deviation.len(), 1);
        let (resource, m) = scores["e"].peer_deviation[0];
        assert!(resource == "cpu" && (m - 4.047).abs() < 1e-9, "{m}");
        assert!(scores["silent"].peer_deviation.is_empty() && scores["big"].peer_deviation.is_empty());
    }
}
