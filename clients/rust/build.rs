//! Generates the gRPC client code for `auth.v1` from the service's `proto/`
//! (two directories up), with the vendored `protoc`. Client stubs only: this
//! crate never serves the API.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let proto = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_with_config(
            config,
            &[proto.join("auth/v1/auth.proto")],
            &[proto.clone(), protoc_bin_vendored::include_path()?],
        )?;
    println!("cargo:rerun-if-changed={}", proto.join("auth").display());
    Ok(())
}
