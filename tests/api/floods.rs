//! Floods against the real binary in its own process, so its memory can be
//! read from `/proc`: a thousand concurrent logins are shed at once and
//! cost no more memory than the hashing permits allow; a flood of distinct
//! invalid tokens does not grow memory.
//!
//! Latency under a flood (Verify p99 while logins flood, within 2x idle) is
//! a benchmark, not a test: `authd-load --scenario mixed`, figures in
//! docs/performance.md.

use std::time::{Duration, Instant};

use authd::grpc::pb;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tonic::Code;

use crate::helpers::{AuthdProcess, Backend, TestDb};

/// OWASP's Argon2id memory cost, the default, in KiB.
const ARGON2_MEMORY_KIB: u64 = 19_456;
const HASH_PERMITS: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_logins_are_shed_at_once_within_the_hashing_memory_budget() {
    let db = TestDb::new(Backend::Sqlite).await;
    let authd = AuthdProcess::spawn(
        &db.url,
        &[
            "--hash-concurrency",
            "2",
            // Queued logins could wait this long; shed ones must not.
            "--hash-queue-timeout",
            "5s",
        ],
    )
    .await;
    let (base_rss, _) = authd.memory_kib();

    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(authd.connect().await);
    }
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let mut client = clients[i % clients.len()].clone();
            tokio::spawn(async move {
                let start = Instant::now();
                // Unknown users: each still costs a (dummy) hash.
                let result = client
                    .login(pb::LoginRequest {
                        username: format!("flood-{i}"),
                        password: "not a real password".to_owned(),
                    })
                    .await;
                (result.map(drop), start.elapsed())
            })
        })
        .collect();
    let mut shed = Vec::new();
    let mut checked = 0;
    for call in calls {
        let (result, elapsed) = call.await.expect("task");
        match result {
            Err(status) if status.code() == Code::ResourceExhausted => shed.push(elapsed),
            Err(status) if status.code() == Code::Unauthenticated => checked += 1,
            other => panic!("a flood login got {other:?}"),
        }
    }
    let (_, peak_rss) = authd.memory_kib();

    assert!(
        shed.len() >= 500,
        "most of the flood is shed: {} shed, {checked} checked",
        shed.len()
    );
    shed.sort();
    let median = shed[shed.len() / 2];
    // Queued, they would wait up to the 5 s queue timeout. This is the
    // debug build answering a burst of 1000 on two cores; the release
    // figures (p50 2 ms, p99 58 ms under a sustained flood) come from
    // `authd-load --scenario mixed` (docs/performance.md).
    assert!(
        median < Duration::from_secs(1),
        "shed logins are answered at once, not after queueing: median {median:?}"
    );
    // The permits bound the Argon2 memory; the rest (1000 requests in
    // flight, buffers, allocator slack) is a modest base.
    let budget = base_rss + HASH_PERMITS * ARGON2_MEMORY_KIB + 48 * 1024;
    assert!(
        peak_rss <= budget,
        "peak RSS {peak_rss} KiB over {budget} KiB (base {base_rss} KiB + {HASH_PERMITS} x \
         {ARGON2_MEMORY_KIB} KiB + 48 MiB)"
    );
}

/// A token that parses, names the server's real key and has a unique
/// payload, with a signature that is wrong: it reaches signature checking.
fn distinct_invalid_token(kid: &str, i: usize) -> String {
    let header = format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#);
    let claims = format!(
        r#"{{"sub":"u-{i}","sid":"s-{i}","jti":"j-{i}","iat":1,"exp":9999999999,"iss":"authd"}}"#
    );
    let salt = u8::try_from(i % 256).expect("below 256");
    let signature: Vec<u8> = (0..64u8).map(|b| b ^ salt).collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

async fn verify_flood(authd: &AuthdProcess, kid: &str, range: std::ops::Range<usize>) {
    let client = authd.client.clone();
    let chunk: Vec<usize> = range.collect();
    for batch in chunk.chunks(100) {
        let calls: Vec<_> = batch
            .iter()
            .map(|&i| {
                let mut client = client.clone();
                let token = distinct_invalid_token(kid, i);
                tokio::spawn(async move {
                    client
                        .verify(pb::VerifyRequest { token })
                        .await
                        .expect("Verify answers")
                        .into_inner()
                })
            })
            .collect();
        for call in calls {
            assert!(
                !call.await.expect("task").valid,
                "an invalid token verified"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_invalid_tokens_does_not_grow_memory() {
    let db = TestDb::new(Backend::Sqlite).await;
    let authd = AuthdProcess::spawn(&db.url, &[]).await;
    let jwks = authd
        .client
        .clone()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .expect("GetJwks")
        .into_inner();
    let kid = jwks.keys.first().expect("a published key").kid.clone();

    // Warm up: connection buffers, allocator arenas, metrics.
    verify_flood(&authd, &kid, 0..5_000).await;
    let (warm_rss, _) = authd.memory_kib();
    verify_flood(&authd, &kid, 5_000..30_000).await;
    let (after_rss, _) = authd.memory_kib();

    let growth = after_rss.saturating_sub(warm_rss);
    assert!(
        growth <= 16 * 1024,
        "25 000 more distinct invalid tokens grew RSS by {growth} KiB ({warm_rss} -> {after_rss} KiB)"
    );
}
