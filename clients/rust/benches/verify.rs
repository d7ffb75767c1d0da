//! In-process verify, no server: a token already seen (the verified-token
//! cache plus the revocation checks, against 100,000 ended sessions and
//! 1,000 disabled users), and first sight of a token (the signature check)
//! per algorithm. `cargo bench -p authd-client --bench verify`; the figures
//! are in docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use authd_client::pb::{self, revocation_event::Event};
use authd_client::{Feed, ManualClock, Verifier};
use authd_token::{Algorithm, DecodingKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const NOW: i64 = 1_800_000_000;
const ENDED_SESSIONS: usize = 100_000;
const DISABLED_USERS: usize = 1_000;

/// Signs a JWT's `header.claims` text.
type Sign = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// A signer of one algorithm and the key that verifies it.
struct Signer {
    alg: Algorithm,
    name: &'static str,
    sign: Sign,
    public: DecodingKey,
}

fn signers() -> Vec<Signer> {
    let rng = SystemRandom::new();
    let ed =
        Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    vec![
        Signer {
            alg: Algorithm::EdDSA,
            name: "EdDSA",
            public: DecodingKey::from_ed_der(ed.public_key().as_ref()),
            sign: Box::new(move |m| ed.sign(m).as_ref().to_vec()),
        },
        Signer {
            alg: Algorithm::ES256,
            name: "ES256",
            public: DecodingKey::from_ec_der(ec.public_key().as_ref()),
            sign: Box::new(move |m| ec.sign(&SystemRandom::new(), m).unwrap().as_ref().to_vec()),
        },
        Signer {
            alg: Algorithm::RS256,
            name: "RS256",
            public: DecodingKey::from_rsa_der(rsa.public_key().as_ref()),
            sign: Box::new(move |m| {
                let mut signature = vec![0; rsa.public_modulus_len()];
                rsa.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), m, &mut signature)
                    .unwrap();
                signature
            }),
        },
    ]
}

/// A token like authd's, for a user with a live session.
fn token(signer: &Signer, user: &str, session: &str) -> String {
    let header = serde_json::json!({"alg": signer.name, "typ": "JWT", "kid": signer.name});
    let claims = serde_json::json!({
        "iss": "authd", "sub": user, "aud": "authd", "exp": NOW + 900, "nbf": NOW,
        "iat": NOW, "jti": uuid(0), "sid": session, "roles": ["reader"],
    });
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = (signer.sign)(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn uuid(n: usize) -> String {
    format!("0190c0de-0000-7000-8000-{n:012x}")
}

fn event(event: Event) -> pb::RevocationEvent {
    pb::RevocationEvent {
        cursor: String::new(),
        server_time: None,
        event: Some(event),
    }
}

/// A verifier in sync with a realistic revocation set.
fn verifier(signers: &[Signer], cache_entries: usize) -> (Verifier, Feed, ManualClock) {
    let clock = ManualClock::new(NOW);
    let (verifier, mut feed) =
        Verifier::offline_with_cache(clock.clock(), Duration::from_secs(3), cache_entries, 300);
    feed.use_keys(
        signers
            .iter()
            .map(|s| (s.name.to_owned(), s.alg, s.public.clone())),
    );
    feed.apply(event(Event::Hello(pb::RevocationHello {
        issuer: "authd".into(),
        audience: "authd".into(),
        leeway_seconds: 30,
        max_token_bytes: 8192,
        max_token_lifetime_seconds: 900,
        heartbeat_interval: None,
        resumed: false,
        reset_reason: String::new(),
    })))
    .unwrap();
    for n in 0..ENDED_SESSIONS {
        feed.apply(event(Event::SessionEnded(pb::SessionEnded {
            session_id: uuid(n),
            user_id: uuid(n % 5_000),
            reason: pb::InvalidReason::SessionEnded.into(),
            ended_at: None,
        })))
        .unwrap();
    }
    for n in 0..DISABLED_USERS {
        feed.apply(event(Event::UserChanged(pb::UserChanged {
            user_id: uuid(10_000 + n),
            change: pb::UserChange::Disabled.into(),
            changed_at: None,
        })))
        .unwrap();
    }
    feed.apply(event(Event::SnapshotEnd(pb::SnapshotEnd {
        events: i64::try_from(ENDED_SESSIONS + DISABLED_USERS).unwrap(),
    })))
    .unwrap();
    assert_eq!(verifier.revocations_held(), ENDED_SESSIONS + DISABLED_USERS);
    (verifier, feed, clock)
}

fn bench(c: &mut Criterion) {
    let signers = signers();
    let live_session = uuid(ENDED_SESSIONS + 1);
    let user = uuid(4_999);

    let (cached, _feed, _clock) = verifier(&signers, 100_000);
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    let seen = token(&signers[0], &user, &live_session);
    assert!(cached.verify(&seen).unwrap().principal().is_some());
    group.bench_function("seen_token_with_100k_ended_sessions", |b| {
        b.iter(|| cached.verify(black_box(&seen)).unwrap());
    });
    let ended = token(&signers[0], &user, &uuid(4_999));
    assert!(cached.verify(&ended).unwrap().reason().is_some());
    group.bench_function("seen_token_of_an_ended_session", |b| {
        b.iter(|| cached.verify(black_box(&ended)).unwrap());
    });

    let (uncached, _feed, _clock) = verifier(&signers, 0);
    for signer in &signers {
        let fresh = token(signer, &user, &live_session);
        assert!(uncached.verify(&fresh).unwrap().principal().is_some());
        group.bench_function(format!("first_sight_{}", signer.name), |b| {
            b.iter(|| uncached.verify(black_box(&fresh)).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
