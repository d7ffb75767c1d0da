//! `POST /oauth2/token` (RFC 6749 §4.4, client credentials) over real
//! HTTP/1.1: every error answer of §5.2, the §5.1 success, throttling, and a
//! stock OAuth2 client library (Python's authlib) fetching tokens unchanged.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use authd::grpc::pb;
use authd::grpc::pb::admin_service_client::AdminServiceClient;
use base64::Engine as _;

use crate::helpers::{Backend, TestApp, run_python, spawn_app, with_bearer};
use crate::http::{HttpResponse, get, http, send};
use crate::pg_cluster::PgCluster;

on_both_backends!(
    a_missing_or_repeated_grant_type_is_an_invalid_request,
    grant_types_other_than_client_credentials_are_unsupported,
    a_scope_is_refused_as_invalid_scope,
    a_secret_in_both_the_header_and_the_form_is_an_invalid_request,
    a_malformed_basic_header_is_an_invalid_request,
    no_credentials_or_another_scheme_is_invalid_client_with_a_basic_challenge,
    only_posted_forms_of_bounded_size_are_read,
    token_requests_are_counted_under_the_oauth2_token_method,
    a_service_account_gets_a_bearer_token_by_basic_and_by_form_that_verify_accepts,
    a_wrong_secret_and_an_unknown_client_get_the_same_invalid_client_answer,
    wrong_secrets_are_throttled_with_429_and_retry_after,
    a_trusted_proxys_forwarded_address_is_the_throttled_one,
    authlib_fetches_tokens_by_client_secret_basic_and_post_that_verify_accepts,
    authlib_reports_a_wrong_secret_as_invalid_client,
);

const FORM: &str = "application/x-www-form-urlencoded";
const GRANT: &str = "grant_type=client_credentials";

/// `POST /oauth2/token` with `headers` (a form content type unless one is
/// given) and `body`.
async fn post_token(app: &TestApp, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    request(http(app), "POST", headers, body).await
}

/// `method /oauth2/token` on `addr`.
async fn request(
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    let mut raw = format!(
        "{method} /oauth2/token HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
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
    send(addr, raw.as_bytes()).await
}

/// `Basic base64(urlencode(id):urlencode(secret))`, as RFC 6749 §2.3.1 says.
pub(crate) fn basic(id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A form body from `pairs`, each form-urlencoded.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Asserts a §5.2 error answer: `status`, the `error` code, JSON, never
/// cached; a 401 carries the Basic challenge. Returns the description.
pub(crate) fn assert_refused(response: &HttpResponse, status: u16, error: &str) -> String {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
    let body = response.json();
    assert_eq!(body["error"], error, "{body}");
    if status == 401 {
        assert_eq!(
            response.header("www-authenticate"),
            Some("Basic realm=\"authd\""),
            "every 401 challenges for Basic"
        );
    }
    body["error_description"]
        .as_str()
        .expect("an error_description")
        .to_owned()
}

/// A service account with the role `billing`, created over the admin API by
/// an admin user: its client id and secret.
pub(crate) async fn service_account(app: &TestApp, name: &str) -> (String, String) {
    if app.login("root", crate::helpers::PASSWORD).await.is_err() {
        app.create_user("root", &["admin"]).await;
    }
    let token = app.token_for("root").await;
    let created = AdminServiceClient::new(app.channel.clone())
        .create_service_account(with_bearer(
            pb::CreateServiceAccountRequest {
                name: name.to_owned(),
                description: "a test machine".to_owned(),
                roles: vec!["billing".to_owned()],
            },
            &token,
        ))
        .await
        .expect("CreateServiceAccount")
        .into_inner();
    (created.client_id, created.client_secret)
}

async fn a_missing_or_repeated_grant_type_is_an_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let auth = basic("sa_x", "secret");
    let missing = post_token(&app, &[("Authorization", &auth)], "").await;
    let description = assert_refused(&missing, 400, "invalid_request");
    assert!(description.contains("grant_type"), "{description}");
    // §3.2: a parameter sent without a value counts as omitted.
    let empty = post_token(&app, &[("Authorization", &auth)], "grant_type=").await;
    assert_refused(&empty, 400, "invalid_request");
    let repeated = post_token(
        &app,
        &[("Authorization", &auth)],
        "grant_type=client_credentials&grant_type=client_credentials",
    )
    .await;
    let description = assert_refused(&repeated, 400, "invalid_request");
    assert!(description.contains("more than once"), "{description}");
}

async fn grant_types_other_than_client_credentials_are_unsupported(backend: Backend) {
    let app = spawn_app(backend).await;
    let auth = basic("sa_x", "secret");
    for grant in ["password", "authorization_code", "refresh_token", "x"] {
        let response = post_token(
            &app,
            &[("Authorization", &auth)],
            &form(&[("grant_type", grant)]),
        )
        .await;
        let description = assert_refused(&response, 400, "unsupported_grant_type");
        assert!(description.contains("client_credentials"), "{description}");
    }
}

async fn a_scope_is_refused_as_invalid_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = post_token(
        &app,
        &[("Authorization", &basic("sa_x", "secret"))],
        &format!("{GRANT}&scope=read"),
    )
    .await;
    assert_refused(&response, 400, "invalid_scope");
}

async fn a_secret_in_both_the_header_and_the_form_is_an_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let both = post_token(
        &app,
        &[("Authorization", &basic("sa_x", "secret"))],
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sa_x"),
            ("client_secret", "secret"),
        ]),
    )
    .await;
    let description = assert_refused(&both, 400, "invalid_request");
    assert!(description.contains("one method"), "{description}");
    assert!(!both.body.contains("secret\""), "{}", both.body);
    let other_id = post_token(
        &app,
        &[("Authorization", &basic("sa_x", "secret"))],
        &form(&[("grant_type", "client_credentials"), ("client_id", "sa_y")]),
    )
    .await;
    assert_refused(&other_id, 400, "invalid_request");
}

async fn a_malformed_basic_header_is_an_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for value in [
        "Basic !!!not-base64".to_owned(),
        "Basic".to_owned(),
        format!("Basic {}", b64("no-colon-here")),
        format!("Basic {}", b64("sa_x:%FF%FE")),
    ] {
        let response = post_token(&app, &[("Authorization", &value)], GRANT).await;
        let description = assert_refused(&response, 400, "invalid_request");
        assert!(description.contains("Basic"), "{value}: {description}");
    }
    let twice = post_token(
        &app,
        &[
            ("Authorization", &basic("sa_x", "a")),
            ("Authorization", &basic("sa_x", "b")),
        ],
        GRANT,
    )
    .await;
    assert_refused(&twice, 400, "invalid_request");
}

async fn no_credentials_or_another_scheme_is_invalid_client_with_a_basic_challenge(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let none = post_token(&app, &[], GRANT).await;
    assert_refused(&none, 401, "invalid_client");
    let id_only = post_token(&app, &[], &format!("{GRANT}&client_id=sa_x")).await;
    assert_refused(&id_only, 401, "invalid_client");
    let bearer = post_token(&app, &[("Authorization", "Bearer abc")], GRANT).await;
    assert_refused(&bearer, 401, "invalid_client");
    let empty_secret = post_token(&app, &[("Authorization", &basic("sa_x", ""))], GRANT).await;
    assert_refused(&empty_secret, 401, "invalid_client");
}

async fn only_posted_forms_of_bounded_size_are_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let addr = http(&app);
    let auth = basic("sa_x", "secret");
    for method in ["GET", "PUT", "DELETE"] {
        let response = request(addr, method, &[("Authorization", &auth)], "").await;
        assert_refused(&response, 405, "invalid_request");
        assert_eq!(response.header("allow"), Some("POST"), "{method}");
    }
    let get = get(addr, "/oauth2/token").await;
    assert_eq!(get.status, 405);
    for content_type in [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let response = post_token(
            &app,
            &[("Authorization", &auth), ("Content-Type", content_type)],
            GRANT,
        )
        .await;
        let description = assert_refused(&response, 400, "invalid_request");
        assert!(description.contains(FORM), "{description}");
    }
    // Parameters on the content type (a charset) are fine.
    let charset = post_token(
        &app,
        &[
            ("Authorization", &auth),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            ),
        ],
        "grant_type=password",
    )
    .await;
    assert_refused(&charset, 400, "unsupported_grant_type");
    let huge = format!(
        "{GRANT}&pad={}",
        "a".repeat(authd::http::oauth2::MAX_BODY_BYTES)
    );
    let response = post_token(&app, &[("Authorization", &auth)], &huge).await;
    assert_refused(&response, 413, "invalid_request");
}

async fn token_requests_are_counted_under_the_oauth2_token_method(backend: Backend) {
    let app = spawn_app(backend).await;
    post_token(&app, &[], "grant_type=password").await;
    post_token(&app, &[], GRANT).await;
    let metrics = get(http(&app), "/metrics").await.body;
    for line in [
        "authd_rpc_requests_total{method=\"OAuth2Token\",code=\"INVALID_ARGUMENT\"} 1",
        "authd_rpc_requests_total{method=\"OAuth2Token\",code=\"UNAUTHENTICATED\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

/// Asserts a §5.1 answer and returns the access token.
fn assert_issued(response: &HttpResponse) -> String {
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer", "{body}");
    let expires_in = body["expires_in"].as_i64().expect("expires_in");
    assert!(expires_in > 0 && expires_in <= 15 * 60, "{expires_in}");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token (§4.4.3)"
    );
    body["access_token"]
        .as_str()
        .expect("an access_token")
        .to_owned()
}

/// Asserts that Verify accepts `token` as the service account `client_id`'s.
async fn assert_service_account_token(app: &TestApp, token: &str, client_id: &str) {
    let verified = app.verify(token).await;
    assert!(verified.valid, "{verified:?}");
    assert_eq!(
        verified.principal_type,
        pb::PrincipalType::ServiceAccount as i32
    );
    let account = verified.service_account.expect("the service account");
    assert_eq!(account.client_id, client_id);
    assert_eq!(account.roles, ["billing"]);
    assert!(verified.user.is_none(), "a machine is not a user");
}

async fn a_service_account_gets_a_bearer_token_by_basic_and_by_form_that_verify_accepts(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (client_id, secret) = service_account(&app, "billing-job").await;

    let by_basic = post_token(
        &app,
        &[("Authorization", &basic(&client_id, &secret))],
        GRANT,
    )
    .await;
    let token = assert_issued(&by_basic);
    assert_service_account_token(&app, &token, &client_id).await;

    let by_form = post_token(
        &app,
        &[],
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ]),
    )
    .await;
    let token = assert_issued(&by_form);
    assert_service_account_token(&app, &token, &client_id).await;

    // A client_id in the body next to Basic is fine when it is the same
    // client (some libraries send both), and so is the configured audience.
    let both_ids = post_token(
        &app,
        &[("Authorization", &basic(&client_id, &secret))],
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("audience", "authd"),
        ]),
    )
    .await;
    assert_issued(&both_ids);
}

async fn a_wrong_secret_and_an_unknown_client_get_the_same_invalid_client_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_id, secret) = service_account(&app, "billing-job").await;
    let wrong = post_token(
        &app,
        &[("Authorization", &basic(&client_id, &format!("{secret}x")))],
        GRANT,
    )
    .await;
    let wrong_description = assert_refused(&wrong, 401, "invalid_client");
    let unknown = post_token(
        &app,
        &[],
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sa_nobody"),
            ("client_secret", &secret),
        ]),
    )
    .await;
    let unknown_description = assert_refused(&unknown, 401, "invalid_client");
    assert_eq!(wrong_description, unknown_description);
    assert!(!wrong.body.contains(&secret) && !unknown.body.contains(&secret));
}

async fn wrong_secrets_are_throttled_with_429_and_retry_after(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.throttle.login_free_failures = 2;
            c.throttle.login_backoff_base = Duration::from_secs(600);
            c.throttle.login_backoff_max = Duration::from_secs(600);
        })
        .spawn()
        .await;
    let (client_id, secret) = service_account(&app, "billing-job").await;
    let wrong = basic(&client_id, "not-the-secret");
    // Two free failures; the second starts the first backoff.
    for _ in 0..2 {
        let response = post_token(&app, &[("Authorization", &wrong)], GRANT).await;
        assert_refused(&response, 401, "invalid_client");
    }
    let throttled = post_token(&app, &[("Authorization", &wrong)], GRANT).await;
    assert_refused(&throttled, 429, "temporarily_unavailable");
    let retry_after: i64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry_after > 0 && retry_after <= 600, "{retry_after}");
    // Blocked means blocked: the right secret waits too.
    let right = post_token(
        &app,
        &[("Authorization", &basic(&client_id, &secret))],
        GRANT,
    )
    .await;
    assert_refused(&right, 429, "temporarily_unavailable");
}

async fn a_trusted_proxys_forwarded_address_is_the_throttled_one(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.throttle.login_free_failures_per_address = 2;
            c.throttle.login_backoff_base = Duration::from_secs(600);
            c.throttle.login_backoff_max = Duration::from_secs(600);
            c.throttle.trusted_proxies = "127.0.0.1".parse().expect("a proxy list");
        })
        .spawn()
        .await;
    // A different unknown client each time: only the address counts up.
    let attempt = |n: usize, from: &'static str| {
        let auth = basic(&format!("sa_unknown{n}"), "not-a-secret");
        let app = &app;
        async move {
            post_token(
                app,
                &[("Authorization", &auth), ("X-Forwarded-For", from)],
                GRANT,
            )
            .await
        }
    };
    for n in 0..2 {
        assert_refused(&attempt(n, "203.0.113.7").await, 401, "invalid_client");
    }
    assert_refused(
        &attempt(2, "203.0.113.7").await,
        429,
        "temporarily_unavailable",
    );
    assert_refused(&attempt(4, "198.51.100.9").await, 401, "invalid_client");
}

/// Runs the authlib script for `client_id` and `secret` with `method`.
async fn authlib(app: &TestApp, client_id: &str, secret: &str, method: &str) -> serde_json::Value {
    let url = format!("http://{}/oauth2/token", http(app));
    let (client_id, secret, method) = (client_id.to_owned(), secret.to_owned(), method.to_owned());
    // The script calls back into this server: off the runtime's threads.
    let out = tokio::task::spawn_blocking(move || {
        run_python(
            "oauth2_client_credentials.py",
            &[&url, &client_id, &method],
            &secret,
            "authlib requests",
        )
    })
    .await
    .expect("the script ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "authlib failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).expect("JSON from the script")
}

async fn authlib_fetches_tokens_by_client_secret_basic_and_post_that_verify_accepts(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (client_id, secret) = service_account(&app, "billing-job").await;
    for method in ["client_secret_basic", "client_secret_post"] {
        let out = authlib(&app, &client_id, &secret, method).await;
        let token = &out["token"];
        assert_eq!(token["token_type"], "Bearer", "{method}: {out}");
        assert!(token["expires_in"].as_i64().is_some_and(|s| s > 0), "{out}");
        let access = token["access_token"].as_str().expect("an access token");
        assert_service_account_token(&app, access, &client_id).await;
    }
}

async fn authlib_reports_a_wrong_secret_as_invalid_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_id, secret) = service_account(&app, "billing-job").await;
    for method in ["client_secret_basic", "client_secret_post"] {
        let out = authlib(&app, &client_id, &format!("{secret}x"), method).await;
        assert_eq!(out["error"], "invalid_client", "{method}: {out}");
    }
}

/// The database down is `temporarily_unavailable`, at once, and the token
/// endpoint works again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_down_is_503_temporarily_unavailable() {
    let cluster = PgCluster::start();
    let app = TestApp::builder_on(crate::helpers::TestDb::attach(&cluster.url()))
        .config(|c| {
            c.admin.store.database_acquire_timeout = Duration::from_millis(500);
        })
        .spawn()
        .await;
    let (client_id, secret) = service_account(&app, "billing-job").await;
    let auth = basic(&client_id, &secret);
    let mut cluster = cluster;
    cluster.stop();
    let response = post_token(&app, &[("Authorization", &auth)], GRANT).await;
    let description = assert_refused(&response, 503, "temporarily_unavailable");
    assert!(description.contains("retry later"), "{description}");
    cluster.start_again();
    let mut issued = post_token(&app, &[("Authorization", &auth)], GRANT).await;
    let started = std::time::Instant::now();
    while issued.status != 200 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        issued = post_token(&app, &[("Authorization", &auth)], GRANT).await;
    }
    assert_issued(&issued);
}
