//! Envoy ext_authz: `envoy.service.auth.v3.Authorization/Check` through a
//! real tonic client on the gRPC port.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use authd::clock::now_unix;
use authd::grpc::ext_authz::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use authd::grpc::ext_authz::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use authd::grpc::ext_authz::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use authd::grpc::ext_authz::pb::envoy::service::auth::v3::check_response::HttpResponse;
use authd::grpc::ext_authz::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
    attribute_context,
};
use authd::grpc::ext_authz::pb::envoy::r#type::v3::StatusCode;
use authd::token::keys::generate_ed25519;
use authd::token::{KeySet, TokenService};

use crate::helpers::{Backend, TestApp, spawn_app};

on_both_backends!(
    a_valid_bearer_token_is_allowed_with_the_identity_headers,
    client_supplied_identity_headers_never_reach_the_upstream,
    every_bad_credential_is_denied_with_401_and_a_bearer_challenge,
    every_token_attack_is_denied_with_401_and_no_identity_headers,
    header_names_are_configurable,
    a_service_accounts_token_is_allowed_with_its_id_name_and_principal_type,
    an_internal_failure_is_a_grpc_error_not_an_answer,
    reflection_lists_the_authorization_service,
);

fn check_request(headers: &[(&str, &str)]) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                http: Some(attribute_context::HttpRequest {
                    method: "GET".into(),
                    path: "/orders".into(),
                    host: "shop.internal".into(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    header_map: None,
                }),
            }),
        }),
    }
}

/// A check request whose headers come as Envoy's raw `header_map`.
fn raw_check_request(headers: Vec<HeaderValue>) -> CheckRequest {
    let mut request = check_request(&[]);
    if let Some(http) = request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
    {
        http.header_map = Some(HeaderMap { headers });
    }
    request
}

fn raw(key: &str, value: &str) -> HeaderValue {
    HeaderValue {
        key: key.into(),
        value: value.into(),
        raw_value: Vec::new(),
    }
}

async fn check(app: &TestApp, request: CheckRequest) -> Result<CheckResponse, tonic::Status> {
    AuthorizationClient::new(app.channel.clone())
        .check(request)
        .await
        .map(tonic::Response::into_inner)
}

#[track_caller]
fn allowed(response: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(
        response.status.as_ref().map(|s| s.code),
        Some(0),
        "{response:?}"
    );
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok,
        other => panic!("expected an ok_response, got {other:?}"),
    }
}

#[track_caller]
fn assert_denied(response: &CheckResponse, case: &str) {
    let code = response.status.as_ref().map_or(0, |s| s.code);
    assert_eq!(
        code,
        tonic::Code::Unauthenticated as i32,
        "{case}: never OK: {response:?}"
    );
    let Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
        status, headers, ..
    })) = &response.http_response
    else {
        panic!("{case}: expected a denied_response, got {response:?}");
    };
    assert_eq!(
        status.as_ref().map(|s| s.code),
        Some(StatusCode::Unauthorized as i32),
        "{case}: HTTP 401, not Envoy's default 403"
    );
    let challenge: Vec<_> = headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .filter(|h| h.key == "www-authenticate")
        .map(|h| h.value.as_str())
        .collect();
    assert_eq!(challenge, [r#"Bearer error="invalid_token""#], "{case}");
}

/// The headers an ok_response sets, by name; each must overwrite.
fn set_headers(ok: &OkHttpResponse) -> HashMap<String, String> {
    ok.headers
        .iter()
        .map(|h| {
            assert_eq!(
                h.append_action(),
                HeaderAppendAction::OverwriteIfExistsOrAdd,
                "identity headers overwrite client copies"
            );
            let header = h.header.as_ref().expect("a header");
            (header.key.clone(), header.value.clone())
        })
        .collect()
}

async fn a_valid_bearer_token_is_allowed_with_the_identity_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &["admin", "viewer"]).await;
    let token = app.token_for("alice").await;

    let response = check(
        &app,
        check_request(&[("authorization", &format!("Bearer {token}"))]),
    )
    .await
    .expect("Check answers");
    let ok = allowed(&response);
    let set = set_headers(ok);
    assert_eq!(set["x-authd-user-id"], alice.id);
    assert_eq!(set["x-authd-username"], "alice");
    assert_eq!(set["x-authd-roles"], "admin,viewer");
    assert_eq!(set["x-authd-principal-type"], "user");
    // Only other spellings of the names are removed, never a name it sets.
    for name in &ok.headers_to_remove {
        assert!(!set.contains_key(name), "{name} would be set, then removed");
        assert!(name.contains('_'), "{name}");
    }

    // Raw headers (Envoy's encode_raw_headers) work the same way.
    let raw = raw_check_request(vec![HeaderValue {
        key: "authorization".into(),
        value: String::new(),
        raw_value: format!("Bearer {token}").into_bytes(),
    }]);
    allowed(&check(&app, raw).await.expect("Check answers"));
}

async fn client_supplied_identity_headers_never_reach_the_upstream(backend: Backend) {
    let app = spawn_app(backend).await;
    let bob = app.create_user("bob", &[]).await;
    let token = app.token_for("bob").await;
    let response = check(
        &app,
        check_request(&[
            ("authorization", &format!("Bearer {token}")),
            ("x-authd-user-id", "someone-else"),
            ("x-authd-username", "root"),
            ("x-authd-roles", "admin"),
        ]),
    )
    .await
    .expect("Check answers");
    let ok = allowed(&response);
    let set = set_headers(ok);
    // Set headers overwrite the client's copies...
    assert_eq!(set["x-authd-user-id"], bob.id);
    assert_eq!(set["x-authd-username"], "bob");
    // ...and one authd does not set (bob has no roles) is removed. Envoy
    // removes after it sets, so a header must not be in both lists.
    assert!(!set.contains_key("x-authd-roles"));
    assert_eq!(ok.headers_to_remove[0], "x-authd-roles");
    // Underscore spellings, which many servers read as the dashed name,
    // are removed too.
    for name in ["x_authd_roles", "x_authd_user_id", "x-authd_username"] {
        assert!(
            ok.headers_to_remove.iter().any(|n| n == name),
            "{name} not removed: {:?}",
            ok.headers_to_remove
        );
    }
    for name in &ok.headers_to_remove {
        assert!(!set.contains_key(name), "{name} would be set, then removed");
    }
}

async fn every_bad_credential_is_denied_with_401_and_a_bearer_challenge(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
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

    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("missing header", vec![]),
        ("empty header", vec![("authorization", String::new())]),
        ("no token", vec![("authorization", "Bearer ".into())]),
        (
            "lowercase scheme",
            vec![("authorization", format!("bearer {token}"))],
        ),
        (
            "other scheme",
            vec![("authorization", "Basic YWxpY2U6cHc=".into())],
        ),
        ("no scheme", vec![("authorization", token.clone())]),
        (
            "duplicated (merged by Envoy)",
            vec![("authorization", format!("Bearer {token},Bearer {token}"))],
        ),
        (
            "garbage",
            vec![("authorization", "Bearer not.a.jwt".into())],
        ),
        (
            "expired",
            vec![("authorization", format!("Bearer {expired}"))],
        ),
        (
            "unknown key",
            vec![("authorization", format!("Bearer {foreign}"))],
        ),
    ];
    for (case, headers) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = check(&app, check_request(&headers))
            .await
            .unwrap_or_else(|e| panic!("{case}: an answer, not an error: {e:?}"));
        assert_denied(&response, case);
    }

    // Duplicated as separate raw headers.
    let bearer = format!("Bearer {token}");
    let raw = raw_check_request(vec![
        raw("authorization", &bearer),
        raw("Authorization", &bearer),
    ]);
    assert_denied(
        &check(&app, raw).await.expect("an answer"),
        "duplicated raw",
    );
    assert_denied(
        &check(&app, CheckRequest::default())
            .await
            .expect("an answer"),
        "no attributes",
    );

    // A disabled user's token is refused like Verify refuses it.
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .expect("disable");
    let response = check(
        &app,
        check_request(&[("authorization", &format!("Bearer {token}"))]),
    )
    .await
    .expect("an answer");
    assert_denied(&response, "disabled user");
}

/// The Verify token-attack list (`token_attacks.rs`), replayed through
/// Envoy's door: each one a 401 denial carrying no identity header.
async fn every_token_attack_is_denied_with_401_and_no_identity_headers(backend: Backend) {
    let kit = crate::token_attacks::kit(backend).await;
    let attacks = kit.all_attacks();
    assert!(attacks.len() > 50, "the whole list: {}", attacks.len());
    for attack in &attacks {
        let bearer = format!("Bearer {}", attack.token);
        for request in [
            check_request(&[("authorization", &bearer)]),
            raw_check_request(vec![raw("authorization", &bearer)]),
        ] {
            let response = match check(&kit.app, request).await {
                Ok(response) => response,
                // A request beyond the server's message limit may be
                // refused by the transport instead: still no identity.
                Err(status) if attack.token.len() > 32 * 1024 => {
                    assert_ne!(status.code(), tonic::Code::Ok, "{}", attack.name);
                    continue;
                }
                Err(status) => panic!("{}: an answer, not an error: {status:?}", attack.name),
            };
            assert_denied(&response, &attack.name);
            let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
                unreachable!("assert_denied checked the variant");
            };
            assert!(
                denied
                    .headers
                    .iter()
                    .filter_map(|h| h.header.as_ref())
                    .all(|h| !h.key.starts_with("x-authd-")),
                "{}: identity headers on a denial: {denied:?}",
                attack.name
            );
        }
    }
    // Nothing above hurt the server: the real token still passes.
    let response = check(
        &kit.app,
        check_request(&[("authorization", &format!("Bearer {}", kit.token))]),
    )
    .await
    .expect("Check answers");
    allowed(&response);
}

async fn header_names_are_configurable(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.ext_authz.ext_authz_user_id_header = "x-user".into();
            c.ext_authz.ext_authz_username_header = "x-name".into();
            c.ext_authz.ext_authz_roles_header = "x-groups".into();
            c.ext_authz.ext_authz_principal_type_header = "x-kind".into();
        })
        .spawn()
        .await;
    app.create_user("alice", &["ops"]).await;
    let token = app.token_for("alice").await;
    let response = check(
        &app,
        check_request(&[("authorization", &format!("Bearer {token}"))]),
    )
    .await
    .expect("Check answers");
    let set = set_headers(allowed(&response));
    assert_eq!(set["x-name"], "alice");
    assert_eq!(set["x-groups"], "ops");
    assert!(set.contains_key("x-user"));
    assert_eq!(set["x-kind"], "user");
    assert!(!set.keys().any(|k| k.starts_with("x-authd")));
}

async fn a_service_accounts_token_is_allowed_with_its_id_name_and_principal_type(backend: Backend) {
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
    let response = check(
        &app,
        check_request(&[
            ("authorization", &format!("Bearer {token}")),
            ("x-authd-principal-type", "user"),
        ]),
    )
    .await
    .expect("Check answers");
    let ok = allowed(&response);
    let set = set_headers(ok);
    assert_eq!(set["x-authd-user-id"], created.account.id);
    assert_eq!(set["x-authd-username"], "ci-bot");
    assert_eq!(set["x-authd-roles"], "deploy");
    assert_eq!(set["x-authd-principal-type"], "service_account");
    assert!(
        ok.headers_to_remove
            .contains(&"x_authd_principal_type".to_owned()),
        "{:?}",
        ok.headers_to_remove
    );
}

async fn an_internal_failure_is_a_grpc_error_not_an_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    // The user lookup behind Verify now fails.
    app.core.accounts().store().close().await;
    let status = check(
        &app,
        check_request(&[("authorization", &format!("Bearer {token}"))]),
    )
    .await
    .expect_err("a gRPC error, so Envoy applies its failure policy");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
}

async fn reflection_lists_the_authorization_service(backend: Backend) {
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = spawn_app(backend).await;
    let names = crate::helpers::list_services(&app.channel).await;
    assert!(
        names
            .iter()
            .any(|n| n == "envoy.service.auth.v3.Authorization"),
        "{names:?}"
    );

    // And its file resolves, with the vendored dependencies.
    let response = crate::helpers::reflect(
        &app.channel,
        MessageRequest::FileContainingSymbol("envoy.service.auth.v3.Authorization".into()),
    )
    .await;
    assert!(
        matches!(response, MessageResponse::FileDescriptorResponse(_)),
        "{response:?}"
    );
}
