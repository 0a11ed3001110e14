//! Where the real public datasets lie: `../shared/datasets` beside the repository's
//! checkout, never copied into it. Tests and benchmarks find them through [`dataset`], the
//! one place that knows the layout; `IRONSPIDER_DATASETS` points elsewhere (a test binary
//! built in another checkout keeps working when the variable names the datasets folder).

use std::path::PathBuf;

/// The variable that overrides where the datasets folder is.
pub const DATASETS_VARIABLE: &str = "IRONSPIDER_DATASETS";

/// The datasets folder: `$IRONSPIDER_DATASETS`, else `../shared/datasets` beside the
/// workspace this crate was built in.
pub fn datasets_dir() -> PathBuf {
    match std::env::var_os(DATASETS_VARIABLE) {
        Some(dir) => PathBuf::from(dir),
        // This crate's folder is `<workspace>/datasets`.
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets"),
    }
}

/// The dataset at `relative` below the datasets folder (for example
/// `bitbrains-rnd/2013-7`). Panics, naming where it looked, when it is not there: the
/// callers are tests and benchmarks, which cannot run without it.
pub fn dataset(relative: &str) -> PathBuf {
    let dir = datasets_dir().join(relative);
    assert!(
        dir.exists(),
        "the shared dataset {relative} is expected at {} (set {DATASETS_VARIABLE} to move it)",
        dir.display()
    );
    dir
}
