//! # ironspider-proto
//!
//! IronSpider's own gRPC API, compiled from the `.proto` files under `proto/` in `build.rs`
//! with a pure-Rust protobuf compiler (`protox`) so that no system `protoc` is needed. OTLP
//! types are not defined here: they come from the `opentelemetry-proto` crate.
//!
//! The first service is `ironspider.v1.Scores` ([`v1::scores_server::Scores`]): a unary
//! `Get` of the newest node scores and a server-streaming `Watch` of each new window's scores.
//! This crate only holds the messages, the client and the server trait; the binary implements
//! the service over the engine's score snapshot and serves it on the OTLP/gRPC port.

#![warn(missing_docs)]

/// Package `ironspider.v1`: the `Scores` service and its messages.
pub mod v1 {
    tonic::include_proto!("ironspider.v1");
}
