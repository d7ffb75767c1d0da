//! Server limits: message size, the request timeout and the caller's
//! `grpc-timeout`, and what a cancelled call gives back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::config::Argon2Config;
use authd::grpc::pb;
use tonic::{Code, Request};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_code, spawn_app};

/// Argon2 slow enough (hundreds of milliseconds) that a test can act while
/// one hash runs.
const SLOW_HASH: Argon2Config = Argon2Config {
    memory_kib: 128 * 1024,
    iterations: 4,
    parallelism: 1,
};

fn slow_hash(c: &mut authd::Config) {
    c.password.argon2_memory_kib = SLOW_HASH.memory_kib;
    c.password.argon2_iterations = SLOW_HASH.iterations;
    c.password.argon2_parallelism = SLOW_HASH.parallelism;
}

/// Polls `done` every few milliseconds for at most `limit`.
async fn eventually(limit: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done().await
}

async fn login_with_deadline(
    app: &TestApp,
    username: &str,
    deadline: Duration,
) -> Result<pb::LoginResponse, tonic::Status> {
    let mut request = Request::new(pb::LoginRequest {
        username: username.to_owned(),
        password: PASSWORD.to_owned(),
    });
    request.set_timeout(deadline);
    app.client
        .clone()
        .login(request)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_message_limit_is_refused_before_it_is_read() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_user("alice", &[]).await;
    let runs_before = app.hash_runs().await;

    // 100 KiB: over the 64 KiB default.
    let status = assert_code(
        app.login("alice", &"x".repeat(100 * 1024)).await,
        Code::OutOfRange,
    );
    assert!(
        status.message().contains("limit is: 65536 bytes"),
        "the message names the limit: {}",
        status.message()
    );
    let status = assert_code(
        app.client
            .clone()
            .verify(pb::VerifyRequest {
                token: "e".repeat(100 * 1024),
            })
            .await,
        Code::OutOfRange,
    );
    assert!(status.message().contains("too large"), "{status:?}");
    assert_eq!(app.hash_runs().await, runs_before, "nothing was hashed");
    app.login("alice", PASSWORD)
        .await
        .expect("the connection and server still serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_limit_is_configurable() {
    let app = TestApp::builder(Backend::Sqlite)
        .config(|c| c.server.max_message_bytes = 8192)
        .spawn()
        .await;
    let status = assert_code(
        app.client
            .clone()
            .verify(pb::VerifyRequest {
                token: "e".repeat(10 * 1024),
            })
            .await,
        Code::OutOfRange,
    );
    assert!(
        status.message().contains("limit is: 8192 bytes"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_request_timeout_cancels_a_call_that_runs_too_long() {
    let app = TestApp::builder(Backend::Sqlite)
        .config(|c| {
            slow_hash(c);
            c.server.request_timeout = Duration::from_millis(100);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;

    let start = Instant::now();
    // No deadline from the caller: the server's own limit applies.
    let status = assert_code(app.login("alice", PASSWORD).await, Code::Cancelled);
    assert!(status.message().contains("Timeout expired"), "{status:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "cancelled at the limit, not after the hash: {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_deadline_cancels_a_login_waiting_for_a_hashing_permit_and_frees_its_place() {
    let app = Arc::new(
        TestApp::builder(Backend::Sqlite)
            .config(|c| {
                slow_hash(c);
                c.password.hash_concurrency = 1;
                c.password.hash_queue_timeout = Duration::from_secs(30);
            })
            .spawn()
            .await,
    );
    app.create_user("alice", &[]).await;
    let runs_before = app.hash_runs().await;

    // A holds the only permit for one slow hash...
    let first = {
        let app = Arc::clone(&app);
        tokio::spawn(async move { app.login("alice", PASSWORD).await })
    };
    assert!(
        eventually(Duration::from_secs(10), async || app
            .hash_permits_in_use()
            .await
            == 1)
        .await,
        "the first login started hashing"
    );
    // ...so B waits in the queue until its 50 ms deadline passes.
    let status = assert_code(
        login_with_deadline(&app, "alice", Duration::from_millis(50)).await,
        Code::Cancelled,
    );
    assert!(status.message().contains("Timeout expired"), "{status:?}");
    assert!(
        eventually(Duration::from_secs(1), async || app
            .hash_queue_depth()
            .await
            == 0)
        .await,
        "B left the queue when it was cancelled"
    );
    assert_eq!(
        app.hash_permits_in_use().await,
        1,
        "A's hash was still running when B gave up (else this test proves nothing)"
    );

    first.await.expect("task").expect("A's login succeeds");
    assert_eq!(
        app.hash_runs().await,
        runs_before + 1,
        "the cancelled login never hashed"
    );
    assert!(
        eventually(Duration::from_secs(5), async || app
            .hash_permits_in_use()
            .await
            == 0)
        .await,
        "every permit is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_cancelled_while_hashing_returns_its_permit_when_the_hash_ends() {
    let app = TestApp::builder(Backend::Sqlite)
        .config(|c| {
            slow_hash(c);
            c.password.hash_concurrency = 1;
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    // The deadline passes while the hash runs (it cannot be interrupted).
    assert_code(
        login_with_deadline(&app, "alice", Duration::from_millis(30)).await,
        Code::Cancelled,
    );
    assert!(
        eventually(Duration::from_secs(60), async || app
            .hash_permits_in_use()
            .await
            == 0)
        .await,
        "the permit came back once the abandoned hash finished"
    );
    app.login("alice", PASSWORD)
        .await
        .expect("the next login gets the permit");
}
