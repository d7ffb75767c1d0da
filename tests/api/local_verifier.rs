//! The Rust local verifier (`clients/rust`, crate `authd-client`) against
//! the real server: the same answers as Verify, revocations within
//! milliseconds across replicas, fail closed when the server is gone, and
//! its tower layer.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use authd::clock::now_unix;
use authd::grpc::pb;
use authd::grpc::pb::admin_service_client::AdminServiceClient;
use authd_client::{AuthLayer, Credentials, Principal, Verdict, Verifier};
use tonic::transport::Endpoint;

use crate::helpers::{Backend, TestApp, TestDb, with_bearer};

/// A service account's client id and secret, made by an admin.
async fn service_account(app: &TestApp, name: &str) -> (String, String) {
    app.create_user(&format!("{name}-admin"), &["admin"]).await;
    let admin = app.token_for(&format!("{name}-admin")).await;
    let created = AdminServiceClient::new(app.channel.clone())
        .create_service_account(with_bearer(
            pb::CreateServiceAccountRequest {
                name: name.to_owned(),
                description: "local verifier".to_owned(),
                roles: vec![],
            },
            &admin,
        ))
        .await
        .expect("create a service account")
        .into_inner();
    (created.client_id, created.client_secret)
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}")).expect("a URI")
}

/// A verifier of `app` at `addr`, authenticated as a new service account.
async fn verifier_of(app: &TestApp, addr: SocketAddr) -> Verifier {
    let (id, secret) = service_account(app, "verifier").await;
    Verifier::connect(endpoint(addr), Credentials::service_account(id, secret))
        .await
        .expect("the verifier connects")
}

/// What the local verifier answers, in the server's reason names.
fn local_answer(verifier: &Verifier, token: &str) -> Result<&'static str, String> {
    match verifier.verify(token) {
        Ok(Verdict::Valid(_)) => Ok("VALID"),
        Ok(Verdict::Invalid(reason)) => Ok(reason.name()),
        Err(unavailable) => Err(unavailable.to_string()),
    }
}

/// What the server's Verify answers, in the same names.
fn server_answer(response: &pb::VerifyResponse) -> &'static str {
    if response.valid {
        return "VALID";
    }
    response
        .reason()
        .as_str_name()
        .strip_prefix("INVALID_REASON_")
        .expect("a reason name")
}

/// Polls `verifier` until it answers `want` for `token`, for at most `limit`.
async fn until_answer(verifier: &Verifier, token: &str, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if local_answer(verifier, token).as_deref() == Ok(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "the local verifier did not answer {want} within {limit:?}: {:?}",
            local_answer(verifier, token)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The example binary, built next to this test binary by
/// `cargo test --workspace` (or `cargo build -p authd-client --example verify`).
fn example_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps/..");
    let path = profile_dir.join("examples").join("verify");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p authd-client --example verify` \
         (`cargo test --workspace` builds it too)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_prints_valid_then_session_ended_soon_after_a_logout_all_on_another_replica() {
    let (one, addr) = TestApp::builder(Backend::Postgres).spawn_with_addr().await;
    let two = one.spawn_replica(|_| {}).await;
    one.wait_for_feed().await;
    two.wait_for_feed().await;
    let (client_id, secret) = service_account(&one, "example").await;
    let alice = one.create_user("alice", &[]).await;
    let token = one.token_for("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();

    let mut child = std::process::Command::new(example_binary())
        .args(["--endpoint", &format!("http://{addr}")])
        .args(["--client-id", &client_id])
        .arg("--client-secret-file")
        .arg(&secret_file)
        .args(["--token", &token, "--for", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start the example");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(20), lines.recv())
            .await
            .expect("a line from the example within 20 s")
            .expect("the example is still running")
    };
    let (first, _) = next_line().await;
    assert_eq!(first, format!("valid {}", alice.id));

    two.client
        .clone()
        .logout_all(with_bearer(pb::LogoutAllRequest {}, &token))
        .await
        .expect("LogoutAll through the other replica");
    let revoked_at = Instant::now();
    let (second, printed_at) = next_line().await;
    let lag = printed_at.saturating_duration_since(revoked_at);
    match revoked_at.checked_duration_since(printed_at) {
        // The stream can beat LogoutAll's own answer back to the caller.
        Some(ahead) if !ahead.is_zero() => println!(
            "revocation lag to the example: printed {} µs before LogoutAll returned",
            ahead.as_micros()
        ),
        _ => println!("revocation lag to the example: {} µs", lag.as_micros()),
    }
    assert_eq!(second, "invalid SESSION_ENDED");
    assert!(lag < Duration::from_secs(1), "lag {lag:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_verifier_answers_every_token_attack_as_the_server_does() {
    let kit = crate::token_attacks::kit(Backend::Sqlite).await;
    kit.app.create_user("root", &["admin"]).await;
    let admin = kit.app.token_for("root").await;
    let verifier = Verifier::builder_on(kit.app.channel.clone(), Credentials::bearer(admin))
        .connect()
        .await
        .expect("the verifier connects");
    let attacks = kit.all_attacks();
    assert!(attacks.len() > 50, "the whole list: {}", attacks.len());
    let real = kit.token.clone();
    for (name, token) in attacks
        .into_iter()
        .map(|a| (a.name, a.token))
        .chain([("the real token".to_owned(), real)])
    {
        // Over the gRPC message limit Verify is never reached; the
        // service's own answer is the server's verdict then.
        let server = if token.len() > 60 * 1024 {
            match kit.app.core.verify(&token, now_unix()).await.unwrap() {
                authd::service::Verification::Invalid(reason) => reason.name(),
                other => panic!("{name}: {other:?}"),
            }
        } else {
            server_answer(&kit.app.verify(&token).await)
        };
        let local = local_answer(&verifier, &token).expect("available");
        assert_eq!(local, server, "{name}");
        // Twice: a token already seen is answered alike.
        assert_eq!(
            local_answer(&verifier, &token).unwrap(),
            server,
            "{name}, again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_turns_the_verifier_unavailable_and_after_a_restart_nothing_is_missed() {
    // Replica one, on a port it gets again after its restart; replica two
    // stays up and takes the revocation made while one is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut one = TestApp::builder(Backend::Postgres)
        .config(move |c| c.server.listen = port)
        .spawn()
        .await;
    let two = one.spawn_replica(|_| {}).await;
    one.wait_for_feed().await;
    two.wait_for_feed().await;
    let (id, secret) = service_account(&one, "verifier").await;
    one.create_user("alice", &[]).await;
    let kept = one.token_for("alice").await;
    let ended = one.token_for("alice").await;
    let staleness = Duration::from_secs(1);
    let verifier = Verifier::builder(endpoint(port), Credentials::service_account(id, secret))
        .staleness(staleness)
        .backoff_max(Duration::from_millis(200))
        .connect()
        .await
        .expect("the verifier connects");
    assert_eq!(local_answer(&verifier, &kept), Ok("VALID"));

    let stopped = Instant::now();
    let server = one.begin_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    let unavailable_after = loop {
        if verifier.verify(&kept).is_err() {
            break stopped.elapsed();
        }
        assert!(
            stopped.elapsed() < staleness + Duration::from_secs(2),
            "still answering {:?} {:?} after the server stopped",
            local_answer(&verifier, &kept),
            stopped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!(
        "unavailable {} ms after the server stopped",
        unavailable_after.as_millis()
    );
    assert!(
        local_answer(&verifier, "garbage").is_err(),
        "no answer at all"
    );

    // Made while replica one is down.
    let session = two.verify(&ended).await.claims.unwrap().sid;
    two.client
        .clone()
        .logout(with_bearer(pb::LogoutRequest::default(), &ended))
        .await
        .expect("Logout through replica two");
    assert!(!two.verify(&ended).await.valid, "{session} ended");

    let _restarted = TestApp::builder_on(TestDb::attach(one.database_url()))
        .config(move |c| c.server.listen = port)
        .spawn()
        .await;
    until_answer(&verifier, &kept, "VALID", Duration::from_secs(15)).await;
    assert_eq!(
        local_answer(&verifier, &ended),
        Ok("SESSION_ENDED"),
        "the revocation made while the server was down is honoured"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_retired_while_the_verifier_holds_its_tokens_makes_them_unknown_like_the_server() {
    let (app, addr) = TestApp::builder(Backend::Sqlite)
        .config(|c| c.signing.key_prepublish = Duration::from_secs(60))
        .spawn_with_addr()
        .await;
    app.wait_for_feed().await;
    app.create_user("alice", &[]).await;
    let old_token = app.token_for("alice").await;
    let verifier = verifier_of(&app, addr).await;
    assert_eq!(local_answer(&verifier, &old_token), Ok("VALID"));

    // Rotate, let the new key sign, then retire the old one (every token
    // it signed has expired by the key manager's clock).
    let t0 = now_unix();
    app.keys.rotate(t0).await.expect("rotate");
    app.keys.maintain(t0 + 60).await.expect("the new key signs");
    let new_token = app.token_for("alice").await;
    app.keys
        .maintain(t0 + 60 + 900 + 10 + 30)
        .await
        .expect("the old key retires");
    assert_eq!(server_answer(&app.verify(&old_token).await), "UNKNOWN_KEY");
    until_answer(&verifier, &old_token, "UNKNOWN_KEY", Duration::from_secs(5)).await;
    until_answer(&verifier, &new_token, "VALID", Duration::from_secs(5)).await;
    assert_eq!(server_answer(&app.verify(&new_token).await), "VALID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_refuses_requests_without_a_good_token_and_hands_on_the_principal() {
    use tower::ServiceExt as _;
    let (app, addr) = TestApp::builder(Backend::Sqlite).spawn_with_addr().await;
    app.wait_for_feed().await;
    let alice = app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let verifier = verifier_of(&app, addr).await;

    // Plain HTTP: an axum-style service behind the layer.
    let inner = tower::service_fn(|request: http::Request<String>| async move {
        let principal = request.extensions().get::<Principal>().cloned();
        Ok::<_, std::convert::Infallible>(http::Response::new(
            principal.map(|p| p.id().to_owned()).unwrap_or_default(),
        ))
    });
    let service = tower::ServiceBuilder::new()
        .layer(AuthLayer::new(verifier.clone()))
        .service(inner);
    let call = |authorization: Option<&str>, grpc: bool| {
        let mut request = http::Request::builder().uri("/");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        if grpc {
            request = request.header("content-type", "application/grpc");
        }
        let request = request.body(String::new()).unwrap();
        let service = service.clone();
        async move { service.oneshot(request).await.unwrap() }
    };
    let good = format!("Bearer {token}");
    let ok: http::Response<String> = call(Some(&good), false).await;
    assert_eq!(ok.status(), http::StatusCode::OK);
    assert_eq!(ok.body(), &alice.id, "the principal is in the extensions");
    for bad in [
        None,
        Some("Bearer not.a.token"),
        Some("bearer x.y.z"),
        Some("Basic YTpi"),
    ] {
        let refused: http::Response<String> = call(bad, false).await;
        assert_eq!(refused.status(), http::StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(
            refused.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        assert!(refused.body().is_empty());
        let grpc: http::Response<String> = call(bad, true).await;
        assert_eq!(
            grpc.status(),
            http::StatusCode::OK,
            "gRPC: a trailers-only answer"
        );
        assert_eq!(grpc.headers()["grpc-status"], "16", "UNAUTHENTICATED");
    }

    // A revoked token: refused too, once the revocation arrives.
    app.client
        .clone()
        .logout_all(with_bearer(pb::LogoutAllRequest {}, &token))
        .await
        .unwrap();
    until_answer(&verifier, &token, "SESSION_ENDED", Duration::from_secs(5)).await;
    let refused: http::Response<String> = call(Some(&good), false).await;
    assert_eq!(refused.status(), http::StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_server_behind_the_layer_answers_unauthenticated_without_a_token() {
    let (app, addr) = TestApp::builder(Backend::Sqlite).spawn_with_addr().await;
    app.wait_for_feed().await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let verifier = verifier_of(&app, addr).await;

    // Any tonic service will do: gRPC health, behind the layer.
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let guarded = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(AuthLayer::new(verifier))
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = endpoint(guarded).connect().await.unwrap();
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = || tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    };
    let refused = client.check(request()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let refused = client
        .check(with_bearer(request(), "not.a.token"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    client
        .check(with_bearer(request(), &token))
        .await
        .expect("a good token gets through");
    server.abort();
}
