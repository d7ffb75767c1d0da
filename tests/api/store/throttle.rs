//! Failed-login counts: counting per key, the window, concurrency, clearing
//! and purging.

use std::sync::Arc;

use authd::store::Store;

use super::open;
use crate::helpers::Backend;

on_both_backends!(
    failed_logins_are_counted_per_key_and_forgotten_after_the_window,
    concurrent_failed_logins_are_all_counted,
    failed_login_counts_are_cleared_and_purged,
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
