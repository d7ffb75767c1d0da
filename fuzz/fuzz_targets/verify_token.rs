//! Fuzzes `TokenService::verify`, the parser every token crosses first.
//!
//! The service is built once, with an in-memory Ed25519 key and a fixed
//! `now`; the input is the token. The first byte chooses how the rest is
//! used:
//! - even: the bytes themselves, as text (lossy UTF-8);
//! - odd: two JSON documents (header and claims) separated by the first
//!   `0xff`, base64url-encoded and joined with a real signature of another
//!   message, so the fuzzer spends its time in the JSON and claim checks
//!   rather than in base64 framing.
//!
//! Every input must be refused without a panic: no input can carry a valid
//! signature, so an `Ok` is a bug too.

#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use authd::token::keys::generate_ed25519;
use authd::token::{KeySet, TokenService};
use authd::user::User;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

struct Fixture {
    service: TokenService,
    token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let stored = generate_ed25519(NOW - 60).expect("a fresh key");
    let keys = Arc::new(KeySet::from_stored(&[stored]).expect("a key set"));
    let service = TokenService::new(
        keys,
        "authd".to_owned(),
        "authd".to_owned(),
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
    };
    let token = service
        .issue(&user, "session-1", i64::MAX, NOW)
        .expect("issuing works")
        .token;
    assert!(service.verify(&token, NOW).is_ok(), "the fixture verifies");
    Fixture { service, token }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        assert!(fixture.service.verify("", NOW).is_err());
        return;
    };
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let (header, claims) = match rest.iter().position(|&b| b == 0xff) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &[][..]),
        };
        let signature = fixture.token.rsplit('.').next().unwrap_or_default();
        format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    };
    if token == fixture.token {
        return;
    }
    assert!(
        fixture.service.verify(&token, NOW).is_err(),
        "accepted a forged token: {token:?}"
    );
});
