//! Micro-benchmarks of Verify's CPU work, so regressions show up in review.
//!
//! - `verify/<alg>`: [`TokenService::verify`] of a valid token, per signing
//!   algorithm, with the verified-token cache off (header and claims
//!   parsing, key lookup, signature check, time checks). Keys are generated
//!   exactly as authd generates them ([`keys::generate`], [`KeySet::hs256`]).
//! - `verify_cached/EdDSA`: the same call answered by the verified-token cache.
//! - `cache/lookup_hit`, `cache/lookup_miss`: the cache alone.
//! - `convert/...`: building the `VerifyResponse` from the user and claims
//!   (the adapter's share of a valid Verify), and encoding it with prost.
//!
//! No database and no network: the store and the gRPC transport are measured
//! by the load tool, not here. Run with
//! `cargo bench --bench verify` (see the README, "Micro-benchmarks").

// Benchmark set-up fails loudly: a broken precondition is a bug, not a figure.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use authd::clock::now_unix;
use authd::grpc::{convert, pb};
use authd::store::KeyState;
use authd::token::keys::{self, KeySet};
use authd::token::{Claims, TokenService};
use authd::user::User;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use prost::Message as _;

/// A user like one Login returns: a few roles, an email, a last login.
fn sample_user() -> User {
    User {
        id: "0192f4a0-7c1e-7d3a-9a51-3c2b1e0f4d77".to_owned(),
        username: "alice".to_owned(),
        email: Some("alice@example.com".to_owned()),
        active: true,
        roles: vec!["admin".to_owned(), "billing".to_owned(), "user".to_owned()],
        created_at: 1_700_000_000,
        last_login_at: Some(1_700_000_500),
        external_id: Some("42".to_owned()),
    }
}

/// A token service with authd's default issuer, audience, TTL and leeway
/// over a fresh key set of `algorithm`.
fn token_service(algorithm: Algorithm) -> TokenService {
    let keys = if algorithm == Algorithm::HS256 {
        KeySet::hs256(b"a-benchmark-hs256-secret-of-48-bytes-0123456789ab")
    } else {
        keys::generate(algorithm, KeyState::Current, now_unix())
            .and_then(|key| KeySet::from_stored(&[key]))
    }
    .expect("a key set");
    TokenService::new(
        Arc::new(keys),
        "authd".to_owned(),
        "authd".to_owned(),
        Duration::from_secs(15 * 60),
        Duration::from_secs(10),
    )
    .with_verified_cache(0, Duration::ZERO)
}

fn token_verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    let user = sample_user();
    for algorithm in [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
        Algorithm::HS256,
    ] {
        let tokens = token_service(algorithm);
        let now = now_unix();
        let issued = tokens
            .issue(&user, "0192f4a0-session", now + 7 * 86_400, now)
            .expect("a signed token");
        // Fails the run instead of timing a rejection.
        tokens.verify(&issued.token, now).expect("a valid token");
        group.bench_function(keys::alg_name(algorithm), |b| {
            b.iter(|| tokens.verify(black_box(&issued.token), black_box(now)));
        });
    }
    group.finish();
}

fn response_conversion(c: &mut Criterion) {
    let mut group = c.benchmark_group("convert");
    let user = sample_user();
    let now = now_unix();
    let claims: Claims = token_service(Algorithm::HS256)
        .issue(&user, "0192f4a0-session", now + 7 * 86_400, now)
        .expect("a signed token")
        .claims;
    let response = |user: User, claims: Claims| pb::VerifyResponse {
        valid: true,
        reason: pb::InvalidReason::Unspecified.into(),
        user: Some(convert::user(user)),
        claims: Some(convert::claims(claims)),
        service_account: None,
        principal_type: pb::PrincipalType::User.into(),
    };

    // The inputs are moved into the conversion, as in the handler; their
    // clones are made outside the timed part.
    group.bench_function("user", |b| {
        b.iter_batched(|| user.clone(), convert::user, BatchSize::SmallInput);
    });
    group.bench_function("claims", |b| {
        b.iter_batched(|| claims.clone(), convert::claims, BatchSize::SmallInput);
    });
    group.bench_function("verify_response", |b| {
        b.iter_batched(
            || (user.clone(), claims.clone()),
            |(user, claims)| response(user, claims),
            BatchSize::SmallInput,
        );
    });
    let built = response(user.clone(), claims.clone());
    group.bench_function("verify_response_encode", |b| {
        b.iter(|| black_box(&built).encode_to_vec());
    });
    group.finish();
}

fn cache_lookup(c: &mut Criterion) {
    let user = sample_user();
    let now = now_unix();
    let tokens =
        token_service(Algorithm::EdDSA).with_verified_cache(100_000, Duration::from_secs(300));
    let issued = tokens
        .issue(&user, "0192f4a0-session", now + 7 * 86_400, now)
        .expect("a signed token");
    tokens.verify(&issued.token, now).expect("a valid token");
    let mut group = c.benchmark_group("verify_cached");
    group.bench_function("EdDSA", |b| {
        b.iter(|| tokens.verify(black_box(&issued.token), black_box(now)));
    });
    group.finish();

    let cache = authd::token::verified::VerifiedTokens::new(100_000, 300);
    let claims = Arc::new(issued.claims.clone());
    for i in 0..10_000 {
        cache.put(
            &format!("{}{i}", issued.token),
            Arc::clone(&claims),
            "kid",
            now + 900,
            now,
        );
    }
    cache.put(&issued.token, claims, "kid", now + 900, now);
    let mut group = c.benchmark_group("cache");
    group.bench_function("lookup_hit", |b| {
        b.iter(|| cache.get(black_box(&issued.token), black_box(now)));
    });
    group.bench_function("lookup_miss", |b| {
        b.iter(|| cache.get(black_box("not-a-cached-token"), black_box(now)));
    });
    group.finish();
}

criterion_group!(
    benches,
    token_verification,
    cache_lookup,
    response_conversion
);
criterion_main!(benches);
