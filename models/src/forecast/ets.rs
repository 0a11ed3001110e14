//! Exponential smoothing (placeholder: filled in by the ETS work).
