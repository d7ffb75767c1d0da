//! The audit log: appending, reading back, and the database refusing edits.

use authd::store::NewAuditEntry;

use super::open;
use crate::helpers::Backend;

on_both_backends!(
    the_audit_log_appends_and_reads_back_in_order,
    the_database_refuses_to_update_or_delete_audit_rows,
);

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
