//! The audit log over real gRPC: each event kind leaves a row, and no row
//! ever holds a password, token or hash.

use std::time::Duration;

use authd::clock::now_unix;
use authd::grpc::pb;
use authd::store::AuditEntry;
use secrecy::{ExposeSecret as _, SecretString};
use tonic::Code;

use crate::helpers::{Backend, PASSWORD, TestApp, assert_code, spawn_app, with_bearer};

on_both_backends!(
    logins_that_succeed_and_fail_are_recorded_with_the_client_address,
    an_unknown_login_name_is_stored_as_its_keyed_digest_never_as_typed,
    logout_logout_all_and_admin_revocations_are_recorded,
    a_logout_that_ends_no_session_writes_no_row,
    refresh_token_reuse_is_recorded_as_denied,
    account_changes_are_recorded_in_order,
    key_publication_promotion_and_retirement_are_recorded,
    no_audit_row_ever_holds_a_password_token_or_hash,
    a_throttled_login_is_recorded,
    three_thousand_throttled_logins_add_at_most_a_handful_of_audit_rows,
    logout_revoke_and_reuse_rows_carry_the_client_address,
    repeated_identical_denials_are_recorded_once,
    an_unknown_client_id_is_stored_as_its_keyed_digest_never_as_typed,
    repeated_wrong_client_secrets_add_at_most_a_handful_of_rows,
    repeated_permission_denied_admin_calls_add_no_rows,
);

/// The audit subject standing for a login name that names no account.
async fn digest_of(app: &TestApp, login: &str) -> String {
    authd::audit::NameDigests::shared(app.core.accounts().store().as_ref(), now_unix())
        .await
        .expect("the audit name key")
        .subject(login)
}

/// Every audit row, oldest first.
async fn audit_rows(app: &TestApp) -> Vec<AuditEntry> {
    app.core
        .accounts()
        .store()
        .audit_tail(10_000, None)
        .await
        .expect("read the audit log")
}

/// The rows of one event kind.
async fn rows_of(app: &TestApp, event: &str) -> Vec<AuditEntry> {
    audit_rows(app)
        .await
        .into_iter()
        .filter(|e| e.event == event)
        .collect()
}

async fn logins_that_succeed_and_fail_are_recorded_with_the_client_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let before = now_unix();
    let ok = app.login("alice", PASSWORD).await.expect("login");
    assert_code(
        app.login("alice", "not the password at all").await,
        Code::Unauthenticated,
    );
    assert_code(
        app.login("nobody", "not the password at all").await,
        Code::Unauthenticated,
    );
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .expect("disable");
    assert_code(app.login("alice", PASSWORD).await, Code::Unauthenticated);

    let logins = rows_of(&app, "login").await;
    assert_eq!(logins.len(), 4, "{logins:#?}");
    let success = &logins[0];
    assert_eq!(success.outcome, "success");
    assert_eq!(success.subject, "alice");
    assert_eq!(success.user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(success.client_addr.as_deref(), Some("127.0.0.1"));
    assert!(success.detail.contains(&ok.session_id), "{success:?}");
    assert!(success.at >= before && success.at <= now_unix() + 1);

    let nobody = digest_of(&app, "nobody").await;
    let details: Vec<_> = logins[1..]
        .iter()
        .map(|e| {
            assert_eq!(e.outcome, "failure", "{e:?}");
            assert_eq!(e.client_addr.as_deref(), Some("127.0.0.1"), "{e:?}");
            (e.subject.as_str(), e.user_id.is_some(), e.detail.as_str())
        })
        .collect();
    assert_eq!(
        details,
        [
            ("alice", true, "wrong password"),
            (nobody.as_str(), false, "no such user"),
            ("alice", true, "user disabled"),
        ]
    );
}

/// A login name that matches no account may be a password typed into the
/// wrong field: it is stored as its keyed digest (HMAC-SHA256 under an
/// instance secret), the same for the same name so repeats can be
/// correlated, and a name that does match an account is stored as typed.
async fn an_unknown_login_name_is_stored_as_its_keyed_digest_never_as_typed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let typed = "Correct-Horse-Battery-Staple-9";
    for name in [typed, &typed.to_uppercase(), "Another-Secret-Looking-Name"] {
        assert_code(
            app.login(name, "hunter2-but-longer").await,
            Code::Unauthenticated,
        );
    }
    let long_name = format!("{}\n\u{1b}[2Jforged line", "x".repeat(300));
    assert_code(
        app.login(&long_name, "hunter2-but-longer").await,
        Code::Unauthenticated,
    );
    assert_code(
        app.login("alice", "hunter2-but-longer").await,
        Code::Unauthenticated,
    );

    let rows = rows_of(&app, "login").await;
    assert_eq!(rows.len(), 5, "{rows:#?}");
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    for row in &rows[..4] {
        assert!(
            row.subject.starts_with(authd::audit::NameDigests::PREFIX),
            "{row:?}"
        );
        assert_eq!(row.detail, "no such user");
        let text = format!("{row:?}").to_lowercase();
        for leaked in ["horse", "secret", "xxxx", "forged", "hunter2"] {
            assert!(!text.contains(leaked), "{leaked:?} in {row:?}");
        }
    }
    // The same name (folded as logins are) gives the same value, another name another.
    assert_eq!(subjects[0], subjects[1]);
    assert_ne!(subjects[0], subjects[2]);
    assert_eq!(subjects[0], digest_of(&app, typed).await);
    // A known account's name is kept as typed.
    assert_eq!(subjects[4], "alice");
}

async fn logout_logout_all_and_admin_revocations_are_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let root = app.create_user("root", &["admin"]).await;
    let bob = app.create_user("bob", &[]).await;

    let first = app.login("alice", PASSWORD).await.expect("login");
    let second = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(with_bearer(
            pb::LogoutRequest::default(),
            &first.access_token,
        ))
        .await
        .expect("logout by bearer");
    let third = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: third.refresh_token.clone(),
        })
        .await
        .expect("logout by refresh token");
    app.client
        .clone()
        .logout_all(with_bearer(pb::LogoutAllRequest {}, &second.access_token))
        .await
        .expect("logout all");

    let logouts = rows_of(&app, "logout").await;
    assert_eq!(logouts.len(), 2, "{logouts:#?}");
    for (row, sid) in logouts.iter().zip([&first.session_id, &third.session_id]) {
        assert_eq!(row.outcome, "success");
        assert_eq!(row.subject, "alice");
        assert_eq!(row.user_id.as_deref(), Some(alice.id.as_str()));
        assert!(row.detail.contains(sid.as_str()), "{row:?}");
    }
    let all = rows_of(&app, "logout_all").await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].subject, "alice");
    assert_eq!(all[0].detail, "1 sessions ended");

    let bob_token = app.token_for("bob").await;
    let root_token = app.token_for("root").await;
    let revoke = |name: &str| pb::RevokeSessionsRequest {
        user: Some(pb::revoke_sessions_request::User::Username(name.to_owned())),
    };
    assert_code(
        app.client
            .clone()
            .revoke_sessions(with_bearer(revoke("root"), &bob_token))
            .await,
        Code::PermissionDenied,
    );
    app.client
        .clone()
        .revoke_sessions(with_bearer(revoke("bob"), &root_token))
        .await
        .expect("admin revokes");

    let revocations = rows_of(&app, "sessions_revoked").await;
    assert_eq!(revocations.len(), 2, "{revocations:#?}");
    assert_eq!(revocations[0].outcome, "denied");
    assert_eq!(revocations[0].user_id.as_deref(), Some(bob.id.as_str()));
    assert_eq!(revocations[1].outcome, "success");
    assert_eq!(revocations[1].subject, "bob");
    assert!(
        revocations[1].detail.contains(&root.id) && revocations[1].detail.contains("1 sessions"),
        "{:?}",
        revocations[1]
    );
}

/// Logout answers an unknown or already-ended refresh token like a real
/// one; recording each such call would let anyone grow the append-only log
/// for free, so only a Logout that ends a session is recorded.
async fn a_logout_that_ends_no_session_writes_no_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let logout = |refresh_token: String| {
        let mut client = app.client.clone();
        async move {
            client
                .logout(pb::LogoutRequest { refresh_token })
                .await
                .expect("Logout answers every refresh token alike");
        }
    };

    // Unknown tokens, well-formed or not.
    let unknown = authd::token::refresh::generate().expect("a random token");
    logout(unknown.expose_secret().to_owned()).await;
    logout("rt_not-base64!".to_owned()).await;
    assert!(rows_of(&app, "logout").await.is_empty());

    // A real logout is recorded once, however often it is repeated.
    let login = app.login("alice", PASSWORD).await.expect("login");
    for _ in 0..3 {
        logout(login.refresh_token.clone()).await;
    }
    let logouts = rows_of(&app, "logout").await;
    assert_eq!(logouts.len(), 1, "{logouts:#?}");
    assert_eq!(logouts[0].user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(
        logouts[0].detail,
        format!("session {} ended", login.session_id)
    );

    // Nor is a Logout of a session LogoutAll has already ended.
    let other = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout_all(with_bearer(pb::LogoutAllRequest {}, &other.access_token))
        .await
        .expect("logout all");
    logout(other.refresh_token.clone()).await;
    assert_eq!(rows_of(&app, "logout").await.len(), 1);
}

async fn refresh_token_reuse_is_recorded_as_denied(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.token.refresh_grace = Duration::ZERO)
        .spawn()
        .await;
    let alice = app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let spent = pb::RefreshRequest {
        refresh_token: login.refresh_token.clone(),
    };
    app.client
        .clone()
        .refresh(spent.clone())
        .await
        .expect("first refresh");
    assert!(rows_of(&app, "refresh_reuse").await.is_empty());
    assert_code(
        app.client.clone().refresh(spent).await,
        Code::Unauthenticated,
    );
    let reuse = rows_of(&app, "refresh_reuse").await;
    assert_eq!(reuse.len(), 1, "{reuse:#?}");
    assert_eq!(reuse[0].outcome, "denied");
    assert_eq!(reuse[0].user_id.as_deref(), Some(alice.id.as_str()));
    assert!(
        reuse[0].detail.contains(&login.session_id),
        "{:?}",
        reuse[0]
    );
}

async fn account_changes_are_recorded_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let accounts = app.core.accounts().clone().with_actor("test suite");
    let now = now_unix();
    let carol = accounts
        .create_user(
            authd::service::NewAccount {
                username: "carol".to_owned(),
                email: None,
                roles: vec!["viewer".to_owned()],
                password: SecretString::from(PASSWORD.to_owned()),
            },
            now,
        )
        .await
        .expect("create");
    accounts
        .set_active("carol", false, now)
        .await
        .expect("disable");
    accounts
        .set_active("carol", true, now)
        .await
        .expect("enable");
    accounts
        .set_roles("carol", &["admin".to_owned()], now)
        .await
        .expect("roles");
    accounts
        .set_password(
            "carol",
            SecretString::from("a brand new password".to_owned()),
            now,
        )
        .await
        .expect("password");
    accounts.delete_user("carol").await.expect("delete");

    let rows: Vec<_> = audit_rows(&app)
        .await
        .into_iter()
        .filter(|e| e.user_id.as_deref() == Some(carol.id.as_str()))
        .collect();
    let events: Vec<_> = rows.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "user_created",
            "user_disabled",
            "user_enabled",
            "roles_changed",
            "password_changed",
            "user_deleted",
        ]
    );
    for row in &rows {
        assert_eq!(row.subject, "carol");
        assert_eq!(row.outcome, "success");
        assert!(row.detail.ends_with("by test suite"), "{row:?}");
    }
    assert!(rows[0].detail.contains("roles: viewer"), "{:?}", rows[0]);
    assert!(rows[3].detail.contains("roles: admin"), "{:?}", rows[3]);
    // The user is gone; their history is not.
    assert!(
        app.core
            .accounts()
            .store()
            .user_by_id(&carol.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn key_publication_promotion_and_retirement_are_recorded(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.signing.key_prepublish = Duration::from_secs(60);
        })
        .spawn()
        .await;
    let t0 = now_unix();
    let old_kid = app.keys.keys().signing().unwrap().kid.clone();
    let rotation = app.keys.rotate(t0).await.expect("rotate");
    app.keys.maintain(t0 + 60).await.expect("promote");
    app.keys.maintain(t0 + 24 * 3600).await.expect("retire");

    let keys: Vec<_> = audit_rows(&app)
        .await
        .into_iter()
        .filter(|e| e.event.starts_with("key_"))
        .map(|e| (e.event, e.subject, e.outcome, e.at, e.detail))
        .collect();
    assert_eq!(keys.len(), 3, "{keys:#?}");
    assert_eq!(
        (keys[0].0.as_str(), &keys[0].1, keys[0].3),
        ("key_published", &rotation.kid, t0)
    );
    assert!(
        keys[0].4.contains(&authd::audit::rfc3339(t0 + 60)),
        "{:?}",
        keys[0]
    );
    assert_eq!(
        (keys[1].0.as_str(), &keys[1].1, keys[1].3),
        ("key_promoted", &rotation.kid, t0 + 60)
    );
    assert!(keys[1].4.contains(&old_kid), "{:?}", keys[1]);
    assert_eq!(
        (keys[2].0.as_str(), &keys[2].1, keys[2].3),
        ("key_retired", &old_kid, t0 + 24 * 3600)
    );
    assert!(keys.iter().all(|k| k.2 == "success"));
}

async fn no_audit_row_ever_holds_a_password_token_or_hash(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.token.refresh_grace = Duration::ZERO)
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let wrong = "Wrong-Password-Sentinel-42";
    let new_password = "New-Password-Sentinel-43";

    // A scripted session: a failed and a good login, refresh, reuse, logout,
    // a password change and a login with the new password.
    assert_code(app.login("alice", wrong).await, Code::Unauthenticated);
    let login = app.login("alice", PASSWORD).await.expect("login");
    let refreshed = app
        .client
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: login.refresh_token.clone(),
        })
        .await
        .expect("refresh")
        .into_inner();
    assert_code(
        app.client
            .clone()
            .refresh(pb::RefreshRequest {
                refresh_token: login.refresh_token.clone(),
            })
            .await,
        Code::Unauthenticated,
    );
    let again = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(with_bearer(
            pb::LogoutRequest::default(),
            &again.access_token,
        ))
        .await
        .expect("logout");
    app.core
        .accounts()
        .set_password(
            "alice",
            SecretString::from(new_password.to_owned()),
            now_unix(),
        )
        .await
        .expect("password change");
    let last = app.login("alice", new_password).await.expect("new login");
    app.client
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: last.refresh_token.clone(),
        })
        .await
        .expect("logout by refresh token");

    let rows = audit_rows(&app).await;
    let events: Vec<_> = rows.iter().map(|e| e.event.as_str()).collect();
    for expected in ["login", "refresh_reuse", "logout", "password_changed"] {
        assert!(events.contains(&expected), "{expected} missing: {events:?}");
    }
    let secrets = [
        PASSWORD,
        wrong,
        new_password,
        login.access_token.as_str(),
        login.refresh_token.as_str(),
        refreshed.refresh_token.as_str(),
        last.refresh_token.as_str(),
        "eyJ",
        "rt_",
        "$argon2",
    ];
    for row in &rows {
        let text = format!(
            "{} {} {:?} {} {:?} {} {}",
            row.at, row.event, row.user_id, row.subject, row.client_addr, row.outcome, row.detail
        );
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} leaked into {row:?}");
        }
    }
}

async fn a_throttled_login_is_recorded(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_free_failures = 1;
            config.throttle.login_backoff_base = std::time::Duration::from_secs(600);
            config.throttle.login_backoff_max = std::time::Duration::from_secs(600);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    // One free failure: it starts the block.
    assert_code(
        app.login("alice", "not the password").await,
        Code::Unauthenticated,
    );
    assert_code(app.login("alice", PASSWORD).await, Code::ResourceExhausted);

    let rows = rows_of(&app, "login_throttled").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0].subject.as_str(),
            rows[0].outcome.as_str(),
            rows[0].client_addr.as_deref(),
        ),
        ("alice", "throttled", Some("127.0.0.1"))
    );
    assert!(
        rows[0].detail.starts_with("account blocked for "),
        "{rows:?}"
    );
}

/// Each throttled login used to write a row of its own, without hashing:
/// thousands a second from one client, into a table nothing may delete
/// from. Now a block is recorded when it starts, and the attempts it
/// refuses are not recorded one by one.
async fn three_thousand_throttled_logins_add_at_most_a_handful_of_audit_rows(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_free_failures = 1;
            config.throttle.login_free_failures_per_address = 1;
            config.throttle.login_backoff_base = std::time::Duration::from_secs(600);
            config.throttle.login_backoff_max = std::time::Duration::from_secs(600);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    // One free failure: it starts the block.
    assert_code(
        app.login("alice", "not the password").await,
        Code::Unauthenticated,
    );
    let rows_before = audit_rows(&app).await.len();

    // 3,000 attempts, 100 in flight at a time, within a bounded time.
    let now = now_unix();
    let flood = async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..3000_u32 {
            if tasks.len() >= 100 {
                tasks.join_next().await.expect("a task").expect("task");
            }
            let core = app.core.clone();
            let name = if i % 2 == 0 { "alice" } else { "mallory" };
            tasks.spawn(async move {
                let result = core
                    .login(
                        name,
                        SecretString::from(format!("flood guess {i}")),
                        authd::service::ClientInfo {
                            addr: Some("127.0.0.1".to_owned()),
                            user_agent: None,
                        },
                        now,
                    )
                    .await;
                assert!(
                    matches!(result, Err(authd::Error::Throttled { .. })),
                    "{result:?}"
                );
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), flood)
        .await
        .expect("3,000 throttled logins within two minutes");

    let added = audit_rows(&app).await.len() - rows_before;
    assert!(
        added <= 3,
        "3,000 throttled logins added {added} audit rows"
    );
    // What is recorded is the block's start, once for the account and once
    // for the address.
    let blocks = rows_of(&app, "login_throttled").await;
    assert_eq!(blocks.len(), 2, "{blocks:#?}");
}

async fn logout_revoke_and_reuse_rows_carry_the_client_address(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.token.refresh_grace = Duration::ZERO)
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    app.create_user("root", &["admin"]).await;

    let first = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .expect("logout by refresh token");
    let second = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(with_bearer(
            pb::LogoutRequest::default(),
            &second.access_token,
        ))
        .await
        .expect("logout by bearer");
    let third = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout_all(with_bearer(pb::LogoutAllRequest {}, &third.access_token))
        .await
        .expect("logout all");
    let root_token = app.token_for("root").await;
    app.client
        .clone()
        .revoke_sessions(with_bearer(
            pb::RevokeSessionsRequest {
                user: Some(pb::revoke_sessions_request::User::Username(
                    "alice".to_owned(),
                )),
            },
            &root_token,
        ))
        .await
        .expect("admin revokes");
    let fourth = app.login("alice", PASSWORD).await.expect("login");
    let spent = pb::RefreshRequest {
        refresh_token: fourth.refresh_token.clone(),
    };
    app.client
        .clone()
        .refresh(spent.clone())
        .await
        .expect("first refresh");
    assert_code(
        app.client.clone().refresh(spent).await,
        Code::Unauthenticated,
    );

    for event in ["logout", "logout_all", "sessions_revoked", "refresh_reuse"] {
        let rows = rows_of(&app, event).await;
        assert!(!rows.is_empty(), "no {event} row");
        for row in rows {
            assert_eq!(row.client_addr.as_deref(), Some("127.0.0.1"), "{row:?}");
        }
    }
    assert_eq!(rows_of(&app, "logout").await.len(), 2);
}

/// A caller repeating a call it is refused used to leave a row per call.
async fn repeated_identical_denials_are_recorded_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let bob = app.create_user("bob", &[]).await;
    app.create_user("carol", &[]).await;
    let bob_token = app.token_for("bob").await;
    let carol_token = app.token_for("carol").await;
    let revoke = pb::RevokeSessionsRequest {
        user: Some(pb::revoke_sessions_request::User::Username(
            "carol".to_owned(),
        )),
    };
    for _ in 0..25 {
        assert_code(
            app.client
                .clone()
                .revoke_sessions(with_bearer(revoke.clone(), &bob_token))
                .await,
            Code::PermissionDenied,
        );
    }
    let denied = rows_of(&app, "sessions_revoked").await;
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0].outcome, "denied");
    assert_eq!(denied[0].user_id.as_deref(), Some(bob.id.as_str()));
    assert!(
        denied[0]
            .detail
            .starts_with("the caller lacks the admin role"),
        "{:?}",
        denied[0]
    );
    // Another caller's denial is its own row.
    assert_code(
        app.client
            .clone()
            .revoke_sessions(with_bearer(revoke, &carol_token))
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(rows_of(&app, "sessions_revoked").await.len(), 2);
}

/// A wrong client secret for `client_id` at `now` through IssueServiceToken.
async fn wrong_client_secret(app: &TestApp, client_id: &str, i: usize, now: i64) -> authd::Error {
    app.core
        .issue_service_token(
            client_id,
            SecretString::from(format!("authd_sa_wrong-guess-{i}")),
            None,
            authd::service::ClientInfo {
                addr: Some("192.0.2.9".to_owned()),
                user_agent: None,
            },
            now,
        )
        .await
        .expect_err("a wrong secret")
}

/// A client id that matches no service account may be a secret pasted into
/// the wrong field; it was stored as typed. Now its failure rows and the
/// block's row hold its keyed digest, as unknown login names do, and a
/// known client is still named.
async fn an_unknown_client_id_is_stored_as_its_keyed_digest_never_as_typed(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_free_failures = 2;
            config.throttle.login_backoff_base = Duration::from_secs(600);
            config.throttle.login_backoff_max = Duration::from_secs(600);
        })
        .spawn()
        .await;
    let (known, _secret) = crate::oauth2::service_account(&app, "billing-bot").await;
    let typed = "sa_Pasted-Secret-Looking-Value-42";
    let now = now_unix();
    for i in 0..3 {
        wrong_client_secret(&app, typed, i, now).await;
    }
    wrong_client_secret(&app, &known, 9, now).await;

    let rows = rows_of(&app, "service_token").await;
    let digest = digest_of(&app, typed).await;
    let unknown: Vec<&AuditEntry> = rows.iter().filter(|r| r.subject == digest).collect();
    // Two failures and the block the second started; the third is refused unrecorded.
    assert_eq!(unknown.len(), 3, "{rows:#?}");
    assert_eq!(
        unknown
            .iter()
            .map(|r| r.outcome.as_str())
            .collect::<Vec<_>>(),
        ["failure", "failure", "throttled"]
    );
    assert_eq!(unknown[0].detail, "unknown client id");
    for row in audit_rows(&app).await {
        let text = format!("{row:?}").to_lowercase();
        assert!(!text.contains("pasted-secret"), "{row:?}");
    }
    let named: Vec<&AuditEntry> = rows.iter().filter(|r| r.subject == "billing-bot").collect();
    assert_eq!(named.len(), 1, "{rows:#?}");
    assert_eq!(named[0].detail, "wrong or expired client secret");
}

/// Wrong secrets for one client, as fast as they come: the free failures
/// and the block's start are recorded, the refused attempts are not.
async fn repeated_wrong_client_secrets_add_at_most_a_handful_of_rows(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_backoff_base = Duration::from_secs(600);
            config.throttle.login_backoff_max = Duration::from_secs(600);
        })
        .spawn()
        .await;
    let (client_id, _secret) = crate::oauth2::service_account(&app, "billing-bot").await;
    let rows_before = audit_rows(&app).await.len();
    let now = now_unix();
    for i in 0..300 {
        wrong_client_secret(&app, &client_id, i, now).await;
    }
    let added = audit_rows(&app).await.len() - rows_before;
    // Five failures and one block.
    assert!(added <= 6, "300 wrong client secrets added {added} rows");
}

/// Admin calls refused for want of the role write no row at all (the
/// refusal is decided before anything the call names is read), so repeating
/// them cannot grow the log.
async fn repeated_permission_denied_admin_calls_add_no_rows(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("bob", &[]).await;
    app.create_user("carol", &[]).await;
    let token = app.token_for("bob").await;
    let rows_before = audit_rows(&app).await.len();
    let mut admin = pb::admin_service_client::AdminServiceClient::new(app.channel.clone());
    let mut auth = app.client.clone();
    for _ in 0..50 {
        assert_code(
            admin
                .list_users(with_bearer(pb::ListUsersRequest::default(), &token))
                .await,
            Code::PermissionDenied,
        );
        assert_code(
            auth.get_user(with_bearer(
                pb::GetUserRequest {
                    selector: Some(pb::get_user_request::Selector::Username("carol".to_owned())),
                },
                &token,
            ))
            .await,
            Code::PermissionDenied,
        );
    }
    assert_eq!(audit_rows(&app).await.len(), rows_before);
}
