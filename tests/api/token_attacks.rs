//! Token attacks (RFC 8725, OWASP ASVS): each must be answered with
//! `valid=false`, no user and no claims, and never touch the database.

use authd::grpc::pb::{self, InvalidReason, VerifyResponse};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

on_both_backends!(
    claims_of_the_wrong_json_type_are_malformed,
    missing_required_claims_are_malformed,
    a_future_iat_is_not_yet_valid,
    issuer_look_alikes_are_refused,
    a_crit_header_is_refused,
    key_pointing_headers_are_never_trusted,
    odd_key_ids_are_unknown_and_cost_no_database_read,
    algorithm_confusion_with_our_public_key_is_refused,
    damaged_or_borrowed_signatures_are_refused,
    encoding_tricks_are_malformed,
    duplicate_members_and_deep_nesting_are_malformed,
    an_all_zero_ecdsa_signature_is_refused,
);

/// What an attacker starts from: a real token of ours, taken apart.
struct Kit {
    app: TestApp,
    kid: String,
    claims: Value,
    token: String,
    pair: Ed25519KeyPair,
}

async fn kit(backend: Backend) -> Kit {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let keys = app.core.accounts().store().signing_keys().await.unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(keys[0].private_key.expose_secret()).unwrap();
    Kit {
        kid: header["kid"].as_str().unwrap().to_owned(),
        app,
        claims,
        token,
        pair,
    }
}

impl Kit {
    /// Signs raw header and claims text with authd's own key (a worst case:
    /// the attacker can make authd sign anything).
    fn sign_raw(&self, header: &str, claims: &str) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = self.pair.sign(message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid}).to_string();
        self.sign_raw(&header, &claims.to_string())
    }

    fn with(&self, claim: &str, value: Value) -> String {
        let mut claims = self.claims.clone();
        claims[claim] = value;
        self.sign(&claims)
    }

    async fn refused(&self, token: &str) -> VerifyResponse {
        let response = self.app.verify(token).await;
        assert!(!response.valid, "accepted: {token}");
        assert!(response.user.is_none() && response.claims.is_none());
        response
    }

    async fn refused_as(&self, token: &str, reason: InvalidReason) {
        let response = self.refused(token).await;
        assert_eq!(response.reason(), reason, "{token}");
    }
}

async fn claims_of_the_wrong_json_type_are_malformed(backend: Backend) {
    let kit = kit(backend).await;
    assert!(
        kit.app.verify(&kit.sign(&kit.claims)).await.valid,
        "the kit itself works"
    );
    let exp = kit.claims["exp"].as_i64().unwrap();
    for claim in ["exp", "nbf", "iat"] {
        for value in [
            json!(exp.to_string()),
            Value::Null,
            json!(1.5e9),
            json!({}),
            json!([exp]),
            json!(true),
        ] {
            kit.refused_as(&kit.with(claim, value), InvalidReason::Malformed)
                .await;
        }
    }
    for claim in ["sub", "jti", "sid"] {
        kit.refused_as(&kit.with(claim, json!(42)), InvalidReason::Malformed)
            .await;
    }
    kit.refused_as(&kit.with("roles", json!("admin")), InvalidReason::Malformed)
        .await;
}

async fn missing_required_claims_are_malformed(backend: Backend) {
    let kit = kit(backend).await;
    for claim in ["exp", "nbf", "iat", "iss", "aud", "sub", "jti", "sid"] {
        let mut claims = kit.claims.clone();
        claims.as_object_mut().unwrap().remove(claim);
        kit.refused_as(&kit.sign(&claims), InvalidReason::Malformed)
            .await;
    }
}

async fn a_future_iat_is_not_yet_valid(backend: Backend) {
    let kit = kit(backend).await;
    let iat = kit.claims["iat"].as_i64().unwrap();
    kit.refused_as(
        &kit.with("iat", json!(iat + 86_400 * 365)),
        InvalidReason::NotYetValid,
    )
    .await;
}

async fn issuer_look_alikes_are_refused(backend: Backend) {
    let kit = kit(backend).await;
    for iss in ["auth", "authd/", "AUTHD", " authd", "authd2"] {
        kit.refused_as(&kit.with("iss", json!(iss)), InvalidReason::WrongIssuer)
            .await;
    }
    kit.refused(&kit.with("iss", json!(["authd"]))).await;
    kit.refused_as(
        &kit.with("aud", json!("billing")),
        InvalidReason::WrongAudience,
    )
    .await;
    kit.refused_as(
        &kit.with("aud", json!(["billing", "web"])),
        InvalidReason::WrongAudience,
    )
    .await;
}

async fn a_crit_header_is_refused(backend: Backend) {
    let kit = kit(backend).await;
    let header = json!({"alg": "EdDSA", "kid": kit.kid, "crit": ["exp"], "exp": 1}).to_string();
    kit.refused_as(
        &kit.sign_raw(&header, &kit.claims.to_string()),
        InvalidReason::Malformed,
    )
    .await;
}

async fn key_pointing_headers_are_never_trusted(backend: Backend) {
    let kit = kit(backend).await;
    // The attacker's own key, offered in the header in every way JOSE allows.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let evil_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let evil = Ed25519KeyPair::from_pkcs8(evil_pkcs8.as_ref()).unwrap();
    let x = URL_SAFE_NO_PAD.encode(evil.public_key().as_ref());
    for (extra, kid) in [
        (
            json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}}),
            "evil",
        ),
        (
            json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}}),
            kit.kid.as_str(),
        ),
        (json!({"jku": "http://127.0.0.1:9/jwks.json"}), "evil"),
        (
            json!({"x5u": "http://127.0.0.1:9/cert.pem"}),
            kit.kid.as_str(),
        ),
        (
            json!({"x5c": [STANDARD.encode(evil.public_key().as_ref())]}),
            kit.kid.as_str(),
        ),
    ] {
        let mut header = json!({"alg": "EdDSA", "kid": kid});
        header
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(kit.claims.to_string())
        );
        let token = format!(
            "{message}.{}",
            URL_SAFE_NO_PAD.encode(evil.sign(message.as_bytes()).as_ref())
        );
        let response = kit.refused(&token).await;
        assert!(
            matches!(
                response.reason(),
                InvalidReason::UnknownKey | InvalidReason::BadSignature
            ),
            "{response:?}"
        );
    }
}

async fn odd_key_ids_are_unknown_and_cost_no_database_read(backend: Backend) {
    let kit = kit(backend).await;
    let reads = kit.app.core.cache().db_reads();
    for kid in [
        "../../../../etc/passwd",
        "/dev/zero",
        "' OR '1'='1",
        "1; DROP TABLE users; --",
        "a\u{0}b",
        "\u{202e}reversed",
        "",
    ] {
        let header = json!({"alg": "EdDSA", "kid": kid}).to_string();
        kit.refused_as(
            &kit.sign_raw(&header, &kit.claims.to_string()),
            InvalidReason::UnknownKey,
        )
        .await;
    }
    // A 100 KiB kid: the request is over the 64 KiB message limit, so it is
    // refused before it is even read...
    let header = json!({"alg": "EdDSA", "kid": "k".repeat(100 * 1024)}).to_string();
    let huge = kit.sign_raw(&header, &kit.claims.to_string());
    let status = kit
        .app
        .client
        .clone()
        .verify(pb::VerifyRequest {
            token: huge.clone(),
        })
        .await
        .expect_err("over the message limit");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    // ...and where the message limit allows it, over the token limit.
    let roomy = spawn_app_with(backend, |c| c.max_message_bytes = 256 * 1024).await;
    let response = roomy.verify(&huge).await;
    assert_eq!(response.reason(), InvalidReason::Malformed, "{response:?}");
    assert_eq!(
        kit.app.core.cache().db_reads(),
        reads,
        "no database lookups for bad kids"
    );
}

async fn algorithm_confusion_with_our_public_key_is_refused(backend: Backend) {
    let kit = kit(backend).await;
    let raw = kit.pair.public_key().as_ref().to_vec();
    // SubjectPublicKeyInfo DER for Ed25519 is a fixed 12-byte prefix + the key.
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(&raw);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&der)
    );
    let jwk =
        json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&raw)}).to_string();
    for secret in [raw.clone(), der, pem.into_bytes(), jwk.into_bytes()] {
        for alg in ["HS256", "HS384", "HS512"] {
            let algorithm: jsonwebtoken::Algorithm = alg.parse().unwrap();
            let mut header = jsonwebtoken::Header::new(algorithm);
            header.kid = Some(kit.kid.clone());
            let token = jsonwebtoken::encode(
                &header,
                &kit.claims,
                &jsonwebtoken::EncodingKey::from_secret(&secret).unwrap(),
            )
            .unwrap();
            kit.refused_as(&token, InvalidReason::AlgorithmMismatch)
                .await;
        }
    }
}

async fn damaged_or_borrowed_signatures_are_refused(backend: Backend) {
    let kit = kit(backend).await;
    let parts: Vec<&str> = kit.token.split('.').collect();
    let other = kit.app.token_for("alice").await;
    let other_signature = other.split('.').nth(2).unwrap();
    let truncated = &parts[2][..parts[2].len() / 2];
    let zeros = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let mut flipped = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    flipped[17] ^= 0x01;
    let flipped = URL_SAFE_NO_PAD.encode(flipped);
    for signature in [
        "",
        truncated,
        other_signature,
        zeros.as_str(),
        flipped.as_str(),
        "AAAA",
    ] {
        let token = format!("{}.{}.{signature}", parts[0], parts[1]);
        let response = kit.refused(&token).await;
        assert!(
            matches!(
                response.reason(),
                InvalidReason::BadSignature | InvalidReason::Malformed
            ),
            "{response:?}"
        );
    }
}

async fn encoding_tricks_are_malformed(backend: Backend) {
    let kit = kit(backend).await;
    let parts: Vec<&str> = kit.token.split('.').collect();
    let standard_alphabet = STANDARD.encode(URL_SAFE_NO_PAD.decode(parts[0]).unwrap());
    let invalid_utf8 = URL_SAFE_NO_PAD.encode([0xff, 0xfe, b'{', b'}']);
    for token in [
        // JWE-shaped: five segments.
        format!(
            "{}.{}.{}.{}.{}",
            parts[0], parts[1], parts[2], parts[1], parts[2]
        ),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{standard_alphabet}+/.{}.{}", parts[1], parts[2]),
        format!("{invalid_utf8}.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], "%%%", parts[2]),
        format!("{}.{}.{}!", parts[0], parts[1], parts[2]),
        format!("{} .{}.{}", parts[0], parts[1], parts[2]),
        "x".repeat(9 * 1024),
        "..".to_owned(),
    ] {
        let response = kit.refused(&token).await;
        assert!(
            matches!(
                response.reason(),
                InvalidReason::Malformed | InvalidReason::BadSignature
            ),
            "{token}: {response:?}"
        );
    }
}

async fn duplicate_members_and_deep_nesting_are_malformed(backend: Backend) {
    let kit = kit(backend).await;
    let header = json!({"alg": "EdDSA", "kid": kit.kid}).to_string();
    let claims = kit.claims.to_string();
    // A second `exp` far in the future after the real one.
    let duplicated = format!("{},\"exp\":99999999999}}", &claims[..claims.len() - 1]);
    kit.refused_as(
        &kit.sign_raw(&header, &duplicated),
        InvalidReason::Malformed,
    )
    .await;
    let duplicated_header = format!(
        "{{\"alg\":\"EdDSA\",\"kid\":\"{}\",\"alg\":\"none\"}}",
        kit.kid
    );
    kit.refused_as(
        &kit.sign_raw(&duplicated_header, &claims),
        InvalidReason::Malformed,
    )
    .await;
    let nested = format!(
        "{},\"deep\":{}{}}}",
        &claims[..claims.len() - 1],
        "[".repeat(300),
        "]".repeat(300)
    );
    let response = kit.refused(&kit.sign_raw(&header, &nested)).await;
    assert!(
        matches!(response.reason(), InvalidReason::Malformed),
        "{response:?}"
    );
    assert!(
        kit.app.verify(&kit.token).await.valid,
        "the server is still fine"
    );
}

async fn an_all_zero_ecdsa_signature_is_refused(backend: Backend) {
    // r = s = 0 verifies everything in broken ECDSA implementations
    // (CVE-2022-21449); aws-lc must refuse it.
    let app = spawn_app_with(backend, |c| c.signing = authd::config::Signing::Es256).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert!(app.verify(&token).await.valid, "ES256 tokens work");
    let (signed, _) = token.rsplit_once('.').unwrap();
    for signature in [[0u8; 64].to_vec(), vec![0u8; 72]] {
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature));
        let response = app.verify(&forged).await;
        assert!(!response.valid);
        assert!(
            matches!(
                response.reason(),
                InvalidReason::BadSignature | InvalidReason::Malformed
            ),
            "{response:?}"
        );
        assert!(response.claims.is_none() && response.user.is_none());
    }
}
