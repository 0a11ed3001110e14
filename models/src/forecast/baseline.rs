//! Baselines (placeholder: filled in by the baselines work).
