//! The HTTP listener: JWKS, discovery, health and metrics, over real HTTP/1.1.

use std::net::SocketAddr;

use authd::grpc::pb;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};

on_both_backends!(
    healthz_and_readyz_answer,
    jwks_is_served_with_cache_control_and_matches_get_jwks,
    openid_configuration_names_the_issuer_the_jwks_and_the_algorithm,
    metrics_expose_rpc_login_hashing_and_key_series_after_a_few_calls,
    hs256_publishes_no_keys,
    the_http_listener_can_be_turned_off,
    readyz_says_shutting_down_through_the_drain_and_the_listener_stops_after_it,
);

/// A response: status code, lower-cased headers, body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// `GET path` on `addr` with `Connection: close`: a minimal HTTP/1.1 client,
/// enough for these endpoints (the server sends Content-Length).
pub async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    send(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

/// Sends `request` (a whole HTTP/1.1 request, which should ask for
/// `Connection: close`) to `addr` and reads the answer.
pub async fn send(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect over HTTP");
    stream.write_all(request).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The app's HTTP address.
pub fn http(app: &TestApp) -> SocketAddr {
    app.http_addr.expect("the HTTP listener is on")
}

/// Readiness is the one holder of "stopping": once shutdown begins, gRPC
/// health and `/readyz` both say so, the HTTP listener answers through the
/// whole gRPC drain, and once `run_until_stopped` returns the supervisor has
/// stopped it with every other task.
async fn readyz_says_shutting_down_through_the_drain_and_the_listener_stops_after_it(
    backend: Backend,
) {
    use tokio_stream::StreamExt as _;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    // The open health stream keeps the drain going until the grace is over.
    let grace = std::time::Duration::from_millis(100);
    let mut app = TestApp::builder(backend)
        .config(move |c| c.server.shutdown_grace = grace)
        .spawn()
        .await;
    let addr = http(&app);
    assert_eq!(get(addr, "/readyz").await.status, 200);
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
    let ready = get(addr, "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body, "shutting down\n");

    server.await.expect("join").expect("clean stop");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the HTTP listener is stopped once authd has stopped"
    );
}

async fn healthz_and_readyz_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = get(http(&app), "/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, "ok\n");
    let ready = get(http(&app), "/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);

    // With the database gone, authd is alive but not ready.
    app.core.accounts().store().close().await;
    let ready = get(http(&app), "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(get(http(&app), "/healthz").await.status, 200);
    assert_eq!(get(http(&app), "/nope").await.status, 404);
}

async fn jwks_is_served_with_cache_control_and_matches_get_jwks(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = get(http(&app), "/.well-known/jwks.json").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=300")
    );
    let jwks = response.json();
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(
        key["kid"],
        app.core.tokens().keys().signing().unwrap().kid.as_str()
    );
    assert!(key.get("d").is_none(), "never a private member: {key}");

    let grpc = app
        .client
        .clone()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .expect("GetJwks")
        .into_inner();
    assert_eq!(
        grpc.jwks_json, response.body,
        "the same set on both transports"
    );
    assert_eq!(grpc.keys.len(), 1);
    assert_eq!(grpc.keys[0].kid, key["kid"].as_str().unwrap());
    assert_eq!(grpc.keys[0].x, key["x"].as_str().unwrap());
    assert_eq!(grpc.keys[0].status, "current");
}

async fn openid_configuration_names_the_issuer_the_jwks_and_the_algorithm(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.signing.signing_algorithm = authd::config::Algorithm::Es256;
        })
        .spawn()
        .await;
    let response = get(http(&app), "/.well-known/openid-configuration").await;
    assert_eq!(response.status, 200);
    let doc = response.json();
    assert_eq!(doc["issuer"], "authd");
    assert_eq!(
        doc["jwks_uri"],
        format!("http://{}/.well-known/jwks.json", http(&app))
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "ES256");
    // Built from the Host header: no shared cache may hand it to another client.
    assert_eq!(response.header("vary"), Some("host"));
    assert_eq!(
        response.header("cache-control"),
        Some("private, max-age=300")
    );

    // With a URL issuer, the JWKS is named under it.
    let app = TestApp::builder(backend)
        .config(|c| {
            c.token.issuer = "https://auth.example.com/".into();
        })
        .spawn()
        .await;
    let response = get(http(&app), "/.well-known/openid-configuration").await;
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=300")
    );
    let doc = response.json();
    assert_eq!(doc["issuer"], "https://auth.example.com/");
    assert_eq!(
        doc["jwks_uri"],
        "https://auth.example.com/.well-known/jwks.json"
    );
}

async fn metrics_expose_rpc_login_hashing_and_key_series_after_a_few_calls(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert!(app.login("alice", "wrong password!").await.is_err());
    app.verify(&token).await;
    app.keys
        .rotate(authd::clock::now_unix())
        .await
        .expect("rotate");

    let response = get(http(&app), "/metrics").await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.headers
    );
    let text = response.body;
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
    };
    assert!(value(r#"authd_rpc_requests_total{method="Login",code="OK"}"#) >= 1.0);
    assert!(value(r#"authd_rpc_requests_total{method="Login",code="UNAUTHENTICATED"}"#) >= 1.0);
    assert!(value(r#"authd_rpc_requests_total{method="Verify",code="OK"}"#) >= 1.0);
    assert!(
        value(r#"authd_rpc_duration_seconds_bucket{method="Verify",code="OK",le="+Inf"}"#) >= 1.0
    );
    assert!(value(r#"authd_rpc_duration_seconds_count{method="Login",code="OK"}"#) >= 1.0);
    assert!(value(r#"authd_logins_total{outcome="success"}"#) >= 1.0);
    assert!(value(r#"authd_logins_total{outcome="invalid_credentials"}"#) >= 1.0);
    assert!(value("authd_hash_permits") >= 1.0);
    assert!(value("authd_hash_permits_in_use") >= 0.0);
    assert!(value("authd_hash_queue_wait_seconds_count") >= 2.0);
    assert!(value(r#"authd_key_rotation_events_total{event="published"}"#) >= 1.0);
    assert!(text.contains("# TYPE authd_rpc_duration_seconds histogram"));
    assert!(!text.contains(PASSWORD));
}

async fn hs256_publishes_no_keys(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.signing.signing_algorithm = authd::config::Algorithm::Hs256;
            c.signing.hs256_secret = Some("an hs256 secret of at least 32 bytes!".into());
        })
        .spawn()
        .await;
    let jwks = get(http(&app), "/.well-known/jwks.json").await;
    assert_eq!(jwks.json(), serde_json::json!({"keys": []}));
    let grpc = app
        .client
        .clone()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .expect("GetJwks")
        .into_inner();
    assert!(grpc.keys.is_empty());
    assert!(!jwks.body.contains("hs256"));
}

async fn the_http_listener_can_be_turned_off(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.server.http_listen = None)
        .spawn()
        .await;
    assert!(app.http_addr.is_none());
}
