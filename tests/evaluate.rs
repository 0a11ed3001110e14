//! `ironspider evaluate forecasts` on a small Bitbrains-layout folder of its own making: the
//! outputs have the documented columns, one row per model, origin and step, and on a series
//! that repeats every day exactly the seasonal naive model is exact. And `--layout genai` on
//! the real Alibaba GenAI trace: its panel, its origins on the 57 s grid, its season of 1.

use std::path::Path;
use std::process::{Command, Output};

/// `ironspider evaluate forecasts ARGS…` with `--quiet`.
fn evaluate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ironspider"))
        .args(["evaluate", "forecasts", "--quiet"])
        .args(args)
        .output()
        .expect("run evaluate")
}

/// `days` days of 300 s rows whose CPU usage repeats every day — 10 % at night, 70 % from
/// 08:00 to 18:00 — but for one spike of 90 % on the second day at 08:20 (so the in-sample
/// seasonal naive scale, `2 · 0.2 / 1,440` steps, is not 0).
fn write_vm(dir: &Path, name: &str, days: i64) {
    write_vm_at(dir, name, days, 10.0);
}

/// As [`write_vm`], with `night` percent at night instead of 10.
fn write_vm_at(dir: &Path, name: &str, days: i64, night: f64) {
    let mut text = String::from(
        "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]\n",
    );
    let start = 1_372_636_800; // 2013-07-01T00:00:00Z, a multiple of 300 s
    for step in 0..days * 288 {
        let hour = (step % 288) / 12;
        let usage = if step == 288 + 100 {
            90.0
        } else if (8..18).contains(&hour) {
            70.0
        } else {
            night
        };
        text.push_str(&format!(
            "{};\t2;\t5851.9;\t0;\t{usage};\t8218624.0;\t1034592.8;\t0;\t0;\t0;\t0\n",
            start + step * 300
        ));
    }
    std::fs::write(dir.join(format!("{name}.csv")), text).expect("write a VM");
}

#[test]
fn a_daily_pattern_is_forecast_exactly_by_the_seasonal_naive_model_and_every_output_is_written() {
    let data = tempfile::tempdir().expect("temporary directory");
    write_vm(data.path(), "1", 8);
    write_vm(data.path(), "2", 3); // too short: dropped with the reason
    let out = data.path().join("out");
    let dir = data.path().to_str().expect("UTF-8 path");
    let output = evaluate(&[dir, "--out", out.to_str().expect("UTF-8 path"), "--models", "naive,snaive"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let errors = std::fs::read_to_string(out.join("errors.csv")).expect("errors.csv");
    let rows: Vec<Vec<&str>> = errors.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(errors.lines().next(), Some("series,model,mase,mae,coverage_80"));
    assert_eq!(rows.len(), 2, "one series, two models: {errors}");
    let seasonal = rows.iter().find(|r| r[1] == "snaive").expect("an snaive row");
    assert_eq!((seasonal[2], seasonal[3]), ("0", "0"), "MASE and MAE of an exact daily repeat");
    let forecasts = std::fs::read_to_string(out.join("forecasts.csv")).expect("forecasts.csv");
    assert_eq!(forecasts.lines().next(), Some("series,model,origin,target,p10,p50,p90"));
    assert_eq!(forecasts.lines().count() - 1, 2 * 48 * 12, "models × origins × steps");
    let first: Vec<&str> = forecasts.lines().nth(1).expect("a forecast").split(',').collect();
    // 8 days = 2,304 points; the first origin is index 2,304 − 12 − 47 · 12 − 1 = 1,727.
    assert_eq!((first[0], first[2], first[3]), ("1", "1373154900", "1373155200"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json")).expect("JSON");
    assert_eq!(summary["series"], 1);
    assert_eq!(summary["dropped"][0][0], "2");
    assert_eq!(summary["models"][1]["median_mase"], 0.0);
    let panel = std::fs::read_to_string(out.join("panel.csv")).expect("panel.csv");
    assert_eq!(panel.lines().count() - 1, 8 * 288);
}

#[test]
fn the_development_run_moves_every_origin_two_days_back_and_a_panel_too_small_for_the_global_model_runs_the_bank_without_it()
 {
    let data = tempfile::tempdir().expect("temporary directory");
    write_vm(data.path(), "1", 8);
    let out = data.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_ironspider"))
        .args(["evaluate", "forecasts"])
        .arg(data.path())
        .args(["--out", out.to_str().expect("UTF-8 path"), "--models", "naive,bank,global", "--quiet", "--development"])
        .output()
        .expect("run evaluate");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let forecasts = std::fs::read_to_string(out.join("forecasts.csv")).expect("forecasts.csv");
    let first: Vec<&str> = forecasts.lines().nth(1).expect("a forecast").split(',').collect();
    // 8 days less the evaluated two = 1,728 points; the first origin is index
    // 1,728 − 12 − 47 · 12 − 1 = 1,151, at 1,372,636,800 + 1,151 · 300 s.
    assert_eq!((first[0], first[2]), ("1", "1372982100"));
    let panel = std::fs::read_to_string(out.join("panel.csv")).expect("panel.csv");
    assert_eq!(panel.lines().count() - 1, 6 * 288);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json")).expect("JSON");
    // One series of 1,152 points before its first origin gives 36 rows at a stride of 24,
    // fewer than the 200 a fit needs: the bank runs without the global model, `global` not
    // at all.
    let fit = summary["global_fit"].as_str().expect("global_fit");
    assert!(fit.starts_with("not fitted"), "{fit}");
    let models: Vec<&str> =
        summary["models"].as_array().expect("models").iter().filter_map(|m| m["model"].as_str()).collect();
    assert_eq!(models, ["naive", "bank"]);
}

#[test]
fn the_genai_layout_backtests_each_kept_pod_at_30_origins_on_the_57_s_grid() {
    let data = ironspider_datasets::shared::dataset("alibaba-genai-v2026");
    let data = data.to_str().expect("UTF-8 path");
    let out = tempfile::tempdir().expect("temporary directory");
    let out_dir = out.path().to_str().expect("UTF-8 path");
    let output = evaluate(&["--layout", "genai", data, "--out", out_dir, "--models", "naive"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).expect("summary"))
            .expect("JSON");
    assert_eq!((summary["series"].as_u64(), summary["dropped"].as_array().map(Vec::len)), (Some(93), Some(50)));
    let forecasts = std::fs::read_to_string(out.path().join("forecasts.csv")).expect("forecasts.csv");
    assert_eq!(forecasts.lines().count() - 1, 93 * 30 * 12, "series × origins × steps");
    // pod-00800b6d2cab: 1,441 points from 1,662,858,720; first origin index 1,080, that is
    // 1,662,858,720 + 1,080 · 57; naive forecasts its value there, 0 (the pod is idle).
    let first: Vec<&str> = forecasts.lines().nth(1).expect("a forecast").split(',').collect();
    assert_eq!((first[0], first[2], first[3], first[5]), ("pod-00800b6d2cab", "1662920280", "1662920337", "0"));
    // Holt-Winters needs a season of at least 2: asked for by name, it is refused with why.
    let refused = evaluate(&["--layout", "genai", data, "--out", out_dir, "--models", "holt_winters"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refusing a season of 1"), "{refused:?}");
}

#[test]
fn threads_change_no_output_and_no_global_fit_runs_the_bank_without_the_global_model() {
    // Six VMs that differ (their nights at 5–30 %): 6 × 1,727 points before the first
    // origin give 6 × 72 rows at a stride of 24, enough for a fit.
    let data = tempfile::tempdir().expect("temporary directory");
    for vm in 1..=6 {
        write_vm_at(data.path(), &vm.to_string(), 8, 5.0 * vm as f64);
    }
    let dir = data.path().to_str().expect("UTF-8 path");
    let run = |name: &str, extra: &[&str]| {
        let out = data.path().join(name);
        let mut args = vec![dir, "--out", out.to_str().expect("UTF-8 path"), "--models", "naive,bank,global"];
        args.extend_from_slice(extra);
        let output = evaluate(&args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let read = |file: &str| std::fs::read_to_string(out.join(file)).expect(file);
        let summary: serde_json::Value = serde_json::from_str(&read("summary.json")).expect("JSON");
        (read("forecasts.csv"), read("errors.csv"), summary)
    };
    let (one, three) = (run("one", &["--jobs", "1"]), run("three", &["--jobs", "3"]));
    assert_eq!(one.0.lines().count() - 1, 3 * 6 * 48 * 12, "models × series × origins × steps");
    assert!(one.0 == three.0 && one.1 == three.1, "forecasts.csv and errors.csv the same in 1 and 3 threads");
    assert!(one.2["global_fit"].as_str().is_some_and(|fit| fit.starts_with("fitted on 6 series")), "{}", one.2);
    let without = run("without", &["--no-global-fit"]);
    assert_eq!(without.2["global_fit"], "not fitted: --no-global-fit");
    let models: Vec<&str> =
        without.2["models"].as_array().expect("models").iter().filter_map(|m| m["model"].as_str()).collect();
    assert_eq!(models, ["naive", "bank"], "global left out");
    let bank = |csv: &str| csv.lines().filter(|l| l.contains(",bank,")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(bank(&without.0).len(), bank(&one.0).len());
}
