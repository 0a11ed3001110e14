//! Where the real public datasets lie: `../shared/datasets` beside the repository's
//! checkout, never copied into it. Tests and benchmarks find them through [`dataset`], the
//! one place that knows the layout; `IRONSPIDER_DATASETS` points elsewhere.
//!
//! Without the variable, the folder is looked for as `shared/datasets` in an ancestor of the
//! package being tested (cargo's `CARGO_MANIFEST_DIR` at run time), then of this crate's
//! folder when it was built: a build cache shared between two checkouts (the session's and
//! CI's) may hold this crate compiled in the other one, whose path no longer exists.

use std::path::{Path, PathBuf};

/// The variable that overrides where the datasets folder is.
pub const DATASETS_VARIABLE: &str = "IRONSPIDER_DATASETS";

/// The datasets folder: `$IRONSPIDER_DATASETS`, else the nearest `shared/datasets` above the
/// package being run, else `../shared/datasets` beside the workspace this crate was built in.
pub fn datasets_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DATASETS_VARIABLE) {
        return PathBuf::from(dir);
    }
    let running = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let built = Path::new(env!("CARGO_MANIFEST_DIR"));
    running
        .as_deref()
        .and_then(shared_above)
        .or_else(|| shared_above(built))
        // This crate's folder is `<workspace>/datasets`; named even when missing, for the error.
        .unwrap_or_else(|| built.join("../../shared/datasets"))
}

/// The first `shared/datasets` folder in `start` or one of its ancestors.
fn shared_above(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|dir| dir.join("shared/datasets")).find(|dir| dir.is_dir())
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
