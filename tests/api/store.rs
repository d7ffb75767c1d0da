//! The storage conformance suite: the same expectations of both databases.

use std::sync::Arc;
use std::time::Duration;

use authd::Error;
use authd::store::KeyState;
use authd::store::{
    self, Change, EndReason, FeedItem, LoginSnapshot, NewAuditEntry, NewSession, NewUser,
    PoolSettings, Rotation, Store,
};
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
    sessions_start_end_and_list,
    exactly_one_concurrent_rotation_wins,
    a_login_racing_a_change_to_the_user_starts_no_session,
    expired_and_long_ended_sessions_are_purged,
    changes_are_announced_on_the_feed,
    failed_logins_are_counted_per_key_and_forgotten_after_the_window,
    concurrent_failed_logins_are_all_counted,
    failed_login_counts_are_cleared_and_purged,
    the_audit_log_appends_and_reads_back_in_order,
    the_database_refuses_to_update_or_delete_audit_rows,
);

async fn open(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = store::connect(
        &db.url.parse().expect("a valid URL"),
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

/// What a login saw: the helper users' roles and the given hash.
fn snapshot(hash: &str) -> LoginSnapshot {
    LoginSnapshot {
        password_hash: SecretString::from(hash.to_owned()),
        roles: vec!["admin".into(), "viewer".into()],
    }
}

/// Starts a session for a user made by `new_user` (hash `hash-of-NAME`).
async fn start(
    store: &Arc<dyn Store>,
    username: &str,
    session: NewSession,
    max: u32,
) -> Vec<String> {
    store
        .start_session(
            session,
            &snapshot(&format!("hash-of-{username}")),
            None,
            max,
        )
        .await
        .expect("query")
        .expect("user unchanged")
}

fn new_session(user_id: &str, id: &str, refresh_hash: &str, created_at: i64) -> NewSession {
    NewSession {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        created_at,
        expires_at: created_at + 1000,
        client_addr: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        refresh_hash: refresh_hash.to_owned(),
    }
}

async fn sessions_start_end_and_list(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    for (i, id) in ["s1", "s2", "s3"].into_iter().enumerate() {
        let evicted = start(
            &store,
            "alice",
            new_session(&alice.id, id, &format!("h{i}"), 100),
            2,
        )
        .await;
        if id == "s3" {
            assert_eq!(evicted, vec!["s1".to_owned()], "the oldest makes way");
        } else {
            assert!(evicted.is_empty());
        }
    }
    let live: Vec<_> = store
        .live_sessions(&alice.id, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec!["s2", "s3"]);

    assert!(
        store
            .end_session("s2", EndReason::Logout, 101)
            .await
            .expect("end")
    );
    assert!(
        !store
            .end_session("s2", EndReason::Logout, 102)
            .await
            .expect("again")
    );
    assert!(
        !store
            .end_session("nope", EndReason::Logout, 102)
            .await
            .expect("unknown")
    );
    let s2 = store.session("s2").await.expect("read").expect("kept");
    assert_eq!(s2.ended, Some((101, EndReason::Logout)));
    assert_eq!(s2.client_addr.as_deref(), Some("127.0.0.1"));

    assert_eq!(
        store
            .end_user_sessions(&alice.id, EndReason::LogoutAll, 103)
            .await
            .expect("all"),
        1
    );
    assert!(
        store
            .live_sessions(&alice.id, 103)
            .await
            .expect("list")
            .is_empty()
    );
    let record = store
        .refresh_token("h2")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(record.session_id, "s3");
    assert_eq!(record.rotated_at, None);
}

async fn exactly_one_concurrent_rotation_wins(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    start(&store, "alice", new_session(&alice.id, "s1", "old", 100), 0).await;
    let attempts: Vec<_> = (0..10)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .rotate_refresh_token("old", &format!("new{i}"), b"sealed", 101)
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for attempt in attempts {
        match attempt.await.expect("task").expect("no error") {
            Rotation::Rotated => winners += 1,
            Rotation::AlreadyRotated => {}
            Rotation::SessionEnded => panic!("the session is live"),
        }
    }
    assert_eq!(winners, 1);
    store
        .end_session("s1", EndReason::Logout, 102)
        .await
        .expect("end");
    let after_logout = store
        .rotate_refresh_token("new0", "next", b"sealed", 103)
        .await
        .expect("no error");
    assert_eq!(
        after_logout,
        Rotation::SessionEnded,
        "an ended session does not rotate"
    );
    let old = store
        .refresh_token("old")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(old.rotated_at, Some(101));
    assert_eq!(old.successor_sealed.as_deref(), Some(b"sealed".as_slice()));
    let session = store.session("s1").await.expect("read").expect("exists");
    assert_eq!(session.last_used_at, 101);
}

async fn a_login_racing_a_change_to_the_user_starts_no_session(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    let seen = snapshot("hash-of-alice");
    store
        .set_password_hash("alice", SecretString::from("changed".to_owned()), 2)
        .await
        .expect("change");
    let started = store
        .start_session(new_session(&alice.id, "s1", "h1", 3), &seen, None, 0)
        .await
        .expect("query");
    assert_eq!(started, None, "the password changed after the check");
    assert!(store.session("s1").await.expect("read").is_none());

    let seen = snapshot("changed");
    store
        .set_roles("alice", &["viewer".to_owned()], 4)
        .await
        .expect("roles");
    let started = store
        .start_session(new_session(&alice.id, "s2", "h2", 5), &seen, None, 0)
        .await
        .expect("query");
    assert_eq!(started, None, "the roles changed after the check");

    let seen = LoginSnapshot {
        password_hash: SecretString::from("changed".to_owned()),
        roles: vec!["viewer".into()],
    };
    store.set_active("alice", false, 6).await.expect("disable");
    let started = store
        .start_session(new_session(&alice.id, "s3", "h3", 7), &seen, None, 0)
        .await
        .expect("query");
    assert_eq!(started, None, "the user was disabled after the check");
    store.set_active("alice", true, 8).await.expect("enable");
    assert!(
        store
            .start_session(new_session(&alice.id, "s4", "h4", 9), &seen, None, 0)
            .await
            .expect("query")
            .is_some()
    );
}

async fn expired_and_long_ended_sessions_are_purged(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    start(
        &store,
        "alice",
        new_session(&alice.id, "expired", "h1", 0),
        0,
    )
    .await;
    start(
        &store,
        "alice",
        new_session(&alice.id, "ended", "h2", 5000),
        0,
    )
    .await;
    start(
        &store,
        "alice",
        new_session(&alice.id, "live", "h3", 5000),
        0,
    )
    .await;
    store
        .end_session("ended", EndReason::Logout, 5001)
        .await
        .expect("end");

    let purged = store.purge_sessions(5002, 5001).await.expect("purge");
    assert_eq!(purged, 2);
    assert!(store.session("expired").await.expect("read").is_none());
    assert!(store.session("ended").await.expect("read").is_none());
    assert!(
        store.refresh_token("h1").await.expect("read").is_none(),
        "tokens go too"
    );
    assert!(store.session("live").await.expect("read").is_some());
}

async fn changes_are_announced_on_the_feed(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut feed = store.change_feed().await.expect("feed");
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    store.set_active("alice", false, 1).await.expect("disable");

    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(&Change::UserSessions(alice.id.clone())) {
        assert!(std::time::Instant::now() < deadline, "saw only {seen:?}");
        let next = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("the feed answers")
            .expect("no error");
        if let FeedItem::Change(change) = next {
            seen.push(change);
        }
    }
    assert!(seen.contains(&Change::User(alice.id.clone())), "{seen:?}");
}

/// The stored counts of `keys`, sorted by key, as (key, failures, last failure).
async fn counts(store: &Arc<dyn Store>, keys: &[&str]) -> Vec<(String, i64, i64)> {
    let mut counts: Vec<_> = store
        .login_failures(keys)
        .await
        .expect("read counts")
        .into_iter()
        .map(|c| (c.key, c.failures, c.last_failure_at))
        .collect();
    counts.sort();
    counts
}

async fn failed_logins_are_counted_per_key_and_forgotten_after_the_window(backend: Backend) {
    let (_db, store) = open(backend).await;
    let keys = ["account:alice", "address:192.0.2.7"];
    assert!(counts(&store, &keys).await.is_empty());

    // Window 100 s: forget_before = now - 100.
    store
        .record_login_failure(&keys, 1000, 900)
        .await
        .expect("record");
    store
        .record_login_failure(&keys, 1050, 950)
        .await
        .expect("record");
    store
        .record_login_failure(&["account:bob", "address:192.0.2.7"], 1060, 960)
        .await
        .expect("record");
    assert_eq!(
        counts(
            &store,
            &["account:alice", "account:bob", "address:192.0.2.7"]
        )
        .await,
        vec![
            ("account:alice".to_owned(), 2, 1050),
            ("account:bob".to_owned(), 1, 1060),
            ("address:192.0.2.7".to_owned(), 3, 1060),
        ]
    );
    // Unknown keys and repeats are fine.
    assert_eq!(
        counts(
            &store,
            &["account:alice", "account:alice", "account:nobody"]
        )
        .await,
        vec![("account:alice".to_owned(), 2, 1050)]
    );

    // A window after alice's last failure her count starts again; the
    // address, which failed later, keeps counting.
    store
        .record_login_failure(&keys, 1150, 1050)
        .await
        .expect("record");
    assert_eq!(
        counts(&store, &keys).await,
        vec![
            ("account:alice".to_owned(), 1, 1150),
            ("address:192.0.2.7".to_owned(), 4, 1150),
        ]
    );
}

async fn concurrent_failed_logins_are_all_counted(backend: Backend) {
    let (_db, store) = open(backend).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .record_login_failure(&["account:alice", "address:192.0.2.7"], 1000, 900)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("record");
    }
    assert_eq!(
        counts(&store, &["account:alice", "address:192.0.2.7"]).await,
        vec![
            ("account:alice".to_owned(), 20, 1000),
            ("address:192.0.2.7".to_owned(), 20, 1000),
        ]
    );
}

async fn failed_login_counts_are_cleared_and_purged(backend: Backend) {
    let (_db, store) = open(backend).await;
    store
        .record_login_failure(&["account:alice", "address:192.0.2.7"], 1000, 0)
        .await
        .expect("record");
    store
        .record_login_failure(&["account:bob"], 2000, 0)
        .await
        .expect("record");
    assert_eq!(
        store
            .clear_login_failures(&["account:alice", "account:nobody"])
            .await
            .expect("clear"),
        1
    );
    assert_eq!(
        counts(&store, &["account:alice", "address:192.0.2.7"]).await,
        vec![("address:192.0.2.7".to_owned(), 1, 1000)]
    );
    // Purging drops what is forgotten (last failure at or before the bound) only.
    assert_eq!(store.purge_login_failures(1000).await.expect("purge"), 1);
    assert_eq!(
        counts(&store, &["address:192.0.2.7", "account:bob"]).await,
        vec![("account:bob".to_owned(), 1, 2000)]
    );
}

fn audit_entry(at: i64, event: &str, subject: &str) -> NewAuditEntry {
    NewAuditEntry {
        at,
        event: event.to_owned(),
        user_id: Some(format!("id-of-{subject}")),
        subject: subject.to_owned(),
        client_addr: Some("127.0.0.1".to_owned()),
        outcome: "success".to_owned(),
        detail: format!("{event} of {subject}"),
    }
}

async fn the_audit_log_appends_and_reads_back_in_order(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert!(store.audit_tail(10, None).await.expect("tail").is_empty());
    let mut ids = Vec::new();
    for (i, name) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let entry = audit_entry(1_700_000_000 + i64::try_from(i).unwrap(), "login", name);
        ids.push(store.append_audit(&entry).await.expect("append"));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    // Without a cursor: the last `limit` rows, oldest first.
    let last_two = store.audit_tail(2, None).await.expect("tail");
    assert_eq!(
        last_two
            .iter()
            .map(|e| e.subject.as_str())
            .collect::<Vec<_>>(),
        ["bob", "carol"]
    );
    let carol = &last_two[1];
    assert_eq!(carol.id, ids[2]);
    assert_eq!(carol.at, 1_700_000_002);
    assert_eq!(carol.event, "login");
    assert_eq!(carol.user_id.as_deref(), Some("id-of-carol"));
    assert_eq!(carol.client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(carol.outcome, "success");
    assert_eq!(carol.detail, "login of carol");

    // With a cursor: what came after it, oldest first, up to `limit`.
    let after_first = store.audit_tail(10, Some(ids[0])).await.expect("tail");
    assert_eq!(
        after_first.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids[1..]
    );
    assert_eq!(
        store.audit_tail(1, Some(ids[0])).await.expect("tail").len(),
        1
    );
    assert!(
        store
            .audit_tail(10, Some(ids[2]))
            .await
            .expect("tail")
            .is_empty()
    );

    // Nullable columns stay null.
    let anonymous = NewAuditEntry {
        user_id: None,
        client_addr: None,
        ..audit_entry(1_700_000_003, "login", "nobody")
    };
    store.append_audit(&anonymous).await.expect("append");
    let last = store.audit_tail(1, None).await.expect("tail").remove(0);
    assert_eq!((last.user_id, last.client_addr), (None, None));
}

async fn the_database_refuses_to_update_or_delete_audit_rows(backend: Backend) {
    let (db, store) = open(backend).await;
    store
        .append_audit(&audit_entry(1_700_000_000, "login", "alice"))
        .await
        .expect("append");
    let before = store.audit_tail(10, None).await.expect("tail");

    // Straight SQL on a connection of its own, as an intruder with the
    // database URL would send it: the triggers refuse, whoever asks.
    let mut statements = vec![
        "UPDATE audit_log SET outcome = 'failure'",
        "UPDATE audit_log SET detail = '' WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
    ];
    if backend == Backend::Postgres {
        statements.push("TRUNCATE audit_log");
    }
    for statement in statements {
        let refused = match backend {
            Backend::Sqlite => {
                use sqlx::Connection as _;
                let mut conn = sqlx::SqliteConnection::connect(&db.url)
                    .await
                    .expect("connect");
                sqlx::query(statement).execute(&mut conn).await.map(drop)
            }
            Backend::Postgres => {
                use sqlx::Connection as _;
                let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
                sqlx::query(statement).execute(&mut conn).await.map(drop)
            }
        };
        let err = refused.expect_err(statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    assert_eq!(store.audit_tail(10, None).await.expect("tail"), before);
}
