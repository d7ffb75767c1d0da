//! Failed-login counts: counting per key, the window, concurrency, clearing
//! and purging.

use std::sync::Arc;

use authd::store::{LoginFailures, Store};

use super::open;
use crate::helpers::Backend;

on_both_backends!(
    failed_logins_are_counted_per_key_and_forgotten_after_the_window,
    concurrent_failed_logins_are_all_counted,
    failed_login_counts_are_cleared_and_purged,
    a_claim_is_judged_on_the_counts_before_it_and_a_refused_one_writes_nothing,
    concurrent_claims_are_judged_one_after_the_other,
    a_failure_counted_during_a_taken_back_claim_stays_counted,
    a_failure_after_an_unlock_is_counted_from_one,
    a_denial_key_is_marked_once_per_window,
);

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

/// The stored counts of `keys`, sorted by key, as (key, failures, in flight).
async fn in_flight(store: &Arc<dyn Store>, keys: &[&str]) -> Vec<(String, i64, i64)> {
    let mut counts: Vec<_> = store
        .login_failures(keys)
        .await
        .expect("read counts")
        .into_iter()
        .map(|c| (c.key, c.failures, c.pending))
        .collect();
    counts.sort();
    counts
}

fn admit_all(_: &[LoginFailures]) -> bool {
    true
}

async fn a_claim_is_judged_on_the_counts_before_it_and_a_refused_one_writes_nothing(
    backend: Backend,
) {
    let (_db, store) = open(backend).await;
    let keys = ["account:alice", "address:192.0.2.7"];
    store
        .record_login_failure(&["account:alice"], 1000, 900)
        .await
        .expect("record");
    let seen = std::sync::Mutex::new(Vec::new());
    let claim = store
        .claim_login_attempt(&keys, 1010, 890, &|counts: &[LoginFailures]| {
            seen.lock().unwrap().extend(counts.iter().cloned());
            true
        })
        .await
        .expect("claim");
    assert!(claim.admitted);
    // The judge saw the count as it was; a key without a count is left out.
    let before = vec![LoginFailures {
        key: "account:alice".to_owned(),
        failures: 1,
        last_failure_at: 1000,
        pending: 0,
        pending_since: 0,
    }];
    assert_eq!(claim.before, before);
    assert_eq!(*seen.lock().unwrap(), before);
    // A claim is an attempt in flight, not a failure.
    assert_eq!(
        in_flight(&store, &keys).await,
        vec![
            ("account:alice".to_owned(), 1, 1),
            ("address:192.0.2.7".to_owned(), 0, 1),
        ]
    );

    // Refused: nothing is counted, not even a row for a new key.
    let claim = store
        .claim_login_attempt(
            &["account:alice", "address:198.51.100.1"],
            1020,
            900,
            &|_: &[LoginFailures]| false,
        )
        .await
        .expect("claim");
    assert!(!claim.admitted);
    assert_eq!(claim.before[0].pending, 1);
    assert_eq!(
        in_flight(&store, &["account:alice", "address:198.51.100.1"]).await,
        vec![("account:alice".to_owned(), 1, 1)]
    );

    // The claim fails: its attempt in flight becomes a failure.
    let after = store
        .fail_login_attempt(&keys, 1030, 930)
        .await
        .expect("fail");
    assert_eq!(
        after
            .iter()
            .map(|c| (c.key.as_str(), c.failures, c.last_failure_at, c.pending))
            .collect::<Vec<_>>(),
        vec![
            ("account:alice", 2, 1030, 0),
            ("address:192.0.2.7", 1, 1030, 0)
        ]
    );

    // Past the stale horizon an old claim no longer counts: the next starts at one.
    for (now, stale_before) in [(1040, 900), (2000, 1500)] {
        store
            .claim_login_attempt(&["account:alice"], now, stale_before, &admit_all)
            .await
            .expect("claim");
    }
    assert_eq!(
        in_flight(&store, &["account:alice"]).await,
        vec![("account:alice".to_owned(), 2, 1)]
    );
}

async fn concurrent_claims_are_judged_one_after_the_other(backend: Backend) {
    let (_db, store) = open(backend).await;
    // Admit while fewer than 5 are in flight: of 20 at once, exactly 5 pass.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .claim_login_attempt(
                        &["address:192.0.2.7", "account:alice"],
                        1000,
                        900,
                        &|counts: &[LoginFailures]| counts.iter().all(|c| c.pending < 5),
                    )
                    .await
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if task.await.expect("task").expect("claim").admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
    assert_eq!(
        in_flight(&store, &["account:alice", "address:192.0.2.7"]).await,
        vec![
            ("account:alice".to_owned(), 0, 5),
            ("address:192.0.2.7".to_owned(), 0, 5),
        ]
    );
}

/// The old take-back restored a snapshot of the counts taken at the claim
/// (and deleted the account's), so a failure counted by another attempt
/// while a right password was being checked was undone with it.
async fn a_failure_counted_during_a_taken_back_claim_stays_counted(backend: Backend) {
    let (_db, store) = open(backend).await;
    let keys = ["account:alice", "user:u1", "address:192.0.2.7"];
    for now in [1000, 1001] {
        store
            .record_login_failure(&keys, now, 0)
            .await
            .expect("record");
    }
    // A right password's claim; meanwhile a wrong guess claims and fails.
    let right = store
        .claim_login_attempt(&keys, 1050, 0, &admit_all)
        .await
        .expect("claim");
    store
        .claim_login_attempt(&keys, 1051, 0, &admit_all)
        .await
        .expect("claim");
    store
        .fail_login_attempt(&keys, 1052, 0)
        .await
        .expect("fail");
    // The right password takes its claim back and clears the account's
    // failures it saw (two), nothing more.
    let seen: Vec<LoginFailures> = right
        .before
        .iter()
        .filter(|c| c.key != "address:192.0.2.7")
        .cloned()
        .collect();
    assert_eq!(seen.len(), 2);
    store
        .release_login_attempt(&keys, &seen)
        .await
        .expect("release");
    assert_eq!(
        counts(&store, &keys).await,
        vec![
            ("account:alice".to_owned(), 1, 1052),
            ("address:192.0.2.7".to_owned(), 3, 1052),
            ("user:u1".to_owned(), 1, 1052),
        ]
    );
    assert!(
        in_flight(&store, &keys).await.iter().all(|c| c.2 == 0),
        "nothing is left in flight"
    );
    // A check that never ran takes back its claim only; a key left with
    // neither failures nor attempts in flight goes.
    let fresh = ["account:bob", "address:192.0.2.7"];
    store
        .claim_login_attempt(&fresh, 1060, 0, &admit_all)
        .await
        .expect("claim");
    store
        .release_login_attempt(&fresh, &[])
        .await
        .expect("release");
    assert_eq!(
        counts(&store, &fresh).await,
        vec![("address:192.0.2.7".to_owned(), 3, 1052)]
    );
}

/// A failure resolves a claim even when an unlock deleted its row meanwhile.
async fn a_failure_after_an_unlock_is_counted_from_one(backend: Backend) {
    let (_db, store) = open(backend).await;
    store
        .claim_login_attempt(&["account:alice"], 1000, 0, &admit_all)
        .await
        .expect("claim");
    store
        .clear_login_failures(&["account:alice"])
        .await
        .expect("clear");
    let after = store
        .fail_login_attempt(&["account:alice"], 1001, 0)
        .await
        .expect("fail");
    assert_eq!((after[0].failures, after[0].pending), (1, 0));
}

/// `note_once` marks a key once per window, even for concurrent callers.
async fn a_denial_key_is_marked_once_per_window(backend: Backend) {
    let (_db, store) = open(backend).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.note_once("denied:x", 1000, 400).await })
        })
        .collect();
    let mut first = 0;
    for task in tasks {
        if task.await.expect("task").expect("note") {
            first += 1;
        }
    }
    assert_eq!(first, 1);
    assert!(!store.note_once("denied:x", 1500, 900).await.expect("note"));
    assert!(store.note_once("denied:x", 1700, 1100).await.expect("note"));
}
