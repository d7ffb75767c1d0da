//! Signing keys: the one-current rule, promotion and retirement, listing,
//! and their announcements.

use authd::store::{Change, KeyRetirement, KeyState, StoredKey};
use authd::token::keys::{generate, generate_ed25519};
use jsonwebtoken::Algorithm;
use secrecy::ExposeSecret as _;

use super::{new_user, open, wait_for};
use crate::helpers::Backend;

on_both_backends!(
    one_current_signing_key_wins_a_race,
    key_lifecycle_changes_are_announced_on_the_feed,
    a_failed_promotion_changes_and_announces_nothing,
    all_signing_keys_lists_retired_keys_too_newest_first,
    retiring_one_key_wipes_it_announces_it_and_never_touches_the_current_key,
    the_recorded_overlap_only_grows_and_only_on_keys_that_sign_or_will,
    the_database_clock_reads_unix_seconds,
);

async fn the_database_clock_reads_unix_seconds(backend: Backend) {
    let (_db, store) = open(backend).await;
    // The same machine's clock here: within a second or two of this process's.
    let before = authd::clock::now_unix();
    let db_now = store.db_now().await.expect("db_now");
    let after = authd::clock::now_unix();
    assert!(
        (before - 1..=after + 1).contains(&db_now),
        "{before} <= {db_now} <= {after}"
    );
}

async fn retiring_one_key_wipes_it_announces_it_and_never_touches_the_current_key(
    backend: Backend,
) {
    let (_db, store) = open(backend).await;
    let current = generate(Algorithm::EdDSA, KeyState::Current, 1).expect("key");
    let next = generate(Algorithm::EdDSA, KeyState::Next, 2).expect("key");
    assert!(store.insert_signing_key(&current).await.expect("insert"));
    assert!(store.insert_signing_key(&next).await.expect("insert"));
    let mut feed = store.change_feed().await.expect("feed");

    assert_eq!(
        store
            .retire_signing_key(&current.kid)
            .await
            .expect("retire"),
        KeyRetirement::Current
    );
    assert_eq!(
        store
            .retire_signing_key("no-such-kid")
            .await
            .expect("retire"),
        KeyRetirement::NotFound
    );
    assert_eq!(
        store.retire_signing_key(&next.kid).await.expect("retire"),
        KeyRetirement::Retired
    );
    wait_for(&mut feed, &Change::Keys).await;
    assert_eq!(
        store.retire_signing_key(&next.kid).await.expect("retire"),
        KeyRetirement::AlreadyRetired
    );
    let all = store.all_signing_keys().await.expect("keys");
    let retired = all.iter().find(|k| k.kid == next.kid).expect("listed");
    assert_eq!(retired.state, KeyState::Retired);
    assert!(retired.private_key.expose_secret().is_empty(), "wiped");
    let verifying = store.signing_keys().await.expect("keys");
    assert_eq!(verifying.len(), 1);
    assert_eq!(verifying[0].kid, current.kid);
    assert_eq!(verifying[0].state, KeyState::Current);
}

async fn the_recorded_overlap_only_grows_and_only_on_keys_that_sign_or_will(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut current = generate(Algorithm::EdDSA, KeyState::Current, 1).expect("key");
    current.overlap_secs = Some(100);
    assert!(store.insert_signing_key(&current).await.expect("insert"));
    let overlap = |keys: &[StoredKey], kid: &str| {
        keys.iter()
            .find(|k| k.kid == kid)
            .and_then(|k| k.overlap_secs)
    };
    assert_eq!(
        overlap(&store.signing_keys().await.expect("keys"), &current.kid),
        Some(100),
        "stored as inserted"
    );
    store.record_key_overlap(50).await.expect("record");
    assert_eq!(
        overlap(&store.signing_keys().await.expect("keys"), &current.kid),
        Some(100),
        "never lowered"
    );
    store.record_key_overlap(300).await.expect("record");
    assert_eq!(
        overlap(&store.signing_keys().await.expect("keys"), &current.kid),
        Some(300)
    );
    let next = generate(Algorithm::EdDSA, KeyState::Next, 2).expect("key");
    assert!(store.insert_signing_key(&next).await.expect("insert"));
    assert!(
        store
            .promote_signing_key(&current.kid, &next.kid, 10, 20)
            .await
            .expect("promote")
    );
    store.record_key_overlap(900).await.expect("record");
    let keys = store.signing_keys().await.expect("keys");
    assert_eq!(overlap(&keys, &next.kid), Some(900), "the signing key");
    assert_eq!(overlap(&keys, &current.kid), Some(300), "not a stopped key");
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

async fn key_lifecycle_changes_are_announced_on_the_feed(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut feed = store.change_feed().await.expect("feed");
    let current = generate(Algorithm::EdDSA, KeyState::Current, 1).expect("key");
    let next = generate(Algorithm::EdDSA, KeyState::Next, 2).expect("key");

    assert!(store.insert_signing_key(&current).await.expect("insert"));
    wait_for(&mut feed, &Change::Keys).await;
    assert!(store.insert_signing_key(&next).await.expect("insert"));
    wait_for(&mut feed, &Change::Keys).await;
    assert!(
        store
            .promote_signing_key(&current.kid, &next.kid, 10, 20)
            .await
            .expect("promote")
    );
    wait_for(&mut feed, &Change::Keys).await;
    assert_eq!(
        store.retire_signing_keys(20).await.expect("retire"),
        vec![current.kid.clone()]
    );
    wait_for(&mut feed, &Change::Keys).await;

    let keys = store.signing_keys().await.expect("keys");
    assert_eq!(
        keys.iter()
            .map(|k| (k.kid.as_str(), k.state))
            .collect::<Vec<_>>(),
        [(next.kid.as_str(), KeyState::Current)]
    );
    assert_eq!(keys[0].activates_at, 10);
}

async fn a_failed_promotion_changes_and_announces_nothing(backend: Backend) {
    let (_db, store) = open(backend).await;
    let current = generate(Algorithm::EdDSA, KeyState::Current, 1).expect("key");
    let next = generate(Algorithm::EdDSA, KeyState::Next, 2).expect("key");
    store.insert_signing_key(&current).await.expect("insert");
    store.insert_signing_key(&next).await.expect("insert");
    let before = store.all_signing_keys().await.expect("keys");
    let mut feed = store.change_feed().await.expect("feed");

    // The current key is right but the next one is not waiting: the
    // demotion that already ran must be rolled back.
    assert!(
        !store
            .promote_signing_key(&current.kid, "no-such-kid", 10, 20)
            .await
            .expect("promote")
    );
    assert!(
        !store
            .promote_signing_key(&current.kid, &current.kid, 10, 20)
            .await
            .expect("promote")
    );
    // A stale view of the current key (another process rotated first) with
    // the right next key: nothing to demote, so nothing is promoted either
    // (the one-current-key index would otherwise refuse it as an error).
    assert!(
        !store
            .promote_signing_key("no-such-kid", &next.kid, 10, 20)
            .await
            .expect("a lost race is an answer, not an error")
    );
    let after = store.all_signing_keys().await.expect("keys");
    let states = |keys: &[StoredKey]| {
        keys.iter()
            .map(|k| (k.kid.clone(), k.state, k.retires_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(states(&after), states(&before));
    assert!(
        store
            .retire_signing_keys(1_000)
            .await
            .expect("retire")
            .is_empty()
    );

    // The next announcement on the feed is the one made after the failures.
    store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    let alice = store
        .set_active("alice", true, 30)
        .await
        .expect("announced");
    let before_alice = wait_for(&mut feed, &Change::User(alice.id.clone())).await;
    assert!(!before_alice.contains(&Change::Keys), "{before_alice:?}");
}

async fn all_signing_keys_lists_retired_keys_too_newest_first(backend: Backend) {
    let (_db, store) = open(backend).await;
    let first = generate(Algorithm::EdDSA, KeyState::Current, 100).expect("key");
    let second = generate(Algorithm::ES256, KeyState::Next, 200).expect("key");
    store.insert_signing_key(&first).await.expect("insert");
    store.insert_signing_key(&second).await.expect("insert");
    store
        .promote_signing_key(&first.kid, &second.kid, 300, 400)
        .await
        .expect("promote");
    let third = generate(Algorithm::EdDSA, KeyState::Next, 300).expect("key");
    store.insert_signing_key(&third).await.expect("insert");
    store.retire_signing_keys(400).await.expect("retire");

    let all = store.all_signing_keys().await.expect("all");
    assert_eq!(
        all.iter()
            .map(|k| (k.kid.as_str(), k.state, k.created_at))
            .collect::<Vec<_>>(),
        [
            (third.kid.as_str(), KeyState::Next, 300),
            (second.kid.as_str(), KeyState::Current, 200),
            (first.kid.as_str(), KeyState::Retired, 100),
        ]
    );
    let verifying = store.signing_keys().await.expect("keys");
    assert_eq!(
        verifying.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        [third.kid.as_str(), second.kid.as_str()]
    );
    assert_eq!(verifying[0].activates_at, third.activates_at);
}
