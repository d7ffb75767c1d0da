//! Verify: an invalid token is an answer (valid=false and a reason), never an error.

use std::sync::Arc;
use std::time::Duration;

use authd::clock::{ManualClock, now_unix};
use authd::config::{Algorithm, Signing};
use authd::grpc::pb::{InvalidReason, VerifyResponse};
use authd::token::keys::generate_ed25519;
use authd::token::{KeySet, TokenService};
use authd::user::User;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret as _;

use crate::helpers::{Backend, TestApp, spawn_app};

on_both_backends!(
    a_fresh_token_is_valid_and_carries_user_and_claims,
    garbage_and_wrongly_segmented_tokens_are_malformed,
    alg_none_is_refused,
    a_tampered_payload_breaks_the_signature,
    a_token_signed_by_another_key_is_refused,
    expired_and_not_yet_valid_tokens_are_refused,
    tokens_for_another_issuer_or_audience_are_refused,
    tokens_of_disabled_or_missing_users_are_refused,
    hs256_mode_signs_and_verifies_with_the_shared_secret,
    a_token_expires_over_the_wire_when_the_servers_clock_passes_its_expiry,
);

#[track_caller]
fn assert_invalid(response: &VerifyResponse, reason: InvalidReason) {
    assert!(!response.valid, "expected invalid, got {response:?}");
    assert_eq!(response.reason(), reason, "{response:?}");
    assert!(response.user.is_none(), "no user for an invalid token");
    assert!(response.claims.is_none(), "no claims for an invalid token");
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// A token service over the app's own stored key, with other issuer/audience.
async fn sibling_tokens(app: &TestApp, issuer: &str, audience: &str) -> TokenService {
    let keys = KeySet::load_or_create(
        app.core.accounts().store().as_ref(),
        &Signing::EdDsa,
        now_unix(),
    )
    .await
    .expect("keys");
    TokenService::new(
        Arc::new(keys),
        issuer.to_owned(),
        audience.to_owned(),
        Duration::from_secs(900),
        Duration::from_secs(10),
    )
}

async fn a_fresh_token_is_valid_and_carries_user_and_claims(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app
        .create_user_with(
            "alice",
            Some("alice@example.com"),
            &["admin", "viewer"],
            crate::helpers::PASSWORD,
        )
        .await;
    let token = app.token_for("alice").await;

    let response = app.verify(&token).await;
    assert!(response.valid);
    assert_eq!(response.reason(), InvalidReason::Unspecified);
    let user = response.user.expect("user");
    assert_eq!(user.id, alice.id);
    assert_eq!(user.email, "alice@example.com");
    assert!(user.active);
    let claims = response.claims.expect("claims");
    assert_eq!(claims.sub, alice.id);
    assert_eq!(claims.iss, "authd");
    assert_eq!(claims.aud, vec!["authd".to_owned()]);
    assert_eq!(claims.exp - claims.iat, 900);
    assert_eq!(claims.nbf, claims.iat);
    assert!(!claims.jti.is_empty());
    assert_eq!(claims.roles, vec!["admin".to_owned(), "viewer".to_owned()]);

    // The header names the key and the algorithm pinned to it.
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&segments(&token)[0]).expect("b64"))
            .expect("json");
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()));

    let second = app.token_for("alice").await;
    let second_claims = app.verify(&second).await.claims.expect("claims");
    assert_ne!(second_claims.jti, claims.jti, "every token has its own jti");
}

async fn garbage_and_wrongly_segmented_tokens_are_malformed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let parts = segments(&token);

    for bad in [
        String::new(),
        "garbage".to_owned(),
        "not.a.jwt".to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.extra"),
        "!!!.???.***".to_owned(),
        "a".repeat(10 * 1024),
    ] {
        let response = app.verify(&bad).await;
        assert_invalid(&response, InvalidReason::Malformed);
    }
    assert!(app.verify(&token).await.valid, "still serving");
}

async fn alg_none_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let parts = segments(&token);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).expect("b64")).expect("json");
    let kid = header["kid"].as_str().expect("kid");

    for alg in ["none", "None", "NONE", "HS256"] {
        let forged_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#));
        for signature in ["", parts[2].as_str()] {
            let forged = format!("{forged_header}.{}.{signature}", parts[1]);
            let response = app.verify(&forged).await;
            assert!(!response.valid, "alg {alg} must not verify");
            assert!(response.user.is_none() && response.claims.is_none());
            assert!(
                matches!(
                    response.reason(),
                    InvalidReason::AlgorithmMismatch | InvalidReason::Malformed
                ),
                "alg {alg}: {response:?}"
            );
        }
    }
}

async fn a_tampered_payload_breaks_the_signature(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let parts = segments(&token);

    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
    claims["roles"] = serde_json::json!(["admin"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_invalid(&app.verify(&tampered).await, InvalidReason::BadSignature);

    // A flipped bit in the signature is just as bad.
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).expect("b64");
    signature[0] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert_invalid(&app.verify(&flipped).await, InvalidReason::BadSignature);
}

async fn a_token_signed_by_another_key_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let own = app.token_for("alice").await;
    let sid = app.session_of("alice").await;
    let own_header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&segments(&own)[0]).expect("b64"))
            .expect("json");

    let foreign_key = generate_ed25519(now_unix()).expect("key");
    let foreign_pkcs8 = foreign_key.private_key.expose_secret().clone();
    let foreign = TokenService::new(
        Arc::new(KeySet::from_stored(&[foreign_key]).expect("key set")),
        "authd".into(),
        "authd".into(),
        Duration::from_secs(900),
        Duration::from_secs(10),
    );
    let token = foreign
        .issue(&alice, &sid, i64::MAX, now_unix())
        .expect("issue")
        .token;
    assert_invalid(&app.verify(&token).await, InvalidReason::UnknownKey);

    // The same foreign key claiming our kid: the signature does not verify.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = own_header["kid"].as_str().map(str::to_owned);
    let claims = foreign
        .issue(&alice, &sid, i64::MAX, now_unix())
        .expect("issue")
        .claims;
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&foreign_pkcs8),
    )
    .expect("encode");
    assert_invalid(&app.verify(&forged).await, InvalidReason::BadSignature);
}

async fn expired_and_not_yet_valid_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let sid = app.session_of("alice").await;
    let tokens = app.core.tokens();
    let now = now_unix();

    let expired = tokens
        .issue(&alice, &sid, i64::MAX, now - 3600)
        .expect("issue")
        .token;
    assert_invalid(&app.verify(&expired).await, InvalidReason::Expired);

    let future = tokens
        .issue(&alice, &sid, i64::MAX, now + 3600)
        .expect("issue")
        .token;
    assert_invalid(&app.verify(&future).await, InvalidReason::NotYetValid);

    // Within the leeway (10 s) a token just past its expiry still verifies.
    let just_expired = tokens
        .issue(&alice, &sid, i64::MAX, now - 900 - 2)
        .expect("issue")
        .token;
    assert!(app.verify(&just_expired).await.valid);
}

async fn tokens_for_another_issuer_or_audience_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let sid = app.session_of("alice").await;

    let other_issuer = sibling_tokens(&app, "someone-else", "authd").await;
    let token = other_issuer
        .issue(&alice, &sid, i64::MAX, now_unix())
        .expect("issue")
        .token;
    assert_invalid(&app.verify(&token).await, InvalidReason::WrongIssuer);

    let other_audience = sibling_tokens(&app, "authd", "billing").await;
    let token = other_audience
        .issue(&alice, &sid, i64::MAX, now_unix())
        .expect("issue")
        .token;
    assert_invalid(&app.verify(&token).await, InvalidReason::WrongAudience);
}

async fn tokens_of_disabled_or_missing_users_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert!(app.verify(&token).await.valid);

    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .expect("disable");
    assert_invalid(&app.verify(&token).await, InvalidReason::UserDisabled);

    app.core
        .accounts()
        .set_active("alice", true, now_unix())
        .await
        .expect("enable");
    // Disabling ended the session for good; re-enabling lets the user log in afresh.
    assert_invalid(&app.verify(&token).await, InvalidReason::UserDisabled);
    let fresh = app.token_for("alice").await;
    assert!(app.verify(&fresh).await.valid);

    let ghost = User {
        id: uuid::Uuid::new_v4().to_string(),
        username: "ghost".into(),
        email: None,
        active: true,
        roles: vec![],
        created_at: 0,
        last_login_at: None,
        external_id: None,
    };
    let token = app
        .core
        .tokens()
        .issue(&ghost, "no-such-session", i64::MAX, now_unix())
        .expect("issue")
        .token;
    assert_invalid(&app.verify(&token).await, InvalidReason::UserNotFound);
}

async fn hs256_mode_signs_and_verifies_with_the_shared_secret(backend: Backend) {
    let secret = b"an-hs256-secret-of-at-least-32-bytes!!".to_vec();
    let app = crate::helpers::TestApp::builder(backend)
        .config(|config| {
            config.signing.signing_algorithm = Algorithm::Hs256;
            config.signing.hs256_secret = Some(
                String::from_utf8(secret.clone())
                    .expect("a UTF-8 secret")
                    .into(),
            );
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&segments(&token)[0]).expect("b64"))
            .expect("json");
    assert_eq!(header["alg"], "HS256");
    assert!(app.verify(&token).await.valid);

    // A token signed with another secret, even under our kid, is refused.
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&segments(&token)[1]).expect("b64"))
            .expect("json");
    let mut forged_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    forged_header.kid = header["kid"].as_str().map(str::to_owned);
    let forged = jsonwebtoken::encode(
        &forged_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!!")
            .expect("key"),
    )
    .expect("encode");
    assert_invalid(&app.verify(&forged).await, InvalidReason::BadSignature);
}

async fn a_token_expires_over_the_wire_when_the_servers_clock_passes_its_expiry(backend: Backend) {
    // The server reads time from its injected clock only: moving it expires
    // the token without waiting 15 minutes.
    let clock = ManualClock::new();
    let app = TestApp::builder(backend).clock(&clock).spawn().await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert!(app.verify(&token).await.valid);
    // Lifetime 15 min, leeway 10 s.
    clock.advance(Duration::from_secs(15 * 60 + 9));
    assert!(app.verify(&token).await.valid, "within the leeway");
    clock.advance(Duration::from_secs(1));
    assert_invalid(&app.verify(&token).await, InvalidReason::Expired);
}
