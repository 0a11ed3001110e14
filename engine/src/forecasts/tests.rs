//! Live forecasts worked by hand on small grids: accumulation, completion, gaps, bad values,
//! dropping silent nodes, and the warm start from the history.

use super::*;
use crate::history::write_window;
use crate::tables::node_steps_batch;
use ironspider_scores::NodeScore;

const S: i64 = 1_000_000_000;

/// Naive forecasts on a 20 s grid of 10 s windows, horizons 1 and 2 steps, a band of 4
/// errors given from the first, gaps of up to 2 steps filled.
fn config(model: &str) -> ForecastConfig {
    ForecastConfig {
        model: model.into(),
        step_seconds: 20,
        horizons_seconds: vec![20, 40],
        season_seconds: 20,
        band_window: 4,
        band_min_errors: 1,
        max_gap_steps: 2,
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
    assert!(live.advance(19 * S).is_none(), "the step ends at 20 s");
    let step = live.advance(20 * S).expect("completed by the watermark");
    assert_eq!(step.inputs[0].value, 0.2);
    assert!(live.advance(100 * S).is_none(), "nothing open");
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
    assert_eq!(after.snapshot().nodes, before.snapshot().nodes, "the same forecasts as before the restart");
    assert_eq!(after.snapshot().step_end, 7 * 20 * S);
    // Windows of a step the warm start fed are not taken again; the next step is.
    assert!(step(&after, 6, 0.9, 0.9).is_empty());
    let next = step(&after, 7, 0.25, 0.25);
    let before_next = step(&before, 7, 0.25, 0.25);
    assert_eq!(next[0].snapshot.nodes, before_next[0].snapshot.nodes);
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
    assert!(late.snapshot().nodes.is_empty());
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
