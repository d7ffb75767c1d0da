//! The Envoy, Istio and Compose examples, checked for the shape authd's
//! defaults need (Envoy itself cannot run here): ports, JWKS path, issuer,
//! audience, fail-closed settings, and files that exist.

use std::process::Command;

use authd::Config;

use crate::helpers::{Backend, spawn_app};
use crate::http::{get, http};

const JWKS_PATH: &str = "/.well-known/jwks.json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_istio_and_compose_examples_match_authds_defaults() {
    // The path the examples name is the one authd serves.
    let app = spawn_app(Backend::Sqlite).await;
    assert_eq!(get(http(&app), JWKS_PATH).await.status, 200);

    let defaults = Config::default();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/examples/check_examples.py"
    );
    let out = Command::new(std::env::var("AUTHD_TEST_PYTHON").unwrap_or_else(|_| "python3".into()))
        .args([
            script,
            env!("CARGO_MANIFEST_DIR"),
            &defaults.server.listen.port().to_string(),
            &defaults
                .server
                .http_listen
                .expect("on by default")
                .port()
                .to_string(),
            JWKS_PATH,
            &defaults.token.issuer,
            &defaults.token.audience,
        ])
        .output()
        .expect("run python3 (needs PyYAML; `bash tests/run` installs it into its own virtual environment)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
