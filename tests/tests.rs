//! The binary's integration tests, linked into one test binary (each file below is a
//! module; `common` holds what they share). Most start the real `ironspider` binary on free
//! loopback ports; those that read `../shared/datasets` find it through
//! `ironspider_datasets::shared`.
//!
//! Run one group with its module name as the filter, for example
//! `cargo test --test integration -- simulate::`.

mod common;

mod alerts;
mod auth;
mod bad_input;
mod config;
mod connections;
mod crash;
mod evaluate;
mod evaluate_anomalies;
mod extender;
mod forecasts;
mod hostile;
mod kubernetes;
mod metric_kinds;
mod nab;
mod quantities;
mod remote_write;
mod replay;
mod scores;
mod scores_grpc;
mod simulate;
mod slow_clients;
mod sql_limits;
