//! Token attacks (RFC 8725, OWASP ASVS): each must be answered with
//! `valid=false`, no user and no claims, and never touch the database.
//!
//! The attack tokens come from [`Kit`]'s generators, one per family, as
//! named [`Attack`]s; `ext_authz.rs` replays [`Kit::all_attacks`] against
//! Envoy's `Authorization/Check`.

use authd::grpc::pb::{self, InvalidReason, VerifyResponse};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

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

/// One forged or damaged token.
pub struct Attack {
    /// What it tries, for failure messages.
    pub name: String,
    /// The token itself.
    pub token: String,
    /// The reasons Verify may give; empty means any refusal will do.
    pub reasons: &'static [InvalidReason],
}

fn attack(name: impl Into<String>, token: String, reasons: &'static [InvalidReason]) -> Attack {
    Attack {
        name: name.into(),
        token,
        reasons,
    }
}

const MALFORMED: &[InvalidReason] = &[InvalidReason::Malformed];
const MALFORMED_OR_BAD_SIGNATURE: &[InvalidReason] =
    &[InvalidReason::Malformed, InvalidReason::BadSignature];

/// What an attacker starts from: a real token of ours, taken apart.
pub struct Kit {
    pub app: TestApp,
    kid: String,
    claims: Value,
    pub token: String,
    /// A second real token of the same user, whose signature is borrowed.
    other_token: String,
    pair: Ed25519KeyPair,
}

pub async fn kit(backend: Backend) -> Kit {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let other_token = app.token_for("alice").await;
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
        other_token,
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

    /// Sends every attack to Verify: each refused, with one of its reasons.
    async fn all_refused(&self, attacks: Vec<Attack>) {
        assert!(!attacks.is_empty(), "no attacks generated");
        for attack in attacks {
            let response = self.refused(&attack.token).await;
            assert!(
                attack.reasons.is_empty() || attack.reasons.contains(&response.reason()),
                "{}: expected one of {:?}, got {response:?}",
                attack.name,
                attack.reasons
            );
        }
    }

    /// Every attack of every family below, for replaying on another door.
    pub fn all_attacks(&self) -> Vec<Attack> {
        [
            self.wrong_json_types(),
            self.missing_claims(),
            self.future_iat(),
            self.issuer_look_alikes(),
            self.crit_header(),
            self.key_pointing_headers(),
            self.odd_key_ids(),
            self.oversized_key_id(),
            self.algorithm_confusion(),
            self.damaged_signatures(),
            self.encoding_tricks(),
            self.duplicates_and_nesting(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn wrong_json_types(&self) -> Vec<Attack> {
        let exp = self.claims["exp"].as_i64().unwrap();
        let mut attacks = Vec::new();
        for claim in ["exp", "nbf", "iat"] {
            for value in [
                json!(exp.to_string()),
                Value::Null,
                json!(1.5e9),
                json!({}),
                json!([exp]),
                json!(true),
            ] {
                attacks.push(attack(
                    format!("{claim} = {value}"),
                    self.with(claim, value),
                    MALFORMED,
                ));
            }
        }
        for claim in ["sub", "jti", "sid"] {
            attacks.push(attack(
                format!("{claim} = 42"),
                self.with(claim, json!(42)),
                MALFORMED,
            ));
        }
        attacks.push(attack(
            "roles as a string",
            self.with("roles", json!("admin")),
            MALFORMED,
        ));
        attacks
    }

    fn missing_claims(&self) -> Vec<Attack> {
        ["exp", "nbf", "iat", "iss", "aud", "sub", "jti", "sid"]
            .into_iter()
            .map(|claim| {
                let mut claims = self.claims.clone();
                claims.as_object_mut().unwrap().remove(claim);
                attack(format!("no {claim}"), self.sign(&claims), MALFORMED)
            })
            .collect()
    }

    fn future_iat(&self) -> Vec<Attack> {
        let iat = self.claims["iat"].as_i64().unwrap();
        vec![attack(
            "iat a year ahead",
            self.with("iat", json!(iat + 86_400 * 365)),
            &[InvalidReason::NotYetValid],
        )]
    }

    fn issuer_look_alikes(&self) -> Vec<Attack> {
        let mut attacks: Vec<Attack> = ["auth", "authd/", "AUTHD", " authd", "authd2"]
            .into_iter()
            .map(|iss| {
                attack(
                    format!("iss {iss:?}"),
                    self.with("iss", json!(iss)),
                    &[InvalidReason::WrongIssuer],
                )
            })
            .collect();
        attacks.push(attack(
            "iss as an array",
            self.with("iss", json!(["authd"])),
            &[],
        ));
        for aud in [json!("billing"), json!(["billing", "web"])] {
            attacks.push(attack(
                format!("aud {aud}"),
                self.with("aud", aud),
                &[InvalidReason::WrongAudience],
            ));
        }
        attacks
    }

    fn crit_header(&self) -> Vec<Attack> {
        let header =
            json!({"alg": "EdDSA", "kid": self.kid, "crit": ["exp"], "exp": 1}).to_string();
        vec![attack(
            "crit header",
            self.sign_raw(&header, &self.claims.to_string()),
            MALFORMED,
        )]
    }

    fn key_pointing_headers(&self) -> Vec<Attack> {
        // The attacker's own key, offered in the header in every way JOSE allows.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let evil_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let evil = Ed25519KeyPair::from_pkcs8(evil_pkcs8.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(evil.public_key().as_ref());
        [
            (
                json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}}),
                "evil",
            ),
            (
                json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}}),
                self.kid.as_str(),
            ),
            (json!({"jku": "http://127.0.0.1:9/jwks.json"}), "evil"),
            (
                json!({"x5u": "http://127.0.0.1:9/cert.pem"}),
                self.kid.as_str(),
            ),
            (
                json!({"x5c": [STANDARD.encode(evil.public_key().as_ref())]}),
                self.kid.as_str(),
            ),
        ]
        .into_iter()
        .map(|(extra, kid)| {
            let mut header = json!({"alg": "EdDSA", "kid": kid});
            header
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(self.claims.to_string())
            );
            let token = format!(
                "{message}.{}",
                URL_SAFE_NO_PAD.encode(evil.sign(message.as_bytes()).as_ref())
            );
            attack(
                format!("key-pointing header {header}"),
                token,
                &[InvalidReason::UnknownKey, InvalidReason::BadSignature],
            )
        })
        .collect()
    }

    fn odd_key_ids(&self) -> Vec<Attack> {
        [
            "../../../../etc/passwd",
            "/dev/zero",
            "' OR '1'='1",
            "1; DROP TABLE users; --",
            "a\u{0}b",
            "\u{202e}reversed",
            "",
        ]
        .into_iter()
        .map(|kid| {
            let header = json!({"alg": "EdDSA", "kid": kid}).to_string();
            attack(
                format!("kid {kid:?}"),
                self.sign_raw(&header, &self.claims.to_string()),
                &[InvalidReason::UnknownKey],
            )
        })
        .collect()
    }

    fn oversized_key_id(&self) -> Vec<Attack> {
        let header = json!({"alg": "EdDSA", "kid": "k".repeat(100 * 1024)}).to_string();
        vec![attack(
            "a 100 KiB kid",
            self.sign_raw(&header, &self.claims.to_string()),
            MALFORMED,
        )]
    }

    fn algorithm_confusion(&self) -> Vec<Attack> {
        let raw = self.pair.public_key().as_ref().to_vec();
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
        let mut attacks = Vec::new();
        for (form, secret) in [
            ("raw", raw.clone()),
            ("DER", der),
            ("PEM", pem.into_bytes()),
            ("JWK", jwk.into_bytes()),
        ] {
            for alg in ["HS256", "HS384", "HS512"] {
                let algorithm: jsonwebtoken::Algorithm = alg.parse().unwrap();
                let mut header = jsonwebtoken::Header::new(algorithm);
                header.kid = Some(self.kid.clone());
                let token = jsonwebtoken::encode(
                    &header,
                    &self.claims,
                    &jsonwebtoken::EncodingKey::from_secret(&secret).unwrap(),
                )
                .unwrap();
                attacks.push(attack(
                    format!("{alg} keyed with our {form} public key"),
                    token,
                    &[InvalidReason::AlgorithmMismatch],
                ));
            }
        }
        attacks
    }

    fn damaged_signatures(&self) -> Vec<Attack> {
        let parts: Vec<&str> = self.token.split('.').collect();
        let other_signature = self.other_token.split('.').nth(2).unwrap();
        let truncated = &parts[2][..parts[2].len() / 2];
        let zeros = URL_SAFE_NO_PAD.encode([0u8; 64]);
        let mut flipped = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        flipped[17] ^= 0x01;
        let flipped = URL_SAFE_NO_PAD.encode(flipped);
        [
            ("no signature", ""),
            ("half a signature", truncated),
            ("another token's signature", other_signature),
            ("zero signature", zeros.as_str()),
            ("one bit flipped", flipped.as_str()),
            ("short signature", "AAAA"),
        ]
        .into_iter()
        .map(|(name, signature)| {
            attack(
                name,
                format!("{}.{}.{signature}", parts[0], parts[1]),
                MALFORMED_OR_BAD_SIGNATURE,
            )
        })
        .collect()
    }

    fn encoding_tricks(&self) -> Vec<Attack> {
        let parts: Vec<&str> = self.token.split('.').collect();
        let standard_alphabet = STANDARD.encode(URL_SAFE_NO_PAD.decode(parts[0]).unwrap());
        let invalid_utf8 = URL_SAFE_NO_PAD.encode([0xff, 0xfe, b'{', b'}']);
        [
            (
                "JWE-shaped, five segments",
                format!(
                    "{}.{}.{}.{}.{}",
                    parts[0], parts[1], parts[2], parts[1], parts[2]
                ),
            ),
            (
                "padded header",
                format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            ),
            (
                "standard base64 alphabet",
                format!("{standard_alphabet}+/.{}.{}", parts[1], parts[2]),
            ),
            (
                "invalid UTF-8 header",
                format!("{invalid_utf8}.{}.{}", parts[1], parts[2]),
            ),
            (
                "percent signs",
                format!("{}.{}.{}", parts[0], "%%%", parts[2]),
            ),
            (
                "trailing bang",
                format!("{}.{}.{}!", parts[0], parts[1], parts[2]),
            ),
            (
                "embedded space",
                format!("{} .{}.{}", parts[0], parts[1], parts[2]),
            ),
            ("9 KiB of x", "x".repeat(9 * 1024)),
            ("only dots", "..".to_owned()),
        ]
        .into_iter()
        .map(|(name, token)| attack(name, token, MALFORMED_OR_BAD_SIGNATURE))
        .collect()
    }

    fn duplicates_and_nesting(&self) -> Vec<Attack> {
        let header = json!({"alg": "EdDSA", "kid": self.kid}).to_string();
        let claims = self.claims.to_string();
        // A second `exp` far in the future after the real one.
        let duplicated = format!("{},\"exp\":99999999999}}", &claims[..claims.len() - 1]);
        let duplicated_header = format!(
            "{{\"alg\":\"EdDSA\",\"kid\":\"{}\",\"alg\":\"none\"}}",
            self.kid
        );
        let nested = format!(
            "{},\"deep\":{}{}}}",
            &claims[..claims.len() - 1],
            "[".repeat(300),
            "]".repeat(300)
        );
        vec![
            attack(
                "duplicate exp",
                self.sign_raw(&header, &duplicated),
                MALFORMED,
            ),
            attack(
                "duplicate alg",
                self.sign_raw(&duplicated_header, &claims),
                MALFORMED,
            ),
            attack(
                "300 levels of nesting",
                self.sign_raw(&header, &nested),
                MALFORMED,
            ),
        ]
    }
}

async fn claims_of_the_wrong_json_type_are_malformed(backend: Backend) {
    let kit = kit(backend).await;
    assert!(
        kit.app.verify(&kit.sign(&kit.claims)).await.valid,
        "the kit itself works"
    );
    kit.all_refused(kit.wrong_json_types()).await;
}

async fn missing_required_claims_are_malformed(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.missing_claims()).await;
}

async fn a_future_iat_is_not_yet_valid(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.future_iat()).await;
}

async fn issuer_look_alikes_are_refused(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.issuer_look_alikes()).await;
}

async fn a_crit_header_is_refused(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.crit_header()).await;
}

async fn key_pointing_headers_are_never_trusted(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.key_pointing_headers()).await;
}

async fn odd_key_ids_are_unknown_and_cost_no_database_read(backend: Backend) {
    let kit = kit(backend).await;
    let reads = kit.app.state_cache_misses().await;
    kit.all_refused(kit.odd_key_ids()).await;
    // A 100 KiB kid: the request is over the 64 KiB message limit, so it is
    // refused before it is even read...
    let huge = kit.oversized_key_id().remove(0).token;
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
    let roomy = TestApp::builder(backend)
        .config(|c| c.server.max_message_bytes = 256 * 1024)
        .spawn()
        .await;
    let response = roomy.verify(&huge).await;
    assert_eq!(response.reason(), InvalidReason::Malformed, "{response:?}");
    assert_eq!(
        kit.app.state_cache_misses().await,
        reads,
        "no database lookups for bad kids"
    );
}

async fn algorithm_confusion_with_our_public_key_is_refused(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.algorithm_confusion()).await;
}

async fn damaged_or_borrowed_signatures_are_refused(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.damaged_signatures()).await;
}

async fn encoding_tricks_are_malformed(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.encoding_tricks()).await;
}

async fn duplicate_members_and_deep_nesting_are_malformed(backend: Backend) {
    let kit = kit(backend).await;
    kit.all_refused(kit.duplicates_and_nesting()).await;
    assert!(
        kit.app.verify(&kit.token).await.valid,
        "the server is still fine"
    );
}

async fn an_all_zero_ecdsa_signature_is_refused(backend: Backend) {
    // r = s = 0 verifies everything in broken ECDSA implementations
    // (CVE-2022-21449); aws-lc must refuse it.
    let app = TestApp::builder(backend)
        .config(|c| {
            c.signing.signing_algorithm = authd::config::Algorithm::Es256;
        })
        .spawn()
        .await;
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
