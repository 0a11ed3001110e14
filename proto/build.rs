//! Compiles `proto/**/*.proto` into Rust with `protox` (a protobuf compiler written in Rust, so no
//! system `protoc` is needed) and `tonic-prost-build` (messages, client and server).

use std::path::Path;

/// The `.proto` files compiled, relative to the include root `proto/`.
const PROTOS: &[&str] = &["ironspider/v1/scores.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }
    let descriptors = protox::compile(PROTOS, [root])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
