//! `AuthService.ChangePassword`: the caller's own password change, through
//! Login's throttle and hashing pool, held to the password policy, ending
//! every other session and keeping the calling one, on every replica.

use std::time::{Duration, Instant};

use authd::grpc::pb::{self, InvalidReason};
use tonic::{Code, Request, Status};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_code, spawn_app, with_bearer};
use crate::log_capture::{PASSWORD_MARKER, assert_no_leaks};

on_both_backends!(
    a_password_change_ends_the_other_sessions_and_keeps_the_calling_one,
    a_password_change_reaches_the_other_replicas,
    a_password_change_without_a_valid_token_is_unauthenticated,
    a_wrong_current_password_counts_as_a_failed_login_and_is_throttled_like_one,
    a_new_password_the_policy_refuses_is_invalid_and_changes_nothing,
    a_password_change_is_audited_and_never_logs_a_password,
);

/// The new password of the tests: strong, and marked for the log scanner.
const NEW_PASSWORD: &str = "lantern orchard plum pwmark7q";

/// ChangePassword on `app`, as the holder of `access_token` (none: no metadata).
async fn change_password(
    app: &TestApp,
    access_token: Option<&str>,
    current: &str,
    new: &str,
) -> Result<pb::ChangePasswordResponse, Status> {
    let message = pb::ChangePasswordRequest {
        current_password: current.to_owned(),
        new_password: new.to_owned(),
    };
    let request = match access_token {
        Some(token) => with_bearer(message, token),
        None => Request::new(message),
    };
    app.client
        .clone()
        .change_password(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Result<pb::RefreshResponse, Status> {
    app.client
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn a_password_change_ends_the_other_sessions_and_keeps_the_calling_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let calling = app.login("alice", PASSWORD).await.expect("login");
    let other = app.login("alice", PASSWORD).await.expect("second login");
    let third = app.login("alice", PASSWORD).await.expect("third login");
    assert!(app.verify(&other.access_token).await.valid);

    let changed = change_password(&app, Some(&calling.access_token), PASSWORD, NEW_PASSWORD)
        .await
        .expect("ChangePassword");
    assert_eq!(changed.ended_sessions, 2);

    // The old password stops working, the new one works.
    assert_code(app.login("alice", PASSWORD).await, Code::Unauthenticated);
    app.login("alice", NEW_PASSWORD)
        .await
        .expect("the new password logs in");

    // The other sessions are over: their tokens neither verify nor refresh.
    for ended in [&other, &third] {
        let answer = app.verify(&ended.access_token).await;
        assert!(!answer.valid);
        assert_eq!(answer.reason(), InvalidReason::PasswordChanged);
        assert_code(
            refresh(&app, &ended.refresh_token).await,
            Code::Unauthenticated,
        );
    }

    // The calling session stays: its token from before the change still
    // verifies, and its refresh token still turns into new tokens.
    assert!(app.verify(&calling.access_token).await.valid);
    let refreshed = refresh(&app, &calling.refresh_token)
        .await
        .expect("the calling session refreshes");
    assert!(app.verify(&refreshed.access_token).await.valid);

    // And it can change the password again (the current one is now the new one).
    let again = change_password(
        &app,
        Some(&refreshed.access_token),
        NEW_PASSWORD,
        "quiet copper meadow pwmark7q",
    )
    .await
    .expect("a second change");
    assert_eq!(again.ended_sessions, 1, "the login with the new password");
}

async fn a_password_change_reaches_the_other_replicas(backend: Backend) {
    let app = spawn_app(backend).await;
    let replica = app.spawn_replica(|_| {}).await;
    app.wait_for_feed().await;
    replica.wait_for_feed().await;
    app.create_user("alice", &[]).await;
    let calling = app.login("alice", PASSWORD).await.expect("login");
    let other = app.login("alice", PASSWORD).await.expect("second login");
    // Warm the replica's cache with both sessions.
    assert!(replica.verify(&other.access_token).await.valid);
    assert!(replica.verify(&calling.access_token).await.valid);

    change_password(&app, Some(&calling.access_token), PASSWORD, NEW_PASSWORD)
        .await
        .expect("ChangePassword");

    let start = Instant::now();
    loop {
        let answer = replica.verify(&other.access_token).await;
        if !answer.valid {
            assert_eq!(answer.reason(), InvalidReason::PasswordChanged);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the other session still verifies on the replica"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(replica.verify(&calling.access_token).await.valid);
    assert_code(
        replica.login("alice", PASSWORD).await,
        Code::Unauthenticated,
    );
    replica
        .login("alice", NEW_PASSWORD)
        .await
        .expect("the replica sees the new password");
}

async fn a_password_change_without_a_valid_token_is_unauthenticated(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let runs_before = app.hash_runs().await;

    let status = assert_code(
        change_password(&app, None, PASSWORD, NEW_PASSWORD).await,
        Code::Unauthenticated,
    );
    assert!(
        status.message().contains("authorization: Bearer"),
        "{}",
        status.message()
    );
    let status = assert_code(
        change_password(
            &app,
            Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."),
            PASSWORD,
            NEW_PASSWORD,
        )
        .await,
        Code::Unauthenticated,
    );
    assert!(
        status.message().starts_with("invalid access token"),
        "{}",
        status.message()
    );
    // An ended session's token is refused too.
    let login = app.login("alice", PASSWORD).await.expect("login");
    app.client
        .clone()
        .logout(with_bearer(
            pb::LogoutRequest::default(),
            &login.access_token,
        ))
        .await
        .expect("logout");
    assert_code(
        change_password(&app, Some(&login.access_token), PASSWORD, NEW_PASSWORD).await,
        Code::Unauthenticated,
    );
    assert_eq!(
        app.hash_runs().await,
        runs_before + 1,
        "no password was checked without a valid token (the one run is the login)"
    );
    app.login("alice", PASSWORD)
        .await
        .expect("the password is unchanged");
}

async fn a_wrong_current_password_counts_as_a_failed_login_and_is_throttled_like_one(
    backend: Backend,
) {
    // Long blocks, so the real clock cannot end one during the test.
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_free_failures = 2;
            config.throttle.login_backoff_base = Duration::from_secs(600);
            config.throttle.login_backoff_max = Duration::from_secs(600);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let token = login.access_token.as_str();

    let wrong = format!("not the {PASSWORD_MARKER} password");
    // Two free failures; the second starts the block.
    for _ in 0..2 {
        let status = assert_code(
            change_password(&app, Some(token), &wrong, NEW_PASSWORD).await,
            Code::Unauthenticated,
        );
        assert_eq!(status.message(), "invalid current password");
    }
    assert!(
        app.verify(token).await.valid,
        "a wrong current password does not end the session"
    );

    // Past the free failures: refused before any hashing, even with the
    // right password, with a retry-after, exactly as Login is.
    let runs_before = app.hash_runs().await;
    let status = assert_code(
        change_password(&app, Some(token), PASSWORD, NEW_PASSWORD).await,
        Code::ResourceExhausted,
    );
    let retry: i64 = status
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a retry-after in seconds");
    assert!((1..=600).contains(&retry), "{retry}");
    assert!(
        status
            .message()
            .starts_with("too many failed login attempts; retry in "),
        "{}",
        status.message()
    );
    assert_eq!(app.hash_runs().await, runs_before, "no hash while blocked");

    // The counts are Login's: the account is blocked at Login as well.
    assert_code(app.login("alice", PASSWORD).await, Code::ResourceExhausted);
    let unlocked = app
        .core
        .accounts()
        .unlock("alice", None)
        .await
        .expect("unlock");
    assert!(unlocked >= 1, "{unlocked}");
    change_password(&app, Some(token), PASSWORD, NEW_PASSWORD)
        .await
        .expect("after the unlock the right password works");
}

async fn a_new_password_the_policy_refuses_is_invalid_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user_with("alice", Some("alice@example.com"), &[], PASSWORD)
        .await;
    let calling = app.login("alice", PASSWORD).await.expect("login");
    let other = app.login("alice", PASSWORD).await.expect("second login");

    for (new, rule) in [
        ("short", "minimum length"),
        ("password1", "common passwords"),
        ("Password123", "common passwords"),
        ("alice@example.com", "easily guessed passwords"),
        ("alicealice1", "easily guessed passwords"),
    ] {
        let status = assert_code(
            change_password(&app, Some(&calling.access_token), PASSWORD, new).await,
            Code::InvalidArgument,
        );
        assert!(
            status
                .message()
                .starts_with(&format!("invalid new_password: breaks the {rule} rule")),
            "{new}: {}",
            status.message()
        );
        assert!(!status.message().contains(new), "{}", status.message());
    }
    let status = assert_code(
        change_password(&app, Some(&calling.access_token), "", NEW_PASSWORD).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        status.message(),
        "invalid current_password: must not be empty"
    );
    let status = assert_code(
        change_password(
            &app,
            Some(&calling.access_token),
            PASSWORD,
            &"x".repeat(1025),
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        status.message(),
        "invalid new_password: must be at most 1024 bytes"
    );

    // Nothing changed: the old password works, no session ended, no failure counted.
    assert!(app.verify(&other.access_token).await.valid);
    app.login("alice", PASSWORD)
        .await
        .expect("the password is unchanged");
    let key = authd::throttle::account_key("alice");
    let counts = app
        .core
        .accounts()
        .store()
        .login_failures(&[key.as_str()])
        .await
        .expect("counts");
    assert!(counts.is_empty(), "{counts:?}");
}

async fn a_password_change_is_audited_and_never_logs_a_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    let wrong = format!("wrong {PASSWORD_MARKER} guess");
    assert_code(
        change_password(&app, Some(&login.access_token), &wrong, NEW_PASSWORD).await,
        Code::Unauthenticated,
    );
    change_password(&app, Some(&login.access_token), PASSWORD, NEW_PASSWORD)
        .await
        .expect("ChangePassword");

    let rows: Vec<_> = app
        .core
        .accounts()
        .store()
        .audit_tail(100, None)
        .await
        .expect("audit")
        .into_iter()
        .filter(|row| row.event == "password_changed")
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].outcome, "failure");
    assert_eq!(rows[0].detail, "wrong current password");
    assert_eq!(rows[1].outcome, "success");
    assert_eq!(rows[1].user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(rows[1].client_addr.as_deref(), Some("127.0.0.1"));
    assert!(
        rows[1].detail.starts_with(&format!(
            "by the user; session {} kept, 0 other sessions ended",
            login.session_id
        )),
        "{}",
        rows[1].detail
    );
    for row in &rows {
        let text = format!("{row:?}").to_lowercase();
        assert!(!text.contains(PASSWORD_MARKER), "{text}");
    }
    // Every log line of the traffic above was scanned for the marker.
    assert_no_leaks();
}
