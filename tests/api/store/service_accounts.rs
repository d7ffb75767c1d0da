//! Service accounts: create with the first secret, read by id and client
//! id, keyset listing, secret rotation with an overlap, last use, deletion
//! (announced, secrets cascaded) and the count of other admins.

use std::sync::Arc;

use authd::Error;
use authd::store::{Change, NewServiceAccount, Store};

use super::{new_user, open, wait_for};
use crate::helpers::Backend;

on_both_backends!(
    a_service_account_is_created_with_its_first_secret_and_read_back,
    service_account_names_and_client_ids_are_unique,
    service_accounts_are_listed_by_id_a_page_at_a_time,
    rotating_a_secret_keeps_the_old_one_until_the_overlap_ends,
    using_a_service_account_records_when,
    deleting_a_service_account_removes_its_secrets_and_is_announced,
    admin_principals_are_counted_without_the_named_account,
);

fn new_account(id: &str, name: &str, roles: &[&str]) -> NewServiceAccount {
    NewServiceAccount {
        id: id.to_owned(),
        name: name.to_owned(),
        description: format!("{name} robot"),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        client_id: format!("sa-{id}"),
        created_at: 1_000,
    }
}

async fn secrets(store: &Arc<dyn Store>, client_id: &str) -> Vec<(String, Option<i64>)> {
    store
        .service_account_credentials(client_id)
        .await
        .expect("query")
        .expect("an account")
        .secrets
        .into_iter()
        .map(|s| (s.hash, s.expires_at))
        .collect()
}

async fn a_service_account_is_created_with_its_first_secret_and_read_back(backend: Backend) {
    let (_db, store) = open(backend).await;
    let created = store
        .create_service_account(&new_account("a1", "CI-Bot", &["admin", "deploy"]), "h1")
        .await
        .expect("create");
    assert_eq!(created.name, "CI-Bot");
    assert_eq!(created.roles, ["admin", "deploy"]);
    assert_eq!(created.client_id, "sa-a1");
    assert_eq!(created.last_used_at, None);
    assert_eq!(
        store.service_account("a1").await.expect("query"),
        Some(created.clone())
    );
    assert_eq!(store.service_account("nope").await.expect("query"), None);
    let credentials = store
        .service_account_credentials("sa-a1")
        .await
        .expect("query")
        .expect("found by client id");
    assert_eq!(credentials.account, created);
    assert_eq!(credentials.secrets.len(), 1);
    assert_eq!(credentials.secrets[0].hash, "h1");
    assert_eq!(credentials.secrets[0].created_at, 1_000);
    assert_eq!(credentials.secrets[0].expires_at, None);
    assert!(
        store
            .service_account_credentials("sa-none")
            .await
            .expect("query")
            .is_none()
    );
}

async fn service_account_names_and_client_ids_are_unique(backend: Backend) {
    let (_db, store) = open(backend).await;
    store
        .create_service_account(&new_account("a1", "ci-bot", &[]), "h1")
        .await
        .expect("create");
    let err = store
        .create_service_account(&new_account("a2", "CI-BOT", &[]), "h2")
        .await
        .expect_err("the name is taken, ignoring case");
    assert!(
        matches!(&err, Error::AlreadyExists(m) if m.contains("name")),
        "{err:?}"
    );
    let same_client = NewServiceAccount {
        client_id: "sa-a1".to_owned(),
        ..new_account("a3", "other", &[])
    };
    let err = store
        .create_service_account(&same_client, "h3")
        .await
        .expect_err("the client id is taken");
    assert!(
        matches!(&err, Error::AlreadyExists(m) if m.contains("client id")),
        "{err:?}"
    );
    assert!(
        store.service_account("a2").await.expect("query").is_none(),
        "nothing was half-written"
    );
}

async fn service_accounts_are_listed_by_id_a_page_at_a_time(backend: Backend) {
    let (_db, store) = open(backend).await;
    for (id, name) in [("c", "gamma"), ("a", "alpha"), ("b", "beta")] {
        store
            .create_service_account(&new_account(id, name, &[]), &format!("h-{id}"))
            .await
            .expect("create");
    }
    let ids = |page: Vec<authd::store::ServiceAccount>| -> Vec<String> {
        page.into_iter().map(|a| a.id).collect()
    };
    assert_eq!(
        ids(store.list_service_accounts(None, 2).await.expect("list")),
        ["a", "b"]
    );
    assert_eq!(
        ids(store
            .list_service_accounts(Some("b"), 2)
            .await
            .expect("list")),
        ["c"]
    );
    assert!(
        store
            .list_service_accounts(Some("c"), 2)
            .await
            .expect("list")
            .is_empty()
    );
}

async fn rotating_a_secret_keeps_the_old_one_until_the_overlap_ends(backend: Backend) {
    let (_db, store) = open(backend).await;
    store
        .create_service_account(&new_account("a1", "bot", &[]), "h1")
        .await
        .expect("create");
    store
        .rotate_service_account_secret("a1", "h2", 2_000, 2_600)
        .await
        .expect("rotate with 10 minutes of overlap");
    let mut got = secrets(&store, "sa-a1").await;
    got.sort();
    assert_eq!(
        got,
        [("h1".to_owned(), Some(2_600)), ("h2".to_owned(), None)]
    );
    // A rotation without overlap ends both older secrets; the one that had
    // already ended is deleted.
    store
        .rotate_service_account_secret("a1", "h3", 3_000, 3_000)
        .await
        .expect("rotate at once");
    assert_eq!(secrets(&store, "sa-a1").await, [("h3".to_owned(), None)]);
    let err = store
        .rotate_service_account_secret("nope", "h4", 3_000, 3_000)
        .await
        .expect_err("no such account");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

async fn using_a_service_account_records_when(backend: Backend) {
    let (_db, store) = open(backend).await;
    store
        .create_service_account(&new_account("a1", "bot", &[]), "h1")
        .await
        .expect("create");
    store
        .touch_service_account("a1", 5_000)
        .await
        .expect("touch");
    assert_eq!(
        store
            .service_account("a1")
            .await
            .expect("query")
            .expect("found")
            .last_used_at,
        Some(5_000)
    );
}

async fn deleting_a_service_account_removes_its_secrets_and_is_announced(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut feed = store.change_feed().await.expect("feed");
    store
        .create_service_account(&new_account("a1", "bot", &[]), "h1")
        .await
        .expect("create");
    let deleted = store.delete_service_account("a1").await.expect("delete");
    assert_eq!(deleted.id, "a1");
    wait_for(&mut feed, &Change::ServiceAccount("a1".to_owned())).await;
    assert!(store.service_account("a1").await.expect("query").is_none());
    assert!(
        store
            .service_account_credentials("sa-a1")
            .await
            .expect("query")
            .is_none()
    );
    // The secret went with it: the same hash may be stored again.
    store
        .create_service_account(&new_account("a2", "bot", &[]), "h1")
        .await
        .expect("the name and the hash are free again");
    let err = store
        .delete_service_account("a1")
        .await
        .expect_err("already gone");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

async fn admin_principals_are_counted_without_the_named_account(backend: Backend) {
    let (_db, store) = open(backend).await;
    store
        .create_service_account(&new_account("a1", "admin-bot", &["admin"]), "h1")
        .await
        .expect("create");
    store
        .create_service_account(&new_account("a2", "viewer-bot", &["administrator"]), "h2")
        .await
        .expect("create");
    assert_eq!(store.admin_principals_except("a1").await.expect("count"), 0);
    assert_eq!(store.admin_principals_except("a2").await.expect("count"), 1);
    // `new_user` grants admin and viewer; a disabled admin does not count.
    store
        .create_user(new_user("alice", None))
        .await
        .expect("user");
    assert_eq!(store.admin_principals_except("a1").await.expect("count"), 1);
    store.set_active("alice", false, 1).await.expect("disable");
    assert_eq!(store.admin_principals_except("a1").await.expect("count"), 0);
}
