//! The HTTP listener: JWKS, discovery, health and metrics, over real HTTP/1.1
//! (and HTTP/2 where the protocol matters).

use std::net::SocketAddr;

use authd::grpc::pb;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, postgres_admin_url, spawn_app};

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
    let app = TestApp::builder(backend)
        .config(|c| c.server.readiness_probe_interval = std::time::Duration::from_millis(100))
        .spawn()
        .await;
    let health = get(http(&app), "/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, "ok\n");
    wait_until_ready(&app).await;
    let ready = get(http(&app), "/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body, "ready\n");

    // With the database gone, authd is alive but, from the next probe on
    // (`/readyz` serves the probe's last answer), not ready.
    app.core.accounts().store().close().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let ready = loop {
        let ready = get(http(&app), "/readyz").await;
        if ready.status != 200 || std::time::Instant::now() > deadline {
            break ready;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body, "database unavailable\n");
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

/// Over HTTP/2 the client names the server in `:authority` (the request
/// URI) and sends no `Host`; `jwks_uri` must follow it. The client is
/// tonic's channel, an HTTP/2 client with prior knowledge (h2c), told to
/// name another origin than the address it dials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http2_discovery_builds_jwks_uri_from_the_authority() {
    use tower::ServiceExt as _;

    let app = spawn_app(Backend::Sqlite).await;
    let addr = http(&app);
    let h2 = |origin: &'static str| async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("a valid URI")
            .origin(origin.parse().expect("a valid origin"))
            .connect()
            .await
            .expect("an HTTP/2 connection");
        let request = axum::http::Request::get("/.well-known/openid-configuration")
            .body(tonic::body::Body::empty())
            .expect("a request");
        let response = channel.oneshot(request).await.expect("an answer");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), axum::http::Version::HTTP_2);
        let vary = response.headers().get("vary").cloned();
        let body = axum::body::to_bytes(axum::body::Body::new(response.into_body()), 1 << 20)
            .await
            .expect("the body");
        let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        (doc, vary)
    };
    let (doc, vary) = h2("http://auth.example.test:8443").await;
    assert_eq!(
        doc["jwks_uri"],
        "http://auth.example.test:8443/.well-known/jwks.json"
    );
    assert_eq!(vary.as_ref().and_then(|v| v.to_str().ok()), Some("host"));
    // The same check as for Host: userinfo in the authority is not a host,
    // so the listener's own address is named instead.
    let (doc, _) = h2("http://user@evil.example:1").await;
    assert_eq!(
        doc["jwks_uri"],
        format!("http://{addr}/.well-known/jwks.json")
    );

    // HTTP/1.1 in absolute form: the request target's authority wins over Host.
    let response = send(
        addr,
        b"GET http://abs.example.test:9000/.well-known/openid-configuration HTTP/1.1\r\n\
          Host: host.example.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        response.json()["jwks_uri"],
        "http://abs.example.test:9000/.well-known/jwks.json"
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

/// `/readyz` answers from the background probe's last result
/// (`--readiness-probe-interval`), so a burst of probes costs the database
/// nothing: it used to run `SELECT 1` per request, and 5,000 probes slowed a
/// concurrent Refresh on PostgreSQL from 4 ms to hundreds.
///
/// Counted in `pg_stat_database`, which a backend updates lazily (at most
/// once a second, or when it exits): so each count is taken once every
/// backend of the database has exited. A first authd applies the migrations;
/// a second one starts, serves nothing and stops (what a life costs without
/// probes: start-up, the background probe, the change feed, about 40
/// transactions); a third serves 1,000 probes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_readyz_probes_make_no_database_query() {
    let db = TestDb::new(Backend::Postgres).await;
    let migrated = transactions_after_a_life(&db, 0).await;
    let idle = transactions_after_a_life(&db, 0).await - migrated;
    let probed = transactions_after_a_life(&db, 1_000).await - migrated - idle;
    assert!(
        probed - idle < 50,
        "a life with 1,000 /readyz probes took {probed} transactions, one without {idle}"
    );
}

/// Runs an authd on `db` until it is ready, sends it `probes` `/readyz`
/// requests, stops it, and returns the database's settled transaction count.
async fn transactions_after_a_life(db: &TestDb, probes: usize) -> i64 {
    let mut app = TestApp::builder_on(TestDb::attach(&db.url))
        .config(|c| c.server.shutdown_grace = std::time::Duration::from_millis(100))
        .spawn()
        .await;
    wait_until_ready(&app).await;
    for _ in 0..probes {
        let ready = get(http(&app), "/readyz").await;
        assert_eq!(ready.status, 200, "{}", ready.body);
    }
    app.begin_shutdown()
        .await
        .expect("join")
        .expect("clean stop");
    drop(app);
    let name = db
        .url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .expect("a database name");
    settled_transactions(name).await
}

/// Polls `/readyz` (every 20 ms, at most 10 s) until start-up is done.
async fn wait_until_ready(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get(http(app), "/readyz").await.status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "authd was not ready within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `xact_commit + xact_rollback` of database `name`, read from the `postgres`
/// database (so reading adds nothing to it) once no backend is connected to
/// `name` any more, all having flushed their counts on exit, and the count
/// reads the same twice in a row.
async fn settled_transactions(name: &str) -> i64 {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .expect("connect to the postgres database");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = None;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the statistics of {name} did not settle within 10 s"
        );
        let connected: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut admin)
                .await
                .expect("pg_stat_activity");
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut admin)
            .await
            .expect("pg_stat_clear_snapshot");
        let count: i64 = sqlx::query_scalar(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = $1",
        )
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .expect("pg_stat_database");
        if connected == 0 && last == Some(count) {
            admin.close().await.ok();
            return count;
        }
        last = (connected == 0).then_some(count);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
