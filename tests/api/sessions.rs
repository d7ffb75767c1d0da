//! Sessions: refresh rotation, reuse detection, logout and revocation.

use std::sync::Arc;
use std::time::Duration;

use authd::clock::{ManualClock, now_unix};
use authd::grpc::pb::{self, InvalidReason};
use secrecy::{ExposeSecret as _, SecretString};
use tonic::Code;

use crate::helpers::{Backend, PASSWORD, TestApp, assert_code, spawn_app, with_bearer};

on_both_backends!(
    login_returns_a_refresh_token_that_rotates_on_use,
    a_retry_within_the_grace_window_gets_the_same_successor,
    reuse_after_the_grace_window_revokes_the_session,
    a_replay_in_grace_after_the_successor_was_spent_revokes_the_session,
    parallel_refreshes_of_one_token_leave_one_successor,
    a_session_ends_at_its_absolute_lifetime_however_often_refreshed,
    access_and_refresh_tokens_are_not_interchangeable,
    logout_ends_the_session_named_by_refresh_token_or_bearer,
    logout_of_an_unknown_refresh_token_answers_like_a_real_one,
    logout_all_ends_every_session_of_the_caller,
    password_role_and_account_changes_invalidate_tokens,
    list_sessions_shows_the_callers_live_sessions,
    revoking_another_users_sessions_needs_the_admin_role,
    the_oldest_session_is_evicted_beyond_the_per_user_limit,
    a_warm_verify_reads_no_database,
    changes_made_by_the_cli_process_reach_the_running_server,
    a_cached_token_is_refused_once_revoked_or_expired,
    a_session_whose_refresh_token_goes_unused_past_the_idle_timeout_ends,
);

async fn refresh(app: &TestApp, token: &str) -> Result<pb::RefreshResponse, tonic::Status> {
    app.client
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: token.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[track_caller]
fn assert_reason(response: &pb::VerifyResponse, reason: InvalidReason) {
    assert!(!response.valid, "expected {reason:?}, got {response:?}");
    assert_eq!(response.reason(), reason, "{response:?}");
    assert!(response.user.is_none() && response.claims.is_none());
}

async fn login_returns_a_refresh_token_that_rotates_on_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    assert!(login.refresh_token.starts_with("rt_"));
    assert!(!login.session_id.is_empty());
    let claims = app.verify(&login.access_token).await.claims.expect("valid");
    assert_eq!(claims.sid, login.session_id);

    let first = refresh(&app, &login.refresh_token).await.expect("refresh");
    assert_ne!(first.refresh_token, login.refresh_token, "rotated");
    assert_eq!(first.token_type, "Bearer");
    assert!(first.expires_in > 0);
    let verdict = app.verify(&first.access_token).await;
    assert!(verdict.valid);
    let claims = verdict.claims.expect("claims");
    assert_eq!(claims.sub, alice.id);
    assert_eq!(claims.sid, login.session_id, "same session");

    let second = refresh(&app, &first.refresh_token)
        .await
        .expect("refresh again");
    assert_ne!(second.refresh_token, first.refresh_token);

    // Only hashes are stored: the token text appears nowhere in the database.
    let record = app
        .core
        .accounts()
        .store()
        .refresh_token(&second.refresh_token)
        .await
        .expect("query");
    assert!(record.is_none(), "a lookup by the raw token finds nothing");
}

async fn a_retry_within_the_grace_window_gets_the_same_successor(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let token = SecretString::from(login.refresh_token.clone());
    let now = now_unix();

    let first = app.core.refresh(&token, now).await.expect("refresh");
    let retry = app
        .core
        .refresh(&token, now + 5)
        .await
        .expect("retry in grace");
    assert_eq!(
        first.refresh_token.expose_secret(),
        retry.refresh_token.expose_secret()
    );
    // The session is intact: the successor still works.
    app.core
        .refresh(&first.refresh_token, now + 6)
        .await
        .expect("successor usable");
}

async fn reuse_after_the_grace_window_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let token = SecretString::from(login.refresh_token.clone());
    let now = now_unix();

    let next = app.core.refresh(&token, now).await.expect("refresh");
    let err = app
        .core
        .refresh(&token, now + 60)
        .await
        .expect_err("replay after the grace window");
    assert!(err.to_string().contains("revoked"), "{err}");

    // The whole session is gone: the legitimate successor and every access token.
    let err = app
        .core
        .refresh(&next.refresh_token, now + 61)
        .await
        .expect_err("the family is revoked");
    assert!(matches!(err, authd::Error::Unauthenticated(_)), "{err:?}");
    assert_reason(
        &app.verify(&login.access_token).await,
        InvalidReason::Revoked,
    );
    assert_reason(
        &app.verify(&next.access.token).await,
        InvalidReason::Revoked,
    );
}

/// The grace window exists for a client that never saw its answer and
/// retries; once the successor has itself been used, the client clearly got
/// it, so the old token showing up again is a thief's replay, grace or not.
async fn a_replay_in_grace_after_the_successor_was_spent_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let token = SecretString::from(login.refresh_token.clone());
    let now = now_unix();

    let second = app.core.refresh(&token, now).await.expect("refresh");
    let third = app
        .core
        .refresh(&second.refresh_token, now + 1)
        .await
        .expect("the successor is used");
    let err = app
        .core
        .refresh(&token, now + 2)
        .await
        .expect_err("a replay of the first token, still inside its grace window");
    assert!(err.to_string().contains("revoked"), "{err}");
    let err = app
        .core
        .refresh(&third.refresh_token, now + 3)
        .await
        .expect_err("the session is revoked");
    assert!(matches!(err, authd::Error::Unauthenticated(_)), "{err:?}");
    assert_reason(
        &app.verify(&third.access.token).await,
        InvalidReason::Revoked,
    );
}

async fn parallel_refreshes_of_one_token_leave_one_successor(backend: Backend) {
    let app = Arc::new(spawn_app(backend).await);
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let app = Arc::clone(&app);
            let token = login.refresh_token.clone();
            tokio::spawn(async move { refresh(&app, &token).await })
        })
        .collect();
    let mut successors = std::collections::HashSet::new();
    for call in calls {
        let response = call.await.expect("task").expect("every retry succeeds");
        successors.insert(response.refresh_token);
    }
    assert_eq!(successors.len(), 1, "exactly one successor: {successors:?}");
    let successor = successors.into_iter().next().expect("one");
    refresh(&app, &successor)
        .await
        .expect("the successor is live");
}

async fn a_session_ends_at_its_absolute_lifetime_however_often_refreshed(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.token.session_lifetime = std::time::Duration::from_secs(3600);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let start = now_unix();

    let mut token = SecretString::from(login.refresh_token);
    for step in 1..=5 {
        let out = app
            .core
            .refresh(&token, start + step * 600)
            .await
            .expect("within the lifetime");
        assert!(
            out.access.claims.exp <= start + 3600,
            "access tokens never outlive the session"
        );
        token = out.refresh_token;
    }
    let err = app
        .core
        .refresh(&token, start + 3600)
        .await
        .expect_err("past the absolute lifetime");
    assert!(err.to_string().contains("expired"), "{err}");
}

async fn access_and_refresh_tokens_are_not_interchangeable(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");

    let status = assert_code(
        refresh(&app, &login.access_token).await,
        Code::Unauthenticated,
    );
    assert!(
        status.message().contains("log in again"),
        "{}",
        status.message()
    );
    assert_code(refresh(&app, "").await, Code::Unauthenticated);
    assert_code(refresh(&app, "rt_garbage!").await, Code::Unauthenticated);
    assert_reason(
        &app.verify(&login.refresh_token).await,
        InvalidReason::Malformed,
    );
}

async fn logout_ends_the_session_named_by_refresh_token_or_bearer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;

    let by_refresh = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: by_refresh.refresh_token.clone(),
        })
        .await
        .expect("logout by refresh token");
    assert_reason(
        &app.verify(&by_refresh.access_token).await,
        InvalidReason::SessionEnded,
    );
    assert_code(
        refresh(&app, &by_refresh.refresh_token).await,
        Code::Unauthenticated,
    );

    let by_bearer = app.login("alice", PASSWORD).await.expect("login");
    let other = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(with_bearer(
            pb::LogoutRequest::default(),
            &by_bearer.access_token,
        ))
        .await
        .expect("logout by bearer");
    assert_reason(
        &app.verify(&by_bearer.access_token).await,
        InvalidReason::SessionEnded,
    );
    assert!(
        app.verify(&other.access_token).await.valid,
        "other sessions live on"
    );

    let status = assert_code(
        app.client
            .clone()
            .logout(pb::LogoutRequest::default())
            .await,
        Code::Unauthenticated,
    );
    assert!(status.message().contains("Bearer"), "{}", status.message());
}

async fn logout_of_an_unknown_refresh_token_answers_like_a_real_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    for token in [
        "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "garbage".to_owned(),
        login.access_token.clone(),
        login.refresh_token.clone(),
    ] {
        app.client
            .clone()
            .logout(pb::LogoutRequest {
                refresh_token: token,
            })
            .await
            .expect("the same empty answer");
    }
}

async fn logout_all_ends_every_session_of_the_caller(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    app.create_user("bob", &[]).await;
    let first = app.login("alice", PASSWORD).await.expect("login");
    let second = app.login("alice", PASSWORD).await.expect("login");
    let bob = app.token_for("bob").await;

    let ended = app
        .client
        .clone()
        .logout_all(with_bearer(pb::LogoutAllRequest {}, &second.access_token))
        .await
        .expect("logout all")
        .into_inner()
        .ended;
    assert_eq!(ended, 2);
    for token in [&first.access_token, &second.access_token] {
        assert_reason(&app.verify(token).await, InvalidReason::SessionEnded);
    }
    assert_code(
        refresh(&app, &first.refresh_token).await,
        Code::Unauthenticated,
    );
    assert!(app.verify(&bob).await.valid, "other users are untouched");
    assert_code(
        app.client.clone().logout_all(pb::LogoutAllRequest {}).await,
        Code::Unauthenticated,
    );
}

async fn password_role_and_account_changes_invalidate_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let accounts = app.core.accounts();
    for name in ["pat", "rob", "dan", "del"] {
        app.create_user(name, &["viewer"]).await;
    }
    let pat = app.login("pat", PASSWORD).await.expect("login");
    let rob = app.token_for("rob").await;
    let dan = app.token_for("dan").await;
    let del = app.token_for("del").await;
    for token in [&pat.access_token, &rob, &dan, &del] {
        assert!(app.verify(token).await.valid, "warm the cache");
    }
    let now = now_unix();

    accounts
        .set_password(
            "pat",
            SecretString::from("a brand new password".to_owned()),
            now,
        )
        .await
        .expect("set password");
    assert_reason(
        &app.verify(&pat.access_token).await,
        InvalidReason::PasswordChanged,
    );
    assert_code(
        refresh(&app, &pat.refresh_token).await,
        Code::Unauthenticated,
    );

    accounts
        .set_roles("rob", &["admin".to_owned()], now)
        .await
        .expect("set roles");
    assert_reason(&app.verify(&rob).await, InvalidReason::RolesChanged);

    accounts
        .set_active("dan", false, now)
        .await
        .expect("disable");
    assert_reason(&app.verify(&dan).await, InvalidReason::UserDisabled);

    accounts.delete_user("del").await.expect("delete");
    assert_reason(&app.verify(&del).await, InvalidReason::UserNotFound);
}

async fn list_sessions_shows_the_callers_live_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let first = app.login("alice", PASSWORD).await.expect("login");
    let second = app.login("alice", PASSWORD).await.expect("login");
    let ended = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: ended.refresh_token,
        })
        .await
        .expect("logout");

    let sessions = app
        .client
        .clone()
        .list_sessions(with_bearer(
            pb::ListSessionsRequest {},
            &second.access_token,
        ))
        .await
        .expect("list")
        .into_inner()
        .sessions;
    let ids: Vec<_> = sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![first.session_id.as_str(), second.session_id.as_str()]
    );
    let current: Vec<_> = sessions
        .iter()
        .filter(|s| s.current)
        .map(|s| &s.id)
        .collect();
    assert_eq!(current, vec![&second.session_id]);
    for session in &sessions {
        assert_eq!(session.client_address, "127.0.0.1");
        assert!(
            session.user_agent.contains("tonic"),
            "{}",
            session.user_agent
        );
        assert!(session.created_at.is_some() && session.expires_at.is_some());
    }
    assert_code(
        app.client
            .clone()
            .list_sessions(pb::ListSessionsRequest {})
            .await,
        Code::Unauthenticated,
    );
}

async fn revoking_another_users_sessions_needs_the_admin_role(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("root", &["admin"]).await;
    app.create_user("bob", &[]).await;
    let root = app.token_for("root").await;
    let bob = app.token_for("bob").await;
    let request = |name: &str| pb::RevokeSessionsRequest {
        user: Some(pb::revoke_sessions_request::User::Username(name.to_owned())),
    };

    assert_code(
        app.client
            .clone()
            .revoke_sessions(with_bearer(request("root"), &bob))
            .await,
        Code::PermissionDenied,
    );
    assert_code(
        app.client
            .clone()
            .revoke_sessions(with_bearer(request("nobody"), &root))
            .await,
        Code::NotFound,
    );
    let ended = app
        .client
        .clone()
        .revoke_sessions(with_bearer(request("bob"), &root))
        .await
        .expect("admin revokes")
        .into_inner()
        .ended;
    assert_eq!(ended, 1);
    assert_reason(&app.verify(&bob).await, InvalidReason::Revoked);
    assert!(app.verify(&root).await.valid);
}

async fn the_oldest_session_is_evicted_beyond_the_per_user_limit(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| config.token.max_sessions_per_user = 2)
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let first = app.login("alice", PASSWORD).await.expect("login");
    let second = app.login("alice", PASSWORD).await.expect("login");
    assert!(app.verify(&first.access_token).await.valid);
    let third = app.login("alice", PASSWORD).await.expect("login");

    assert_reason(
        &app.verify(&first.access_token).await,
        InvalidReason::SessionEnded,
    );
    assert!(app.verify(&second.access_token).await.valid);
    assert!(app.verify(&third.access_token).await.valid);
}

async fn a_warm_verify_reads_no_database(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    app.wait_for_feed().await;

    assert!(app.verify(&token).await.valid);
    let warm = app.state_cache_misses().await;
    for _ in 0..20 {
        assert!(app.verify(&token).await.valid);
    }
    assert_eq!(
        app.state_cache_misses().await,
        warm,
        "no database reads once warm"
    );
}

async fn changes_made_by_the_cli_process_reach_the_running_server(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert!(app.verify(&token).await.valid, "warm");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["user", "disable", "alice"])
        .env("AUTHD_DATABASE_URL", app.database_url())
        .output()
        .expect("run authd");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Bounded poll: the change must arrive well within the trust bound (3 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let response = app.verify(&token).await;
        if !response.valid {
            assert_reason(&response, InvalidReason::UserDisabled);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the running server still trusts a token of a user disabled by the CLI"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn a_cached_token_is_refused_once_revoked_or_expired(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    assert!(app.verify(&login.access_token).await.valid);
    let hits = app.verified_cache_hits().await;
    assert!(app.verify(&login.access_token).await.valid);
    assert_eq!(
        app.verified_cache_hits().await,
        hits + 1,
        "the second Verify is answered from the cache"
    );

    // Expiry is re-checked on a hit.
    let later = now_unix() + 3600;
    assert_eq!(
        app.core.tokens().verify(&login.access_token, later).err(),
        Some(authd::token::InvalidReason::Expired)
    );

    app.client
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: login.refresh_token,
        })
        .await
        .expect("logout");
    let hits = app.verified_cache_hits().await;
    assert_reason(
        &app.verify(&login.access_token).await,
        InvalidReason::SessionEnded,
    );
    assert_eq!(
        app.verified_cache_hits().await,
        hits + 1,
        "the cached signature check ran, revocation still won"
    );
}

/// `--refresh-idle-timeout`: refreshing keeps a session alive; a refresh
/// token left unused for longer ends the session at its next use, and the
/// session's access tokens are then refused as SESSION_ENDED. The clock is
/// a [`ManualClock`] driving the whole server, so nothing sleeps.
async fn a_session_whose_refresh_token_goes_unused_past_the_idle_timeout_ends(backend: Backend) {
    let clock = ManualClock::new();
    let app = TestApp::builder(backend)
        .clock(&clock)
        .config(|c| {
            c.lifetimes.access_token_ttl = Duration::from_secs(60);
            // A generous leeway keeps an access token verifiable after the
            // idle timeout, to show what Verify says of it then.
            c.lifetimes.leeway = Duration::from_secs(240);
            c.token.refresh_idle_timeout = Some(Duration::from_secs(120));
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");

    // Used within the timeout each time: the session lives on.
    clock.advance(Duration::from_secs(100));
    let second = refresh(&app, &login.refresh_token)
        .await
        .expect("not idle yet");
    clock.advance(Duration::from_secs(100));
    let third = refresh(&app, &second.refresh_token)
        .await
        .expect("each refresh restarts the idle clock");

    // Unused for the whole timeout: UNAUTHENTICATED, log in again.
    clock.advance(Duration::from_secs(120));
    let status = assert_code(
        refresh(&app, &third.refresh_token).await,
        Code::Unauthenticated,
    );
    assert!(status.message().contains("idle"), "{status:?}");
    assert!(status.message().contains("log in again"), "{status:?}");
    // The session has ended for good: its access token (still within
    // exp + leeway) is refused, and the refresh token stays spent.
    assert_reason(
        &app.verify(&third.access_token).await,
        InvalidReason::SessionEnded,
    );
    let status = assert_code(
        refresh(&app, &third.refresh_token).await,
        Code::Unauthenticated,
    );
    assert!(status.message().contains("ended"), "{status:?}");
    // A new login starts a fresh session.
    let again = app.login("alice", PASSWORD).await.expect("log in again");
    refresh(&app, &again.refresh_token)
        .await
        .expect("a new session refreshes");
}
