//! Live forecasts worked by hand on small grids: accumulation, completion, gaps, bad values,
//! dropping silent nodes, and the warm start from the history.

use super::*;
use crate::history::write_window;
use crate::tables::node_steps_batch;
use ironspider_scores::NodeScore;

const S: i64 = 1_000_000_000;

/// Naive forecasts on a 20 s grid of 10 s windows, horizons 1 and 2 steps, a band of 4
/// errors given from the first, gaps of up to 2 steps filled; every node's steps at offset 0
/// (the staggered grid has tests of its own, below).
fn config(model: &str) -> ForecastConfig {
    ForecastConfig {
        model: model.into(),
        step_seconds: 20,
        horizons_seconds: vec![20, 40],
        season_seconds: 20,
        band_window: 4,
        band_min_errors: 1,
        max_gap_steps: 2,
        stagger: false,
        ..ForecastConfig::default()
    }
}

fn live(model: &str) -> (LiveForecasts, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let live = LiveForecasts::new(&config(model), 10, &registry).expect("valid settings");
    (live, registry)
}

/// Scores of one window: each node reporting `cpu` (and pressure 0.5).
fn scores(window_end: i64, nodes: &[(&str, f64)]) -> ScoresSnapshot {
    let nodes = nodes
        .iter()
        .map(|(node, cpu)| {
            let score = NodeScore {
                node: node.to_string(),
                cpu: Some(*cpu),
                pressure: Some(0.5),
                reported: true,
                updated_at: window_end,
                ..NodeScore::default()
            };
            (node.to_string(), score)
        })
        .collect();
    ScoresSnapshot { window_end, nodes, ..ScoresSnapshot::default() }
}

/// Records the two 10 s windows of step `k` with the given CPU values for node `n`.
fn step(live: &LiveForecasts, k: i64, first: f64, second: f64) -> Vec<CompletedStep> {
    let start = k * 20 * S;
    let mut done = live.record(start, start + 10 * S, &scores(start + 10 * S, &[("n", first)]));
    done.extend(live.record(start + 10 * S, start + 20 * S, &scores(start + 20 * S, &[("n", second)])));
    done
}

/// The registry's text exposition.
fn render(registry: &prometheus::Registry) -> String {
    let mut text = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &registry.gather(), &mut text).unwrap();
    String::from_utf8(text).unwrap()
}

fn cpu(snapshot: &ForecastsSnapshot, node: &str) -> Vec<(u64, f64, f64, f64, i64)> {
    let node = snapshot.node(node).expect("node known");
    let rows = snapshot.node_rows(node).filter(|r| r.resource == "cpu");
    rows.map(|r| (r.horizon_seconds, r.p10, r.p50, r.p90, r.issued_at)).collect()
}

#[test]
fn a_step_is_the_mean_of_its_windows_and_its_last_window_completes_it() {
    let (live, _) = live("naive");
    assert!(live.record(0, 10 * S, &scores(10 * S, &[("n", 0.2)])).is_empty(), "the step is half done");
    let done = live.record(10 * S, 20 * S, &scores(20 * S, &[("n", 0.4)]));
    let [step] = &done[..] else { panic!("one step completed: {done:?}") };
    assert_eq!((step.start, step.end), (0, 20 * S));
    // cpu (0.2 + 0.4) / 2 = 0.3, pressure 0.5 twice; nothing else reported.
    let fed: Vec<(&str, f64, u32)> = step.inputs.iter().map(|i| (i.resource, i.value, i.windows)).collect();
    assert_eq!(fed, [("cpu", (0.2 + 0.4) / 2.0, 2), ("pressure", 0.5, 2)]);
    // One value: naive can forecast, but no error is scored yet.
    assert_eq!(step.snapshot.node("n").map(|n| n.forecasts.len()), Some(0));
    assert_eq!(step.snapshot.unavailable, [0, 4, 0, 0], "2 resources × 2 horizons calibrating");
}

#[test]
fn naive_forecasts_by_hand_with_issued_at_and_model() {
    let (live, _) = live("naive");
    step(&live, 0, 0.2, 0.4); // 0.3
    step(&live, 1, 0.5, 0.5); // 0.5: h=1 error 0.5 − 0.3 = 0.2
    let done = step(&live, 2, 0.3, 0.5); // 0.4: h=1 error −0.1, h=2 error 0.4 − 0.3 = 0.1
    let snapshot = &done[0].snapshot;
    assert_eq!((snapshot.step_end, snapshot.model), (60 * S, "naive"));
    // h=1 errors 0.2, −0.1 (n = 2: ranks 1, 2, 2) around the last value 0.4: 0.3, 0.6, 0.6.
    // h=2 errors 0.1 (n = 1) → 0.5 thrice.
    let rows = cpu(snapshot, "n");
    let expected = [(20, 0.4 - 0.1, 0.4 + 0.2, 0.4 + 0.2, 60 * S), (40, 0.4 + 0.1, 0.4 + 0.1, 0.4 + 0.1, 60 * S)];
    assert_eq!(rows.len(), 2);
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!((row.0, row.4), (want.0, want.4));
        for (got, want) in [(row.1, want.1), (row.2, want.2), (row.3, want.3)] {
            assert!((got - want).abs() < 1e-12, "{rows:?}");
        }
    }
}

#[test]
fn the_watermark_completes_a_step_whose_last_windows_had_no_data() {
    let (live, _) = live("naive");
    assert!(live.record(0, 10 * S, &scores(10 * S, &[("n", 0.2)])).is_empty());
    assert!(live.advance(19 * S).is_empty(), "the step ends at 20 s");
    let [step] = &live.advance(20 * S)[..] else { panic!("completed by the watermark") };
    assert_eq!(step.inputs[0].value, 0.2);
    assert!(live.advance(100 * S).is_empty(), "nothing open");
}

#[test]
fn a_silent_node_keeps_its_forecasts_then_is_dropped_after_the_gap() {
    let (live, registry) = live("naive");
    let two = |k: i64, a: f64| {
        let start = k * 20 * S;
        live.record(start, start + 10 * S, &scores(start + 10 * S, &[("a", a), ("b", 0.5)]));
        live.record(start + 10 * S, start + 20 * S, &scores(start + 20 * S, &[("a", a), ("b", 0.5)]))
    };
    for k in 0..3 {
        two(k, 0.1 * k as f64);
    }
    let only_b = |k: i64| {
        let start = k * 20 * S;
        live.record(start, start + 10 * S, &scores(start + 10 * S, &[("b", 0.5)]));
        live.record(start + 10 * S, start + 20 * S, &scores(start + 20 * S, &[("b", 0.5)])).pop().expect("completed")
    };
    // a last reported in step 2; steps 3 and 4 without it (max_gap 2) keep it.
    let snapshot = only_b(3).snapshot;
    let a = cpu(&snapshot, "a");
    assert!(!a.is_empty() && a.iter().all(|row| row.4 == 60 * S), "a's forecasts as of step 2: {a:?}");
    assert!(cpu(&snapshot, "b").iter().all(|row| row.4 == 80 * S));
    assert!(only_b(4).snapshot.node("a").is_some());
    assert!(only_b(5).snapshot.node("a").is_none(), "dropped three steps after its last value");
    // a comes back: fresh (a new node), its trackers counting no reset.
    let back = two(6, 0.9).pop().expect("completed");
    assert_eq!(back.snapshot.node("a").map(|a| a.forecasts.len()), Some(0));
    let text = render(&registry);
    assert!(text.contains("ironspider_forecast_trackers 4"), "{text}");
}

#[test]
fn bad_values_are_refused_counted_and_never_published() {
    let (live, registry) = live("naive");
    for (k, value) in [(0, 0.2), (1, f64::NAN), (2, 0.4), (3, f64::INFINITY), (4, 0.4)] {
        let start = k * 20 * S;
        live.record(start, start + 10 * S, &scores(start + 10 * S, &[("n", value)]));
        let done = live.record(start + 10 * S, start + 20 * S, &scores(start + 20 * S, &[("n", value)]));
        for row in done[0].snapshot.rows() {
            assert!(row.p10.is_finite() && row.p50.is_finite() && row.p90.is_finite(), "{row:?}");
        }
    }
    let text = render(&registry);
    assert!(text.contains("ironspider_forecast_values_refused_total{reason=\"not_finite\"} 2"), "{text}");
    // Steps 1 and 3 refused: 2 → 0 is a gap of one (filled), 4 → 2 likewise.
    assert!(text.contains("ironspider_forecast_filled_steps_total 2"), "{text}");
    let rows = cpu(&live.snapshot(), "n");
    // Naive, h=1 errors: 0 (step 1 filled with 0.2), 0.4 − 0.2 (step 2), 0 (step 3 filled
    // with 0.4), 0 (step 4): sorted 0, 0, 0, 0.2 (n = 4: ranks 1, 3, 4) around 0.4.
    assert_eq!(rows[0].0, 20);
    assert!((rows[0].1 - 0.4).abs() < 1e-12 && (rows[0].2 - 0.4).abs() < 1e-12 && (rows[0].3 - 0.6).abs() < 1e-12);
}

#[test]
fn a_warm_start_from_the_history_resumes_where_the_steps_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let steps_dir = crate::history::HistoryTable::NodeSteps.dir(dir.path());
    let (before, _) = live("ses");
    let values = [0.3, 0.5, 0.4, 0.45, 0.6, 0.2, 0.3];
    for (k, value) in values.iter().enumerate() {
        for step in step(&before, k as i64, *value, *value) {
            write_window(&steps_dir, step.start, &node_steps_batch(&step)).unwrap();
        }
    }
    // A file of another step length (the configuration changed) is skipped.
    let mut other = step(&live("ses").0, 100, 0.1, 0.1).pop().unwrap();
    other.end += 5 * S;
    write_window(&steps_dir, 2 * 20 * S + 1, &node_steps_batch(&other)).unwrap();

    // Restarted during step 7: steps 0 … 6 are in the history, all within reach.
    let (after, _) = live("ses");
    let report = after.warm_start(dir.path(), 7 * 20 * S + 5 * S);
    assert_eq!((report.steps, report.values, report.skipped), (7, 14, 1));
    assert_eq!(
        after.snapshot().rows().collect::<Vec<_>>(),
        before.snapshot().rows().collect::<Vec<_>>(),
        "the same forecasts as before the restart"
    );
    assert_eq!(after.snapshot().step_end, 7 * 20 * S);
    // Windows of a step the warm start fed are not taken again; the next step is.
    assert!(step(&after, 6, 0.9, 0.9).is_empty());
    let next = step(&after, 7, 0.25, 0.25);
    let before_next = step(&before, 7, 0.25, 0.25);
    assert_eq!(next[0].snapshot.rows().collect::<Vec<_>>(), before_next[0].snapshot.rows().collect::<Vec<_>>());
}

#[test]
fn a_warm_start_reads_only_the_steps_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let steps_dir = crate::history::HistoryTable::NodeSteps.dir(dir.path());
    let (before, _) = live("naive");
    // warm_steps = 2 · season 1 + band window 4 + longest horizon 2 = 8.
    assert_eq!(before.warm_steps(), 8);
    for k in 0..20 {
        for step in step(&before, k, 0.5, 0.5) {
            write_window(&steps_dir, step.start, &node_steps_batch(&step)).unwrap();
        }
    }
    let (after, _) = live("naive");
    let report = after.warm_start(dir.path(), 20 * 20 * S);
    assert_eq!((report.steps, report.skipped, report.stale), (8, 0, false), "steps 12 … 19");
    assert_eq!(cpu(&after.snapshot(), "n"), cpu(&before.snapshot(), "n"), "a constant: the same either way");
    // Restarted in step 23: step 19 is 3 steps back, more than max_gap 2; the next value
    // would reset every tracker, so nothing is read.
    let (late, _) = live("naive");
    let report = late.warm_start(dir.path(), 23 * 20 * S);
    assert_eq!((report.steps, report.stale), (0, true));
    assert!(late.snapshot().nodes().is_empty());
    // In step 22 it is 2 steps back: resumed.
    assert_eq!(live("naive").0.warm_start(dir.path(), 22 * 20 * S).steps, 8);
    assert!(live("naive").0.warm_start(&dir.path().join("nothing"), 0).steps == 0, "no history: cold");
}

/// The bank on a 20 s grid with a season of 4 steps, horizons 1 and 2 steps, bands of 4
/// errors given from the first.
fn seasonal_bank() -> (LiveForecasts, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let config = ForecastConfig { model: "bank".into(), season_seconds: 80, ..config("bank") };
    (LiveForecasts::new(&config, 10, &registry).expect("valid settings"), registry)
}

/// Node `i`'s CPU in step `k`: a 4-step cycle with a phase and level per node, and a
/// deterministic wobble.
fn cycle(i: usize, k: i64) -> f64 {
    let phase = (k + i as i64) % 4;
    0.2 + 0.02 * i as f64 + 0.1 * phase as f64 + 0.01 * ((k * 7 + i as i64 * 3) % 5) as f64
}

#[test]
fn the_global_model_is_fitted_from_the_history_and_every_tracker_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let steps_dir = crate::history::HistoryTable::NodeSteps.dir(dir.path());
    let (before, _) = seasonal_bank();
    let names: Vec<String> = (0..12).map(|i| format!("n{i:02}")).collect();
    // 80 steps of 12 nodes, CPU and a constant pressure: 24 series, each (80 − 4 − 1 − 2)/4
    // ≈ 18 training rows at a stride of one season (4), over 200 in all.
    for k in 0..80 {
        for w in 0..2 {
            let start = k * 20 * S + w * 10 * S;
            let nodes: Vec<(&str, f64)> = names.iter().enumerate().map(|(i, n)| (n.as_str(), cycle(i, k))).collect();
            for done in before.record(start, start + 10 * S, &scores(start + 10 * S, &nodes)) {
                write_window(&steps_dir, done.start, &node_steps_batch(&done)).unwrap();
            }
        }
    }
    let (after, registry) = seasonal_bank();
    assert!(after.global().is_none());
    let fit = after.refit_global(dir.path(), 80 * 20 * S, 100);
    assert_eq!((fit.steps, fit.series, fit.skipped, fit.outcome.clone()), (80, 24, 0, Ok(())));
    let text = render(&registry);
    assert!(text.contains("ironspider_forecast_global_series 24"), "{text}");
    assert!(text.contains("ironspider_forecast_global_fits_total{outcome=\"fitted\"} 1"), "{text}");
    let global = after.global().expect("fitted");

    // Differential: after the warm start, n03's CPU forecasts are those of a tracker made
    // with the fitted model and fed the same steps (warm_steps = 2·4 + 4 + 2 = 14: 66 … 79).
    assert_eq!(after.warm_start(dir.path(), 80 * 20 * S).steps, 14);
    let fed = |settings: TrackerSettings| {
        let mut tracker = Tracker::new(Arc::new(settings));
        for k in 66..80 {
            tracker.observe(k, cycle(3, k)).unwrap();
        }
        (0..2).map(|i| tracker.forecast(i).map(|q| (q.p10, q.p50, q.p90)).unwrap()).collect::<Vec<_>>()
    };
    let got: Vec<(f64, f64, f64)> = cpu(&after.snapshot(), "n03").iter().map(|r| (r.1, r.2, r.3)).collect();
    assert_eq!(got, fed(after.settings().with_global(Arc::clone(&global))));
    assert_ne!(got, fed(after.settings().clone()), "the global candidate changes these forecasts");

    // A tracker running before a later fit takes the new model and keeps forecasting.
    let refit = after.refit_global(dir.path(), 80 * 20 * S, 100);
    assert_eq!(refit.outcome, Ok(()));
    assert!(!after.global().is_some_and(|g| Arc::ptr_eq(&g, &global)), "a new model");
    let next = after.record(80 * 20 * S, 81 * 20 * S, &scores(81 * 20 * S, &[("n03", 0.4)]));
    assert_eq!(next.len(), 1);
    assert_eq!(cpu(&next[0].snapshot, "n03").len(), 2);
}

#[test]
fn too_little_history_fits_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let steps_dir = crate::history::HistoryTable::NodeSteps.dir(dir.path());
    let (before, _) = seasonal_bank();
    for k in 0..10 {
        for done in step(&before, k, cycle(0, k), cycle(0, k)) {
            write_window(&steps_dir, done.start, &node_steps_batch(&done)).unwrap();
        }
    }
    let (after, registry) = seasonal_bank();
    let fit = after.refit_global(dir.path(), 10 * 20 * S, 100);
    assert_eq!((fit.steps, fit.series), (10, 2));
    assert!(fit.outcome.as_ref().is_err_and(|why| why.contains("training rows")), "{fit:?}");
    assert!(after.global().is_none());
    let text = render(&registry);
    assert!(text.contains("ironspider_forecast_global_fits_total{outcome=\"too_little_history\"} 1"), "{text}");
    assert!(text.contains("ironspider_forecast_global_series 0"), "{text}");
    // A model that reads none is not fitted for.
    let naive = live("naive").0.refit_global(dir.path(), 10 * 20 * S, 100);
    assert!(naive.outcome.is_err_and(|why| why.contains("reads no global model")));
}

#[test]
fn phases_are_fnv_1a_of_the_name() {
    // FNV-1a 64 test vectors (Fowler, Noll & Vo): "" is the offset basis, "a" and "foobar".
    assert_eq!(phase_of("", 1 << 62), (0xcbf2_9ce4_8422_2325u64 % (1 << 62)) as usize);
    assert_eq!(phase_of("a", 1 << 62), (0xaf63_dc4c_8601_ec8cu64 % (1 << 62)) as usize);
    assert_eq!(phase_of("foobar", 1 << 62), (0x8594_4171_f739_67e8u64 % (1 << 62)) as usize);
    // 0xaf63dc4c8601ec8c mod 30 = 16; "m" → 0xaf63e04c8601f358, even; "n" → 0xaf63e34c8601f871, odd.
    assert_eq!((phase_of("a", 30), phase_of("m", 2), phase_of("n", 2)), (16, 0, 1));
    assert_eq!((phase_of("a", 1), phase_of("a", 0)), (0, 0), "one phase: every offset 0");
}

/// The hand-worked configuration with the nodes' steps staggered: 2 phases of 10 s.
fn staggered() -> LiveForecasts {
    let config = ForecastConfig { stagger: true, ..config("naive") };
    LiveForecasts::new(&config, 10, &prometheus::Registry::new()).expect("valid settings")
}

#[test]
fn staggered_nodes_complete_their_steps_at_their_own_window_close() {
    let live = staggered();
    assert_eq!(live.phases(), 2);
    // m has phase 0 (steps [20k, 20k + 20) s), n phase 1 (steps [20k + 10, 20k + 30) s).
    let window = |w: i64, m: f64, n: f64| {
        let (start, end) = (w * 10 * S, (w + 1) * 10 * S);
        let done = live.record(start, end, &scores(end, &[("m", m), ("n", n)]));
        let [step] = &done[..] else { panic!("one phase completes per window: {done:?}") };
        let cpu = step.inputs.iter().find(|i| i.resource == "cpu").map(|i| (i.node.to_string(), i.value));
        (step.start / S, step.end / S, step.phase, cpu)
    };
    // Window [0, 10) s ends n's step [−10, 10) s, which holds that window alone.
    assert_eq!(window(0, 0.2, 0.1), (-10, 10, 1, Some(("n".into(), 0.1))));
    // [10, 20) s ends m's step [0, 20) s: (0.2 + 0.4) / 2.
    assert_eq!(window(1, 0.4, 0.3), (0, 20, 0, Some(("m".into(), (0.2 + 0.4) / 2.0))));
    // [20, 30) s ends n's step [10, 30) s: (0.3 + 0.5) / 2.
    assert_eq!(window(2, 0.6, 0.5), (10, 30, 1, Some(("n".into(), (0.3 + 0.5) / 2.0))));
    let snapshot = live.snapshot();
    assert_eq!(snapshot.step_end, 30 * S);
    assert_eq!(snapshot.phase_nodes(0).len() + snapshot.phase_nodes(1).len(), 2);
    // The watermark ends m's open step [20, 40) s alone.
    assert!(live.advance(39 * S).is_empty());
    let done = live.advance(40 * S);
    assert_eq!(done.iter().map(|s| (s.start / S, s.phase)).collect::<Vec<_>>(), [(20, 0)]);
}

#[test]
fn each_window_close_feeds_one_phase_and_publishes_every_node() {
    let live = staggered();
    let names: Vec<String> = (0..40).map(|i| format!("node-{i}")).collect();
    // Each node's phase, as the first step that fed it shows: the phases split them evenly.
    let mut phase_of_node = std::collections::BTreeMap::new();
    for w in 0..12 {
        let (start, end) = (w * 10 * S, (w + 1) * 10 * S);
        let nodes: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 0.1 * (w % 3) as f64)).collect();
        let done = live.record(start, end, &scores(end, &nodes));
        let [step] = &done[..] else { panic!("one phase per window") };
        // Window w ends the steps of phase (w + 1) mod 2: each node twice every two windows.
        let phase = ((w + 1) % 2) as usize;
        assert_eq!(step.phase, phase);
        let fed: std::collections::BTreeSet<&str> = step.inputs.iter().map(|i| i.node.as_ref()).collect();
        assert_eq!(fed.len(), 20, "half of the nodes");
        for node in &fed {
            assert_eq!(*phase_of_node.entry(node.to_string()).or_insert(phase), phase, "{node} keeps its phase");
        }
        // Issued from this step: the phase's rows at `end`, and no other.
        let rows: Vec<_> = step.forecasts().collect();
        assert!(rows.iter().all(|row| row.issued_at == end && phase_of_node.get(row.node) == Some(&phase)));
        // A node's n-th step (window 2n − 2 or 2n − 1) has scored n − 1 errors at horizon 1
        // and n − 2 at horizon 2: no forecast at its first, horizon 1 at its second, both
        // from its third (cpu and pressure each).
        let horizons = [0, 0, 1, 1, 2][(w as usize).min(4)];
        assert_eq!(rows.len(), 20 * 2 * horizons, "w {w}");
    }
    assert_eq!(phase_of_node.len(), 40);
    let snapshot = live.snapshot();
    assert_eq!(snapshot.nodes().len(), 40, "every node, from both shards");
    let names_seen: Vec<&str> = snapshot.nodes().iter().map(|n| n.node.as_ref()).collect();
    assert!(names_seen.windows(2).all(|w| w[0] < w[1]), "in name order");
    assert_eq!(snapshot.len(), 40 * 2 * 2, "cpu and pressure at two horizons each");
}

#[test]
fn a_staggered_warm_start_resumes_each_node_where_it_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let steps_dir = crate::history::HistoryTable::NodeSteps.dir(dir.path());
    let before = staggered();
    let feed = |live: &LiveForecasts, w: i64, keep: bool| {
        let (start, end) = (w * 10 * S, (w + 1) * 10 * S);
        let value = 0.3 + 0.05 * ((w * 7) % 5) as f64;
        for step in live.record(start, end, &scores(end, &[("m", value), ("n", 1.0 - value)])) {
            if keep {
                write_window(&steps_dir, step.start, &node_steps_batch(&step)).unwrap();
            }
        }
    };
    // Windows 100 … 113: m's steps 50 … 56 ([1000, 1140) s), n's 49 … 55 ([990, 1130) s).
    for w in 100..114 {
        feed(&before, w, true);
    }
    // Restarted during window 114: one file per phase and step, 14 in all, every one
    // within reach (warm_steps 8 per node).
    let after = staggered();
    let report = after.warm_start(dir.path(), 114 * 10 * S + 5 * S);
    assert_eq!((report.steps, report.values, report.skipped), (14, 28, 0));
    assert_eq!(after.snapshot().rows().collect::<Vec<_>>(), before.snapshot().rows().collect::<Vec<_>>());
    // n's step 56 was open at the restart ([1130, 1150) s: window 113 of it seen): given
    // window 113 again, the restarted engine takes it for n only (m's step 56 was fed), and
    // both go on alike.
    feed(&after, 113, false);
    for w in 114..120 {
        feed(&before, w, false);
        feed(&after, w, false);
        assert_eq!(after.snapshot().rows().collect::<Vec<_>>(), before.snapshot().rows().collect::<Vec<_>>(), "w {w}");
    }
}

#[test]
fn new_nodes_take_the_least_loaded_phase_their_hash_first_among_equals() {
    let live = staggered();
    // Six names that all prefer phase 0 by their hash, and one that prefers phase 1.
    let zeros: Vec<String> = (0..).map(|i| format!("z{i}")).filter(|n| phase_of(n, 2) == 0).take(6).collect();
    let one = (0..).map(|i| format!("o{i}")).find(|n| phase_of(n, 2) == 1).unwrap();
    let mut names: Vec<&str> = zeros.iter().map(String::as_str).collect();
    names.push(&one);
    let nodes: Vec<(&str, f64)> = names.iter().map(|n| (*n, 0.5)).collect();
    // Window [0, 10) s: every node new. In name order "o…" comes first and takes its own
    // phase 1; then each z-node to the phase with fewer, its own (0) on a tie.
    let mut phases = std::collections::BTreeMap::new();
    for w in 0..2 {
        for step in live.record(w * 10 * S, (w + 1) * 10 * S, &scores((w + 1) * 10 * S, &nodes)) {
            for input in &step.inputs {
                phases.insert(input.node.to_string(), step.phase);
            }
        }
    }
    let in_phase = |p| phases.values().filter(|q| **q == p).count();
    assert_eq!((in_phase(0), in_phase(1)), (4, 3), "{phases:?}");
    assert_eq!(phases[&one], 1);
    let mut sorted = zeros.clone();
    sorted.sort();
    let expected: Vec<usize> = vec![0, 0, 1, 0, 1, 0];
    assert_eq!(sorted.iter().map(|n| phases[n]).collect::<Vec<_>>(), expected, "{phases:?}");
}

#[test]
fn a_warm_start_puts_nodes_back_in_the_phases_their_history_shows() {
    let dir = tempfile::tempdir().unwrap();
    let steps_dir = crate::history::HistoryTable::NodeSteps.dir(dir.path());
    // Two nodes that both prefer phase 0: the second to appear got phase 1.
    let names: Vec<String> = (0..).map(|i| format!("p{i}")).filter(|n| phase_of(n, 2) == 0).take(2).collect();
    let feed = |live: &LiveForecasts, w: i64, keep: bool| {
        let (start, end) = (w * 10 * S, (w + 1) * 10 * S);
        let value = 0.3 + 0.05 * ((w * 3) % 7) as f64;
        let nodes = [(names[0].as_str(), value), (names[1].as_str(), 1.0 - value)];
        let done = live.record(start, end, &scores(end, &nodes));
        for step in &done {
            if keep {
                write_window(&steps_dir, step.start, &node_steps_batch(step)).unwrap();
            }
        }
        done.iter().map(|step| step.phase).collect::<Vec<_>>()
    };
    let before = staggered();
    for w in 100..110 {
        assert_eq!(feed(&before, w, true).len(), 1, "one phase per close: the two nodes are apart");
    }
    let after = staggered();
    let report = after.warm_start(dir.path(), 110 * 10 * S + 5 * S);
    assert_eq!(report.skipped, 0);
    assert_eq!(after.snapshot().rows().collect::<Vec<_>>(), before.snapshot().rows().collect::<Vec<_>>());
    // The second node's step [1090, 1110) s was open at the restart: given window 109 again,
    // the restarted engine takes it for that node alone.
    assert!(feed(&after, 109, false).is_empty());
    for w in 110..116 {
        assert_eq!(feed(&after, w, false), feed(&before, w, false), "the same phase closes at w {w}");
        assert_eq!(after.snapshot().rows().collect::<Vec<_>>(), before.snapshot().rows().collect::<Vec<_>>(), "w {w}");
    }
}

#[test]
fn a_merged_shard_takes_the_newest_forecasts_keeps_the_silent_and_drops_the_gone() {
    let node = |name: &Arc<str>, p50: f64, missing: u64| NodeForecasts {
        node: Arc::clone(name),
        forecasts: vec![Forecast { resource: "cpu", horizon_seconds: 20, p10: p50, p50, p90: p50, issued_at: 0 }],
        anomalies: vec![],
        unavailable: [missing, 0, 0, 0],
    };
    let [a, b, c, d, e]: [Arc<str>; 5] = ["a", "b", "c", "d", "e"].map(Arc::from);
    let old = Shard::of_nodes(vec![node(&a, 0.1, 1), node(&b, 0.1, 1), node(&c, 0.1, 1), node(&d, 0.1, 1)]);
    // Completed since, out of order as a warm start gives them: c twice (the later wins), a,
    // and e new; b was dropped (no longer a member); d is held but silent.
    let fresh = vec![node(&c, 0.2, 0), node(&a, 0.3, 0), node(&e, 0.4, 2), node(&c, 0.5, 0)];
    let members: BTreeSet<Arc<str>> = [&a, &c, &d, &e].into_iter().cloned().collect();
    let merged = merged(&old, fresh, &members);
    let got: Vec<(&str, f64)> = merged.nodes.iter().map(|n| (n.node.as_ref(), n.forecasts[0].p50)).collect();
    assert_eq!(got, [("a", 0.3), ("c", 0.5), ("d", 0.1), ("e", 0.4)]);
    assert_eq!(merged.unavailable, [3, 0, 0, 0], "a and c none, d 1, e 2");
    // A new name (not the same Arc) of a node already there replaces it too.
    let again = super::merged(&merged, vec![node(&Arc::from("d"), 0.6, 0)], &members);
    assert_eq!(again.nodes.iter().map(|n| n.forecasts[0].p50).collect::<Vec<_>>(), [0.3, 0.5, 0.6, 0.4]);
}

#[test]
fn a_warm_start_from_an_unstaggered_history_spreads_the_nodes_over_the_phases() {
    let dir = tempfile::tempdir().unwrap();
    let steps_dir = crate::history::HistoryTable::NodeSteps.dir(dir.path());
    // Written with every step at offset 0: the files' starts say nothing of phases.
    let (before, _) = live("naive");
    for w in 100..110 {
        let (start, end) = (w * 10 * S, (w + 1) * 10 * S);
        for step in before.record(start, end, &scores(end, &[("m", 0.4), ("n", 0.6)])) {
            write_window(&steps_dir, step.start, &node_steps_batch(&step)).unwrap();
        }
    }
    let after = staggered();
    let report = after.warm_start(dir.path(), 110 * 10 * S + 5 * S);
    assert_eq!((report.skipped, after.snapshot().nodes().len()), (0, 2));
    // Restored by the files' offset, both would sit in phase 0 and complete together; as new
    // nodes they take a phase each, and each close completes one of them.
    for w in 111..115 {
        let (start, end) = (w * 10 * S, (w + 1) * 10 * S);
        let done = after.record(start, end, &scores(end, &[("m", 0.4), ("n", 0.6)]));
        let fed: Vec<usize> = done.iter().map(|step| step.inputs.len()).collect();
        assert_eq!(fed, [2], "w {w}: one node's cpu and pressure");
    }
}

#[test]
fn each_resource_gets_a_detector_fed_the_step_values_its_tracker_is_fed() {
    let registry = prometheus::Registry::new();
    let live = LiveForecasts::new(&config("naive"), 10, &registry).unwrap().watching("gaussian").unwrap();
    // Steps of 0.2, 0.3, 0.2, 0.3 (each the mean of two equal windows), then 0.9: the
    // Gaussian detector scores 0.9 against the mean 0.25 and sample deviation
    // √((4 · 0.05²)/3) = 0.057735: z = 0.65 / 0.057735 = 11.26, erf(11.26/√2) = 1 to the bit.
    for (k, cpu) in [0.2, 0.3, 0.2, 0.3].into_iter().enumerate() {
        step(&live, k as i64, cpu, cpu);
    }
    let done = step(&live, 4, 0.9, 0.9);
    let snapshot = live.snapshot();
    let node = snapshot.node("n").unwrap();
    let scores: Vec<(&str, f64, f64, i64)> =
        node.anomalies.iter().map(|a| (a.resource, a.score, a.value, a.at)).collect();
    // CPU at 1 − (tiny); pressure (0.5 every window) is flat: 0 at its own value.
    assert_eq!(scores.len(), 2);
    assert_eq!((scores[0].0, scores[0].2, scores[0].3), ("cpu", 0.9, 100 * S));
    assert!(scores[0].1 > 0.999_999, "{scores:?}");
    assert_eq!(scores[1], ("pressure", 0.0, 0.5, 100 * S));
    let given: Vec<_> = done.iter().flat_map(CompletedStep::anomalies).collect();
    assert_eq!(given, [("n", vec![("cpu", scores[0].1), ("pressure", 0.0)])]);
    // A third step of 0.2 against 0.2, 0.3: μ = 0.25, s = √(2 · 0.05²) = 0.070711,
    // z = 0.05 / 0.070711 = 1/√2, and erf(z/√2) = erf(0.5) = 0.5204998778130465.
    let live =
        LiveForecasts::new(&config("naive"), 10, &prometheus::Registry::new()).unwrap().watching("gaussian").unwrap();
    for (k, cpu) in [0.2, 0.3, 0.2].into_iter().enumerate() {
        step(&live, k as i64, cpu, cpu);
    }
    let cpu = live.snapshot().node("n").unwrap().anomalies[0];
    assert!((cpu.score - 0.520_499_877_813_046_5).abs() < 1e-12, "{cpu:?}");
}

#[test]
fn an_unknown_detector_is_refused_by_name() {
    let refused = LiveForecasts::new(&config("naive"), 10, &prometheus::Registry::new()).unwrap().watching("magic");
    let error = refused.expect_err("refused").to_string();
    assert!(error.contains("engine.anomaly.detector = magic"), "{error}");
}
