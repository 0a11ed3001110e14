//! Accuracy measures (placeholder).
