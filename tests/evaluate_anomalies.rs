//! `ironspider evaluate anomalies` on a NAB-layout folder of its own making: two series on
//! a 5-minute grid, a wave of period 100 steps, one with a spike of 500 at row 700 inside a
//! label window on rows 690..=710. The results files have NAB's columns, a row per data row;
//! the spike is the only value the Gaussian detector scores 1, so NAB's optimiser picks the
//! threshold 1 and the score is the spike's alone, worked out by hand below. A third series,
//! missing from the labels, is run but not scored.

use std::path::Path;
use std::process::Command;

/// Row `i`'s timestamp: 2020-01-01 00:00:00 plus `5·i` minutes.
fn timestamp(i: usize) -> String {
    let minutes = 5 * i;
    let (day, hour, minute) = (1 + minutes / 1440, minutes % 1440 / 60, minutes % 60);
    format!("2020-01-{day:02} {hour:02}:{minute:02}:00")
}

/// `50 + 10·sin(2πi/100)` for 1,000 rows, with 500 at row `spike` if given.
fn write_series(path: &Path, spike: Option<usize>) {
    let mut text = String::from("timestamp,value\n");
    for i in 0..1000 {
        let wave = 50.0 + 10.0 * (std::f64::consts::TAU * i as f64 / 100.0).sin();
        let value = if Some(i) == spike { 500.0 } else { wave };
        text.push_str(&format!("{},{value}\n", timestamp(i)));
    }
    std::fs::write(path, text).expect("write a series");
}

#[test]
fn a_labelled_spike_is_scored_by_nab_rules_and_the_results_have_nab_layout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data/synthetic");
    std::fs::create_dir_all(&data).expect("data dir");
    std::fs::create_dir_all(dir.path().join("labels")).expect("labels dir");
    write_series(&data.join("spike.csv"), Some(700));
    write_series(&data.join("quiet.csv"), None);
    write_series(&data.join("unlisted.csv"), None);
    let labels = format!(
        r#"{{"synthetic/spike.csv": [["{}.000000", "{}.000000"]], "synthetic/quiet.csv": []}}"#,
        timestamp(690),
        timestamp(710)
    );
    std::fs::write(dir.path().join("labels/combined_windows.json"), labels).expect("labels");
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_ironspider"))
        // The hand-worked numbers below are the Gaussian detector's (no longer the default).
        .args(["evaluate", "anomalies", "--quiet", "--detector", "gaussian", "--out"])
        .arg(&out)
        .arg(dir.path())
        .output()
        .expect("run evaluate anomalies");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("gaussian over 3 series, 3000 rows (0 bad)"), "{stdout}");
    // A series the labels do not list is run (its results are written) but not scored.
    assert!(stdout.contains("not in the labels, run but not scored: synthetic/unlisted.csv"), "{stdout}");
    assert!(out.join("results/ironspider/synthetic/ironspider_unlisted.csv").is_file());

    let results = std::fs::read_to_string(out.join("results/ironspider/synthetic/ironspider_spike.csv")).unwrap();
    let mut lines = results.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 1000);
    let scores: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    assert_eq!((rows[700][0], rows[700][1], scores[700]), (timestamp(700).as_str(), "500", 1.0));
    assert_eq!(scores.iter().filter(|&&s| s == 1.0).count(), 1, "the spike alone scores 1");

    // Threshold 1: the spike alone detects, at row 700 of the window 690..=710 (W = 21):
    // σ(−(710 − 700 + 1)/21)/σ(−1) = σ(−11/21)/σ(−1), σ(x) = 2/(1 + e^{5x}) − 1:
    // 0.864154873717…/0.986614298151… = 0.875879130614…; one window, so S_null = −A_FN
    // and S_perfect = 1: standard and low FP 100·(0.875879 + 1)/2 = 93.7939565…, low FN
    // 100·(0.875879 + 2)/3 = 95.8626376…
    let finals: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("final_results.json")).unwrap()).unwrap();
    let ours = &finals["ironspider"];
    for (profile, expected) in [
        ("standard", 93.793_956_530_746_97),
        ("reward_low_FP_rate", 93.793_956_530_746_97),
        ("reward_low_FN_rate", 95.862_637_687_164_65),
    ] {
        let got = ours[profile].as_f64().expect("a score");
        assert!((got - expected).abs() < 1e-9, "{profile}: {got} vs {expected}");
    }
    let thresholds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("thresholds.json")).unwrap()).unwrap();
    assert_eq!(thresholds["ironspider"]["standard"]["threshold"].as_f64(), Some(1.0));
}

#[test]
fn an_unknown_detector_or_a_folder_without_data_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ironspider"))
            .args(["evaluate", "anomalies", "--quiet"])
            .args(args)
            .output()
            .unwrap()
    };
    let path = dir.path().to_str().unwrap();
    let unknown = run(&[path, "--out", path, "--detector", "prophet"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown detector \"prophet\""));
    let empty = run(&[path, "--out", path]);
    assert!(!empty.status.success());
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("no NAB layout"),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
}
