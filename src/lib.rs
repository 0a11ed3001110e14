//! # ironspider
//!
//! The binary's library: command-line wiring of the workspace crates. `serve` runs the
//! engine ([`ironspider_engine`]), the OTLP receivers ([`ironspider_ingest`]) and the HTTP
//! API in one process; `query` asks a running server; `loadgen` drives it with
//! deterministic OTLP load; `replay` runs a dataset through the same path on a virtual clock; `simulate`
//! replays a GPU trace through the placement policies; `config --print-default` shows every setting.

pub mod alertmanager;
pub mod api;
pub mod config;
pub mod evaluate;
pub mod listen;
pub mod loadgen;
pub mod payload;
pub mod progress;
pub mod query;
pub mod replay;
pub mod scores_grpc;
pub mod serve;
pub mod simulate;
pub mod sql_pool;
