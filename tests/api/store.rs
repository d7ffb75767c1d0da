//! The storage conformance suite: the same expectations of both databases.

use std::sync::Arc;
use std::time::Duration;

use authd::Error;
use authd::store::{self, KeyState, NewUser, PoolSettings, Store};
use authd::token::keys::generate_ed25519;
use secrecy::{ExposeSecret as _, SecretString};

use crate::helpers::{Backend, TestDb};

on_both_backends!(
    users_are_found_by_username_or_email_ignoring_case,
    usernames_and_emails_are_unique_ignoring_case,
    users_without_email_do_not_collide,
    changes_by_username_report_unknown_users,
    password_changes_and_logins_are_recorded,
    users_are_listed_in_username_order,
    one_current_signing_key_wins_a_race,
    migrations_are_idempotent,
);

async fn open(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = store::connect(
        &SecretString::from(db.url.clone()),
        PoolSettings {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
        },
    )
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    (db, store)
}

fn new_user(username: &str, email: Option<&str>) -> NewUser {
    NewUser {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        email: email.map(str::to_owned),
        password_hash: SecretString::from(format!("hash-of-{username}")),
        roles: vec!["admin".into(), "viewer".into()],
        created_at: 1_700_000_000,
    }
}

async fn users_are_found_by_username_or_email_ignoring_case(backend: Backend) {
    let (_db, store) = open(backend).await;
    let created = store
        .create_user(new_user("Alice", Some("Alice@Example.com")))
        .await
        .expect("create");
    assert_eq!(created.username, "Alice");
    assert_eq!(created.email.as_deref(), Some("Alice@Example.com"));
    assert!(created.active);
    assert_eq!(created.roles, vec!["admin".to_owned(), "viewer".to_owned()]);
    assert_eq!(created.created_at, 1_700_000_000);
    assert_eq!(created.last_login_at, None);

    for login in ["alice", "ALICE", "alice@example.com", "ALICE@EXAMPLE.COM"] {
        let found = store
            .find_credentials(login)
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("{login} finds alice"));
        assert_eq!(found.user, created);
        assert_eq!(found.password_hash.expose_secret(), "hash-of-Alice");
    }
    assert!(
        store
            .find_credentials("bob")
            .await
            .expect("query")
            .is_none()
    );
    assert_eq!(
        store.user_by_id(&created.id).await.expect("query"),
        Some(created.clone())
    );
    assert_eq!(store.user_by_id("nope").await.expect("query"), None);
    assert_eq!(
        store.user_by_username("aLiCe").await.expect("query"),
        Some(created)
    );
}

async fn usernames_and_emails_are_unique_ignoring_case(backend: Backend) {
    let (_db, store) = open(backend).await;
    store
        .create_user(new_user("alice", Some("alice@example.com")))
        .await
        .expect("create");

    let err = store
        .create_user(new_user("ALICE", None))
        .await
        .expect_err("same name, other case");
    assert!(
        matches!(&err, Error::AlreadyExists(m) if m.contains("username")),
        "{err:?}"
    );

    let err = store
        .create_user(new_user("bob", Some("ALICE@example.com")))
        .await
        .expect_err("same email, other case");
    assert!(
        matches!(&err, Error::AlreadyExists(m) if m.contains("email")),
        "{err:?}"
    );
}

async fn users_without_email_do_not_collide(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.create_user(new_user("a", None)).await.expect("a");
    store.create_user(new_user("b", None)).await.expect("b");
    assert_eq!(store.list_users().await.expect("list").len(), 2);
}

async fn changes_by_username_report_unknown_users(backend: Backend) {
    let (_db, store) = open(backend).await;
    let err = store
        .set_active("ghost", false, 1)
        .await
        .expect_err("unknown user");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = store
        .set_password_hash("ghost", SecretString::from("h".to_owned()), 1)
        .await
        .expect_err("unknown user");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");

    store
        .create_user(new_user("alice", None))
        .await
        .expect("create");
    let disabled = store.set_active("ALICE", false, 2).await.expect("disable");
    assert!(!disabled.active);
    let enabled = store.set_active("alice", true, 3).await.expect("enable");
    assert!(enabled.active);
}

async fn password_changes_and_logins_are_recorded(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("create");

    store
        .set_password_hash("alice", SecretString::from("new-hash".to_owned()), 5)
        .await
        .expect("set");
    let creds = store
        .find_credentials("alice")
        .await
        .expect("q")
        .expect("some");
    assert_eq!(creds.password_hash.expose_secret(), "new-hash");

    store
        .record_login(&alice.id, 42, None)
        .await
        .expect("login");
    let creds = store
        .find_credentials("alice")
        .await
        .expect("q")
        .expect("some");
    assert_eq!(creds.user.last_login_at, Some(42));
    assert_eq!(
        creds.password_hash.expose_secret(),
        "new-hash",
        "kept without a rehash"
    );

    store
        .record_login(
            &alice.id,
            43,
            Some(SecretString::from("rehashed".to_owned())),
        )
        .await
        .expect("login");
    let creds = store
        .find_credentials("alice")
        .await
        .expect("q")
        .expect("some");
    assert_eq!(creds.user.last_login_at, Some(43));
    assert_eq!(creds.password_hash.expose_secret(), "rehashed");
}

async fn users_are_listed_in_username_order(backend: Backend) {
    let (_db, store) = open(backend).await;
    for name in ["carol", "Alice", "bob"] {
        store
            .create_user(new_user(name, None))
            .await
            .expect("create");
    }
    let names: Vec<_> = store
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, vec!["Alice", "bob", "carol"]);
}

async fn one_current_signing_key_wins_a_race(backend: Backend) {
    let (_db, store) = open(backend).await;
    let first = generate_ed25519(1).expect("key");
    let second = generate_ed25519(2).expect("key");
    assert!(store.insert_signing_key(&first).await.expect("insert"));
    assert!(
        !store.insert_signing_key(&second).await.expect("insert"),
        "a second current key is refused"
    );
    let keys = store.signing_keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, first.kid);
    assert_eq!(keys[0].state, KeyState::Current);
    assert_eq!(keys[0].public_key, first.public_key);
    assert_eq!(
        keys[0].private_key.expose_secret(),
        first.private_key.expose_secret()
    );
}

async fn migrations_are_idempotent(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.migrate().await.expect("second run is a no-op");
    store
        .create_user(new_user("alice", None))
        .await
        .expect("usable");
}
