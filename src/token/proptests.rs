//! Property tests for [`TokenService::verify`]: whatever arrives as a token
//! (arbitrary bytes, well-shaped JWTs with arbitrary JSON headers and
//! claims, a real token with one byte changed) is answered with an
//! [`InvalidReason`], never a panic and never `Ok`.
//!
//! The key is generated in memory and the `now` is fixed, so no database
//! and no clock is involved. Case counts are kept modest ([`CASES`]) so the
//! suite stays quick on a small CI machine; the `fuzz/` target explores
//! the same path for as long as one cares to run it.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::keys::generate_ed25519;
use super::{KeySet, TokenService};
use crate::user::User;

/// Cases per property: enough to reach the odd corners on every run,
/// few enough for a 2-core CI.
const CASES: u32 = 384;

/// The fixed "now" of every check.
const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "authd";
const AUDIENCE: &str = "authd";

/// A token service with an in-memory key and one real token it issued.
struct Fixture {
    service: TokenService,
    kid: String,
    token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let stored = generate_ed25519(NOW - 60).expect("a fresh key");
    let keys = Arc::new(KeySet::from_stored(&[stored]).expect("a key set"));
    let kid = keys.signing().unwrap().kid.clone();
    let service = TokenService::new(
        keys,
        ISSUER.to_owned(),
        AUDIENCE.to_owned(),
        Duration::from_secs(900),
        Duration::from_secs(10),
    );
    let user = User {
        id: "0190a5e4-7d1c-7c3e-9a53-6f1f4d1c2b3a".to_owned(),
        username: "alice".to_owned(),
        email: None,
        active: true,
        roles: vec!["admin".to_owned()],
        created_at: NOW - 3600,
        last_login_at: None,
        external_id: None,
    };
    let token = service
        .issue(&user, "session-1", i64::MAX, NOW)
        .expect("issuing works")
        .token;
    Fixture {
        service,
        kid,
        token,
    }
});

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Failures are printed with their minimal input; no regression
        // files are written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings an attacker would try where authd expects a name: algorithms,
/// types, our own issuer and kid.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "EdDSA", "eddsa", "none", "None", "HS256", "HS384", "HS512", "RS256", "ES256", "PS256",
            "JWT", "at+jwt", "", ISSUER, "authd ", "AUTHD",
        ])
        .prop_map(str::to_owned),
        Just(FIXTURE.kid.clone()),
        ".{0,12}",
    ]
}

/// Any JSON value, a few levels deep, biased towards values that could
/// pass for the right type.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (NOW - 1000..NOW + 1000).prop_map(Value::from),
        any::<f64>().prop_filter_map("a finite number", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        interesting_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A JSON object whose members are each either absent, a plausible value
/// (`good`) or anything at all, plus a few arbitrary extra members.
fn object_with(
    names: &'static [&'static str],
    good: fn(&str) -> Value,
) -> impl Strategy<Value = Value> {
    let member = prop_oneof![
        1 => Just(None),
        2 => Just(Some(true)),
        1 => Just(Some(false)),
    ];
    (
        prop::collection::vec((member, any_json()), names.len()),
        prop::collection::btree_map("[a-z]{1,5}", any_json(), 0..3),
    )
        .prop_map(move |(members, extra)| {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            for (name, (choice, wild)) in names.iter().zip(members) {
                match choice {
                    None => {}
                    Some(true) => {
                        object.insert((*name).to_owned(), good(name));
                    }
                    Some(false) => {
                        object.insert((*name).to_owned(), wild);
                    }
                }
            }
            Value::Object(object)
        })
}

const HEADER_MEMBERS: &[&str] = &[
    "alg", "kid", "typ", "crit", "jku", "jwk", "x5u", "x5c", "cty", "b64",
];

fn good_header_member(name: &str) -> Value {
    match name {
        "alg" => json!("EdDSA"),
        "kid" => json!(FIXTURE.kid),
        "crit" => json!(["exp"]),
        "jku" | "x5u" => json!("http://127.0.0.1:9/keys"),
        "jwk" => json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
        "x5c" => json!(["AAAA"]),
        "b64" => json!(false),
        // `typ`, `cty`.
        _ => json!("JWT"),
    }
}

const CLAIM_MEMBERS: &[&str] = &[
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "roles",
];

fn good_claim(name: &str) -> Value {
    match name {
        "iss" => json!(ISSUER),
        "aud" => json!([AUDIENCE]),
        "exp" => json!(NOW + 600),
        "nbf" | "iat" => json!(NOW - 10),
        "roles" => json!(["admin"]),
        _ => json!("0190a5e4-7d1c-7c3e-9a53-6f1f4d1c2b3a"),
    }
}

/// The signature a forged token carries: none, random bytes, or the real
/// signature of a different message.
fn signature() -> impl Strategy<Value = Vec<u8>> {
    let real = FIXTURE
        .token
        .rsplit('.')
        .next()
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .unwrap_or_default();
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 64),
        prop::collection::vec(any::<u8>(), 0..100),
        Just(real),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_are_never_a_valid_token(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let token = String::from_utf8_lossy(&bytes);
        prop_assert!(FIXTURE.service.verify(&token, NOW).is_err());
    }

    #[test]
    fn arbitrary_dotted_base64url_text_is_never_a_valid_token(token in "[A-Za-z0-9_=+/.-]{0,400}") {
        prop_assert!(FIXTURE.service.verify(&token, NOW).is_err());
    }

    #[test]
    fn forged_headers_and_claims_never_verify(
        header in object_with(HEADER_MEMBERS, good_header_member),
        claims in object_with(CLAIM_MEMBERS, good_claim),
        signature in signature(),
    ) {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
        );
        // The real signature is only a forgery over a different message.
        prop_assume!(!FIXTURE.token.starts_with(&format!("{message}.")));
        let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&signature));
        prop_assert!(FIXTURE.service.verify(&token, NOW).is_err(), "accepted {}", token);
    }

    #[test]
    fn a_real_token_with_one_byte_changed_never_verifies(
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = FIXTURE.token.clone().into_bytes();
        let at = index.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let token = String::from_utf8_lossy(&bytes);
        prop_assert!(
            FIXTURE.service.verify(&token, NOW).is_err(),
            "byte {} changed to {:#04x} and still accepted", at, byte
        );
    }
}

#[test]
fn the_fixture_token_itself_verifies() {
    // Without this the properties above could pass vacuously.
    assert!(FIXTURE.service.verify(&FIXTURE.token, NOW).is_ok());
}
