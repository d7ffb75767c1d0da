//! Generates the gRPC code and the reflection descriptor set from `proto/`.
//!
//! `protoc` comes from the `protoc-bin-vendored` crate, so building needs no
//! system protobuf compiler.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);

    tonic_prost_build::configure()
        // The descriptor set includes source info, so reflection (and
        // `grpcurl describe`) shows the proto comments to users.
        .file_descriptor_set_path(out_dir.join("auth_v1_descriptor.bin"))
        // Debug for these is written by hand in src/grpc/mod.rs, redacting
        // the password and tokens, so no `{:?}` can leak them into a log.
        .skip_debug([
            "auth.v1.LoginRequest",
            "auth.v1.LoginResponse",
            "auth.v1.VerifyRequest",
            "auth.v1.RefreshRequest",
            "auth.v1.RefreshResponse",
            "auth.v1.LogoutRequest",
            "auth.v1.ChangePasswordRequest",
            "auth.v1.IssueServiceTokenRequest",
            "auth.v1.IssueServiceTokenResponse",
            "auth.v1.CreateUserRequest",
            "auth.v1.SetPasswordRequest",
            "auth.v1.CreateServiceAccountResponse",
            "auth.v1.RotateServiceAccountSecretResponse",
        ])
        .build_client(true)
        .build_server(true)
        .compile_with_config(
            config,
            &[
                "proto/auth/v1/auth.proto".into(),
                "proto/auth/v1/admin.proto".into(),
            ],
            &["proto".into(), well_known.clone()],
        )?;

    // The vendored Envoy ext_authz protos (proto/envoy, proto/google/rpc),
    // with their own descriptor set for reflection.
    let mut envoy = tonic_prost_build::Config::new();
    envoy.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("envoy_ext_authz_descriptor.bin"))
        .build_client(true)
        .build_server(true)
        .compile_with_config(
            envoy,
            &["proto/envoy/service/auth/v3/external_auth.proto".into()],
            &["proto".into(), well_known],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
