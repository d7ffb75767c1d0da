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
    an_attempt_taken_back_leaves_the_counts_as_they_were,
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
        .claim_login_attempt(&keys, 1010, 910, &|counts: &[LoginFailures]| {
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
    }];
    assert_eq!(claim.before, before);
    assert_eq!(*seen.lock().unwrap(), before);
    assert_eq!(
        counts(&store, &keys).await,
        vec![
            ("account:alice".to_owned(), 2, 1010),
            ("address:192.0.2.7".to_owned(), 1, 1010),
        ]
    );

    // Refused: nothing is counted, not even a row for a new key.
    let claim = store
        .claim_login_attempt(
            &["account:alice", "address:198.51.100.1"],
            1020,
            920,
            &|_: &[LoginFailures]| false,
        )
        .await
        .expect("claim");
    assert!(!claim.admitted);
    assert_eq!(
        counts(&store, &["account:alice", "address:198.51.100.1"]).await,
        vec![("account:alice".to_owned(), 2, 1010)]
    );

    // Past the window the count starts again at one.
    store
        .claim_login_attempt(&["account:alice"], 1200, 1100, &|_: &[LoginFailures]| true)
        .await
        .expect("claim");
    assert_eq!(
        counts(&store, &["account:alice"]).await,
        vec![("account:alice".to_owned(), 1, 1200)]
    );
}

async fn concurrent_claims_are_judged_one_after_the_other(backend: Backend) {
    let (_db, store) = open(backend).await;
    // Admit while fewer than 5 are counted: of 20 at once, exactly 5 pass.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .claim_login_attempt(
                        &["address:192.0.2.7", "account:alice"],
                        1000,
                        900,
                        &|counts: &[LoginFailures]| counts.iter().all(|c| c.failures < 5),
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
        counts(&store, &["account:alice", "address:192.0.2.7"]).await,
        vec![
            ("account:alice".to_owned(), 5, 1000),
            ("address:192.0.2.7".to_owned(), 5, 1000),
        ]
    );
}

async fn an_attempt_taken_back_leaves_the_counts_as_they_were(backend: Backend) {
    let (_db, store) = open(backend).await;
    for now in [1000, 1001] {
        store
            .record_login_failure(&["account:alice", "address:192.0.2.7"], now, 0)
            .await
            .expect("record");
    }
    let keys = ["account:alice", "address:192.0.2.7", "address:198.51.100.1"];
    let claim = store
        .claim_login_attempt(&keys, 1050, 0, &|_: &[LoginFailures]| true)
        .await
        .expect("claim");
    let restore: Vec<LoginFailures> = ["address:192.0.2.7", "address:198.51.100.1"]
        .iter()
        .map(|key| {
            claim
                .before
                .iter()
                .find(|c| c.key == *key)
                .cloned()
                .unwrap_or(LoginFailures {
                    key: (*key).to_owned(),
                    failures: 0,
                    last_failure_at: 0,
                })
        })
        .collect();
    store
        .uncount_login_attempt(&["account:alice"], &restore)
        .await
        .expect("uncount");
    // The cleared key is gone, the address is back to its count and time,
    // and the address that had none has none.
    assert_eq!(
        counts(&store, &keys).await,
        vec![("address:192.0.2.7".to_owned(), 2, 1001)]
    );
}
