//! Sessions and refresh tokens: starting (with the re-check of the user and
//! the per-user limit), ending, listing, purging, and rotation and its races.

use std::sync::Arc;

use authd::store::{EndReason, LoginSnapshot, Rotation};
use secrecy::SecretString;

use super::{new_session, new_user, open, snapshot, start};
use crate::helpers::Backend;

on_both_backends!(
    sessions_start_end_and_list,
    exactly_one_concurrent_rotation_wins,
    a_login_racing_a_change_to_the_user_starts_no_session,
    expired_and_long_ended_sessions_are_purged,
    a_rotation_racing_a_logout_either_rotates_or_finds_the_session_ended,
    tokens_rotate_once_and_only_while_the_session_lives,
    expired_sessions_are_not_live,
    sessions_are_read_by_id_many_at_once,
);

/// `Store::sessions` (the revocation hub's read-back) answers the ended and
/// live sessions among more ids than one statement takes, leaving unknown
/// ones out, and nothing for no ids.
async fn sessions_are_read_by_id_many_at_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    let count = authd::store::SESSIONS_PER_READ + 6;
    let ids: Vec<String> = (0..count).map(|i| format!("s{i:03}")).collect();
    for id in &ids {
        start(
            &store,
            "alice",
            new_session(&alice.id, id, &format!("h-{id}"), 100),
            0,
        )
        .await;
    }
    for id in ids.iter().step_by(3) {
        assert!(
            store
                .end_session(id, EndReason::Logout, 101)
                .await
                .expect("end")
        );
    }
    let mut asked = ids.clone();
    asked.push("no-such-session".to_owned());
    let mut read = store.sessions(&asked).await.expect("read");
    read.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(read.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ids);
    for (i, session) in read.iter().enumerate() {
        let ended = (i % 3 == 0).then_some((101, EndReason::Logout));
        assert_eq!(session.ended, ended, "{}", session.id);
        assert_eq!(session.user_id, alice.id);
    }
    assert!(store.sessions(&[]).await.expect("none").is_empty());
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

async fn a_rotation_racing_a_logout_either_rotates_or_finds_the_session_ended(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    for round in 0..10 {
        let (sid, old, new) = (
            format!("s{round}"),
            format!("old{round}"),
            format!("new{round}"),
        );
        start(&store, "alice", new_session(&alice.id, &sid, &old, 100), 0).await;
        let rotate = {
            let (store, old, new) = (Arc::clone(&store), old.clone(), new.clone());
            tokio::spawn(
                async move { store.rotate_refresh_token(&old, &new, b"sealed", 101).await },
            )
        };
        let logout = {
            let (store, sid) = (Arc::clone(&store), sid.clone());
            tokio::spawn(async move { store.end_session(&sid, EndReason::Logout, 101).await })
        };
        let rotation = rotate.await.expect("task").expect("rotate");
        assert!(
            logout.await.expect("task").expect("logout"),
            "the logout ends it"
        );

        let successor = store.refresh_token(&new).await.expect("read");
        match rotation {
            Rotation::Rotated => {
                assert!(successor.is_some(), "a rotation stores its successor");
            }
            Rotation::SessionEnded => {
                assert!(successor.is_none(), "a losing rotation writes nothing");
                let old = store
                    .refresh_token(&old)
                    .await
                    .expect("read")
                    .expect("kept");
                assert_eq!(old.rotated_at, None);
            }
            Rotation::AlreadyRotated => panic!("nobody else rotated {old}"),
        }
        // Whoever won, the session is over and its tokens no longer rotate.
        assert_eq!(
            store
                .rotate_refresh_token(&new, "next", b"sealed", 102)
                .await
                .expect("rotate"),
            Rotation::SessionEnded
        );
    }
}

async fn tokens_rotate_once_and_only_while_the_session_lives(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    start(&store, "alice", new_session(&alice.id, "s1", "t1", 100), 0).await;
    assert_eq!(
        store
            .rotate_refresh_token("t1", "t2", b"sealed-t2", 200)
            .await
            .expect("rotate"),
        Rotation::Rotated
    );
    assert_eq!(
        store
            .rotate_refresh_token("t1", "t3", b"sealed-t3", 201)
            .await
            .expect("rotate"),
        Rotation::AlreadyRotated,
        "a rotated token is spent"
    );
    let t1 = store
        .refresh_token("t1")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        t1.successor_sealed.as_deref(),
        Some(b"sealed-t2".as_slice())
    );
    assert!(store.refresh_token("t3").await.expect("read").is_none());
    let t2 = store
        .refresh_token("t2")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!((t2.session_id.as_str(), t2.rotated_at), ("s1", None));

    assert_eq!(
        store
            .rotate_refresh_token("unknown", "t4", b"sealed", 202)
            .await
            .expect("rotate"),
        Rotation::SessionEnded,
        "an unknown token has no live session"
    );
    // new_session expires 1000 s after it starts.
    assert_eq!(
        store
            .rotate_refresh_token("t2", "t5", b"sealed", 1100)
            .await
            .expect("rotate"),
        Rotation::SessionEnded,
        "an expired session does not rotate"
    );
    assert!(store.refresh_token("t5").await.expect("read").is_none());
}

async fn expired_sessions_are_not_live(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    start(&store, "alice", new_session(&alice.id, "old", "h1", 100), 0).await;
    start(&store, "alice", new_session(&alice.id, "new", "h2", 500), 0).await;
    let live = |now| {
        let store = Arc::clone(&store);
        let user = alice.id.clone();
        async move {
            store
                .live_sessions(&user, now)
                .await
                .expect("list")
                .into_iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(live(1099).await, ["new", "old"], "ordered by id");
    assert_eq!(live(1100).await, ["new"], "expiry is exclusive");
    assert!(live(1500).await.is_empty());
    assert!(
        store
            .live_sessions("nobody", 100)
            .await
            .expect("list")
            .is_empty()
    );
}
