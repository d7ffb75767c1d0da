//! GetUser: bearer-authenticated reads of user records.

use authd::clock::now_unix;
use authd::grpc::pb::get_user_request::Selector;
use prost::Message as _;
use tonic::Code;

use crate::helpers::{Backend, assert_code, spawn_app};

on_both_backends!(
    a_user_reads_their_own_record_by_id_or_username,
    calls_without_a_valid_bearer_token_are_unauthenticated,
    reading_another_user_needs_the_admin_role,
    an_admin_reads_anyone_and_unknown_users_are_not_found,
    a_request_without_a_selector_is_an_invalid_argument,
);

async fn a_user_reads_their_own_record_by_id_or_username(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let bearer = format!("Bearer {}", app.token_for("alice").await);

    let by_id = app
        .get_user(Some(&bearer), Some(Selector::Id(alice.id.clone())))
        .await
        .expect("own record by id");
    assert_eq!(by_id.username, "alice");
    let by_name = app
        .get_user(Some(&bearer), Some(Selector::Username("ALICE".into())))
        .await
        .expect("own record by username, ignoring case");
    assert_eq!(by_name.id, alice.id);

    // No password hash anywhere in the encoded response.
    let bytes = by_id.encode_to_vec();
    assert!(!String::from_utf8_lossy(&bytes).contains("$argon2"));
}

async fn calls_without_a_valid_bearer_token_are_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let me = || Some(Selector::Id(alice.id.clone()));

    let status = assert_code(app.get_user(None, me()).await, Code::Unauthenticated);
    assert!(status.message().contains("Bearer"), "{}", status.message());
    assert_code(
        app.get_user(Some("Bearer not-a-token"), me()).await,
        Code::Unauthenticated,
    );
    assert_code(
        app.get_user(Some(&format!("Token {token}")), me()).await,
        Code::Unauthenticated,
    );
    assert_code(
        app.get_user(Some("Bearer "), me()).await,
        Code::Unauthenticated,
    );

    let sid = app.session_of("alice").await;
    let expired = app
        .core
        .tokens()
        .issue(&alice, &sid, i64::MAX, now_unix() - 3600)
        .expect("issue")
        .token;
    let status = assert_code(
        app.get_user(Some(&format!("Bearer {expired}")), me()).await,
        Code::Unauthenticated,
    );
    assert!(status.message().contains("expired"), "{}", status.message());
}

async fn reading_another_user_needs_the_admin_role(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &["viewer"]).await;
    let bob = app.create_user("bob", &[]).await;
    let bearer = format!("Bearer {}", app.token_for("alice").await);

    let status = assert_code(
        app.get_user(Some(&bearer), Some(Selector::Id(bob.id.clone())))
            .await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("admin"), "{}", status.message());
    assert_code(
        app.get_user(Some(&bearer), Some(Selector::Username("bob".into())))
            .await,
        Code::PermissionDenied,
    );
    // Without the role, an unknown id is denied too: no probing for accounts.
    assert_code(
        app.get_user(Some(&bearer), Some(Selector::Id("no-such-id".into())))
            .await,
        Code::PermissionDenied,
    );
}

async fn an_admin_reads_anyone_and_unknown_users_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("root", &["admin"]).await;
    let bob = app.create_user("bob", &[]).await;
    let bearer = format!("Bearer {}", app.token_for("root").await);

    let read = app
        .get_user(Some(&bearer), Some(Selector::Id(bob.id.clone())))
        .await
        .expect("admin reads bob");
    assert_eq!(read.username, "bob");
    let read = app
        .get_user(Some(&bearer), Some(Selector::Username("Bob".into())))
        .await
        .expect("admin reads bob by name");
    assert_eq!(read.id, bob.id);

    assert_code(
        app.get_user(
            Some(&bearer),
            Some(Selector::Id(uuid::Uuid::new_v4().to_string())),
        )
        .await,
        Code::NotFound,
    );
    assert_code(
        app.get_user(Some(&bearer), Some(Selector::Username("nobody".into())))
            .await,
        Code::NotFound,
    );
}

async fn a_request_without_a_selector_is_an_invalid_argument(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let bearer = format!("Bearer {}", app.token_for("alice").await);
    assert_code(
        app.get_user(Some(&bearer), None).await,
        Code::InvalidArgument,
    );
}
