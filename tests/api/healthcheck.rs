//! `authd healthcheck`, the real binary as a container runs it, against a
//! real server: exit 0 only while gRPC health says SERVING, else exit 1 with
//! one line on stderr saying why (nothing listening, PostgreSQL down, a
//! drain, an unknown service, a certificate it cannot trust).

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use tokio_stream::StreamExt as _;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Backend, TestApp, TestDb, authd_command};
use crate::pg_cluster::PgCluster;
use crate::tls::Pki;

/// Runs `authd healthcheck ARGS` with the environment `env` (and no other
/// `AUTHD_*` variable) off the async runtime, so the server in this process
/// keeps answering meanwhile.
async fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = authd_command();
    command.arg("healthcheck").args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run authd healthcheck"))
        .await
        .expect("the healthcheck process")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 1 with exactly one line on stderr, which contains every `words`.
#[track_caller]
fn assert_unhealthy(out: &Output, words: &[&str]) {
    let stderr = stderr(out);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    for word in words {
        assert!(stderr.contains(word), "{word:?} missing from {stderr:?}");
    }
}

#[track_caller]
fn assert_healthy(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_while_authd_serves_for_the_server_and_auth_service() {
    let (_app, addr) = TestApp::builder(Backend::Sqlite).spawn_with_addr().await;
    let target = format!("http://{addr}");
    assert_healthy(&healthcheck(&["--target", &target], &[]).await);
    let out = healthcheck(
        &["--target", &target, "--service", "auth.v1.AuthService"],
        &[],
    )
    .await;
    assert_healthy(&out);
    // The same through the environment, as a container sets it.
    let out = healthcheck(
        &[],
        &[
            ("AUTHD_HEALTHCHECK_TARGET", &target),
            ("AUTHD_HEALTHCHECK_SERVICE", "auth.v1.AuthService"),
        ],
    )
    .await;
    assert_healthy(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_target_healthcheck_asks_the_loopback_form_of_authd_listen() {
    // The image sets AUTHD_LISTEN=0.0.0.0:50051 and runs a bare
    // `authd healthcheck`: 0.0.0.0 becomes 127.0.0.1.
    let (_app, addr) = TestApp::builder(Backend::Sqlite).spawn_with_addr().await;
    let listen = format!("0.0.0.0:{}", addr.port());
    assert_healthy(&healthcheck(&[], &[("AUTHD_LISTEN", &listen)]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_1_naming_the_target_when_nothing_listens() {
    let addr = free_port();
    let target = format!("http://{addr}");
    let out = healthcheck(&["--target", &target], &[]).await;
    assert_unhealthy(&out, &[&target, "cannot connect", "refused"]);

    // Without --target, the default (AUTHD_LISTEN's port) is named.
    let listen = format!("0.0.0.0:{}", addr.port());
    let out = healthcheck(&[], &[("AUTHD_LISTEN", &listen)]).await;
    assert_unhealthy(&out, &[&format!("http://127.0.0.1:{}", addr.port())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_1_when_authd_is_not_serving_because_postgres_is_down() {
    let mut cluster = PgCluster::start();
    cluster.stop();
    let (app, addr) = TestApp::builder_on(TestDb::attach(&cluster.url()))
        .config(|c| c.admin.store.database_acquire_timeout = Duration::from_millis(500))
        .spawn_with_addr()
        .await;
    let target = format!("http://{addr}");
    let out = healthcheck(&["--target", &target], &[]).await;
    assert_unhealthy(&out, &[&target, "NOT_SERVING"]);
    let out = healthcheck(
        &["--target", &target, "--service", "auth.v1.AuthService"],
        &[],
    )
    .await;
    assert_unhealthy(&out, &["auth.v1.AuthService", "NOT_SERVING"]);

    // Once PostgreSQL is back, the same check passes (bounded wait).
    cluster.start_again();
    let start = Instant::now();
    loop {
        let out = healthcheck(&["--target", &target], &[]).await;
        if out.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "authd never became healthy again: {}",
            stderr(&out)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_1_while_authd_drains_on_shutdown() {
    let (mut app, addr) = TestApp::builder(Backend::Sqlite).spawn_with_addr().await;
    let target = format!("http://{addr}");
    assert_healthy(&healthcheck(&["--target", &target], &[]).await);

    // A health watch is an open call, so the drain waits for it (up to the
    // shutdown grace) and the server is still there, stopping.
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.next().await.expect("first").expect("ok");
    assert_eq!(first.status(), ServingStatus::Serving);
    let server = app.begin_shutdown();
    let next = watch.next().await.expect("an update").expect("ok");
    assert_eq!(next.status(), ServingStatus::NotServing);

    let out = healthcheck(&["--target", &target, "--timeout", "1s"], &[]).await;
    assert_unhealthy(&out, &[&target]);

    drop(watch);
    drop(health);
    server.await.expect("join").expect("clean stop");
    let out = healthcheck(&["--target", &target, "--timeout", "1s"], &[]).await;
    assert_unhealthy(&out, &[&target, "cannot connect"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_1_for_a_service_authd_does_not_have() {
    let (_app, addr) = TestApp::builder(Backend::Sqlite).spawn_with_addr().await;
    let out = healthcheck(
        &[
            "--target",
            &format!("http://{addr}"),
            "--service",
            "no.such.Service",
        ],
        &[],
    )
    .await;
    assert_unhealthy(&out, &["no.such.Service", "NotFound"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_over_tls_trusts_only_the_given_ca() {
    let pki = Pki::new();
    let (_app, addr) = TestApp::builder(Backend::Sqlite)
        .config(|c| c.tls = pki.server_settings(false))
        .endpoint(|addr| {
            tonic::transport::Channel::from_shared(format!("https://{addr}"))
                .expect("a valid URI")
                .tls_config(
                    tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(
                            std::fs::read(pki.path("ca.pem")).expect("the CA"),
                        ))
                        .domain_name("localhost"),
                )
                .expect("client TLS settings")
        })
        .spawn_with_addr()
        .await;
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().expect("a UTF-8 path");
    let https = format!("https://{addr}");

    // The certificate names 127.0.0.1 and localhost: either check passes.
    assert_healthy(&healthcheck(&["--target", &https, "--tls-ca", ca], &[]).await);
    let out = healthcheck(
        &[
            "--target",
            &https,
            "--tls-ca",
            ca,
            "--tls-domain",
            "localhost",
        ],
        &[],
    )
    .await;
    assert_healthy(&out);
    // As the image would run it: AUTHD_LISTEN and the CA from the environment.
    let listen = format!("0.0.0.0:{}", addr.port());
    let out = healthcheck(
        &[],
        &[("AUTHD_LISTEN", &listen), ("AUTHD_HEALTHCHECK_TLS_CA", ca)],
    )
    .await;
    assert_healthy(&out);

    // Another CA, a name the certificate lacks, or plaintext: all refused.
    pki.ca("other");
    let other = pki.path("other.pem");
    let out = healthcheck(
        &[
            "--target",
            &https,
            "--tls-ca",
            other.to_str().expect("UTF-8"),
            "--timeout",
            "2s",
        ],
        &[],
    )
    .await;
    assert_unhealthy(&out, &[&https, "cannot connect"]);
    let out = healthcheck(
        &[
            "--target",
            &https,
            "--tls-ca",
            ca,
            "--tls-domain",
            "elsewhere.test",
            "--timeout",
            "2s",
        ],
        &[],
    )
    .await;
    assert_unhealthy(&out, &[&https, "cannot connect"]);
    let out = healthcheck(
        &["--target", &format!("http://{addr}"), "--timeout", "2s"],
        &[],
    )
    .await;
    assert_unhealthy(&out, &[&format!("http://{addr}")]);
    // An https target without a CA says what to add.
    let out = healthcheck(&["--target", &https], &[]).await;
    assert_unhealthy(&out, &["--tls-ca"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_refuses_a_target_without_a_scheme_saying_how_to_write_one() {
    let out = healthcheck(&["--target", "127.0.0.1:50051"], &[]).await;
    assert_unhealthy(&out, &["http://HOST:PORT"]);
}

/// A loopback address nothing listens on (bound, then released).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("an address")
}
