//! Forward-auth: `/auth/verify` on the HTTP listener, asked directly over
//! real HTTP/1.1 and through real nginx and Caddy ([`crate::proxies`]) in
//! front of an upstream that echoes what reached it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authd::clock::now_unix;
use authd::grpc::pb;
use authd::token::keys::generate_ed25519;
use authd::token::{KeySet, TokenService};

use crate::helpers::{Backend, TestApp, spawn_app, with_bearer};
use crate::http::{HttpResponse, http, send};
use crate::proxies::{Kind, Proxy, Upstream, echoed_headers};

on_both_backends!(
    a_valid_token_is_200_with_the_identity_headers_for_any_method,
    a_service_accounts_token_names_the_account_and_its_principal_type,
    every_bad_credential_is_401_with_a_bearer_challenge_and_no_identity,
    odd_bytes_and_a_token_in_the_query_string_are_refused,
    every_token_attack_is_refused_with_no_identity_headers,
    header_names_are_the_ext_authz_settings,
    authd_unable_to_decide_is_503_never_200,
);

const CHALLENGE: &str = r#"Bearer error="invalid_token""#;

/// The identity headers (default names) in their canonical spelling.
const IDENTITY: [&str; 4] = [
    "x-authd-user-id",
    "x-authd-username",
    "x-authd-roles",
    "x-authd-principal-type",
];

/// A request to `addr` for `target` with `method` and extra raw header
/// lines (each ending in CRLF), closing the connection after the answer.
async fn request(addr: SocketAddr, method: &str, target: &str, headers: &[u8]) -> HttpResponse {
    let mut raw =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    raw.extend_from_slice(headers);
    raw.extend_from_slice(b"\r\n");
    send(addr, &raw).await
}

/// `GET target` on `addr` with `Authorization: Bearer <token>` and extra lines.
async fn get_with(
    addr: SocketAddr,
    target: &str,
    token: Option<&str>,
    extra: &str,
) -> HttpResponse {
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    request(addr, "GET", target, format!("{auth}{extra}").as_bytes()).await
}

#[track_caller]
fn assert_denied(response: &HttpResponse, case: &str) {
    assert_eq!(response.status, 401, "{case}: {}", response.body);
    assert_eq!(
        response.header("www-authenticate"),
        Some(CHALLENGE),
        "{case}"
    );
    assert_no_identity(response, case);
}

/// No header of the response is an identity header, in any spelling.
#[track_caller]
fn assert_no_identity(response: &HttpResponse, case: &str) {
    for (name, _) in &response.headers {
        assert!(
            !name.replace('_', "-").starts_with("x-authd-"),
            "{case}: identity header {name} on a refusal"
        );
    }
}

async fn a_valid_token_is_200_with_the_identity_headers_for_any_method(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &["admin", "viewer"]).await;
    let bob = app.create_user("bob", &[]).await;
    let token = app.token_for("alice").await;
    let addr = http(&app);
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let response = request(
            addr,
            method,
            "/auth/verify",
            format!(
                "Authorization: Bearer {token}\r\nX-Forwarded-Method: {method}\r\n\
                 X-Forwarded-Uri: /orders/7\r\nX-Authd-User-Id: someone-else\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(response.status, 200, "{method}: {}", response.body);
        assert_eq!(response.header("x-authd-user-id"), Some(alice.id.as_str()));
        assert_eq!(response.header("x-authd-username"), Some("alice"));
        assert_eq!(response.header("x-authd-roles"), Some("admin,viewer"));
        assert_eq!(response.header("x-authd-principal-type"), Some("user"));
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert!(response.body.is_empty(), "{method}: {}", response.body);
        let ids = response
            .headers
            .iter()
            .filter(|(k, _)| k == "x-authd-user-id")
            .count();
        assert_eq!(ids, 1, "{method}: one user id, authd's");
    }
    // A user with no roles gets the roles header empty, not absent, so a
    // proxy copying it overwrites whatever the client sent.
    let bob_token = app.token_for("bob").await;
    let response = get_with(addr, "/auth/verify", Some(&bob_token), "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-authd-user-id"), Some(bob.id.as_str()));
    assert_eq!(response.header("x-authd-roles"), Some(""));
}

async fn a_service_accounts_token_names_the_account_and_its_principal_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .core
        .accounts()
        .create_service_account(
            authd::service::NewServiceAccountRequest {
                name: "ci-bot".to_owned(),
                roles: vec!["deploy".to_owned()],
                ..Default::default()
            },
            &authd::service::ChangedBy {
                actor: "test".to_owned(),
                client_addr: None,
            },
            now_unix(),
        )
        .await
        .expect("a service account");
    let token = app
        .core
        .issue_service_token(
            &created.account.client_id,
            created.client_secret,
            None,
            authd::service::ClientInfo::default(),
            now_unix(),
        )
        .await
        .expect("a token")
        .token;
    let response = get_with(http(&app), "/auth/verify", Some(&token), "").await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.header("x-authd-user-id"),
        Some(created.account.id.as_str())
    );
    assert_eq!(response.header("x-authd-username"), Some("ci-bot"));
    assert_eq!(response.header("x-authd-roles"), Some("deploy"));
    assert_eq!(
        response.header("x-authd-principal-type"),
        Some("service_account")
    );
}

async fn every_bad_credential_is_401_with_a_bearer_challenge_and_no_identity(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &["admin"]).await;
    let token = app.token_for("alice").await;
    let sid = app.session_of("alice").await;
    let expired = app
        .core
        .tokens()
        .issue(&alice, &sid, i64::MAX, now_unix() - 3600)
        .expect("issue")
        .token;
    let foreign = TokenService::new(
        Arc::new(KeySet::from_stored(&[generate_ed25519(now_unix()).expect("key")]).expect("keys")),
        "authd".into(),
        "authd".into(),
        Duration::from_secs(900),
        Duration::from_secs(10),
    )
    .issue(&alice, &sid, i64::MAX, now_unix())
    .expect("issue")
    .token;
    let revoked = app.token_for("alice").await;
    app.client
        .clone()
        .logout(with_bearer(pb::LogoutRequest::default(), &revoked))
        .await
        .expect("logout");
    let addr = http(&app);

    let cases: Vec<(&str, String)> = vec![
        ("missing header", String::new()),
        ("empty header", "Authorization: \r\n".into()),
        ("no token", "Authorization: Bearer \r\n".into()),
        (
            "lowercase scheme",
            format!("Authorization: bearer {token}\r\n"),
        ),
        (
            "upper-case scheme",
            format!("Authorization: BEARER {token}\r\n"),
        ),
        ("two spaces", format!("Authorization: Bearer  {token}\r\n")),
        (
            "other scheme",
            "Authorization: Basic YWxpY2U6cHc=\r\n".into(),
        ),
        ("no scheme", format!("Authorization: {token}\r\n")),
        (
            "two headers",
            format!("Authorization: Bearer {token}\r\nAuthorization: Bearer {token}\r\n"),
        ),
        (
            "two headers, the first bad",
            format!("Authorization: Bearer x.y.z\r\nAuthorization: Bearer {token}\r\n"),
        ),
        (
            "merged duplicates",
            format!("Authorization: Bearer {token}, Bearer {token}\r\n"),
        ),
        ("garbage", "Authorization: Bearer not.a.jwt\r\n".into()),
        ("expired", format!("Authorization: Bearer {expired}\r\n")),
        (
            "foreign key",
            format!("Authorization: Bearer {foreign}\r\n"),
        ),
        ("revoked", format!("Authorization: Bearer {revoked}\r\n")),
        (
            "forged identity, no token",
            "X-Authd-User-Id: admin\r\nX-Authd-Roles: admin\r\n".into(),
        ),
        (
            "tab in the token",
            format!("Authorization: Bearer {token}\tx\r\n"),
        ),
    ];
    for (case, headers) in &cases {
        let response = request(addr, "GET", "/auth/verify", headers.as_bytes()).await;
        assert_denied(&response, case);
    }
}

async fn odd_bytes_and_a_token_in_the_query_string_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let addr = http(&app);
    // Bytes outside ASCII (obs-text, which hyper lets through) around a
    // real token.
    // Bytes outside ASCII (obs-text, which hyper lets through) around a
    // real token.
    for odd in [&b"\x80\xff"[..], b"\xc3\xa9", b"\xfe"] {
        let mut headers = format!("Authorization: Bearer {token}").into_bytes();
        headers.extend_from_slice(odd);
        headers.extend_from_slice(b"\r\n");
        let response = request(addr, "GET", "/auth/verify", &headers).await;
        assert_denied(&response, &format!("odd bytes {odd:?}"));
        let mut headers = b"Authorization: Bearer ".to_vec();
        headers.extend_from_slice(odd);
        headers.extend_from_slice(token.as_bytes());
        headers.extend_from_slice(b"\r\n");
        let response = request(addr, "GET", "/auth/verify", &headers).await;
        assert_denied(&response, &format!("odd bytes {odd:?} first"));
    }
    // NUL and DEL never reach authd: hyper refuses the request outright.
    for odd in ["\0", "\x01", "\x7f"] {
        let response = request(
            addr,
            "GET",
            "/auth/verify",
            format!("Authorization: Bearer {token}{odd}\r\n").as_bytes(),
        )
        .await;
        assert_eq!(response.status, 400, "{odd:?}: {}", response.status);
        assert_no_identity(&response, &format!("{odd:?}"));
    }

    // A token in the query string is ignored, whatever its name.
    for query in ["access_token", "token", "authorization"] {
        let response = get_with(addr, &format!("/auth/verify?{query}={token}"), None, "").await;
        assert_denied(&response, query);
    }

    // Nothing above hurt the real token.
    let response = get_with(addr, "/auth/verify?access_token=x", Some(&token), "").await;
    assert_eq!(response.status, 200);
}

/// The Verify token-attack list (`token_attacks.rs`) through this door:
/// never a 200, never an identity header.
async fn every_token_attack_is_refused_with_no_identity_headers(backend: Backend) {
    let kit = crate::token_attacks::kit(backend).await;
    let addr = http(&kit.app);
    let attacks = kit.all_attacks();
    assert!(attacks.len() > 50, "the whole list: {}", attacks.len());
    for attack in &attacks {
        let response = get_with(addr, "/auth/verify", Some(&attack.token), "").await;
        // A header past hyper's limits is refused by hyper itself (431).
        if attack.token.len() > 16 * 1024 && response.status != 401 {
            assert!((400..500).contains(&response.status), "{}", attack.name);
            assert_no_identity(&response, &attack.name);
            continue;
        }
        assert_denied(&response, &attack.name);
    }
    let response = get_with(addr, "/auth/verify", Some(&kit.token), "").await;
    assert_eq!(response.status, 200);
}

async fn header_names_are_the_ext_authz_settings(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.ext_authz.ext_authz_user_id_header = "x-user".into();
            c.ext_authz.ext_authz_username_header = "x-name".into();
            c.ext_authz.ext_authz_roles_header = "X-Groups".into();
            c.ext_authz.ext_authz_principal_type_header = "x_kind".into();
        })
        .spawn()
        .await;
    let alice = app.create_user("alice", &["ops"]).await;
    let token = app.token_for("alice").await;
    let response = get_with(http(&app), "/auth/verify", Some(&token), "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-user"), Some(alice.id.as_str()));
    assert_eq!(response.header("x-name"), Some("alice"));
    assert_eq!(response.header("x-groups"), Some("ops"));
    assert_eq!(response.header("x_kind"), Some("user"));
    assert_no_identity(&response, "renamed");
}

async fn authd_unable_to_decide_is_503_never_200(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    // The user lookup behind Verify now fails.
    app.core.accounts().store().close().await;
    let response = get_with(http(&app), "/auth/verify", Some(&token), "").await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert!(response.body.contains("error id"), "{}", response.body);
    assert_no_identity(&response, "database down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_is_counted_and_its_span_has_the_original_request_without_the_query() {
    let capture = crate::log_capture::install().spans.clone();
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let path = format!("/orders/{}", uuid::Uuid::new_v4().simple());
    let forwarded =
        format!("X-Forwarded-Method: DELETE\r\nX-Forwarded-Uri: {path}?access_token={token}\r\n");
    let addr = http(&app);
    assert_eq!(
        get_with(addr, "/auth/verify", Some(&token), &forwarded)
            .await
            .status,
        200
    );
    assert_eq!(
        get_with(addr, "/auth/verify", None, &forwarded)
            .await
            .status,
        401
    );
    let original = format!("X-Original-Method: PUT\r\nX-Original-URI: {path}/nginx?a=b\r\n");
    assert_eq!(
        get_with(addr, "/auth/verify", None, &original).await.status,
        401
    );

    let metrics = crate::http::get(addr, "/metrics").await.body;
    for line in [
        "authd_rpc_requests_total{method=\"ForwardAuth\",code=\"OK\"} 1",
        "authd_rpc_requests_total{method=\"ForwardAuth\",code=\"UNAUTHENTICATED\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }

    let recorded = capture.0.lock().unwrap();
    let spans: Vec<_> = recorded
        .rpc_spans("ForwardAuth")
        .into_iter()
        .filter(|f| f.get("forwarded_uri").is_some_and(|u| u.contains(&path)))
        .collect();
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert!(spans.iter().any(|f| {
        f.get("code").map(String::as_str) == Some("Ok")
            && f.get("user_id") == Some(&alice.id)
            && f.get("forwarded_method").map(String::as_str) == Some("\"DELETE\"")
            && f.get("forwarded_uri") == Some(&format!("{path:?}"))
    }));
    assert!(spans.iter().any(|f| {
        f.get("code").map(String::as_str) == Some("Unauthenticated")
            && !f.contains_key("user_id")
            && f.get("forwarded_method").map(String::as_str) == Some("\"PUT\"")
            && f.get("forwarded_uri") == Some(&format!("{:?}", format!("{path}/nginx")))
    }));
    for value in recorded.all_values() {
        assert!(!value.contains(&token), "the token was recorded: {value}");
    }
}

/// Through a real `kind` proxy: only what authd allows reaches the
/// upstream, with authd's identity headers and never a client's; refusals
/// are the proxy's 401 (or 5xx when authd cannot answer).
async fn behind(kind: Kind) {
    let mut app = spawn_app(Backend::Sqlite).await;
    let alice = app.create_user("alice", &["admin", "viewer"]).await;
    let bob = app.create_user("bob", &[]).await;
    app.create_user("carol", &[]).await;
    let alice_token = app.token_for("alice").await;
    let bob_token = app.token_for("bob").await;
    let carol_token = app.token_for("carol").await;
    let revoked = app.token_for("alice").await;
    app.client
        .clone()
        .logout(with_bearer(pb::LogoutRequest::default(), &revoked))
        .await
        .expect("logout");
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(kind, http(&app), upstream.addr).await;
    let name = kind.name();
    let forged = "X-Authd-User-Id: forged-id\r\nX-Authd-Username: root\r\n\
                  X-Authd-Roles: root\r\nX-Authd-Principal-Type: service_account\r\n\
                  x_authd_roles: root\r\nX-Authd_User-Id: forged-id\r\n";

    // A valid token with forged identity headers: the upstream sees authd's.
    let response = get_with(proxy.addr, "/app/orders?page=2", Some(&alice_token), forged).await;
    assert_eq!(
        response.status,
        200,
        "{name}: {}\n{}",
        response.body,
        proxy.logs()
    );
    let seen = echoed_headers(&response.body);
    assert!(
        response.body.starts_with("GET /app/orders?page=2 "),
        "{name}: {}",
        response.body
    );
    assert_identity(&seen, &[&alice.id, "alice", "admin,viewer", "user"], name);

    // No roles: the client's X-Authd-Roles still never arrives.
    let response = get_with(proxy.addr, "/app", Some(&bob_token), forged).await;
    assert_eq!(response.status, 200, "{name}: {}", response.body);
    let seen = echoed_headers(&response.body);
    assert_identity(&seen, &[&bob.id, "bob", "", "user"], name);

    // Refused: the proxy's 401 with authd's challenge, the upstream never asked.
    let before = upstream.requests();
    refusals(&proxy, &alice_token, &bob_token, &revoked, forged).await;
    assert_eq!(
        upstream.requests(),
        before,
        "{name}: a refused request reached the upstream"
    );

    // authd cannot decide (its database is gone): the proxy refuses.
    app.core.accounts().store().close().await;
    let response = get_with(proxy.addr, "/app", Some(&carol_token), forged).await;
    let want = match kind {
        // auth_request turns any answer but 2xx, 401 and 403 into a 500.
        Kind::Nginx => 500,
        // forward_auth hands authd's answer to the client.
        Kind::Caddy => 503,
    };
    assert_eq!(
        response.status, want,
        "{name}, database down: {}",
        response.body
    );
    assert_eq!(
        upstream.requests(),
        before,
        "{name}: passed while authd could not decide"
    );

    // authd stopped: the proxy refuses with a 5xx.
    let http_addr = http(&app);
    let server = app.begin_shutdown();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("authd stops within 30 s")
        .expect("the server task")
        .ok();
    drop(app);
    wait_until_closed(http_addr).await;
    let response = get_with(proxy.addr, "/app", Some(&alice_token), forged).await;
    assert!(
        (500..600).contains(&response.status),
        "{name}, authd stopped: {} {}",
        response.status,
        response.body
    );
    assert_eq!(
        upstream.requests(),
        before,
        "{name}: passed while authd was down"
    );
}

/// Bad or missing credentials through `proxy`: its 401 with authd's
/// challenge (nginx's own 400 for a second `Authorization` header).
async fn refusals(proxy: &Proxy, alice_token: &str, bob_token: &str, revoked: &str, forged: &str) {
    let (kind, name) = (proxy.kind, proxy.kind.name());
    let bad: Vec<(&str, String)> = vec![
        ("no token", forged.to_owned()),
        (
            "garbage token",
            format!("Authorization: Bearer not.a.jwt\r\n{forged}"),
        ),
        (
            "lowercase scheme",
            format!("Authorization: bearer {alice_token}\r\n{forged}"),
        ),
        (
            "revoked token",
            format!("Authorization: Bearer {revoked}\r\n{forged}"),
        ),
        (
            "two headers",
            format!("Authorization: Bearer {alice_token}\r\nAuthorization: Bearer {bob_token}\r\n"),
        ),
    ];
    for (case, headers) in &bad {
        let response = request(proxy.addr, "GET", "/app", headers.as_bytes()).await;
        // nginx refuses a second Authorization header itself (400).
        if kind == Kind::Nginx && *case == "two headers" {
            assert_eq!(response.status, 400, "{name}, {case}: {}", response.body);
            continue;
        }
        assert_eq!(response.status, 401, "{name}, {case}: {}", response.body);
        assert_eq!(
            response.header("www-authenticate"),
            Some(CHALLENGE),
            "{name}, {case}"
        );
    }
    let response = get_with(
        proxy.addr,
        &format!("/app?access_token={alice_token}"),
        None,
        "",
    )
    .await;
    assert_eq!(response.status, 401, "{name}, token in the query");
}

/// Each identity header exactly once, in any spelling, with `want`'s
/// values in [`IDENTITY`] order; an empty value may also be absent.
#[track_caller]
fn assert_identity(seen: &[(String, String)], want: &[&str; 4], proxy: &str) {
    for (name, value) in IDENTITY.iter().zip(want) {
        let copies: Vec<&str> = seen
            .iter()
            .filter(|(k, _)| k.replace('_', "-") == *name)
            .map(|(_, v)| v.as_str())
            .collect();
        if value.is_empty() {
            assert!(
                copies.iter().all(|v| v.is_empty()),
                "{proxy}: {name}: {copies:?}"
            );
            assert!(copies.len() <= 1, "{proxy}: {name}: {copies:?}");
        } else {
            assert_eq!(
                copies,
                [*value],
                "{proxy}: {name} as the upstream saw it: {seen:?}"
            );
        }
    }
    for (name, _) in seen {
        let canonical = name.replace('_', "-");
        assert!(
            !canonical.starts_with("x-authd") || IDENTITY.contains(&name.as_str()),
            "{proxy}: a client's {name} reached the upstream"
        );
    }
}

/// Waits (at most 10 s) until nothing accepts connections on `addr`.
async fn wait_until_closed(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("authd's HTTP listener {addr} still accepts connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_passes_only_what_authd_allows_with_authds_identity_headers() {
    behind(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_passes_only_what_authd_allows_with_authds_identity_headers() {
    behind(Kind::Caddy).await;
}

#[test]
fn the_readme_shows_the_proxy_configurations_the_suite_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for file in ["examples/nginx/authd.conf", "examples/caddy/Caddyfile"] {
        let example = std::fs::read_to_string(root.join(file)).expect("the example");
        assert!(
            readme.contains(&example),
            "README.md must show {file} verbatim (the file the tests run)"
        );
    }
}
