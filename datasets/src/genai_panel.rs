//! The forecasting backtest's panel on the Alibaba GenAI 2026 trace ([`crate::genai`]): one
//! regular series of GPU duty cycle per pod, built by the rules of [`crate::panel`] scaled to
//! the trace, so that `ironspider evaluate forecasts --layout genai` and the statsforecast
//! comparison score the very same numbers.
//!
//! From [`GPU_DUTY_FILE`] (`value,timestamp_anon,container_ip`, columns found by name):
//! - the target is the duty cycle `value × 0.01` (the file is in percent: 0 … 99.7 on the
//!   trace), clipped to [0, 1]; rows the replay loader refuses (malformed, non-finite,
//!   negative, without a pod) are skipped;
//! - each pod is one series, named as `ironspider replay` names its node (`pod-` and the
//!   first 12 characters of the hash);
//! - each timestamp (anonymised Unix seconds) is floored to a multiple of [`STEP_SECONDS`],
//!   the trace's own step (every timestamp of the trace is already one); the rows of one slot
//!   are averaged;
//! - gaps are treated as on Bitbrains, with the limits kept **in steps**: 1 to
//!   [`MAX_FILLED_GAP`] missing slots (up to 11.4 min, the protocol's horizon) are
//!   forward-filled, a longer gap splits the series, and only the last segment is kept, if it
//!   has at least [`MIN_POINTS`] points of which at most 5 % were filled; otherwise the pod is
//!   dropped, with the reason.
//!
//! [`MIN_POINTS`] is twice the span the GenAI backtest forecasts
//! (`ironspider_models::backtest::Protocol::GENAI`: 30 origins × 12 steps = 360 steps, the
//! last quarter of the trace's 1,441-slot day), so that every kept pod has at least as much
//! history before its first origin as the backtest scores after it.

use crate::DatasetError;
use crate::genai::{self, GPU_DUTY_FILE};
use crate::panel::{Panel, Rules, slot_means};
use crate::report::LoadReport;
use std::collections::BTreeMap;
use std::path::Path;

/// The grid's step, seconds: the trace's sampling step.
pub const STEP_SECONDS: i64 = 57;
/// The longest gap, in missing slots, that is forward-filled rather than splitting (as on
/// Bitbrains, in steps).
pub const MAX_FILLED_GAP: i64 = 12;
/// The fewest points a kept segment has: 720 slots, 11.4 h.
pub const MIN_POINTS: usize = 720;

/// The GenAI panel's rules.
pub const RULES: Rules = Rules {
    step_seconds: STEP_SECONDS,
    max_filled_gap: MAX_FILLED_GAP,
    min_points: MIN_POINTS,
    min_span: "11.4 h",
    max_filled_share: 0.05,
};

/// The panel of the pods' GPU duty cycles in the GenAI folder `dir`, pods in name order.
pub fn gpu_duty(dir: &Path) -> Result<Panel, DatasetError> {
    let path = dir.join(GPU_DUTY_FILE);
    let text =
        std::fs::read_to_string(&path).map_err(|error| DatasetError::Io { path: path.display().to_string(), error })?;
    let mut panel = Panel::default();
    for (name, readings) in pod_readings(&text, &path)? {
        panel.push(name, &slot_means(readings.into_iter()), &RULES);
    }
    if panel.series.is_empty() {
        return Err(DatasetError::Empty(format!("no pod of {} makes a series of the panel", path.display())));
    }
    Ok(panel)
}

/// Every pod's `(slot, duty share)` readings, by node name.
fn pod_readings(text: &str, path: &Path) -> Result<BTreeMap<String, Vec<(i64, f64)>>, DatasetError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or_default();
    let at = genai::header_positions(header)
        .ok_or_else(|| DatasetError::MissingColumn { path: path.display().to_string(), column: "timestamp_anon" })?;
    let mut pods: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    let mut report = LoadReport::default();
    for line in lines {
        if let Ok((ns, pod, share)) = genai::parse(line, at, 0.01, 1.0, &mut report) {
            let slot = ns.div_euclid(STEP_SECONDS * 1_000_000_000) * STEP_SECONDS;
            pods.entry(genai::node_name(&pod)).or_default().push((slot, share));
        }
    }
    Ok(pods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_slot_averaged_in_percent_and_short_pods_dropped() {
        // Pod a: 25 % and 75 % in the slot of 1,662,858,720 (a multiple of 57), 120 %
        // (clipped) two slots later, one slot missing (filled); pod b: one row.
        let text = "value,timestamp_anon,container_ip\n25,1662858720.0,aaaa\n75,1662858770.0,aaaa\n\
                    120,1662858834.0,aaaa\nNaN,1662858720.0,aaaa\n5,1662858720.0,bbbb\n";
        let readings = pod_readings(text, Path::new("x")).expect("a header");
        let a = panel_of(&readings["pod-aaaa"]);
        assert_eq!((a.start, a.step, a.values.as_slice(), a.filled), (1_662_858_720, 57, &[0.5, 0.5, 1.0][..], 1));
        assert_eq!(a.time(2), 1_662_858_834);
        let mut panel = Panel::default();
        panel.push("pod-bbbb".into(), &slot_means(readings["pod-bbbb"].iter().copied()), &RULES);
        assert_eq!(panel.dropped[0].1, "its last segment has 1 points, fewer than 720 (11.4 h)");
    }

    fn panel_of(readings: &[(i64, f64)]) -> crate::panel::PanelSeries {
        let rules = Rules { min_points: 1, max_filled_share: 1.0, ..RULES };
        let mut panel = Panel::default();
        panel.push("a".into(), &slot_means(readings.iter().copied()), &rules);
        panel.series.pop().expect("kept")
    }

    #[test]
    fn a_header_without_the_columns_is_an_error() {
        let error = pod_readings("value,time,pod\n1,2,3\n", Path::new("x")).unwrap_err();
        assert!(matches!(error, DatasetError::MissingColumn { .. }), "{error}");
    }

    #[test]
    fn the_real_trace_keeps_93_of_143_pods_on_the_57_s_grid() {
        let panel = gpu_duty(&crate::shared::dataset("alibaba-genai-v2026")).expect("the panel");
        assert_eq!((panel.series.len(), panel.dropped.len()), (93, 50));
        for series in &panel.series {
            assert!(series.values.len() >= MIN_POINTS && series.filled * 20 <= series.values.len(), "{}", series.name);
            assert!(series.values.iter().all(|v| (0.0..=1.0).contains(v)), "{}", series.name);
            assert_eq!((series.step, series.start % STEP_SECONDS), (57, 0), "{}", series.name);
        }
        // Hand-checked in the CSV: pod 00800b6d2cab has all 1,441 slots from 1,662,858,720;
        // its first non-zero duty is line 5,428, `17.2,1662861456.0,…`: slot 2,736 / 57 = 48.
        let pod = panel.series.iter().find(|s| s.name == "pod-00800b6d2cab").expect("kept");
        assert_eq!((pod.start, pod.values.len(), pod.filled), (1_662_858_720, 1441, 0));
        assert!(pod.values[..48].iter().all(|v| *v == 0.0) && (pod.values[48] - 0.172).abs() < 1e-12);
        // 852 rows over 1,438 slots, 586 of them filled; and a pod with two rows.
        let reason = |name: &str| panel.dropped.iter().find(|(n, _)| n == name).map(|(_, r)| r.as_str());
        assert_eq!(reason("pod-83cdea8775aa"), Some("40.8 % of its last segment is filled, more than 5 %"));
        assert_eq!(reason("pod-b169c2120df6"), Some("its last segment has 2 points, fewer than 720 (11.4 h)"));
    }
}
