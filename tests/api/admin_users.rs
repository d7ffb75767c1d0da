//! AdminService's user, unlock and audit RPCs over real gRPC: who may call
//! them, what they do, and every bad input reported field by field.

use std::time::Duration;

use authd::clock::ManualClock;
use authd::grpc::pb;
use authd::grpc::pb::admin_service_client::AdminServiceClient;
use authd::grpc::pb::get_user_request::Selector;
use authd::store::AuditFilter;
use authd::throttle::account_key;
use prost_types::FieldMask;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, assert_code, spawn_app, with_bearer};

on_both_backends!(
    every_rpc_refuses_a_missing_a_non_admin_and_a_disabled_admin_token,
    an_admin_creates_a_user_who_can_log_in_and_is_listed,
    a_username_or_email_taken_in_another_case_already_exists,
    create_user_reports_every_bad_field_at_once,
    names_with_nul_control_or_bidi_characters_are_refused_before_any_query,
    keyset_pages_walk_every_user_exactly_once,
    list_users_filters_by_query_role_and_active,
    page_sizes_out_of_range_and_forged_or_stale_page_tokens_are_refused,
    an_expired_page_token_is_refused,
    update_user_changes_the_masked_fields_only,
    update_user_refuses_an_empty_mask_an_unknown_path_and_a_bad_id,
    disabling_a_user_ends_their_sessions,
    the_last_active_admin_cannot_be_deleted_disabled_or_demoted,
    set_password_ends_every_session_and_counts_them,
    delete_user_removes_the_user_and_their_tokens,
    unlock_login_clears_failed_login_counts,
    audit_rows_name_the_actor_the_address_and_the_target_and_never_a_password,
    list_audit_events_pages_newest_first_with_filters,
    auth_service_refuses_a_nul_in_names_as_an_invalid_argument,
    admin_calls_leak_no_password_into_logs_answers_or_audit_rows,
);

/// A password with the log scanner's marker, as every helper's.
const NEW_PASSWORD: &str = "a brand new passphrase pwmark7q";

fn admin_client(app: &TestApp) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(app.channel.clone())
}

/// An app with an admin `root`, and root's access token.
async fn app_with_root(backend: Backend) -> (TestApp, String) {
    let app = spawn_app(backend).await;
    app.create_user("root", &["admin"]).await;
    let token = app.token_for("root").await;
    (app, token)
}

fn bad_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status
        .get_details_bad_request()
        .expect("a google.rpc.BadRequest detail");
    bad.field_violations.into_iter().map(|v| v.field).collect()
}

fn create_request(username: &str, email: &str, roles: &[&str]) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        username: username.to_owned(),
        email: email.to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        password: PASSWORD.to_owned(),
        active: None,
    }
}

async fn create(
    app: &TestApp,
    token: &str,
    request: pb::CreateUserRequest,
) -> Result<pb::User, Status> {
    admin_client(app)
        .create_user(with_bearer(request, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn list(
    app: &TestApp,
    token: &str,
    request: pb::ListUsersRequest,
) -> Result<pb::ListUsersResponse, Status> {
    admin_client(app)
        .list_users(with_bearer(request, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn update(
    app: &TestApp,
    token: &str,
    user: pb::User,
    paths: &[&str],
) -> Result<pb::User, Status> {
    admin_client(app)
        .update_user(with_bearer(
            pb::UpdateUserRequest {
                user: Some(user),
                update_mask: Some(FieldMask {
                    paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                }),
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

fn user_with_id(id: &str) -> pb::User {
    pb::User {
        id: id.to_owned(),
        ..pb::User::default()
    }
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Result<(), Status> {
    admin_client(app)
        .delete_user(with_bearer(
            pb::DeleteUserRequest { id: id.to_owned() },
            token,
        ))
        .await
        .map(drop)
}

fn code<T>(result: Result<T, Status>) -> Code {
    result.err().map_or(Code::Ok, |s| s.code())
}

/// Calls every user RPC of AdminService with `authorization` (if any) on
/// records that do not exist, and returns each call's code.
async fn codes_of_every_rpc(
    app: &TestApp,
    authorization: Option<&str>,
) -> Vec<(&'static str, Code)> {
    fn req<T>(message: T, authorization: Option<&str>) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().expect("ascii"));
        }
        request
    }
    let missing = "0192c1a2-7f3e-4c4d-9a1b-2c3d4e5f6a7b".to_owned();
    let mut client = admin_client(app);
    vec![
        (
            "CreateUser",
            code(
                client
                    .create_user(req(create_request("newbie", "", &[]), authorization))
                    .await,
            ),
        ),
        (
            "ListUsers",
            code(
                client
                    .list_users(req(pb::ListUsersRequest::default(), authorization))
                    .await,
            ),
        ),
        (
            "UpdateUser",
            code(
                client
                    .update_user(req(
                        pb::UpdateUserRequest {
                            user: Some(user_with_id(&missing)),
                            update_mask: Some(FieldMask {
                                paths: vec!["active".into()],
                            }),
                        },
                        authorization,
                    ))
                    .await,
            ),
        ),
        (
            "SetPassword",
            code(
                client
                    .set_password(req(
                        pb::SetPasswordRequest {
                            id: missing.clone(),
                            password: NEW_PASSWORD.into(),
                        },
                        authorization,
                    ))
                    .await,
            ),
        ),
        (
            "DeleteUser",
            code(
                client
                    .delete_user(req(
                        pb::DeleteUserRequest {
                            id: missing.clone(),
                        },
                        authorization,
                    ))
                    .await,
            ),
        ),
        (
            "UnlockLogin",
            code(
                client
                    .unlock_login(req(
                        pb::UnlockLoginRequest {
                            login: "nobody".into(),
                            address: String::new(),
                        },
                        authorization,
                    ))
                    .await,
            ),
        ),
        (
            "ListAuditEvents",
            code(
                client
                    .list_audit_events(req(pb::ListAuditEventsRequest::default(), authorization))
                    .await,
            ),
        ),
    ]
}

async fn every_rpc_refuses_a_missing_a_non_admin_and_a_disabled_admin_token(backend: Backend) {
    let (app, _root) = app_with_root(backend).await;
    app.create_user("viewer", &["viewer"]).await;
    app.create_user("ops", &["admin"]).await;
    let viewer = format!("Bearer {}", app.token_for("viewer").await);
    let ops = format!("Bearer {}", app.token_for("ops").await);

    for (rpc, code) in codes_of_every_rpc(&app, None).await {
        assert_eq!(code, Code::Unauthenticated, "{rpc} without a token");
    }
    for (rpc, code) in codes_of_every_rpc(&app, Some("Bearer not-a-token")).await {
        assert_eq!(code, Code::Unauthenticated, "{rpc} with a bad token");
    }
    // No NOT_FOUND oracle: the records named do not exist, and the answer
    // is still PERMISSION_DENIED.
    for (rpc, code) in codes_of_every_rpc(&app, Some(&viewer)).await {
        assert_eq!(code, Code::PermissionDenied, "{rpc} with a non-admin token");
    }
    app.core
        .accounts()
        .set_active("ops", false, authd::clock::now_unix())
        .await
        .unwrap();
    for (rpc, code) in codes_of_every_rpc(&app, Some(&ops)).await {
        assert_eq!(
            code,
            Code::Unauthenticated,
            "{rpc} with a disabled admin's token"
        );
    }
}

async fn an_admin_creates_a_user_who_can_log_in_and_is_listed(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    let mut request = create_request("alice", "Alice@Example.com", &["viewer", "admin", "viewer"]);
    NEW_PASSWORD.clone_into(&mut request.password);
    let alice = create(&app, &root, request).await.expect("created");
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.email, "Alice@Example.com");
    assert_eq!(alice.roles, ["admin", "viewer"], "sorted and deduplicated");
    assert!(alice.active);
    app.login("alice", NEW_PASSWORD)
        .await
        .expect("alice logs in");

    let mut disabled = create_request("bob", "", &[]);
    disabled.active = Some(false);
    let bob = create(&app, &root, disabled)
        .await
        .expect("created disabled");
    assert!(!bob.active);
    assert_code(app.login("bob", PASSWORD).await, Code::Unauthenticated);

    let listed = list(&app, &root, pb::ListUsersRequest::default())
        .await
        .unwrap();
    let mut names: Vec<&str> = listed.users.iter().map(|u| u.username.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["alice", "bob", "root"]);
    assert!(listed.next_page_token.is_empty(), "one page");
}

async fn a_username_or_email_taken_in_another_case_already_exists(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    create(
        &app,
        &root,
        create_request("alice", "alice@example.com", &[]),
    )
    .await
    .unwrap();
    assert_code(
        create(&app, &root, create_request("ALICE", "", &[])).await,
        Code::AlreadyExists,
    );
    assert_code(
        create(
            &app,
            &root,
            create_request("alice2", "ALICE@EXAMPLE.COM", &[]),
        )
        .await,
        Code::AlreadyExists,
    );
}

async fn create_user_reports_every_bad_field_at_once(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    let status = assert_code(
        create(
            &app,
            &root,
            pb::CreateUserRequest {
                username: String::new(),
                email: "not-an-email".into(),
                roles: vec!["viewer".into(), "Bad Role".into()],
                password: String::new(),
                active: None,
            },
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        bad_fields(&status),
        ["username", "email", "roles[1]", "password"]
    );

    let long = create(
        &app,
        &root,
        create_request(
            &"a".repeat(65),
            &format!("{}@example.com", "e".repeat(250)),
            &[],
        ),
    )
    .await;
    assert_eq!(
        bad_fields(&assert_code(long, Code::InvalidArgument)),
        ["username", "email"]
    );

    let mut huge = create_request("carol", "", &[]);
    huge.password = "x".repeat(1025);
    let status = assert_code(create(&app, &root, huge).await, Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["password"]);
    assert!(
        !status.message().contains("xxxx"),
        "never echoes a password"
    );
}

async fn names_with_nul_control_or_bidi_characters_are_refused_before_any_query(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    for (username, email, role) in [
        ("ali\0ce", "alice\0@example.com", "vie\0wer"),
        ("ali\u{7}ce", "alice\u{1b}[2J@example.com", "viewer\n"),
        (
            "adm\u{202e}nimda",
            "alice\u{2066}@example.com",
            "v\u{200f}iewer",
        ),
        (
            "line\u{2028}break",
            "alice\u{2029}@example.com",
            "view\u{2028}er",
        ),
    ] {
        let status = assert_code(
            create(&app, &root, create_request(username, email, &[role])).await,
            Code::InvalidArgument,
        );
        assert_eq!(
            bad_fields(&status),
            ["username", "email", "roles[0]"],
            "{username:?}"
        );
        assert!(
            status.message().contains("U+"),
            "says which character: {}",
            status.message()
        );
    }
    // List and audit filters, logins and events alike.
    let status = assert_code(
        list(
            &app,
            &root,
            pb::ListUsersRequest {
                query: "a\0".into(),
                role: "ad\u{202a}min".into(),
                ..pb::ListUsersRequest::default()
            },
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["query", "role"]);
    let status = assert_code(
        admin_client(&app)
            .list_audit_events(with_bearer(
                pb::ListAuditEventsRequest {
                    subject: "ro\0ot".into(),
                    event: "log\u{85}in".into(),
                    ..pb::ListAuditEventsRequest::default()
                },
                &root,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["subject", "event"]);
    let status = assert_code(
        admin_client(&app)
            .unlock_login(with_bearer(
                pb::UnlockLoginRequest {
                    login: "ro\0ot".into(),
                    address: "1.2.3.x".into(),
                },
                &root,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["login", "address"]);
    let status = assert_code(delete(&app, &root, "root\0").await, Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["id"]);
}

async fn keyset_pages_walk_every_user_exactly_once(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    for i in 0..6 {
        app.create_user(&format!("user{i}"), &[]).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(
            &app,
            &root,
            pb::ListUsersRequest {
                page_size: 3,
                page_token: token.clone(),
                ..pb::ListUsersRequest::default()
            },
        )
        .await
        .expect("a page");
        pages += 1;
        assert!(page.users.len() <= 3);
        seen.extend(page.users.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3, "7 users in pages of 3");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "in order of id");
    sorted.dedup();
    assert_eq!(sorted.len(), 7, "every user exactly once");
}

async fn list_users_filters_by_query_role_and_active(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    app.create_user_with("alice", Some("alice@example.com"), &["viewer"], PASSWORD)
        .await;
    app.create_user_with("a_b", Some("zed@example.com"), &[], PASSWORD)
        .await;
    app.create_user("axb", &[]).await;
    app.core
        .accounts()
        .set_active("axb", false, authd::clock::now_unix())
        .await
        .unwrap();
    let names = |request: pb::ListUsersRequest| {
        let app = &app;
        let root = &root;
        async move {
            let mut names: Vec<String> = list(app, root, request)
                .await
                .expect("listed")
                .users
                .into_iter()
                .map(|u| u.username)
                .collect();
            names.sort();
            names
        }
    };
    let query = |q: &str| pb::ListUsersRequest {
        query: q.into(),
        ..pb::ListUsersRequest::default()
    };
    assert_eq!(names(query("AL")).await, ["alice"]);
    assert_eq!(names(query("a_")).await, ["a_b"], "`_` matches only itself");
    assert_eq!(names(query("ZED@")).await, ["a_b"], "by email too");
    assert_eq!(
        names(pb::ListUsersRequest {
            role: "viewer".into(),
            ..pb::ListUsersRequest::default()
        })
        .await,
        ["alice"]
    );
    assert_eq!(
        names(pb::ListUsersRequest {
            active: Some(false),
            ..pb::ListUsersRequest::default()
        })
        .await,
        ["axb"]
    );
}

async fn page_sizes_out_of_range_and_forged_or_stale_page_tokens_are_refused(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    for i in 0..3 {
        app.create_user(&format!("user{i}"), &[]).await;
    }
    for size in [-1, 1001, i32::MIN] {
        let status = assert_code(
            list(
                &app,
                &root,
                pb::ListUsersRequest {
                    page_size: size,
                    ..pb::ListUsersRequest::default()
                },
            )
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(bad_fields(&status), ["page_size"], "{size}");
    }
    let all = list(
        &app,
        &root,
        pb::ListUsersRequest {
            page_size: 0,
            ..pb::ListUsersRequest::default()
        },
    )
    .await
    .expect("0 is the default size");
    assert_eq!(all.users.len(), 4);

    let first = list(
        &app,
        &root,
        pb::ListUsersRequest {
            page_size: 1,
            query: "user".into(),
            ..pb::ListUsersRequest::default()
        },
    )
    .await
    .unwrap();
    let token = first.next_page_token;
    assert!(!token.is_empty());
    let mut forged = token.clone().into_bytes();
    let at = forged.len() / 2;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    for bad in [
        String::from_utf8(forged).unwrap(),
        "garbage".to_owned(),
        format!("{token}x"),
    ] {
        let status = assert_code(
            list(
                &app,
                &root,
                pb::ListUsersRequest {
                    page_size: 1,
                    query: "user".into(),
                    page_token: bad,
                    ..pb::ListUsersRequest::default()
                },
            )
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(bad_fields(&status), ["page_token"]);
    }
    // The token of another list (other filters) is refused too.
    let status = assert_code(
        list(
            &app,
            &root,
            pb::ListUsersRequest {
                page_size: 1,
                query: "use".into(),
                page_token: token.clone(),
                ..pb::ListUsersRequest::default()
            },
        )
        .await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("other filters"),
        "{}",
        status.message()
    );
    // The same filters, in another case: the same list.
    list(
        &app,
        &root,
        pb::ListUsersRequest {
            page_size: 1,
            query: "USER".into(),
            page_token: token,
            ..pb::ListUsersRequest::default()
        },
    )
    .await
    .expect("the query ignores case, so does its token");
}

async fn an_expired_page_token_is_refused(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::builder(backend).clock(&clock).spawn().await;
    app.create_user("root", &["admin"]).await;
    app.create_user("alice", &[]).await;
    let root = app.token_for("root").await;
    let request = |token: String| pb::ListUsersRequest {
        page_size: 1,
        page_token: token,
        ..pb::ListUsersRequest::default()
    };
    let token = list(&app, &root, request(String::new()))
        .await
        .unwrap()
        .next_page_token;
    clock.advance(Duration::from_secs(3600));
    let root = app.token_for("root").await;
    list(&app, &root, request(token.clone()))
        .await
        .expect("an hour later, still fine");
    clock.advance(Duration::from_secs(24 * 3600));
    let root = app.token_for("root").await;
    let status = assert_code(
        list(&app, &root, request(token)).await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("expired"), "{}", status.message());
}

async fn update_user_changes_the_masked_fields_only(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    let alice = app
        .create_user_with("alice", Some("alice@example.com"), &["viewer"], PASSWORD)
        .await;
    let changed = update(
        &app,
        &root,
        pb::User {
            id: alice.id.clone(),
            email: "Alice@New.example".into(),
            roles: vec!["admin".into()],
            active: false,
            ..pb::User::default()
        },
        &["email"],
    )
    .await
    .expect("email changed");
    assert_eq!(changed.email, "Alice@New.example");
    assert_eq!(changed.roles, ["viewer"], "roles not in the mask");
    assert!(changed.active, "active not in the mask");
    app.login("alice@new.example", PASSWORD)
        .await
        .expect("logs in by the new email");

    let changed = update(
        &app,
        &root,
        pb::User {
            id: alice.id.clone(),
            roles: vec!["editor".into(), "viewer".into()],
            ..pb::User::default()
        },
        &["roles", "email"],
    )
    .await
    .expect("roles changed, email removed");
    assert_eq!(changed.roles, ["editor", "viewer"]);
    assert_eq!(changed.email, "");

    create(&app, &root, create_request("bob", "bob@example.com", &[]))
        .await
        .unwrap();
    assert_code(
        update(
            &app,
            &root,
            pb::User {
                id: alice.id.clone(),
                email: "BOB@example.com".into(),
                ..pb::User::default()
            },
            &["email"],
        )
        .await,
        Code::AlreadyExists,
    );
    assert_code(
        update(
            &app,
            &root,
            user_with_id("0192c1a2-7f3e-4c4d-9a1b-2c3d4e5f6a7b"),
            &["active"],
        )
        .await,
        Code::NotFound,
    );
}

async fn update_user_refuses_an_empty_mask_an_unknown_path_and_a_bad_id(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let status = assert_code(
        update(&app, &root, user_with_id(&alice.id), &[]).await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["update_mask"]);
    let status = assert_code(
        update(
            &app,
            &root,
            user_with_id(&alice.id),
            &["active", "password"],
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["update_mask"]);
    assert!(
        status.message().contains("`password`"),
        "{}",
        status.message()
    );
    let status = assert_code(
        update(
            &app,
            &root,
            pb::User {
                id: "not-an-id".into(),
                email: "x\0@example.com".into(),
                roles: vec![String::new()],
                ..pb::User::default()
            },
            &["email", "roles", "username"],
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        bad_fields(&status),
        ["user.id", "update_mask", "user.email", "user.roles[0]"]
    );
    let status = assert_code(
        admin_client(&app)
            .update_user(with_bearer(
                pb::UpdateUserRequest {
                    user: None,
                    update_mask: None,
                },
                &root,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["user.id", "update_mask"]);
}

async fn disabling_a_user_ends_their_sessions(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    let alice = app.create_user("alice", &["viewer"]).await;
    let token = app.token_for("alice").await;
    assert!(app.verify(&token).await.valid);
    let changed = update(
        &app,
        &root,
        pb::User {
            id: alice.id.clone(),
            active: false,
            ..pb::User::default()
        },
        &["active"],
    )
    .await
    .expect("disabled");
    assert!(!changed.active);
    let answer = app.verify(&token).await;
    assert!(!answer.valid);
    assert_eq!(answer.reason(), pb::InvalidReason::UserDisabled);
    assert_code(app.login("alice", PASSWORD).await, Code::Unauthenticated);
    update(
        &app,
        &root,
        pb::User {
            id: alice.id.clone(),
            active: true,
            ..pb::User::default()
        },
        &["active"],
    )
    .await
    .expect("enabled again");
    assert!(
        !app.verify(&token).await.valid,
        "enabling does not revive sessions"
    );

    let token = app.token_for("alice").await;
    update(
        &app,
        &root,
        pb::User {
            id: alice.id,
            roles: vec![],
            ..pb::User::default()
        },
        &["roles"],
    )
    .await
    .expect("roles removed");
    let answer = app.verify(&token).await;
    assert!(
        !answer.valid,
        "removing a role ends the sessions: {answer:?}"
    );
}

async fn the_last_active_admin_cannot_be_deleted_disabled_or_demoted(backend: Backend) {
    let (app, root_token) = app_with_root(backend).await;
    let root = app
        .core
        .accounts()
        .store()
        .user_by_username("root")
        .await
        .unwrap()
        .unwrap();
    let status = assert_code(
        delete(&app, &root_token, &root.id).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("last active user"),
        "{}",
        status.message()
    );
    assert_code(
        update(
            &app,
            &root_token,
            pb::User {
                id: root.id.clone(),
                active: false,
                ..pb::User::default()
            },
            &["active"],
        )
        .await,
        Code::FailedPrecondition,
    );
    assert_code(
        update(
            &app,
            &root_token,
            pb::User {
                id: root.id.clone(),
                roles: vec!["viewer".into()],
                ..pb::User::default()
            },
            &["roles"],
        )
        .await,
        Code::FailedPrecondition,
    );
    assert!(app.verify(&root_token).await.valid, "nothing changed");

    // With a second admin, root may go.
    create(&app, &root_token, create_request("ops", "", &["admin"]))
        .await
        .unwrap();
    delete(&app, &root_token, &root.id)
        .await
        .expect("another admin remains");
    assert!(!app.verify(&root_token).await.valid);
}

async fn set_password_ends_every_session_and_counts_them(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let one = app.token_for("alice").await;
    let _two = app.token_for("alice").await;
    let answer = admin_client(&app)
        .set_password(with_bearer(
            pb::SetPasswordRequest {
                id: alice.id.clone(),
                password: NEW_PASSWORD.into(),
            },
            &root,
        ))
        .await
        .expect("password set")
        .into_inner();
    assert_eq!(answer.ended_sessions, 2);
    assert!(!app.verify(&one).await.valid);
    assert_code(app.login("alice", PASSWORD).await, Code::Unauthenticated);
    app.login("alice", NEW_PASSWORD)
        .await
        .expect("the new password works");

    let status = assert_code(
        admin_client(&app)
            .set_password(with_bearer(
                pb::SetPasswordRequest {
                    id: "alice".into(),
                    password: String::new(),
                },
                &root,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["id", "password"]);
    assert_code(
        admin_client(&app)
            .set_password(with_bearer(
                pb::SetPasswordRequest {
                    id: "0192c1a2-7f3e-4c4d-9a1b-2c3d4e5f6a7b".into(),
                    password: NEW_PASSWORD.into(),
                },
                &root,
            ))
            .await,
        Code::NotFound,
    );
}

async fn delete_user_removes_the_user_and_their_tokens(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    delete(&app, &root, &alice.id).await.expect("deleted");
    assert!(!app.verify(&token).await.valid);
    assert_code(delete(&app, &root, &alice.id).await, Code::NotFound);
    assert_code(app.login("alice", PASSWORD).await, Code::Unauthenticated);
}

async fn unlock_login_clears_failed_login_counts(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    app.create_user_with("alice", Some("alice@example.com"), &[], PASSWORD)
        .await;
    let store = app.core.accounts().store().clone();
    let now = authd::clock::now_unix();
    let keys = [account_key("alice"), account_key("alice@example.com")];
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    store
        .record_login_failure(&keys, now, now - 600)
        .await
        .unwrap();
    let answer = admin_client(&app)
        .unlock_login(with_bearer(
            pb::UnlockLoginRequest {
                login: "ALICE".into(),
                address: String::new(),
            },
            &root,
        ))
        .await
        .expect("unlocked")
        .into_inner();
    assert_eq!(answer.cleared, 2, "by username and by email");
    assert!(store.login_failures(&keys).await.unwrap().is_empty());
}

async fn audit_rows_name_the_actor_the_address_and_the_target_and_never_a_password(
    backend: Backend,
) {
    let (app, root) = app_with_root(backend).await;
    let root_user = app
        .core
        .accounts()
        .store()
        .user_by_username("root")
        .await
        .unwrap()
        .unwrap();
    let mut request = create_request("alice", "", &[]);
    request.password = NEW_PASSWORD.into();
    let alice = create(&app, &root, request).await.unwrap();
    update(
        &app,
        &root,
        pb::User {
            id: alice.id.clone(),
            active: false,
            ..pb::User::default()
        },
        &["active"],
    )
    .await
    .unwrap();
    admin_client(&app)
        .set_password(with_bearer(
            pb::SetPasswordRequest {
                id: alice.id.clone(),
                password: NEW_PASSWORD.into(),
            },
            &root,
        ))
        .await
        .unwrap();
    delete(&app, &root, &alice.id).await.unwrap();

    let rows = app
        .core
        .accounts()
        .store()
        .audit_page(
            &AuditFilter {
                subject: Some(alice.id.clone()),
                ..AuditFilter::default()
            },
            None,
            50,
        )
        .await
        .unwrap();
    let events: Vec<&str> = rows.iter().rev().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "user_created",
            "user_disabled",
            "password_changed",
            "user_deleted"
        ]
    );
    let actor = format!("by user root ({})", root_user.id);
    for row in &rows {
        assert_eq!(row.user_id.as_deref(), Some(alice.id.as_str()), "{row:?}");
        assert_eq!(row.subject, "alice");
        assert_eq!(row.client_addr.as_deref(), Some("127.0.0.1"), "{row:?}");
        assert!(row.detail.contains(&actor), "{row:?}");
        let text = format!("{row:?}").to_lowercase();
        assert!(
            !text.contains("pwmark7q") && !text.contains("$argon2"),
            "{row:?}"
        );
    }
}

async fn list_audit_events_pages_newest_first_with_filters(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    for name in ["alice", "bob", "carol"] {
        create(&app, &root, create_request(name, "", &[]))
            .await
            .unwrap();
    }
    let client = admin_client(&app);
    let call = |request: pb::ListAuditEventsRequest| {
        let mut client = client.clone();
        let root = root.clone();
        async move {
            client
                .list_audit_events(with_bearer(request, &root))
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let created = pb::ListAuditEventsRequest {
        event: "user_created".into(),
        page_size: 2,
        ..pb::ListAuditEventsRequest::default()
    };
    let first = call(created.clone()).await.unwrap();
    // root was created by the test helper, then alice, bob and carol.
    assert_eq!(
        first
            .events
            .iter()
            .map(|e| e.subject.as_str())
            .collect::<Vec<_>>(),
        ["carol", "bob"]
    );
    assert!(first.events[0].id > first.events[1].id);
    assert!(first.events[0].detail.contains("by user root"));
    assert_eq!(first.events[0].client_address, "127.0.0.1");
    let second = call(pb::ListAuditEventsRequest {
        page_token: first.next_page_token.clone(),
        ..created.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        second
            .events
            .iter()
            .map(|e| e.subject.as_str())
            .collect::<Vec<_>>(),
        ["alice", "root"]
    );
    assert!(second.next_page_token.is_empty());
    // The token belongs to its filters.
    let status = assert_code(
        call(pb::ListAuditEventsRequest {
            page_token: first.next_page_token,
            event: "login".into(),
            ..created.clone()
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["page_token"]);

    let bob = call(pb::ListAuditEventsRequest {
        subject: "BOB".into(),
        ..pb::ListAuditEventsRequest::default()
    })
    .await
    .unwrap();
    assert_eq!(bob.events.len(), 1);
    assert_eq!(bob.events[0].event, "user_created");
    let future = call(pb::ListAuditEventsRequest {
        since: Some(prost_types::Timestamp {
            seconds: authd::clock::now_unix() + 3600,
            nanos: 0,
        }),
        ..pb::ListAuditEventsRequest::default()
    })
    .await
    .unwrap();
    assert!(future.events.is_empty());
    let status = assert_code(
        call(pb::ListAuditEventsRequest {
            page_size: -5,
            ..pb::ListAuditEventsRequest::default()
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["page_size"]);
}

async fn auth_service_refuses_a_nul_in_names_as_an_invalid_argument(backend: Backend) {
    let (app, root) = app_with_root(backend).await;
    // Today's bug on PostgreSQL: the NUL reached the database and the
    // answer was INTERNAL.
    let status = assert_code(app.login("ali\0ce", PASSWORD).await, Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["username"]);
    let bearer = format!("Bearer {root}");
    let status = assert_code(
        app.get_user(Some(&bearer), Some(Selector::Username("ali\0ce".into())))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["username"]);
    assert_code(
        app.get_user(Some(&bearer), Some(Selector::Id("id\0".into())))
            .await,
        Code::InvalidArgument,
    );
    let status = assert_code(
        app.client
            .clone()
            .revoke_sessions(with_bearer(
                pb::RevokeSessionsRequest {
                    user: Some(pb::revoke_sessions_request::User::Username("bo\0b".into())),
                },
                &root,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(bad_fields(&status), ["username"]);
}

/// Two replicas on one PostgreSQL: a user disabled through UpdateUser on A
/// is refused on B, through the change feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_disabled_on_one_replica_is_refused_on_the_other() {
    let db = TestDb::new(Backend::Postgres).await;
    let url = db.url.clone();
    let a = TestApp::builder_on(db).spawn().await;
    let b = TestApp::builder_on(TestDb::attach(&url)).spawn().await;
    a.create_user("root", &["admin"]).await;
    let alice = a.create_user("alice", &[]).await;
    let root = a.token_for("root").await;
    let token = a.token_for("alice").await;
    b.wait_for_feed().await;
    assert!(b.verify(&token).await.valid, "valid on B, and cached there");

    update(
        &a,
        &root,
        pb::User {
            id: alice.id,
            active: false,
            ..pb::User::default()
        },
        &["active"],
    )
    .await
    .expect("disabled on A");
    let start = std::time::Instant::now();
    loop {
        let answer = b.verify(&token).await;
        if !answer.valid {
            assert_eq!(
                answer.reason(),
                pb::InvalidReason::UserDisabled,
                "{answer:?}"
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "still valid on B");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // And B opens a page token from A: the key is shared.
    let page = list(
        &a,
        &root,
        pb::ListUsersRequest {
            page_size: 1,
            ..pb::ListUsersRequest::default()
        },
    )
    .await
    .unwrap();
    list(
        &b,
        &root,
        pb::ListUsersRequest {
            page_size: 1,
            page_token: page.next_page_token,
            ..pb::ListUsersRequest::default()
        },
    )
    .await
    .expect("A's page token opens on B");
}

async fn admin_calls_leak_no_password_into_logs_answers_or_audit_rows(backend: Backend) {
    use std::sync::atomic::Ordering;

    use crate::log_capture::{PASSWORD_MARKER, assert_no_leaks, counts};

    let (app, root) = app_with_root(backend).await;
    let before = counts().from_authd.load(Ordering::Relaxed);
    let mut request = create_request("alice", "", &[]);
    NEW_PASSWORD.clone_into(&mut request.password);
    let alice = create(&app, &root, request).await.unwrap();
    // Refused passwords are named by rule, never echoed.
    let mut too_long = create_request("bob", "", &[]);
    too_long.password = format!("{PASSWORD_MARKER}{}", "x".repeat(1024));
    let status = assert_code(create(&app, &root, too_long).await, Code::InvalidArgument);
    assert!(!status.message().contains(PASSWORD_MARKER), "{status:?}");
    let answer = admin_client(&app)
        .set_password(with_bearer(
            pb::SetPasswordRequest {
                id: alice.id.clone(),
                password: format!("reset {PASSWORD_MARKER} passphrase"),
            },
            &root,
        ))
        .await
        .unwrap();
    assert!(!format!("{answer:?}").contains(PASSWORD_MARKER));
    let events = admin_client(&app)
        .list_audit_events(with_bearer(pb::ListAuditEventsRequest::default(), &root))
        .await
        .unwrap()
        .into_inner();
    assert!(events.events.len() >= 2);
    let shown = format!("{events:?}").to_lowercase();
    assert!(!shown.contains(PASSWORD_MARKER) && !shown.contains("$argon2"));
    let seen = counts().from_authd.load(Ordering::Relaxed) - before;
    assert!(seen >= 5, "the log scanner saw only {seen} authd events");
    assert_no_leaks();
}
