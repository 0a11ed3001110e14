//! # ironspider-proto
//!
//! IronSpider's own gRPC API: node scores, forecasts and their watch streams, compiled from
//! `.proto` files in `build.rs` with a pure-Rust protobuf compiler so that no system `protoc`
//! is needed. OTLP types are not defined here: they come from the `opentelemetry-proto`
//! crate.
//!
//! Nothing lives here yet. The first service, `ironspider.v1.Scores` (a unary get and a
//! server-streaming watch of each window's node scores), arrives with the scoring work.
