//! Storage conformance for signing-key lifecycle writes, on both databases.

use authd::store::KeyState;
use authd::token::keys::generate;
use jsonwebtoken::Algorithm;
use secrecy::ExposeSecret as _;

use crate::helpers::{Backend, TestDb};

on_both_backends!(
    promotion_is_all_or_nothing_and_only_once,
    retirement_waits_for_its_time_and_wipes_the_private_key,
    only_one_next_key_can_wait,
);

async fn store(backend: Backend) -> (TestDb, std::sync::Arc<dyn authd::store::Store>) {
    let db = TestDb::new(backend).await;
    let config = crate::helpers::test_config(&db);
    let url = config.admin.store.url().expect("a valid URL");
    let store = authd::app::open_store(&url, config.admin.store.pool())
        .await
        .expect("store");
    (db, store)
}

async fn promotion_is_all_or_nothing_and_only_once(backend: Backend) {
    let (_db, store) = store(backend).await;
    let current = generate(Algorithm::EdDSA, KeyState::Current, 1).expect("key");
    let mut next = generate(Algorithm::ES256, KeyState::Next, 1).expect("key");
    next.activates_at = 50;
    assert!(store.insert_signing_key(&current).await.expect("insert"));
    assert!(store.insert_signing_key(&next).await.expect("insert"));

    // Naming a key that is not current changes nothing.
    assert!(
        !store
            .promote_signing_key(&next.kid, &current.kid, 60, 999)
            .await
            .expect("promote")
    );
    assert!(
        store
            .promote_signing_key(&current.kid, &next.kid, 60, 999)
            .await
            .expect("promote")
    );
    // A second replica racing to do the same finds nothing to do.
    assert!(
        !store
            .promote_signing_key(&current.kid, &next.kid, 61, 1000)
            .await
            .expect("promote")
    );

    let keys = store.signing_keys().await.expect("keys");
    let state = |kid: &str| keys.iter().find(|k| k.kid == kid).expect("stored");
    assert_eq!(state(&next.kid).state, KeyState::Current);
    assert_eq!(state(&next.kid).activates_at, 60);
    assert_eq!(state(&next.kid).algorithm, "ES256");
    assert_eq!(state(&current.kid).state, KeyState::Previous);
    assert_eq!(state(&current.kid).retires_at, Some(999));
}

async fn retirement_waits_for_its_time_and_wipes_the_private_key(backend: Backend) {
    let (_db, store) = store(backend).await;
    let current = generate(Algorithm::EdDSA, KeyState::Current, 1).expect("key");
    let next = generate(Algorithm::EdDSA, KeyState::Next, 1).expect("key");
    store.insert_signing_key(&current).await.expect("insert");
    store.insert_signing_key(&next).await.expect("insert");
    store
        .promote_signing_key(&current.kid, &next.kid, 10, 100)
        .await
        .expect("promote");

    assert!(
        store
            .retire_signing_keys(99)
            .await
            .expect("retire")
            .is_empty()
    );
    assert_eq!(
        store.retire_signing_keys(100).await.expect("retire"),
        vec![current.kid.clone()]
    );
    assert!(
        store
            .signing_keys()
            .await
            .expect("keys")
            .iter()
            .all(|k| k.kid != current.kid),
        "retired keys no longer verify"
    );
    let all = store.all_signing_keys().await.expect("all");
    let retired = all.iter().find(|k| k.kid == current.kid).expect("listed");
    assert_eq!(retired.state, KeyState::Retired);
    assert!(retired.private_key.expose_secret().is_empty());
    assert_eq!(retired.public_key, current.public_key);
}

async fn only_one_next_key_can_wait(backend: Backend) {
    let (_db, store) = store(backend).await;
    let first = generate(Algorithm::EdDSA, KeyState::Next, 1).expect("key");
    let second = generate(Algorithm::EdDSA, KeyState::Next, 2).expect("key");
    assert!(store.insert_signing_key(&first).await.expect("insert"));
    assert!(!store.insert_signing_key(&second).await.expect("insert"));
    store.ping().await.expect("the database answers");
}
