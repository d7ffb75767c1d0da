//! What the revocation stream reads: ended sessions since a time (all, or
//! one user's), disabled users since their last change, and the tombstones
//! every delete leaves (purged with the ended sessions); and a rotated
//! secret announced on the feed.

use authd::clock::now_unix;
use authd::store::{Change, DeletedKind, EndReason, NewServiceAccount};

use super::{new_session, new_user, open, start, wait_for};
use crate::helpers::Backend;

on_both_backends!(
    ended_sessions_are_listed_since_a_time_for_everyone_or_one_user,
    disabled_users_are_listed_since_their_last_change,
    every_delete_leaves_a_tombstone_that_the_purge_removes,
    rotating_a_secret_is_announced_on_the_feed,
);

fn account(id: &str) -> NewServiceAccount {
    NewServiceAccount {
        id: id.to_owned(),
        name: format!("bot-{id}"),
        description: String::new(),
        roles: Vec::new(),
        client_id: format!("sa-{id}"),
        created_at: 1_000,
    }
}

async fn ended_sessions_are_listed_since_a_time_for_everyone_or_one_user(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store.create_user(new_user("alice", None)).await.unwrap();
    let bob = store.create_user(new_user("bob", None)).await.unwrap();
    for (user, id) in [(&alice, "a1"), (&alice, "a2"), (&bob, "b1"), (&bob, "b2")] {
        start(
            &store,
            &user.username,
            new_session(&user.id, id, id, 100),
            0,
        )
        .await;
    }
    store
        .end_session("a1", EndReason::Logout, 150)
        .await
        .unwrap();
    store
        .end_session("a2", EndReason::Admin, 300)
        .await
        .unwrap();
    store
        .end_session("b1", EndReason::PasswordChanged, 310)
        .await
        .unwrap();

    let ids = |sessions: Vec<authd::store::Session>| {
        sessions
            .into_iter()
            .map(|s| (s.id, s.ended.map(|(at, _)| at)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.ended_sessions(200, None).await.unwrap()),
        vec![("a2".to_owned(), Some(300)), ("b1".to_owned(), Some(310))],
        "ended at or after the time, live ones left out"
    );
    assert_eq!(
        ids(store.ended_sessions(0, Some(&alice.id)).await.unwrap()),
        vec![("a1".to_owned(), Some(150)), ("a2".to_owned(), Some(300))]
    );
    let b1 = store.ended_sessions(300, Some(&bob.id)).await.unwrap();
    assert_eq!(b1.len(), 1);
    assert_eq!(b1[0].ended, Some((310, EndReason::PasswordChanged)));
}

async fn disabled_users_are_listed_since_their_last_change(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store.create_user(new_user("alice", None)).await.unwrap();
    store.create_user(new_user("bob", None)).await.unwrap();
    store.create_user(new_user("carol", None)).await.unwrap();
    store.set_active("alice", false, 5_000).await.unwrap();
    store.set_active("bob", false, 1_000).await.unwrap();
    let disabled = store.disabled_users(2_000).await.unwrap();
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0].id, alice.id);
    assert_eq!(disabled[0].changed_at, 5_000);
    assert_eq!(store.disabled_users(0).await.unwrap().len(), 2);
    store.set_active("alice", true, 6_000).await.unwrap();
    assert!(store.disabled_users(2_000).await.unwrap().is_empty());
}

async fn every_delete_leaves_a_tombstone_that_the_purge_removes(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store.create_user(new_user("alice", None)).await.unwrap();
    let mut bob = new_user("bob", None);
    bob.roles = Vec::new();
    let bob = store.create_user(bob).await.unwrap();
    store
        .create_service_account(&account("a1"), "h1")
        .await
        .unwrap();
    let before = now_unix();
    store.delete_user("alice").await.unwrap();
    store.delete_user_unless_last_admin(&bob.id).await.unwrap();
    store.delete_service_account("a1").await.unwrap();
    let after = now_unix();

    let mut deletions = store.deletions(0).await.unwrap();
    deletions.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![
        (DeletedKind::ServiceAccount, "a1".to_owned()),
        (DeletedKind::User, alice.id.clone()),
        (DeletedKind::User, bob.id.clone()),
    ];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        deletions
            .iter()
            .map(|d| (d.kind, d.id.clone()))
            .collect::<Vec<_>>(),
        expected
    );
    for d in &deletions {
        // Stamped by the database's clock.
        assert!(
            (before - 5..=after + 5).contains(&d.deleted_at),
            "{d:?} not within [{before}, {after}]"
        );
    }
    assert!(store.deletions(after + 10).await.unwrap().is_empty());

    // Kept while younger than the purge's bound, then purged.
    store.purge_sessions(after, before - 10).await.unwrap();
    assert_eq!(store.deletions(0).await.unwrap().len(), 3);
    store.purge_sessions(after, after + 10).await.unwrap();
    assert!(store.deletions(0).await.unwrap().is_empty());
}

async fn rotating_a_secret_is_announced_on_the_feed(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut feed = store.change_feed().await.expect("feed");
    store
        .create_service_account(&account("a1"), "h1")
        .await
        .unwrap();
    store
        .rotate_service_account_secret("a1", "h2", 2_000, 3_000)
        .await
        .unwrap();
    wait_for(&mut feed, &Change::ServiceAccount("a1".to_owned())).await;
}
