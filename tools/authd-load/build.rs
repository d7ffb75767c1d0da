//! Generates the gRPC client and server code for `auth.v1` (AuthService, and
//! AdminService for the revocation scenarios' set-up) from the service's
//! `proto/` (two directories up), with the vendored `protoc`.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let proto = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // The server side is the no-op baseline (src/noop.rs), which must answer
    // with the same messages as authd.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_with_config(
            config,
            &[
                proto.join("auth/v1/auth.proto"),
                proto.join("auth/v1/admin.proto"),
            ],
            &[proto.clone(), protoc_bin_vendored::include_path()?],
        )?;
    println!("cargo:rerun-if-changed={}", proto.join("auth").display());
    Ok(())
}
