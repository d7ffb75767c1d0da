//! WatchRevocations over the wire: who may subscribe, cursors (bogus,
//! fresh, too old), the snapshot (and a session ending while it is read),
//! live events for every kind of revocation (also from another replica),
//! heartbeats, a subscriber that never reads, and the subscriber gauge.

use std::time::{Duration, Instant};

use authd::clock::now_unix;
use authd::grpc::pb::admin_service_client::AdminServiceClient;
use authd::grpc::pb::revocation_event::Event;
use authd::grpc::pb::{self, InvalidReason, ServiceAccountChange, UserChange};
use secrecy::SecretString;
use tonic::Code;
use tonic::codec::Streaming;
use tonic_types::StatusExt as _;

use crate::helpers::{Backend, TestApp, assert_code, spawn_app, with_bearer};
use crate::metrics::count;

on_both_backends!(
    a_subscriber_without_credentials_is_unauthenticated,
    a_user_without_the_admin_role_is_permission_denied,
    a_service_account_and_an_admin_are_admitted_with_the_token_rules,
    a_bogus_cursor_is_an_invalid_argument_on_cursor,
    the_snapshot_holds_ended_sessions_disabled_users_and_deletions,
    live_events_arrive_for_logouts_revocations_disabling_and_passwords,
    live_events_arrive_for_roles_deletions_secrets_and_keys,
    a_fresh_cursor_resumes_without_a_snapshot_and_misses_nothing,
    a_cursor_older_than_the_history_gets_a_reason_and_a_snapshot,
    heartbeats_arrive_at_least_once_a_second,
    a_session_ended_while_the_snapshot_is_read_is_not_missed,
    a_retired_key_is_named_in_keys_changed,
    a_replica_whose_feed_is_not_trusted_sends_no_heartbeats,
    streams_end_with_unavailable_when_the_server_drains,
);

mod single {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subscriber_that_never_reads_is_reset_and_the_gauge_moves() {
        super::a_subscriber_that_never_reads_is_reset_and_the_gauge_moves(
            crate::helpers::Backend::Sqlite,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_feed_resync_ends_every_stream_and_old_cursors_take_a_snapshot() {
        super::a_feed_resync_ends_every_stream_and_old_cursors_take_a_snapshot().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_logout_all_on_replica_two_reaches_replica_ones_stream() {
        super::a_logout_all_on_replica_two_reaches_replica_ones_stream().await;
    }
}

/// How long any one expected event may take to arrive.
const PATIENCE: Duration = Duration::from_secs(10);

fn watch_request(cursor: &str, token: Option<&str>) -> tonic::Request<pb::WatchRevocationsRequest> {
    let message = pb::WatchRevocationsRequest {
        cursor: cursor.to_owned(),
    };
    match token {
        Some(t) => with_bearer(message, t),
        None => tonic::Request::new(message),
    }
}

async fn watch(
    app: &TestApp,
    cursor: &str,
    token: Option<&str>,
) -> Result<Streaming<pb::RevocationEvent>, tonic::Status> {
    app.client
        .clone()
        .watch_revocations(watch_request(cursor, token))
        .await
        .map(tonic::Response::into_inner)
}

/// The next event, within [`PATIENCE`].
async fn next(stream: &mut Streaming<pb::RevocationEvent>) -> pb::RevocationEvent {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("an event within the patience")
        .expect("the stream goes on")
        .expect("not ended")
}

fn event(e: &pb::RevocationEvent) -> &Event {
    e.event.as_ref().expect("every event has a kind")
}

/// A stream opened by `token`, with its hello and (unless resumed) its
/// snapshot read: (hello, snapshot events, the cursor to resume from).
struct Opened {
    stream: Streaming<pb::RevocationEvent>,
    hello: pb::RevocationHello,
    snapshot: Vec<Event>,
    cursor: String,
}

async fn open(app: &TestApp, cursor: &str, token: &str) -> Opened {
    let mut stream = watch(app, cursor, Some(token)).await.expect("admitted");
    let first = next(&mut stream).await;
    let Event::Hello(hello) = event(&first).clone() else {
        panic!("the first event is the hello: {first:?}");
    };
    let mut snapshot = Vec::new();
    let mut cursor = first.cursor.clone();
    if !hello.resumed {
        loop {
            let e = next(&mut stream).await;
            match event(&e) {
                Event::SnapshotEnd(end) => {
                    assert_eq!(
                        end.events,
                        i64::try_from(snapshot.len()).unwrap(),
                        "snapshot_end counts the snapshot"
                    );
                    assert!(!e.cursor.is_empty(), "snapshot_end carries a cursor");
                    cursor = e.cursor;
                    break;
                }
                Event::Heartbeat(_) | Event::Hello(_) => panic!("not in a snapshot: {e:?}"),
                other => {
                    assert!(e.cursor.is_empty(), "snapshot events resume nothing");
                    snapshot.push(other.clone());
                }
            }
        }
    }
    Opened {
        stream,
        hello,
        snapshot,
        cursor,
    }
}

impl Opened {
    /// Reads live events until one satisfies `wanted`, returning it (and
    /// keeping the latest cursor).
    async fn until(&mut self, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(Instant::now() < deadline, "no {what} within {PATIENCE:?}");
            let e = next(&mut self.stream).await;
            if !e.cursor.is_empty() {
                self.cursor.clone_from(&e.cursor);
            }
            if wanted(event(&e)) {
                return event(&e).clone();
            }
        }
    }
}

fn session_ended(sid: &str, reason: InvalidReason) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::SessionEnded(s) if s.session_id == sid && s.reason() == reason)
}

fn user_changed(user_id: &str, change: UserChange) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::UserChanged(u) if u.user_id == user_id && u.change() == change)
}

fn account_changed(id: &str, change: ServiceAccountChange) -> impl Fn(&Event) -> bool + '_ {
    move |e| {
        matches!(e, Event::ServiceAccountChanged(a)
            if a.service_account_id == id && a.change() == change)
    }
}

/// An admin user's token (the user `root`).
async fn admin_token(app: &TestApp) -> String {
    app.create_user("root", &["admin"]).await;
    app.token_for("root").await
}

fn admin(app: &TestApp) -> AdminServiceClient<tonic::transport::Channel> {
    AdminServiceClient::new(app.channel.clone())
}

/// A service account made by `root_token`: (its id, its access token).
async fn service_account(app: &TestApp, root_token: &str, name: &str) -> (String, String) {
    let created = admin(app)
        .create_service_account(with_bearer(
            pb::CreateServiceAccountRequest {
                name: name.to_owned(),
                description: "watches revocations".to_owned(),
                roles: Vec::new(),
            },
            root_token,
        ))
        .await
        .expect("create a service account")
        .into_inner();
    let token = app
        .client
        .clone()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: created.client_id.clone(),
            client_secret: created.client_secret.clone(),
            audience: String::new(),
        })
        .await
        .expect("a service token")
        .into_inner()
        .access_token;
    (created.service_account.expect("the account").id, token)
}

async fn a_subscriber_without_credentials_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    let status = assert_code(watch(&app, "", None).await, Code::Unauthenticated);
    assert!(status.message().contains("authorization"), "{status:?}");
    assert_code(
        watch(&app, "", Some("not-a-token")).await,
        Code::Unauthenticated,
    );
}

async fn a_user_without_the_admin_role_is_permission_denied(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &["staff"]).await;
    let token = app.token_for("alice").await;
    let status = assert_code(watch(&app, "", Some(&token)).await, Code::PermissionDenied);
    assert!(status.message().contains("admin"), "{status:?}");
}

async fn a_service_account_and_an_admin_are_admitted_with_the_token_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let (_, machine_token) = service_account(&app, &root, "verifier").await;
    for token in [&root, &machine_token] {
        let opened = open(&app, "", token).await;
        let hello = &opened.hello;
        assert!(!hello.resumed);
        assert_eq!(hello.reset_reason, "");
        let rules = app.core.tokens().rules();
        assert_eq!(hello.issuer, rules.issuer);
        assert_eq!(hello.audience, rules.audience);
        assert_eq!(hello.leeway_seconds, rules.leeway_secs);
        assert_eq!(
            hello.max_token_bytes,
            i64::try_from(rules.max_token_bytes).unwrap()
        );
        assert_eq!(
            hello.max_token_lifetime_seconds,
            i64::try_from(app.core.tokens().ttl().as_secs()).unwrap()
        );
        assert_eq!(
            hello.heartbeat_interval,
            Some(prost_types::Duration {
                seconds: 1,
                nanos: 0
            })
        );
    }
}

async fn a_bogus_cursor_is_an_invalid_argument_on_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    for bogus in ["bogus", "AAAAAAAA", "%%%"] {
        let status = assert_code(watch(&app, bogus, Some(&root)).await, Code::InvalidArgument);
        let bad = status.get_details_bad_request().expect("field violations");
        assert_eq!(bad.field_violations[0].field, "cursor", "{bogus}");
    }
}

async fn the_snapshot_holds_ended_sessions_disabled_users_and_deletions(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", crate::helpers::PASSWORD).await.unwrap();
    app.client
        .clone()
        .logout(with_bearer(
            pb::LogoutRequest::default(),
            &login.access_token,
        ))
        .await
        .expect("logout");
    let logged_out = login.session_id;
    let bob = app.create_user("bob", &[]).await;
    app.core
        .accounts()
        .set_active("bob", false, now_unix())
        .await
        .expect("disable");
    let carol = app.create_user("carol", &[]).await;
    app.core
        .accounts()
        .delete_user("carol")
        .await
        .expect("delete");
    let (robot_id, _) = service_account(&app, &root, "gone").await;
    admin(&app)
        .delete_service_account(with_bearer(
            pb::DeleteServiceAccountRequest {
                id: robot_id.clone(),
            },
            &root,
        ))
        .await
        .expect("delete the account");
    let opened = open(&app, "", &root).await;
    let snapshot = &opened.snapshot;
    assert!(
        snapshot
            .iter()
            .any(session_ended(&logged_out, InvalidReason::SessionEnded)),
        "{snapshot:?}"
    );
    assert!(
        snapshot
            .iter()
            .any(user_changed(&bob.id, UserChange::Disabled)),
        "{snapshot:?}"
    );
    assert!(
        snapshot
            .iter()
            .any(user_changed(&carol.id, UserChange::Deleted)),
        "{snapshot:?}"
    );
    assert!(
        snapshot
            .iter()
            .any(account_changed(&robot_id, ServiceAccountChange::Deleted)),
        "{snapshot:?}"
    );
}

async fn live_events_arrive_for_logouts_revocations_disabling_and_passwords(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let alice = app.create_user("alice", &[]).await;
    let mut opened = open(&app, "", &root).await;
    let accounts = app.core.accounts();

    // Logout.
    let login = app.login("alice", crate::helpers::PASSWORD).await.unwrap();
    app.client
        .clone()
        .logout(with_bearer(
            pb::LogoutRequest::default(),
            &login.access_token,
        ))
        .await
        .expect("logout");
    opened
        .until(
            "Logout",
            session_ended(&login.session_id, InvalidReason::SessionEnded),
        )
        .await;

    // LogoutAll.
    let login = app.login("alice", crate::helpers::PASSWORD).await.unwrap();
    app.client
        .clone()
        .logout_all(with_bearer(pb::LogoutAllRequest {}, &login.access_token))
        .await
        .expect("logout all");
    opened
        .until(
            "LogoutAll",
            session_ended(&login.session_id, InvalidReason::SessionEnded),
        )
        .await;

    // RevokeSessions by an admin.
    let sid = app.session_of("alice").await;
    app.client
        .clone()
        .revoke_sessions(with_bearer(
            pb::RevokeSessionsRequest {
                user: Some(pb::revoke_sessions_request::User::Username("alice".into())),
            },
            &root,
        ))
        .await
        .expect("revoke");
    opened
        .until(
            "RevokeSessions",
            session_ended(&sid, InvalidReason::Revoked),
        )
        .await;

    // Disable, enable.
    let sid = app.session_of("alice").await;
    accounts
        .set_active("alice", false, now_unix())
        .await
        .unwrap();
    opened
        .until("disable", user_changed(&alice.id, UserChange::Disabled))
        .await;
    opened
        .until(
            "the disabled user's session",
            session_ended(&sid, InvalidReason::UserDisabled),
        )
        .await;
    accounts
        .set_active("alice", true, now_unix())
        .await
        .unwrap();
    opened
        .until("enable", user_changed(&alice.id, UserChange::Enabled))
        .await;

    // Password change.
    let sid = app.session_of("alice").await;
    accounts
        .set_password(
            "alice",
            SecretString::from("another long passphrase 42".to_owned()),
            now_unix(),
        )
        .await
        .unwrap();
    opened
        .until(
            "password change",
            session_ended(&sid, InvalidReason::PasswordChanged),
        )
        .await;
    opened
        .until(
            "UserChanged PASSWORD",
            user_changed(&alice.id, UserChange::Password),
        )
        .await;
}

async fn live_events_arrive_for_roles_deletions_secrets_and_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let mut opened = open(&app, "", &root).await;
    let accounts = app.core.accounts();

    // Roles change.
    let bob = app.create_user("bob", &[]).await;
    let sid = app.session_of("bob").await;
    accounts
        .set_roles("bob", &["staff".to_owned()], now_unix())
        .await
        .unwrap();
    opened
        .until(
            "roles change",
            session_ended(&sid, InvalidReason::RolesChanged),
        )
        .await;
    opened
        .until(
            "UserChanged ROLES",
            user_changed(&bob.id, UserChange::Roles),
        )
        .await;

    // Delete a user.
    accounts.delete_user("bob").await.unwrap();
    opened
        .until("delete user", user_changed(&bob.id, UserChange::Deleted))
        .await;

    // Rotate a service account's secret, then delete it.
    let (machine, _) = service_account(&app, &root, "robot").await;
    admin(&app)
        .rotate_service_account_secret(with_bearer(
            pb::RotateServiceAccountSecretRequest {
                id: machine.clone(),
                overlap: None,
            },
            &root,
        ))
        .await
        .expect("rotate");
    opened
        .until(
            "secret rotation",
            account_changed(&machine, ServiceAccountChange::SecretRotated),
        )
        .await;
    admin(&app)
        .delete_service_account(with_bearer(
            pb::DeleteServiceAccountRequest {
                id: machine.clone(),
            },
            &root,
        ))
        .await
        .expect("delete");
    opened
        .until(
            "service account deletion",
            account_changed(&machine, ServiceAccountChange::Deleted),
        )
        .await;

    // A key change: a new key is published (nothing retired yet).
    app.keys.rotate(now_unix()).await.expect("rotate keys");
    opened
        .until(
            "KeysChanged",
            |e| matches!(e, Event::KeysChanged(k) if k.retired_kids.is_empty()),
        )
        .await;
}

async fn a_fresh_cursor_resumes_without_a_snapshot_and_misses_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let alice = app.create_user("alice", &[]).await;
    let mut first = open(&app, "", &root).await;
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .unwrap();
    first
        .until("disable", user_changed(&alice.id, UserChange::Disabled))
        .await;
    let cursor = first.cursor.clone();
    drop(first);

    // Changes while nobody listens...
    app.core
        .accounts()
        .set_active("alice", true, now_unix())
        .await
        .unwrap();
    let sid = app.session_of("alice").await;
    app.client
        .clone()
        .revoke_sessions(with_bearer(
            pb::RevokeSessionsRequest {
                user: Some(pb::revoke_sessions_request::User::Id(alice.id.clone())),
            },
            &root,
        ))
        .await
        .unwrap();
    // ...are delivered on resuming (give the hub time to number them).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut resumed = open(&app, &cursor, &root).await;
    assert!(resumed.hello.resumed, "{:?}", resumed.hello);
    assert_eq!(resumed.hello.reset_reason, "");
    assert!(resumed.snapshot.is_empty());
    resumed
        .until("enable", user_changed(&alice.id, UserChange::Enabled))
        .await;
    resumed
        .until("revoke", session_ended(&sid, InvalidReason::Revoked))
        .await;
}

async fn a_cursor_older_than_the_history_gets_a_reason_and_a_snapshot(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.server.revocation_history = 1)
        .spawn()
        .await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let alice = app.create_user("alice", &[]).await;
    let sid = app.session_of("alice").await;
    let mut first = open(&app, "", &root).await;
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .unwrap();
    first
        .until("disable", user_changed(&alice.id, UserChange::Disabled))
        .await;
    let old = first.cursor.clone();
    drop(first);
    // More events than the history holds.
    for active in [true, false, true] {
        app.core
            .accounts()
            .set_active("alice", active, now_unix())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = open(&app, &old, &root).await;
    assert!(!again.hello.resumed);
    assert!(
        again.hello.reset_reason.contains("history"),
        "{:?}",
        again.hello
    );
    // A snapshot followed (`open` read it to its end): alice's session,
    // ended by the disable, is in it.
    assert!(
        again
            .snapshot
            .iter()
            .any(session_ended(&sid, InvalidReason::UserDisabled)),
        "{:?}",
        again.snapshot
    );
    assert!(!again.cursor.is_empty());
}

async fn heartbeats_arrive_at_least_once_a_second(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let mut opened = open(&app, "", &root).await;
    let started = Instant::now();
    let mut beats = 0;
    let mut last = Instant::now();
    while beats < 3 {
        let e = tokio::time::timeout(Duration::from_millis(1500), opened.stream.message())
            .await
            .expect("something within 1.5 s")
            .unwrap()
            .unwrap();
        if let Event::Heartbeat(_) = event(&e) {
            assert!(!e.cursor.is_empty(), "a heartbeat carries the cursor");
            assert!(e.server_time.is_some());
            assert!(
                last.elapsed() < Duration::from_millis(1500),
                "heartbeats at least once a second"
            );
            last = Instant::now();
            beats += 1;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn a_session_ended_while_the_snapshot_is_read_is_not_missed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let alice = app.create_user("alice", &[]).await;
    // A big snapshot: many ended sessions (each disable/enable round ends
    // alice's one session, and every session counts).
    for _ in 0..40 {
        let _ = app.session_of("alice").await;
    }
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .unwrap();
    app.core
        .accounts()
        .set_active("alice", true, now_unix())
        .await
        .unwrap();
    let sid = app.session_of("alice").await;
    // Subscribe and end the session concurrently with the snapshot read.
    let ender = {
        let client = app.client.clone();
        let root = root.clone();
        let id = alice.id.clone();
        tokio::spawn(async move {
            client
                .clone()
                .revoke_sessions(with_bearer(
                    pb::RevokeSessionsRequest {
                        user: Some(pb::revoke_sessions_request::User::Id(id)),
                    },
                    &root,
                ))
                .await
                .expect("revoke")
        })
    };
    let mut opened = open(&app, "", &root).await;
    ender.await.unwrap();
    let in_snapshot = opened
        .snapshot
        .iter()
        .any(session_ended(&sid, InvalidReason::Revoked));
    if !in_snapshot {
        opened
            .until(
                "the session ended during the snapshot",
                session_ended(&sid, InvalidReason::Revoked),
            )
            .await;
    }
    assert!(opened.snapshot.len() >= 40, "{}", opened.snapshot.len());
}

async fn a_subscriber_that_never_reads_is_reset_and_the_gauge_moves(backend: Backend) {
    let app = spawn_app(backend).await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let alice = app.create_user("alice", &[]).await;
    for _ in 0..20 {
        let _ = app.session_of("alice").await;
    }
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .unwrap();
    assert_eq!(subscribers(&app).await, 0);
    let mut reader = open(&app, "", &root).await;
    let mut idle = watch(&app, "", Some(&root)).await.expect("admitted");
    assert_eq!(subscribers(&app).await, 2);

    // Every roles change re-reports alice's 20 ended sessions: far more
    // events than the idle subscriber's buffer and its connection hold.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rounds = 0;
    while subscribers(&app).await > 1 {
        assert!(
            Instant::now() < deadline && rounds < 1000,
            "the idle subscriber was never reset"
        );
        for _ in 0..10 {
            app.core
                .accounts()
                .set_roles("alice", &[format!("r{rounds}")], now_unix())
                .await
                .unwrap();
            rounds += 1;
        }
        // The reader keeps up.
        while let Ok(Ok(Some(_))) =
            tokio::time::timeout(Duration::from_millis(5), reader.stream.message()).await
        {}
    }
    let _ = alice;
    let resets = app
        .scrape()
        .await
        .value("authd_revocation_subscriber_resets_total{reason=\"too_slow\"}");
    assert_eq!(count(resets), 1);
    // The idle subscriber, reading at last, finds its end after what its
    // connection had buffered.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match idle.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the end within 30 s");
    assert_eq!(ended.code(), Code::ResourceExhausted, "{ended:?}");
    assert!(ended.message().contains("resubscribe"), "{ended:?}");
    // The reader is still there; dropping it moves the gauge to zero.
    assert_eq!(subscribers(&app).await, 1);
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(10);
    while subscribers(&app).await > 0 {
        assert!(Instant::now() < deadline, "the gauge did not come down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Open revocation streams (`authd_revocation_subscribers`).
async fn subscribers(app: &TestApp) -> u64 {
    count(app.metric("authd_revocation_subscribers").await)
}

async fn a_logout_all_on_replica_two_reaches_replica_ones_stream() {
    let one = spawn_app(Backend::Postgres).await;
    let two = one.spawn_replica(|_| {}).await;
    one.wait_for_feed().await;
    two.wait_for_feed().await;
    let root = admin_token(&one).await;
    one.create_user("alice", &[]).await;
    let mut opened = open(&one, "", &root).await;
    let login = two.login("alice", crate::helpers::PASSWORD).await.unwrap();
    let started = Instant::now();
    two.client
        .clone()
        .logout_all(with_bearer(pb::LogoutAllRequest {}, &login.access_token))
        .await
        .expect("logout all on replica two");
    opened
        .until(
            "replica two's LogoutAll",
            session_ended(&login.session_id, InvalidReason::SessionEnded),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

async fn a_retired_key_is_named_in_keys_changed(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.signing.key_prepublish = Duration::from_secs(60))
        .spawn()
        .await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let old_kid = app.keys.list().await.expect("list")[0].kid.clone();
    let mut opened = open(&app, "", &root).await;
    let t0 = now_unix();
    app.keys.rotate(t0).await.expect("rotate");
    app.keys.maintain(t0 + 60).await.expect("promote");
    // Past the old key's last token (lifetime + leeway + refresh interval).
    app.keys
        .maintain(t0 + 60 + 900 + 10 + 30)
        .await
        .expect("retire");
    let Event::KeysChanged(changed) = opened
        .until(
            "the old key's retirement",
            |e| matches!(e, Event::KeysChanged(k) if !k.retired_kids.is_empty()),
        )
        .await
    else {
        unreachable!()
    };
    assert_eq!(changed.retired_kids, vec![old_kid]);
}

async fn a_replica_whose_feed_is_not_trusted_sends_no_heartbeats(backend: Backend) {
    // A trust bound of zero: the cache (and so the feed) is never trusted.
    let app = TestApp::builder(backend)
        .config(|c| c.server.cache_trust_bound = Duration::ZERO)
        .spawn()
        .await;
    let root = admin_token(&app).await;
    let mut opened = open(&app, "", &root).await;
    let silent = tokio::time::timeout(Duration::from_millis(2500), opened.stream.message()).await;
    // Silence, or the stream ended (an untrusted feed may also resync,
    // which ends it with UNAVAILABLE): anything but a sign of life.
    assert!(
        !matches!(&silent, Ok(Ok(Some(_)))),
        "no heartbeat (or other event) while untrusted: {silent:?}"
    );
}

async fn streams_end_with_unavailable_when_the_server_drains(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let root = admin_token(&app).await;
    let mut opened = open(&app, "", &root).await;
    let started = Instant::now();
    let server = app.begin_shutdown();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match opened.stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream ends within 5 s");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains("resubscribe"), "{ended:?}");
    tokio::time::timeout(Duration::from_secs(8), server)
        .await
        .expect("the drain is not held by the stream")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(8));
}

async fn a_feed_resync_ends_every_stream_and_old_cursors_take_a_snapshot() {
    use sqlx::Connection as _;
    let app = spawn_app(Backend::Postgres).await;
    app.wait_for_feed().await;
    let root = admin_token(&app).await;
    let alice = app.create_user("alice", &[]).await;
    let mut opened = open(&app, "", &root).await;
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .unwrap();
    opened
        .until("disable", user_changed(&alice.id, UserChange::Disabled))
        .await;
    let cursor = opened.cursor.clone();

    // Cut the listener (and every other connection): the feed reconnects.
    let mut admin = sqlx::PgConnection::connect(app.database_url())
        .await
        .expect("connect");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .await
    .expect("terminate");
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match opened.stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream ends after the feed reconnects");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert!(ended.message().contains("resubscribe"), "{ended:?}");

    // The old cursor no longer resumes: a snapshot instead.
    let deadline = Instant::now() + Duration::from_secs(10);
    let again = loop {
        match watch(&app, &cursor, Some(&root)).await {
            Ok(_) => break open(&app, &cursor, &root).await,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(Instant::now() < deadline, "never back: {status:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(!again.hello.resumed);
    assert!(
        again.hello.reset_reason.contains("reconnected"),
        "{:?}",
        again.hello
    );
    assert!(
        again
            .snapshot
            .iter()
            .any(user_changed(&alice.id, UserChange::Disabled))
    );
}
