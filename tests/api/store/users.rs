//! Accounts: lookups ignoring case, uniqueness, changes by username and what
//! they do to sessions, deletion.

use std::sync::Arc;

use authd::Error;
use authd::store::{Change, EndReason, LoginSnapshot, Store};
use secrecy::{ExposeSecret as _, SecretString};

use super::{new_session, new_user, open, snapshot, start, wait_for};
use crate::helpers::Backend;

on_both_backends!(
    users_are_found_by_username_or_email_ignoring_case,
    usernames_and_emails_are_unique_ignoring_case,
    users_without_email_do_not_collide,
    changes_by_username_report_unknown_users,
    password_changes_and_logins_are_recorded,
    users_are_listed_in_username_order,
    deleting_a_user_takes_their_sessions_and_tokens_with_them,
    changes_to_a_user_end_their_sessions_with_the_reason,
    a_users_own_password_change_keeps_their_session_and_is_guarded_by_the_old_hash,
);

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
    let err = store
        .set_roles("ghost", &["viewer".to_owned()], 1)
        .await
        .expect_err("unknown user");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let err = store.delete_user("ghost").await.expect_err("unknown user");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(store.user_by_username("ghost").await.expect("query"), None);

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

    let seen = snapshot("new-hash");
    let started = store
        .start_session(new_session(&alice.id, "s1", "h1", 42), &seen, None, 0)
        .await
        .expect("login");
    assert_eq!(started, Some(vec![]));
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
        .start_session(
            new_session(&alice.id, "s2", "h2", 43),
            &seen,
            Some(SecretString::from("rehashed".to_owned())),
            0,
        )
        .await
        .expect("login")
        .expect("started");
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

async fn deleting_a_user_takes_their_sessions_and_tokens_with_them(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", Some("alice@example.com")))
        .await
        .expect("user");
    let bob = store
        .create_user(new_user("bob", None))
        .await
        .expect("user");
    start(&store, "alice", new_session(&alice.id, "s1", "h1", 100), 0).await;
    start(&store, "bob", new_session(&bob.id, "s2", "h2", 100), 0).await;
    let mut feed = store.change_feed().await.expect("feed");

    let deleted = store.delete_user("ALICE").await.expect("delete");
    assert_eq!(
        (deleted.id.as_str(), deleted.last_login_at),
        (alice.id.as_str(), Some(100)),
        "the deleted user is returned, as last stored"
    );
    wait_for(&mut feed, &Change::UserSessions(alice.id.clone())).await;

    assert_eq!(store.user_by_id(&alice.id).await.expect("query"), None);
    assert!(
        store
            .find_credentials("alice@example.com")
            .await
            .expect("query")
            .is_none()
    );
    assert!(store.session("s1").await.expect("read").is_none());
    assert!(store.refresh_token("h1").await.expect("read").is_none());
    assert!(
        store.session("s2").await.expect("read").is_some(),
        "bob's stays"
    );
    let err = store.delete_user("alice").await.expect_err("gone");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    store
        .create_user(new_user("alice", Some("alice@example.com")))
        .await
        .expect("the name and email are free again");
}

async fn changes_to_a_user_end_their_sessions_with_the_reason(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    let ended = |store: Arc<dyn Store>, id: &'static str| async move {
        store.session(id).await.expect("read").expect("kept").ended
    };

    start(&store, "alice", new_session(&alice.id, "s1", "h1", 10), 0).await;
    let changed = store
        .set_password_hash("alice", SecretString::from("p2".to_owned()), 11)
        .await
        .expect("password");
    assert_eq!(changed.id, alice.id);
    assert_eq!(
        ended(Arc::clone(&store), "s1").await,
        Some((11, EndReason::PasswordChanged))
    );

    let seen = snapshot("p2");
    store
        .start_session(new_session(&alice.id, "s2", "h2", 12), &seen, None, 0)
        .await
        .expect("login")
        .expect("started");
    let changed = store
        .set_roles("alice", &["viewer".to_owned(), "auditor".to_owned()], 13)
        .await
        .expect("roles");
    assert_eq!(
        changed.roles,
        vec!["viewer".to_owned(), "auditor".to_owned()]
    );
    assert_eq!(
        ended(Arc::clone(&store), "s2").await,
        Some((13, EndReason::RolesChanged))
    );

    let seen = LoginSnapshot {
        password_hash: SecretString::from("p2".to_owned()),
        roles: vec!["viewer".into(), "auditor".into()],
    };
    store
        .start_session(new_session(&alice.id, "s3", "h3", 14), &seen, None, 0)
        .await
        .expect("login")
        .expect("started");
    store.set_active("alice", false, 15).await.expect("disable");
    assert_eq!(
        ended(Arc::clone(&store), "s3").await,
        Some((15, EndReason::UserDisabled))
    );
    store.set_active("alice", true, 16).await.expect("enable");
    assert_eq!(
        ended(Arc::clone(&store), "s3").await,
        Some((15, EndReason::UserDisabled)),
        "enabling does not revive a session"
    );
    assert!(
        store
            .live_sessions(&alice.id, 16)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn a_users_own_password_change_keeps_their_session_and_is_guarded_by_the_old_hash(
    backend: Backend,
) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    let bob = store
        .create_user(new_user("bob", None))
        .await
        .expect("user");
    for (user, id) in [(&alice, "s1"), (&alice, "s2"), (&alice, "s3"), (&bob, "b1")] {
        let session = new_session(&user.id, id, &format!("h-{id}"), 10);
        start(&store, &user.username, session, 0).await;
    }
    store
        .end_session("s3", EndReason::Logout, 11)
        .await
        .expect("logout");
    let mut feed = store.change_feed().await.expect("feed");
    // Changes user `id`'s password from `expected` to `new`, keeping s1.
    let change = |id: String, expected: &'static str, new: &'static str, now: i64| {
        let store = Arc::clone(&store);
        async move {
            let expected = SecretString::from(expected.to_owned());
            let new = SecretString::from(new.to_owned());
            store
                .change_password(&id, &expected, new, "s1", now)
                .await
                .expect("query")
        }
    };
    let stored = |store: Arc<dyn Store>| async move {
        let creds = store.find_credentials("alice").await.expect("q");
        creds
            .expect("some")
            .password_hash
            .expose_secret()
            .to_owned()
    };
    let session = |id: &'static str| {
        let store = Arc::clone(&store);
        async move { store.session(id).await.expect("read").expect("kept").ended }
    };

    // A stale expected hash (the password changed since it was checked) writes nothing.
    assert_eq!(
        change(alice.id.clone(), "an older hash", "p2", 12).await,
        None
    );
    assert_eq!(stored(Arc::clone(&store)).await, "hash-of-alice");

    let ended = change(alice.id.clone(), "hash-of-alice", "p2", 13).await;
    assert_eq!(ended, Some(1), "s2 only: s1 is kept and s3 had ended");
    assert_eq!(stored(Arc::clone(&store)).await, "p2");
    assert_eq!(session("s1").await, None, "the calling session stays");
    assert_eq!(session("s2").await, Some((13, EndReason::PasswordChanged)));
    assert_eq!(session("s3").await, Some((11, EndReason::Logout)));
    assert_eq!(session("b1").await, None, "another user's session stays");
    wait_for(&mut feed, &Change::UserSessions(alice.id.clone())).await;

    // The same old hash again: it is no longer the stored one.
    assert_eq!(
        change(alice.id.clone(), "hash-of-alice", "p3", 14).await,
        None
    );
    // Nor can a disabled user, or an unknown one, change it.
    store.set_active("alice", false, 15).await.expect("disable");
    assert_eq!(change(alice.id.clone(), "p2", "p3", 16).await, None);
    assert_eq!(change("no-such-id".to_owned(), "p2", "p3", 16).await, None);
    assert_eq!(stored(Arc::clone(&store)).await, "p2");
}
