//! Interop: tokens authd signs verify with an independent JWT implementation
//! (PyJWT with `cryptography`, run as a subprocess) that is given nothing but
//! the JWKS fetched over HTTP.

use std::io::Write as _;
use std::process::{Command, Stdio};

use authd::config::Algorithm;

use crate::helpers::{Backend, TestApp};
use crate::http::{get, http};

on_both_backends!(tokens_of_every_published_algorithm_verify_with_pyjwt_from_the_jwks_alone);

/// The Python interpreter; `AUTHD_TEST_PYTHON` overrides.
fn python() -> String {
    std::env::var("AUTHD_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs the PyJWT check; returns its JSON output.
fn verify_with_pyjwt(token: &str, jwks: &str) -> serde_json::Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/verify_with_pyjwt.py"
    );
    let mut child = Command::new(python())
        .args([script, token, "authd", "authd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}. The interop test needs Python 3 with PyJWT and \
                 cryptography: `pip install pyjwt cryptography` (.ci/run does this)",
                python()
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(jwks.as_bytes())
        .expect("write the JWKS");
    let out = child.wait_with_output().expect("python finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "PyJWT is missing: `pip install pyjwt cryptography` (.ci/run does this)\n{stderr}"
    );
    assert!(out.status.success(), "PyJWT refused the token:\n{stderr}");
    serde_json::from_slice(&out.stdout).expect("JSON from the check")
}

async fn tokens_of_every_published_algorithm_verify_with_pyjwt_from_the_jwks_alone(
    backend: Backend,
) {
    for (signing, alg) in [
        (Algorithm::EdDsa, "EdDSA"),
        (Algorithm::Es256, "ES256"),
        (Algorithm::Rs256, "RS256"),
    ] {
        let app = TestApp::builder(backend)
            .config(|c| c.signing.signing_algorithm = signing)
            .spawn()
            .await;
        let alice = app.create_user("alice", &["admin"]).await;
        let token = app.token_for("alice").await;
        let jwks = get(http(&app), "/.well-known/jwks.json").await.body;

        let verified = verify_with_pyjwt(&token, &jwks);
        assert_eq!(verified["alg"], alg);
        assert_eq!(verified["claims"]["sub"], alice.id.as_str());
        assert_eq!(verified["claims"]["roles"][0], "admin");

        // The check is real: a token with a flipped signature bit fails it.
        let (unsigned, signature) = token.rsplit_once('.').expect("a JWT");
        let mut forged = signature.to_owned().into_bytes();
        forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
        let forged = format!("{unsigned}.{}", String::from_utf8(forged).expect("ascii"));
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/verify_with_pyjwt.py"
        );
        let mut child = Command::new(python())
            .args([script, &forged, "authd", "authd"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(jwks.as_bytes())
            .expect("write");
        assert!(
            !child.wait().expect("python finishes").success(),
            "{alg}: a forged signature must not verify"
        );
    }
}
