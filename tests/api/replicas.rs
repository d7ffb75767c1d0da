//! Several authd replicas on one PostgreSQL database.

use std::time::{Duration, Instant};

use authd::grpc::pb::{self, InvalidReason};
use sqlx::Connection as _;
use tonic::Request;

use crate::helpers::{AuthdProcess, Backend, PASSWORD, TestApp, TestDb};

async fn two_replicas(trust_bound: Duration) -> (TestApp, TestApp) {
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.clone();
    let a = TestApp::builder_on(db)
        .config(|c| c.server.cache_trust_bound = trust_bound)
        .spawn()
        .await;
    let b = TestApp::builder_on(TestDb::attach(&url))
        .config(|c| {
            c.server.cache_trust_bound = trust_bound;
        })
        .spawn()
        .await;
    (a, b)
}

async fn logout_all_on(app: &TestApp, access_token: &str) {
    let mut request = Request::new(pb::LogoutAllRequest {});
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {access_token}").parse().expect("ascii"),
    );
    app.client
        .clone()
        .logout_all(request)
        .await
        .expect("logout all");
}

/// Polls `app` until `token` is invalid; returns how long it took.
async fn wait_until_invalid(app: &TestApp, token: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let response = app.verify(token).await;
        if !response.valid {
            assert_eq!(
                response.reason(),
                InvalidReason::SessionEnded,
                "{response:?}"
            );
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "still valid on the other replica after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_replica_reaches_the_other() {
    let (a, b) = two_replicas(Duration::from_secs(3)).await;
    a.create_user("alice", &[]).await;
    let login = a.login("alice", PASSWORD).await.expect("login on A");

    let on_b = b.verify(&login.access_token).await;
    assert!(on_b.valid, "a token from A verifies on B");
    b.wait_for_feed().await;
    assert!(b.verify(&login.access_token).await.valid);
    let warm = b.state_cache_misses().await;
    assert!(b.verify(&login.access_token).await.valid);
    assert_eq!(
        b.state_cache_misses().await,
        warm,
        "B answers from its cache"
    );

    logout_all_on(&a, &login.access_token).await;
    // The lag itself is measured by the revocation_lag example; here it only
    // has to arrive well inside the trust bound.
    wait_until_invalid(&b, &login.access_token, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_loses_its_notifications_stops_trusting_its_cache() {
    let bound = Duration::from_secs(1);
    let (a, b) = two_replicas(bound).await;
    a.create_user("alice", &[]).await;
    let login = a.login("alice", PASSWORD).await.expect("login on A");
    b.wait_for_feed().await;
    assert!(b.verify(&login.access_token).await.valid, "warm on B");

    // Cut every LISTEN connection on this database (B's among them).
    let mut admin = sqlx::PgConnection::connect(b.database_url())
        .await
        .expect("connect");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminate listeners");
    assert!(!killed.is_empty(), "found the listeners to cut");

    logout_all_on(&a, &login.access_token).await;
    let lag = wait_until_invalid(&b, &login.access_token, bound + Duration::from_secs(2)).await;
    assert!(lag < bound + Duration::from_secs(2), "took {lag:?}");

    // B recovers by itself: new tokens verify, and from the cache again.
    let fresh = a.login("alice", PASSWORD).await.expect("login");
    assert!(b.verify(&fresh.access_token).await.valid);
    b.wait_for_feed().await;
    assert!(b.verify(&fresh.access_token).await.valid);
    let warm = b.state_cache_misses().await;
    assert!(b.verify(&fresh.access_token).await.valid);
    assert_eq!(
        b.state_cache_misses().await,
        warm,
        "B trusts its cache again"
    );
    assert!(
        b.metric("authd_change_feed_reconnects_total").await >= 1.0,
        "the cut feed shows as a reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_reaches_a_replica_in_another_process() {
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.clone();
    let a = TestApp::builder_on(db).spawn().await;
    a.create_user("alice", &[]).await;
    let b = AuthdProcess::spawn(&url, &[]).await;
    let login = a.login("alice", PASSWORD).await.expect("login on A");
    let verify = || {
        let mut client = b.client.clone();
        let token = login.access_token.clone();
        async move {
            client
                .verify(pb::VerifyRequest { token })
                .await
                .expect("verify on B")
                .into_inner()
        }
    };
    assert!(verify().await.valid, "a token from A verifies on process B");

    logout_all_on(&a, &login.access_token).await;
    let start = Instant::now();
    loop {
        let response = verify().await;
        if !response.valid {
            assert_eq!(response.reason(), InvalidReason::SessionEnded);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "B still says valid"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
