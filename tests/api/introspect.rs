//! `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke` (RFC
//! 7009) over real HTTP/1.1: the active answer for a user's and a service
//! account's token, exactly `{"active":false}` for every other, revocation
//! by refresh and access token seen by Verify, the error answers, and a
//! stock OAuth2 client library (Python's authlib) doing both unchanged.

use std::fmt::Write as _;
use std::net::SocketAddr;

use authd::clock::now_unix;
use authd::grpc::pb::{self, InvalidReason};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{Backend, PASSWORD, TestApp, run_python_check, spawn_app};
use crate::http::{HttpResponse, http, send};
use crate::oauth2::{assert_refused, basic, form, service_account};

on_both_backends!(
    a_users_active_token_is_described_with_its_claims,
    a_service_accounts_token_is_described_with_its_client_id,
    a_logged_out_token_a_refresh_token_and_garbage_are_exactly_inactive,
    a_disabled_users_token_is_inactive,
    revoking_a_refresh_token_ends_its_session_and_is_audited_as_a_logout,
    revoking_an_access_token_ends_its_session,
    unknown_and_already_invalid_tokens_revoke_with_200_and_no_audit_row,
    a_service_accounts_token_cannot_be_revoked_and_says_so,
    authlib_introspects_and_revokes_by_client_secret_basic_and_post,
);

const FORM: &str = "application/x-www-form-urlencoded";

/// `POST path` on `addr` with `headers` (a form content type unless one is
/// given) and `body`.
async fn post_to(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    send(addr, request(addr, "POST", path, headers, body).as_bytes()).await
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        let _ = write!(raw, "Content-Type: {FORM}\r\n");
    }
    for (name, value) in headers {
        let _ = write!(raw, "{name}: {value}\r\n");
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    raw
}

/// A service account's client credentials, as a Basic header.
struct Client {
    auth: String,
    client_id: String,
}

async fn client(app: &TestApp) -> Client {
    let (client_id, secret) = service_account(app, "resource-server").await;
    Client {
        auth: basic(&client_id, &secret),
        client_id,
    }
}

/// Introspects `token` as `client` and returns the 200 answer's JSON.
async fn introspect(app: &TestApp, client: &Client, token: &str) -> serde_json::Value {
    let response = post_to(
        http(app),
        "/oauth2/introspect",
        &[("Authorization", &client.auth)],
        &form(&[("token", token)]),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    response.json()
}

/// Revokes `token` (with `hint`, if any) as `client`.
async fn revoke(app: &TestApp, client: &Client, token: &str, hint: Option<&str>) -> HttpResponse {
    let mut pairs = vec![("token", token)];
    if let Some(hint) = hint {
        pairs.push(("token_type_hint", hint));
    }
    post_to(
        http(app),
        "/oauth2/revoke",
        &[("Authorization", &client.auth)],
        &form(&pairs),
    )
    .await
}

fn assert_revoked_ok(response: &HttpResponse) {
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

fn assert_inactive(answer: &serde_json::Value) {
    assert_eq!(
        *answer,
        serde_json::json!({ "active": false }),
        "exactly {{\"active\":false}}, no reason (RFC 7662 §2.2)"
    );
}

fn assert_reason(response: &pb::VerifyResponse, reason: InvalidReason) {
    assert!(!response.valid, "expected {reason:?}, got {response:?}");
    assert_eq!(response.reason(), reason, "{response:?}");
}

async fn a_users_active_token_is_described_with_its_claims(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = client(&app).await;
    let alice = app.create_user("alice", &["reader"]).await;
    let before = now_unix();
    let token = app.token_for("alice").await;
    let answer = introspect(&app, &client, &token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], alice.id.as_str());
    assert_eq!(answer["username"], "alice");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["iss"], "authd");
    assert_eq!(answer["aud"], "authd");
    assert_eq!(answer["roles"], serde_json::json!(["reader"]));
    let (iat, nbf, exp) = (
        answer["iat"].as_i64().expect("iat"),
        answer["nbf"].as_i64().expect("nbf"),
        answer["exp"].as_i64().expect("exp"),
    );
    assert!(iat >= before - 1 && nbf <= iat + 1 && exp > iat, "{answer}");
    assert!(answer["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(
        answer.get("client_id").is_none(),
        "a user's token: {answer}"
    );
    // Introspection is a read: the token is still valid afterwards.
    assert!(app.verify(&token).await.valid);
}

async fn a_service_accounts_token_is_described_with_its_client_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = client(&app).await;
    let (billing_id, billing_secret) = service_account(&app, "billing-job").await;
    let issued = post_to(
        http(&app),
        "/oauth2/token",
        &[("Authorization", &basic(&billing_id, &billing_secret))],
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let token = issued.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let answer = introspect(&app, &client, &token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["client_id"], billing_id.as_str());
    assert_eq!(answer["username"], "billing-job");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["roles"], serde_json::json!(["billing"]));
    assert!(answer["sub"].as_str().is_some_and(|s| !s.is_empty()));
    for claim in ["exp", "iat", "nbf"] {
        assert!(answer[claim].as_i64().is_some(), "{claim}: {answer}");
    }
}

async fn a_logged_out_token_a_refresh_token_and_garbage_are_exactly_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = client(&app).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    // A refresh token is never active here (see http::oauth2::introspect).
    assert_inactive(&introspect(&app, &client, &login.refresh_token).await);
    app.client
        .clone()
        .logout(crate::helpers::with_bearer(
            pb::LogoutRequest {
                refresh_token: String::new(),
            },
            &login.access_token,
        ))
        .await
        .expect("logout");
    assert_inactive(&introspect(&app, &client, &login.access_token).await);
    for garbage in ["not-a-token", "a.b.c", &"x".repeat(20_000)] {
        assert_inactive(&introspect(&app, &client, garbage).await);
    }
}

async fn a_disabled_users_token_is_inactive(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = client(&app).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert_eq!(introspect(&app, &client, &token).await["active"], true);
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .expect("disable");
    assert_inactive(&introspect(&app, &client, &token).await);
}

async fn revoking_a_refresh_token_ends_its_session_and_is_audited_as_a_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = client(&app).await;
    let alice = app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let response = revoke(&app, &client, &login.refresh_token, Some("refresh_token")).await;
    assert_revoked_ok(&response);
    assert_reason(
        &app.verify(&login.access_token).await,
        InvalidReason::SessionEnded,
    );
    assert_inactive(&introspect(&app, &client, &login.access_token).await);
    let logouts: Vec<_> = app
        .core
        .accounts()
        .store()
        .audit_tail(1000, None)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.event == "logout")
        .collect();
    assert_eq!(logouts.len(), 1, "{logouts:?}");
    assert_eq!(logouts[0].user_id.as_deref(), Some(alice.id.as_str()));
    assert!(
        logouts[0].detail.contains(&login.session_id)
            && logouts[0].detail.contains(&client.client_id),
        "the row names the session and the client: {}",
        logouts[0].detail
    );
    // Revoking it again ends nothing, and still answers 200.
    assert_revoked_ok(&revoke(&app, &client, &login.refresh_token, None).await);
}

async fn revoking_an_access_token_ends_its_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = client(&app).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let other = app.token_for("alice").await;
    // A wrong hint changes nothing: authd tells the kinds apart itself.
    let response = revoke(&app, &client, &login.access_token, Some("refresh_token")).await;
    assert_revoked_ok(&response);
    assert_reason(
        &app.verify(&login.access_token).await,
        InvalidReason::SessionEnded,
    );
    // The session's refresh token is spent with it; other sessions live on.
    let refreshed = app
        .client
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: login.refresh_token.clone(),
        })
        .await;
    assert!(refreshed.is_err(), "{refreshed:?}");
    assert!(app.verify(&other).await.valid);
}

async fn unknown_and_already_invalid_tokens_revoke_with_200_and_no_audit_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = client(&app).await;
    let rows_before = app
        .core
        .accounts()
        .store()
        .audit_tail(1000, None)
        .await
        .expect("audit")
        .len();
    for (token, hint) in [
        ("not-a-token", None),
        (
            "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            Some("refresh_token"),
        ),
        ("a.b.c", Some("access_token")),
    ] {
        assert_revoked_ok(&revoke(&app, &client, token, hint).await);
    }
    let rows_after = app
        .core
        .accounts()
        .store()
        .audit_tail(1000, None)
        .await
        .expect("audit")
        .len();
    assert_eq!(rows_before, rows_after, "revoking nothing writes no row");
}

async fn a_service_accounts_token_cannot_be_revoked_and_says_so(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = client(&app).await;
    let (id, secret) = service_account(&app, "billing-job").await;
    let issued = post_to(
        http(&app),
        "/oauth2/token",
        &[("Authorization", &basic(&id, &secret))],
        "grant_type=client_credentials",
    )
    .await;
    let token = issued.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let response = revoke(&app, &client, &token, Some("access_token")).await;
    let description = assert_refused(&response, 400, "unsupported_token_type");
    assert!(description.contains("until it expires"), "{description}");
    assert!(app.verify(&token).await.valid, "it was not revoked");
}

/// The bad inputs of both endpoints. The database plays no part: SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_rfc_answers_on_both_endpoints() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = client(&app).await;
    let addr = http(&app);
    app.create_user("alice", &[]).await;
    let user_token = app.token_for("alice").await;
    let token_form = form(&[("token", &user_token)]);
    let user_bearer = format!("Bearer {user_token}");
    let user_basic = basic("alice", PASSWORD);
    for path in ["/oauth2/introspect", "/oauth2/revoke"] {
        // No credentials, a user's token, a user's password: invalid_client,
        // with the Basic challenge (assert_refused checks it on every 401).
        let none = post_to(addr, path, &[], &token_form).await;
        assert_refused(&none, 401, "invalid_client");
        assert_eq!(none.json()["error"], "invalid_client");
        for auth in [&user_bearer, &user_basic] {
            let response = post_to(addr, path, &[("Authorization", auth)], &token_form).await;
            assert_refused(&response, 401, "invalid_client");
        }
        let wrong_secret = post_to(
            addr,
            path,
            &[("Authorization", &basic(&client.client_id, "wrong"))],
            &token_form,
        )
        .await;
        assert_refused(&wrong_secret, 401, "invalid_client");
        // No token.
        let missing = post_to(addr, path, &[("Authorization", &client.auth)], "").await;
        let description = assert_refused(&missing, 400, "invalid_request");
        assert!(description.contains("token"), "{description}");
        // JSON instead of a form: 400 invalid_request (see http::oauth2).
        let json = post_to(
            addr,
            path,
            &[
                ("Authorization", &client.auth),
                ("Content-Type", "application/json"),
            ],
            &serde_json::json!({ "token": user_token }).to_string(),
        )
        .await;
        let description = assert_refused(&json, 400, "invalid_request");
        assert!(description.contains(FORM), "{description}");
        // A token repeated.
        let twice = post_to(
            addr,
            path,
            &[("Authorization", &client.auth)],
            &format!("{token_form}&{token_form}"),
        )
        .await;
        assert_refused(&twice, 400, "invalid_request");
        // 1 MB: refused before it is read.
        let huge = post_huge(addr, path, &client.auth, 1024 * 1024).await;
        assert_refused(&huge, 413, "invalid_request");
        // Another method.
        let get = send(addr, request(addr, "GET", path, &[], "").as_bytes()).await;
        assert_refused(&get, 405, "invalid_request");
        assert_eq!(get.header("allow"), Some("POST"));
    }
    // An unknown hint: RFC 7009 §2.2.1's unsupported_token_type on revoke ...
    let unknown_hint = post_to(
        addr,
        "/oauth2/revoke",
        &[("Authorization", &client.auth)],
        &form(&[("token", &user_token), ("token_type_hint", "id_token")]),
    )
    .await;
    assert_refused(&unknown_hint, 400, "unsupported_token_type");
    assert!(app.verify(&user_token).await.valid, "nothing was revoked");
    // ... and ignored by introspection (RFC 7662 defines no error for it).
    let answer = post_to(
        addr,
        "/oauth2/introspect",
        &[("Authorization", &client.auth)],
        &form(&[("token", &user_token), ("token_type_hint", "id_token")]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["active"], true);
    // Credentials in the form work like Basic.
    let (id, secret) = service_account(&app, "other-server").await;
    let by_form = post_to(
        addr,
        "/oauth2/introspect",
        &[],
        &form(&[
            ("token", &user_token),
            ("client_id", &id),
            ("client_secret", &secret),
        ]),
    )
    .await;
    assert_eq!(by_form.json()["active"], true, "{}", by_form.body);
    let metrics = crate::http::get(addr, "/metrics").await.body;
    for line in [
        "authd_rpc_requests_total{method=\"OAuth2Introspect\",code=\"OK\"}",
        "authd_rpc_requests_total{method=\"OAuth2Revoke\",code=\"UNAUTHENTICATED\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

/// POSTs a form of `size` bytes to `path`, writing while it reads: the
/// server answers (413) without reading it all, and closes.
async fn post_huge(addr: SocketAddr, path: &str, auth: &str, size: usize) -> HttpResponse {
    let body = format!("token={}", "a".repeat(size));
    let raw = request(addr, "POST", path, &[("Authorization", auth)], &body);
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        // The server may close before all of it is sent.
        let _ = writer.write_all(raw.as_bytes()).await;
    });
    let mut received = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        reader.read_to_end(&mut received),
    )
    .await;
    writing.abort();
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an answer to the 1 MB body, got {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    HttpResponse {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect(),
        body: body.to_owned(),
    }
}

async fn authlib_introspects_and_revokes_by_client_secret_basic_and_post(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_id, secret) = service_account(&app, "resource-server").await;
    let alice = app.create_user("alice", &["reader"]).await;
    let base = format!("http://{}", http(&app));
    for method in ["client_secret_basic", "client_secret_post"] {
        let login = app.login("alice", PASSWORD).await.expect("login");
        let input = serde_json::json!({
            "client_secret": secret,
            "access_token": login.access_token,
            "refresh_token": login.refresh_token,
        })
        .to_string();
        let (base, client_id, method_arg) = (base.clone(), client_id.clone(), method.to_owned());
        // The script calls back into this server: off the runtime's threads.
        let out = tokio::task::spawn_blocking(move || {
            run_python_check(
                "oauth2_introspect.py",
                &[&base, &client_id, &method_arg],
                &input,
                "authlib requests",
                "authlib could not introspect or revoke",
            )
        })
        .await
        .expect("the script ran");
        assert_eq!(out["before"]["status"], 200, "{method}: {out}");
        let before = &out["before"]["body"];
        assert_eq!(before["active"], true, "{method}: {out}");
        assert_eq!(before["sub"], alice.id.as_str());
        assert_eq!(before["username"], "alice");
        assert_eq!(out["revoke"]["status"], 200, "{method}: {out}");
        assert_eq!(out["after"]["status"], 200, "{method}: {out}");
        assert_inactive(&out["after"]["body"]);
        assert_reason(
            &app.verify(&login.access_token).await,
            InvalidReason::SessionEnded,
        );
    }
}
