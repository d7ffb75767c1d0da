//! What the admin API asks of the store: keyset pages of users and of the
//! audit log, email changes, the guarded delete of the last admin, and the
//! instance secrets every replica shares.

use authd::Error;
use authd::store::{AuditFilter, NewAuditEntry, UserFilter};
use secrecy::{ExposeSecret as _, SecretBox};

use super::{new_user, open};
use crate::helpers::Backend;

on_both_backends!(
    user_pages_walk_every_matching_user_once_in_id_order,
    user_filters_match_prefixes_ignoring_case_and_like_wildcards_literally,
    an_email_is_replaced_or_removed_and_stays_unique,
    the_last_active_admin_is_not_deleted,
    audit_pages_go_newest_first_with_filters,
    an_instance_secret_is_made_once_and_then_shared,
);

async fn user_pages_walk_every_matching_user_once_in_id_order(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            store
                .create_user(new_user(&format!("user{i}"), None))
                .await
                .unwrap()
                .id,
        );
    }
    ids.sort();
    let all = UserFilter::default();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_users_page(&all, after.as_deref(), 3)
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().map(|u| u.id.clone());
        seen.extend(page.into_iter().map(|u| u.id));
    }
    assert_eq!(seen, ids, "every user once, by id");
}

async fn user_filters_match_prefixes_ignoring_case_and_like_wildcards_literally(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut disabled = new_user("a_b", Some("Zed@Example.com"));
    disabled.roles = vec!["viewer".into()];
    store.create_user(disabled).await.unwrap();
    store.set_active("a_b", false, 1).await.unwrap();
    store.create_user(new_user("axb", None)).await.unwrap();
    store
        .create_user(new_user("Alice", Some("a%c@example.com")))
        .await
        .unwrap();
    let names = |filter: UserFilter| {
        let store = store.clone();
        async move {
            let mut names: Vec<String> = store
                .list_users_page(&filter, None, 100)
                .await
                .expect("page")
                .into_iter()
                .map(|u| u.username)
                .collect();
            names.sort();
            names
        }
    };
    let prefix = |p: &str| UserFilter {
        prefix: Some(p.to_owned()),
        ..UserFilter::default()
    };
    assert_eq!(names(prefix("A_")).await, ["a_b"], "`_` is literal");
    assert_eq!(
        names(prefix("a%")).await,
        ["Alice"],
        "`%` is literal (the email)"
    );
    assert_eq!(names(prefix("ALI")).await, ["Alice"]);
    assert_eq!(
        names(prefix("zed@")).await,
        ["a_b"],
        "emails ignore case too"
    );
    assert_eq!(names(prefix("a\\")).await, Vec::<String>::new());
    let role = |r: &str| UserFilter {
        role: Some(r.to_owned()),
        ..UserFilter::default()
    };
    assert_eq!(names(role("admin")).await, ["Alice", "axb"]);
    assert_eq!(
        names(role("view")).await,
        Vec::<String>::new(),
        "whole roles only"
    );
    let active = |a: bool| UserFilter {
        active: Some(a),
        ..UserFilter::default()
    };
    assert_eq!(names(active(false)).await, ["a_b"]);
    assert_eq!(names(active(true)).await, ["Alice", "axb"]);
}

async fn an_email_is_replaced_or_removed_and_stays_unique(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = store
        .create_user(new_user("alice", Some("alice@example.com")))
        .await
        .unwrap();
    store
        .create_user(new_user("bob", Some("bob@example.com")))
        .await
        .unwrap();
    let changed = store
        .set_email(&alice.id, Some("Alice@New.example"), 5)
        .await
        .unwrap();
    assert_eq!(changed.email.as_deref(), Some("Alice@New.example"));
    assert!(matches!(
        store.set_email(&alice.id, Some("BOB@example.com"), 6).await,
        Err(Error::AlreadyExists(_))
    ));
    let removed = store.set_email(&alice.id, None, 7).await.unwrap();
    assert_eq!(removed.email, None);
    assert!(matches!(
        store.set_email("no-such-id", None, 8).await,
        Err(Error::NotFound(_))
    ));
}

async fn the_last_active_admin_is_not_deleted(backend: Backend) {
    let (_db, store) = open(backend).await;
    let root = store.create_user(new_user("root", None)).await.unwrap();
    let mut plain = new_user("plain", None);
    plain.roles = vec![];
    let plain = store.create_user(plain).await.unwrap();
    let ops = store.create_user(new_user("ops", None)).await.unwrap();
    store.set_active("ops", false, 1).await.unwrap();

    store
        .delete_user_unless_last_admin(&plain.id)
        .await
        .expect("not an admin");
    let refused = store.delete_user_unless_last_admin(&root.id).await;
    assert!(
        matches!(refused, Err(Error::FailedPrecondition(_))),
        "{refused:?}"
    );
    assert!(store.user_by_id(&root.id).await.unwrap().is_some());
    // A disabled admin does not count, and may itself be deleted.
    store
        .delete_user_unless_last_admin(&ops.id)
        .await
        .expect("disabled admin");
    let other = store.create_user(new_user("other", None)).await.unwrap();
    store
        .delete_user_unless_last_admin(&root.id)
        .await
        .expect("another admin exists");
    assert!(matches!(
        store.delete_user_unless_last_admin(&root.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store.delete_user_unless_last_admin(&other.id).await,
        Err(Error::FailedPrecondition(_))
    ));
}

async fn audit_pages_go_newest_first_with_filters(backend: Backend) {
    let (_db, store) = open(backend).await;
    for (i, (event, subject)) in [
        ("login", "Alice"),
        ("login", "bob"),
        ("user_created", "alice"),
        ("login", "alice"),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .append_audit(&NewAuditEntry {
                at: 100 + i64::try_from(i).unwrap(),
                event: event.to_owned(),
                user_id: Some(format!("id-{}", subject.to_lowercase())),
                subject: subject.to_owned(),
                client_addr: None,
                outcome: "success".to_owned(),
                detail: String::new(),
            })
            .await
            .unwrap();
    }
    let all = store
        .audit_page(&AuditFilter::default(), None, 10)
        .await
        .unwrap();
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let first = store
        .audit_page(&AuditFilter::default(), None, 2)
        .await
        .unwrap();
    let rest = store
        .audit_page(&AuditFilter::default(), Some(first[1].id), 10)
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 4);
    assert_eq!(rest[0].id, all[2].id);

    let alice = AuditFilter {
        subject: Some("ALICE".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(store.audit_page(&alice, None, 10).await.unwrap().len(), 3);
    let by_target = AuditFilter {
        subject: Some("id-bob".to_owned()),
        ..AuditFilter::default()
    };
    assert_eq!(
        store.audit_page(&by_target, None, 10).await.unwrap().len(),
        1
    );
    let logins_since = AuditFilter {
        event: Some("login".to_owned()),
        since: Some(101),
        ..AuditFilter::default()
    };
    let rows = store.audit_page(&logins_since, None, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.subject.as_str()).collect::<Vec<_>>(),
        ["alice", "bob"]
    );
}

async fn an_instance_secret_is_made_once_and_then_shared(backend: Backend) {
    let (_db, store) = open(backend).await;
    let first = SecretBox::new(Box::new(vec![1u8; 32]));
    let second = SecretBox::new(Box::new(vec![2u8; 32]));
    let stored = store
        .instance_secret("page_tokens", &first, 1)
        .await
        .unwrap();
    assert_eq!(stored.expose_secret(), first.expose_secret());
    // A second process brings its own candidate and gets the first one.
    let again = store
        .instance_secret("page_tokens", &second, 2)
        .await
        .unwrap();
    assert_eq!(again.expose_secret(), first.expose_secret());
    let other = store.instance_secret("another", &second, 3).await.unwrap();
    assert_eq!(other.expose_secret(), second.expose_secret());
    // Racing first starts agree too.
    let (a, b) = tokio::join!(
        store.instance_secret("raced", &first, 4),
        store.instance_secret("raced", &second, 4),
    );
    assert_eq!(a.unwrap().expose_secret(), b.unwrap().expose_secret());
}
