//! Reloading files that change in place: every period the watched files' contents are
//! hashed, and a changed hash calls the reload. Contents rather than modification times,
//! because Kubernetes updates a mounted secret by swapping a symlink, and a half-written
//! rotation shows up as a change that fails to load: it is logged, counted in
//! `ironspider_reloads_total{what, outcome}`, and tried again at the next change. Reading,
//! hashing and reloading run on a blocking thread, never on the runtime's workers.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Something reloaded from files.
pub struct Reloadable {
    /// Its name in logs and in the `what` label.
    pub what: &'static str,
    /// The files it is built from.
    pub files: Vec<PathBuf>,
    /// Builds it again from them.
    pub reload: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
}

/// A hash of the files' contents; a missing file hashes as its error kind.
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        match std::fs::read(file) {
            Ok(bytes) => bytes.hash(&mut hasher),
            Err(error) => error.kind().hash(&mut hasher),
        }
    }
    hasher.finish()
}

/// Checks every `period` until `stopped` turns true.
pub fn watch_files(
    items: Vec<Reloadable>,
    period: Duration,
    mut stopped: watch::Receiver<bool>,
    registry: &prometheus::Registry,
) -> prometheus::Result<()> {
    let reloads = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "ironspider_reloads_total",
            "Reloads of changed TLS and token files, by what and outcome.",
        ),
        &["what", "outcome"],
    )?;
    registry.register(Box::new(reloads.clone()))?;
    let mut seen: Vec<u64> = items.iter().map(|item| fingerprint(&item.files)).collect();
    let items = std::sync::Arc::new(items);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                () = super::stop_requested(&mut stopped) => return,
                _ = ticks.tick() => {}
            }
            let (items, reloads, before) = (std::sync::Arc::clone(&items), reloads.clone(), std::mem::take(&mut seen));
            match tokio::task::spawn_blocking(move || reload_changed(&items, before, &reloads)).await {
                Ok(after) => seen = after,
                Err(error) => {
                    tracing::error!(%error, "the file reloader stopped");
                    return;
                }
            }
        }
    });
    Ok(())
}

/// Reloads every item whose files changed since `seen` (their fingerprints, in item order)
/// and returns the fingerprints now.
fn reload_changed(items: &[Reloadable], mut seen: Vec<u64>, reloads: &prometheus::IntCounterVec) -> Vec<u64> {
    for (item, seen) in items.iter().zip(seen.iter_mut()) {
        let now = fingerprint(&item.files);
        if now == *seen {
            continue;
        }
        *seen = now;
        match (item.reload)() {
            Ok(()) => {
                tracing::info!(what = item.what, "reloaded changed files");
                reloads.with_label_values(&[item.what, "ok"]).inc();
            }
            Err(error) => {
                tracing::error!(what = item.what, %error, "changed files do not load; keeping the previous ones");
                reloads.with_label_values(&[item.what, "failed"]).inc();
            }
        }
    }
    seen
}
