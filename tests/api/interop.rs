//! Interop: tokens authd signs verify with an independent JWT implementation
//! (PyJWT with `cryptography`, run as a subprocess) that is given nothing but
//! the JWKS fetched over HTTP.

use authd::config::Algorithm;

use crate::helpers::{Backend, TestApp};
use crate::http::{get, http};

on_both_backends!(tokens_of_every_published_algorithm_verify_with_pyjwt_from_the_jwks_alone);

/// Runs the PyJWT check; returns its JSON output.
fn verify_with_pyjwt(token: &str, jwks: &str) -> serde_json::Value {
    crate::helpers::run_python_check(
        "verify_with_pyjwt.py",
        &[token, "authd", "authd"],
        jwks,
        "pyjwt cryptography",
        "PyJWT refused the token",
    )
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
        let out = crate::helpers::run_python(
            "verify_with_pyjwt.py",
            &[&forged, "authd", "authd"],
            &jwks,
            "pyjwt cryptography",
        );
        assert!(
            !out.status.success(),
            "{alg}: a forged signature must not verify"
        );
    }
}
