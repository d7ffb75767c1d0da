//! Service accounts over the wire: the four AdminService RPCs, who may call
//! them, IssueServiceToken (throttled like Login), Verify and the admin API
//! with a machine's token, secret rotation with an overlap, and deletion
//! reaching every replica.

use std::time::Duration;

use authd::clock::ManualClock;
use authd::grpc::pb::admin_service_client::AdminServiceClient;
use authd::grpc::pb::{self, InvalidReason, PrincipalType};
use secrecy::ExposeSecret as _;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use crate::helpers::{Backend, PASSWORD, TestApp, assert_code, spawn_app, with_bearer};

on_both_backends!(
    service_accounts_are_created_listed_rotated_and_deleted,
    every_service_account_rpc_needs_an_active_admin,
    a_service_token_verifies_as_its_service_account_with_no_session,
    an_unknown_client_id_and_a_wrong_secret_get_the_same_answer,
    a_client_id_with_nul_or_control_characters_is_refused_before_any_query,
    token_requests_are_throttled_after_the_free_failures_like_logins,
    a_rotated_out_secret_works_during_the_overlap_and_not_after,
    a_deleted_service_accounts_token_stops_verifying,
    a_service_account_with_the_admin_role_can_call_the_admin_api,
    the_last_admin_service_account_cannot_be_deleted,
    a_service_accounts_token_cannot_use_the_calls_that_need_a_user,
    bad_service_account_fields_are_invalid_arguments_with_field_violations,
    no_client_secret_or_its_hash_reaches_the_audit_log,
);

/// `message`, with `token` as its bearer if there is one.
fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    match token {
        Some(t) => with_bearer(message, t),
        None => tonic::Request::new(message),
    }
}

fn admin(app: &TestApp) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(app.channel.clone())
}

/// An admin user's access token.
async fn admin_token(app: &TestApp) -> String {
    app.create_user("root", &["admin"]).await;
    app.token_for("root").await
}

async fn create(
    app: &TestApp,
    token: &str,
    name: &str,
    roles: &[&str],
) -> pb::CreateServiceAccountResponse {
    admin(app)
        .create_service_account(with_bearer(
            pb::CreateServiceAccountRequest {
                name: name.to_owned(),
                description: format!("{name} robot"),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            },
            token,
        ))
        .await
        .expect("create a service account")
        .into_inner()
}

async fn issue(
    app: &TestApp,
    client_id: &str,
    secret: &str,
) -> Result<pb::IssueServiceTokenResponse, Status> {
    app.client
        .clone()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: client_id.to_owned(),
            client_secret: secret.to_owned(),
            audience: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn list(
    app: &TestApp,
    token: &str,
    page_size: i32,
    page_token: &str,
) -> pb::ListServiceAccountsResponse {
    admin(app)
        .list_service_accounts(with_bearer(
            pb::ListServiceAccountsRequest {
                page_size,
                page_token: page_token.to_owned(),
            },
            token,
        ))
        .await
        .expect("list")
        .into_inner()
}

async fn rotate(
    app: &TestApp,
    token: &str,
    id: &str,
    overlap: Option<Duration>,
) -> Result<pb::RotateServiceAccountSecretResponse, Status> {
    admin(app)
        .rotate_service_account_secret(with_bearer(
            pb::RotateServiceAccountSecretRequest {
                id: id.to_owned(),
                overlap: overlap.map(|d| prost_types::Duration {
                    seconds: i64::try_from(d.as_secs()).unwrap(),
                    nanos: 0,
                }),
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Result<(), Status> {
    admin(app)
        .delete_service_account(with_bearer(
            pb::DeleteServiceAccountRequest { id: id.to_owned() },
            token,
        ))
        .await
        .map(drop)
}

async fn service_accounts_are_created_listed_rotated_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    let ci = create(&app, &token, "ci-bot", &["deploy"]).await;
    let account = ci.service_account.clone().expect("the account");
    assert_eq!(account.name, "ci-bot");
    assert_eq!(account.description, "ci-bot robot");
    assert_eq!(account.roles, ["deploy"]);
    assert_eq!(account.client_id, ci.client_id);
    assert!(ci.client_id.starts_with("sa-"), "{}", ci.client_id);
    assert!(ci.client_secret.starts_with("authd_sa_"));
    assert!(account.last_used_at.is_none());
    for name in ["b-bot", "c-bot"] {
        create(&app, &token, name, &[]).await;
    }

    // Pages of two, by id, with a page token; never a secret.
    let first = list(&app, &token, 2, "").await;
    assert_eq!(first.service_accounts.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = list(&app, &token, 2, &first.next_page_token).await;
    assert_eq!(second.service_accounts.len(), 1);
    assert!(second.next_page_token.is_empty(), "the last page");
    let ids: Vec<_> = first
        .service_accounts
        .iter()
        .chain(&second.service_accounts)
        .map(|a| a.id.clone())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "in order of id");
    assert!(!format!("{first:?}{second:?}").contains("authd_sa_"));

    // The secret gets a token; a rotation without overlap stops it at once.
    issue(&app, &ci.client_id, &ci.client_secret)
        .await
        .expect("the first secret works");
    let rotated = rotate(&app, &token, &account.id, None)
        .await
        .expect("rotate");
    assert!(rotated.client_secret.starts_with("authd_sa_"));
    assert_ne!(rotated.client_secret, ci.client_secret);
    assert!(rotated.previous_secret_expires_at.is_none());
    assert_code(
        issue(&app, &ci.client_id, &ci.client_secret).await,
        Code::Unauthenticated,
    );
    issue(&app, &ci.client_id, &rotated.client_secret)
        .await
        .expect("the new secret works");
    let listed = list(&app, &token, 0, "").await;
    let used = listed
        .service_accounts
        .iter()
        .find(|a| a.id == account.id)
        .expect("listed");
    assert!(used.last_used_at.is_some(), "last use is recorded");

    delete(&app, &token, &account.id).await.expect("delete");
    assert_code(
        issue(&app, &ci.client_id, &rotated.client_secret).await,
        Code::Unauthenticated,
    );
    assert_code(delete(&app, &token, &account.id).await, Code::NotFound);
    assert_code(
        rotate(&app, &token, &account.id, None).await,
        Code::NotFound,
    );
    assert_eq!(list(&app, &token, 0, "").await.service_accounts.len(), 2);
}

async fn every_service_account_rpc_needs_an_active_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let target = create(&app, &root, "target", &[]).await;
    let id = target.service_account.expect("account").id;
    app.create_user("viewer", &["viewer"]).await;
    let viewer = app.token_for("viewer").await;
    app.create_user("former", &["admin"]).await;
    let former = app.token_for("former").await;
    app.core
        .accounts()
        .set_active("former", false, authd::clock::now_unix())
        .await
        .expect("disable");

    let create_request = || pb::CreateServiceAccountRequest {
        name: "new-bot".to_owned(),
        ..Default::default()
    };
    for (who, token, code) in [
        ("no token", None, Code::Unauthenticated),
        ("a non-admin", Some(viewer.as_str()), Code::PermissionDenied),
        (
            "a disabled admin",
            Some(former.as_str()),
            Code::Unauthenticated,
        ),
    ] {
        let mut client = admin(&app);
        let answers = [
            client
                .create_service_account(request(create_request(), token))
                .await
                .map(drop),
            client
                .list_service_accounts(request(pb::ListServiceAccountsRequest::default(), token))
                .await
                .map(drop),
            client
                .rotate_service_account_secret(request(
                    pb::RotateServiceAccountSecretRequest {
                        id: id.clone(),
                        overlap: None,
                    },
                    token,
                ))
                .await
                .map(drop),
            client
                .delete_service_account(request(
                    pb::DeleteServiceAccountRequest { id: id.clone() },
                    token,
                ))
                .await
                .map(drop),
        ];
        for (rpc, answer) in ["Create", "List", "Rotate", "Delete"].iter().zip(answers) {
            let status = answer.expect_err(&format!("{rpc} by {who}"));
            assert_eq!(status.code(), code, "{rpc} by {who}: {status:?}");
        }
    }
    // Nothing was changed by the refused calls.
    issue(&app, &target.client_id, &target.client_secret)
        .await
        .expect("the secret still works");
    assert_eq!(list(&app, &root, 0, "").await.service_accounts.len(), 1);
}

async fn a_service_token_verifies_as_its_service_account_with_no_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let ci = create(&app, &root, "ci-bot", &["deploy", "reader"]).await;
    let issued = issue(&app, &ci.client_id, &ci.client_secret)
        .await
        .expect("a token");
    assert_eq!(issued.token_type, "Bearer");
    assert!(
        issued.expires_in > 0 && issued.expires_in <= 15 * 60,
        "{issued:?}"
    );

    let verified = app.verify(&issued.access_token).await;
    assert!(verified.valid, "{verified:?}");
    assert_eq!(verified.principal_type(), PrincipalType::ServiceAccount);
    assert!(verified.user.is_none());
    let account = verified.service_account.expect("the service account");
    assert_eq!(account.name, "ci-bot");
    assert_eq!(account.client_id, ci.client_id);
    let claims = verified.claims.expect("claims");
    assert_eq!(claims.sub, account.id);
    assert_eq!(claims.principal_type(), PrincipalType::ServiceAccount);
    assert_eq!(claims.client_id, ci.client_id);
    assert_eq!(claims.roles, ["deploy", "reader"]);
    assert!(claims.sid.is_empty(), "no session");

    // A user's token still says user.
    let user = app.verify(&root).await;
    assert_eq!(user.principal_type(), PrincipalType::User);
    assert_eq!(
        user.claims.expect("claims").principal_type(),
        PrincipalType::User
    );

    // An audience other than the configured one is refused.
    let status = app
        .client
        .clone()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: ci.client_id.clone(),
            client_secret: ci.client_secret.clone(),
            audience: "someone-else".to_owned(),
        })
        .await
        .expect_err("another audience");
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = status.get_details_bad_request().expect("field violations");
    assert_eq!(bad.field_violations[0].field, "audience");
}

async fn an_unknown_client_id_and_a_wrong_secret_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let ci = create(&app, &root, "ci-bot", &[]).await;
    let wrong = issue(&app, &ci.client_id, "authd_sa_not-the-secret")
        .await
        .expect_err("a wrong secret");
    let unknown = issue(&app, "sa-nobody", &ci.client_secret)
        .await
        .expect_err("an unknown client id");
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert_eq!(wrong.code(), unknown.code());
    assert_eq!(wrong.message(), unknown.message());
    assert_eq!(wrong.details(), unknown.details());
    assert!(!wrong.message().contains(&ci.client_id));
}

/// A NUL used to reach the credentials query: PostgreSQL refuses it with
/// an error that came back as `INTERNAL`. No client id holds one, so the
/// field is simply invalid.
async fn a_client_id_with_nul_or_control_characters_is_refused_before_any_query(backend: Backend) {
    let app = spawn_app(backend).await;
    for client_id in ["sa-\0x", "sa-\u{1b}[2J", "sa-\u{202e}x"] {
        let status = issue(&app, client_id, "authd_sa_whatever")
            .await
            .expect_err("a client id no account can have");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{client_id:?}: {status:?}"
        );
        assert!(status.message().contains("client_id"), "{status:?}");
    }
}

async fn token_requests_are_throttled_after_the_free_failures_like_logins(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::builder(backend).clock(&clock).spawn().await;
    let root = admin_token(&app).await;
    let ci = create(&app, &root, "ci-bot", &[]).await;
    // 5 free failures; the fifth starts a 1 s block.
    for _ in 0..5 {
        assert_code(
            issue(&app, &ci.client_id, "authd_sa_guess").await,
            Code::Unauthenticated,
        );
    }
    for (what, secret) in [
        ("a guess", "authd_sa_guess"),
        ("the right secret", ci.client_secret.as_str()),
    ] {
        let status = issue(&app, &ci.client_id, secret)
            .await
            .expect_err(&format!("{what} while blocked"));
        assert_eq!(status.code(), Code::ResourceExhausted, "{what}: {status:?}");
        let retry: i64 = status
            .metadata()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a retry-after in seconds");
        assert_eq!(retry, 1, "{what}");
    }
    // An unknown client id is throttled alike.
    for _ in 0..5 {
        assert_code(
            issue(&app, "sa-nobody", "authd_sa_guess").await,
            Code::Unauthenticated,
        );
    }
    assert_code(
        issue(&app, "sa-nobody", "authd_sa_guess").await,
        Code::ResourceExhausted,
    );

    clock.advance(Duration::from_secs(1));
    issue(&app, &ci.client_id, &ci.client_secret)
        .await
        .expect("checked again once the block is over");
}

async fn a_rotated_out_secret_works_during_the_overlap_and_not_after(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::builder(backend).clock(&clock).spawn().await;
    let root = admin_token(&app).await;
    let ci = create(&app, &root, "ci-bot", &[]).await;
    let id = ci.service_account.clone().expect("account").id;
    let rotated = rotate(&app, &root, &id, Some(Duration::from_secs(3600)))
        .await
        .expect("rotate with an hour of overlap");
    let until = rotated
        .previous_secret_expires_at
        .expect("the old secret's end");
    assert_eq!(until.seconds, clock.now_unix() + 3600);

    clock.advance(Duration::from_secs(3599));
    issue(&app, &ci.client_id, &ci.client_secret)
        .await
        .expect("the old secret works during the overlap");
    issue(&app, &ci.client_id, &rotated.client_secret)
        .await
        .expect("and so does the new one");
    clock.advance(Duration::from_secs(1));
    assert_code(
        issue(&app, &ci.client_id, &ci.client_secret).await,
        Code::Unauthenticated,
    );
    issue(&app, &ci.client_id, &rotated.client_secret)
        .await
        .expect("the new one still works");

    // An overlap over 30 days is refused, naming the field.
    let root = app.token_for("root").await;
    let status = rotate(&app, &root, &id, Some(Duration::from_secs(31 * 24 * 3600)))
        .await
        .expect_err("too long");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status
            .get_details_bad_request()
            .expect("violations")
            .field_violations[0]
            .field,
        "overlap"
    );
}

async fn a_deleted_service_accounts_token_stops_verifying(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let ci = create(&app, &root, "ci-bot", &[]).await;
    let token = issue(&app, &ci.client_id, &ci.client_secret)
        .await
        .expect("a token")
        .access_token;
    app.wait_for_feed().await;
    assert!(app.verify(&token).await.valid);
    assert!(app.verify(&token).await.valid, "now from the cache");
    delete(&app, &root, &ci.service_account.expect("account").id)
        .await
        .expect("delete");
    let answer = app.verify(&token).await;
    assert!(!answer.valid);
    assert_eq!(answer.reason(), InvalidReason::ServiceAccountNotFound);
    assert_eq!(answer.principal_type(), PrincipalType::Unspecified);
}

/// The deletion on replica A reaches replica B's cache through the feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_service_account_invalidates_its_tokens_on_a_second_replica() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_replica(|_| {}).await;
    let root = admin_token(&a).await;
    let ci = create(&a, &root, "ci-bot", &[]).await;
    let token = issue(&a, &ci.client_id, &ci.client_secret)
        .await
        .expect("a token")
        .access_token;
    b.wait_for_feed().await;
    assert!(b.verify(&token).await.valid, "B reads the account");
    assert!(b.verify(&token).await.valid, "and caches it");

    delete(&a, &root, &ci.service_account.expect("account").id)
        .await
        .expect("delete on A");
    let started = std::time::Instant::now();
    loop {
        let answer = b.verify(&token).await;
        if !answer.valid {
            assert_eq!(answer.reason(), InvalidReason::ServiceAccountNotFound);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still valid on B after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn a_service_account_with_the_admin_role_can_call_the_admin_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let machine = create(&app, &root, "admin-bot", &["admin"]).await;
    let plain = create(&app, &root, "plain-bot", &["deploy"]).await;
    let robot_token = issue(&app, &machine.client_id, &machine.client_secret)
        .await
        .expect("a token")
        .access_token;
    let listed = list(&app, &robot_token, 0, "").await;
    assert_eq!(listed.service_accounts.len(), 2);
    let made = create(&app, &robot_token, "made-by-a-robot", &[]).await;
    assert!(made.service_account.is_some());

    let plain_token = issue(&app, &plain.client_id, &plain.client_secret)
        .await
        .expect("a token")
        .access_token;
    let status = admin(&app)
        .list_service_accounts(with_bearer(
            pb::ListServiceAccountsRequest::default(),
            &plain_token,
        ))
        .await
        .expect_err("no admin role");
    assert_eq!(status.code(), Code::PermissionDenied);

    // The audit row names the robot as the actor.
    let rows = app
        .core
        .accounts()
        .store()
        .audit_tail(50, None)
        .await
        .expect("audit");
    let row = rows
        .iter()
        .find(|r| r.event == "service_account_created" && r.subject == "made-by-a-robot")
        .expect("an audit row");
    assert!(
        row.detail.contains("by service account admin-bot"),
        "{row:?}"
    );
    assert_eq!(row.client_addr.as_deref(), Some("127.0.0.1"));
}

async fn the_last_admin_service_account_cannot_be_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let by = authd::service::ChangedBy {
        actor: "test".to_owned(),
        client_addr: None,
    };
    let robot = app
        .core
        .accounts()
        .create_service_account(
            authd::service::NewServiceAccountRequest {
                name: "only-admin".to_owned(),
                roles: vec!["admin".to_owned()],
                ..Default::default()
            },
            &by,
            authd::clock::now_unix(),
        )
        .await
        .expect("create");
    let token = issue(
        &app,
        &robot.account.client_id,
        robot.client_secret.expose_secret(),
    )
    .await
    .expect("a token")
    .access_token;
    assert_code(
        delete(&app, &token, &robot.account.id).await,
        Code::FailedPrecondition,
    );
    app.create_user("root", &["admin"]).await;
    delete(&app, &token, &robot.account.id)
        .await
        .expect("another admin exists now");
}

async fn a_service_accounts_token_cannot_use_the_calls_that_need_a_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let machine = create(&app, &root, "admin-bot", &["admin"]).await;
    let token = issue(&app, &machine.client_id, &machine.client_secret)
        .await
        .expect("a token")
        .access_token;
    let mut client = app.client.clone();
    let answers = [
        client
            .list_sessions(with_bearer(pb::ListSessionsRequest {}, &token))
            .await
            .map(drop),
        client
            .logout_all(with_bearer(pb::LogoutAllRequest {}, &token))
            .await
            .map(drop),
        client
            .get_user(with_bearer(pb::GetUserRequest { selector: None }, &token))
            .await
            .map(drop),
    ];
    for answer in answers {
        let status = answer.expect_err("a machine has no user record or sessions");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(status.message().contains("service account"), "{status:?}");
    }
}

async fn bad_service_account_fields_are_invalid_arguments_with_field_violations(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let long = "a".repeat(65);
    for (what, name, description, field) in [
        ("an empty name", "", "", "name"),
        ("an over-long name", long.as_str(), "", "name"),
        ("a NUL in the name", "bot\0", "", "name"),
        ("a control character in the name", "bot\u{7}", "", "name"),
        ("a bidi override in the name", "bot\u{202E}", "", "name"),
        (
            "a newline in the description",
            "bot",
            "line\nbreak",
            "description",
        ),
        (
            "a bidi override in the description",
            "bot",
            "txt\u{2066}",
            "description",
        ),
    ] {
        let status = admin(&app)
            .create_service_account(with_bearer(
                pb::CreateServiceAccountRequest {
                    name: name.to_owned(),
                    description: description.to_owned(),
                    roles: vec![],
                },
                &root,
            ))
            .await
            .expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "{what}");
        let bad = status.get_details_bad_request().expect("field violations");
        assert_eq!(bad.field_violations.len(), 1, "{what}: {bad:?}");
        assert_eq!(bad.field_violations[0].field, field, "{what}");
    }
    // Every bad field at once.
    let status = admin(&app)
        .create_service_account(with_bearer(
            pb::CreateServiceAccountRequest {
                name: String::new(),
                description: "x".repeat(201),
                roles: vec!["Not A Role".to_owned()],
            },
            &root,
        ))
        .await
        .expect_err("three bad fields");
    let bad = status.get_details_bad_request().expect("field violations");
    let fields: Vec<_> = bad
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["name", "description", "roles"]);
    // Names are unique ignoring case.
    create(&app, &root, "ci-bot", &[]).await;
    let status = admin(&app)
        .create_service_account(with_bearer(
            pb::CreateServiceAccountRequest {
                name: "CI-BOT".to_owned(),
                ..Default::default()
            },
            &root,
        ))
        .await
        .expect_err("taken");
    assert_eq!(status.code(), Code::AlreadyExists);
    // Empty credentials name their fields.
    let status = issue(&app, "", "").await.expect_err("empty");
    let bad = status.get_details_bad_request().expect("field violations");
    let fields: Vec<_> = bad
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["client_id", "client_secret"]);
}

async fn no_client_secret_or_its_hash_reaches_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let ci = create(&app, &root, "ci-bot", &[]).await;
    let id = ci.service_account.clone().expect("account").id;
    issue(&app, &ci.client_id, &ci.client_secret)
        .await
        .expect("a token");
    assert_code(
        issue(&app, &ci.client_id, "authd_sa_wrong-secret-value").await,
        Code::Unauthenticated,
    );
    let rotated = rotate(&app, &root, &id, Some(Duration::from_secs(60)))
        .await
        .expect("rotate");
    delete(&app, &root, &id).await.expect("delete");

    let rows = app
        .core
        .accounts()
        .store()
        .audit_tail(100, None)
        .await
        .expect("audit");
    let events: Vec<_> = rows
        .iter()
        .map(|r| (r.event.as_str(), r.outcome.as_str()))
        .collect();
    for wanted in [
        ("service_account_created", "success"),
        ("service_token", "success"),
        ("service_token", "failure"),
        ("service_account_secret_rotated", "success"),
        ("service_account_deleted", "success"),
    ] {
        assert!(events.contains(&wanted), "{wanted:?} in {events:?}");
    }
    let text = format!("{rows:?}");
    for secret in [&ci.client_secret, &rotated.client_secret] {
        assert!(!text.contains(secret.as_str()), "{text}");
        let hash = authd::token::client_secret::hash(secret);
        assert!(!text.contains(&hash), "{text}");
    }
    assert!(!text.contains("authd_sa_"), "{text}");
    let login_password = PASSWORD;
    assert!(!text.contains(login_password));
}
