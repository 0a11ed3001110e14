//! Configuration as the binary resolves it: defaults, the file, `IRONSPIDER_*` variables.

use std::process::Command;

fn resolved(env: &[(&str, &str)], file: Option<&std::path::Path>) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ironspider"));
    command.arg("config");
    if let Some(file) = file {
        command.arg("--config").arg(file);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run ironspider config");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn table_scoped_variables_override_the_file_and_others_are_ignored() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("ironspider.toml");
    std::fs::write(&file, "[engine]\nwindow_seconds = 5\nlateness_seconds = 12\n").expect("write config");
    let env = [("IRONSPIDER_ENGINE__WINDOW_SECONDS", "7"), ("IRONSPIDER_BIN", "/somewhere/else")];
    let (ok, stdout, stderr) = resolved(&env, Some(&file));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("window_seconds = 7"), "the variable beats the file:\n{stdout}");
    assert!(stdout.contains("lateness_seconds = 12"), "the file beats the default:\n{stdout}");
}

#[test]
fn an_unknown_key_is_a_clear_error() {
    let (ok, _, stderr) = resolved(&[("IRONSPIDER_ENGINE__WINDOW_SECS", "7")], None);
    assert!(!ok);
    assert!(stderr.contains("window_secs"), "{stderr}");
}

#[test]
fn binding_or_evicting_without_a_cluster_is_refused_before_anything_starts() {
    for flag in ["--evict", "--kube-bind"] {
        let output = Command::new(env!("CARGO_BIN_EXE_ironspider")).args(["serve", flag]).output().expect("run serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        let setting = flag.trim_start_matches("--kube-").trim_start_matches("--");
        assert!(stderr.contains(&format!("{setting} = true needs a cluster (kubeconfig or in_cluster)")), "{stderr}");
    }
}

#[test]
fn a_zero_window_is_refused_from_the_file_the_environment_and_the_flag_alike() {
    let expected = "engine.window_seconds = 0: a window lasts at least 1 second";
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("ironspider.toml");
    std::fs::write(&file, "[engine]\nwindow_seconds = 0\n").expect("write config");
    let (ok, _, stderr) = resolved(&[], Some(&file));
    assert!(!ok && stderr.contains(expected), "from the file: {stderr}");
    let (ok, _, stderr) = resolved(&[("IRONSPIDER_ENGINE__WINDOW_SECONDS", "0")], None);
    assert!(!ok && stderr.contains(expected), "from the environment: {stderr}");
    let output =
        Command::new(env!("CARGO_BIN_EXE_ironspider")).args(["serve", "--window", "0"]).output().expect("run serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains(expected), "from the flag: {stderr}");
}
