//! The storage conformance suite: the same expectations of both databases,
//! every store opened by [`open`]. Every [`Store`] method is exercised here
//! or in the domain files beside it (`store/{users,sessions,keys,throttle,
//! audit,service_accounts,revocations}.rs`, as in `src/store/sql/`), `close` and `heartbeat` included;
//! `tests/api/key_store.rs` adds more of the signing-key lifecycle.

use std::sync::Arc;
use std::time::Duration;

use authd::Error;
use authd::store::{
    self, Change, ChangeFeed, FeedItem, LoginSnapshot, NewSession, NewUser, PoolSettings, Store,
};
use secrecy::SecretString;

use crate::helpers::{Backend, TestDb};

on_both_backends!(
    migrations_are_idempotent,
    changes_are_announced_on_the_feed,
    heartbeats_keep_the_feed_alive,
    the_store_answers_pings_until_it_is_closed,
);

mod admin;
mod audit;
mod keys;
mod revocations;
mod service_accounts;
mod sessions;
mod throttle;
mod users;

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

/// Reads `feed` until `wanted` arrives (failing after 10 s); returns the
/// changes seen before it.
async fn wait_for(feed: &mut Box<dyn ChangeFeed>, wanted: &Change) -> Vec<Change> {
    let mut before = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, feed.next())
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} on the feed; saw only {before:?}"))
            .expect("the feed answers");
        match next {
            FeedItem::Change(change) if change == *wanted => return before,
            FeedItem::Change(change) => before.push(change),
            FeedItem::Alive | FeedItem::Resync => {}
        }
    }
}

async fn migrations_are_idempotent(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.migrate().await.expect("second run is a no-op");
    store
        .create_user(new_user("alice", None))
        .await
        .expect("usable");
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

async fn heartbeats_keep_the_feed_alive(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut feed = store.change_feed().await.expect("feed");
    for _ in 0..3 {
        store.heartbeat().await.expect("heartbeat");
        let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("the feed answers")
            .expect("no error");
        assert_eq!(item, FeedItem::Alive, "a heartbeat is no change");
    }
}

async fn the_store_answers_pings_until_it_is_closed(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.ping().await.expect("the database answers");
    store.close().await;
    let err = store.ping().await.expect_err("a closed store");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    let err = store
        .create_user(new_user("alice", None))
        .await
        .expect_err("a closed store");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}
