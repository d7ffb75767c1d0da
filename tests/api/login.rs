//! Login: credentials in, access token out; every failure looks the same.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::clock::now_unix;
use authd::config::Argon2Config;
use authd::password::PasswordHasher;
use authd::store::NewUser;
use secrecy::{ExposeSecret as _, SecretString};
use tonic::Code;

use crate::helpers::{Backend, PASSWORD, TestApp, assert_code, spawn_app};

on_both_backends!(
    login_by_username_or_email_returns_a_bearer_token_that_verifies,
    login_with_unknown_user_is_rejected_like_a_wrong_password,
    login_by_a_disabled_user_is_rejected_like_a_wrong_password,
    login_with_empty_fields_is_an_invalid_argument,
    oversized_passwords_are_rejected_before_any_hashing,
    login_records_the_time_of_the_last_login,
    login_rehashes_a_password_stored_with_other_parameters,
    a_tampered_hash_with_huge_costs_is_refused,
    logins_beyond_the_hashing_capacity_get_resource_exhausted,
    unknown_user_wrong_password_and_disabled_user_get_identical_answers,
    passwords_are_compared_exactly_as_sent,
    unknown_users_and_wrong_passwords_take_the_same_time,
);

async fn login_by_username_or_email_returns_a_bearer_token_that_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app
        .create_user_with("Alice", Some("alice@example.com"), &["viewer"], PASSWORD)
        .await;

    let before = now_unix();
    let response = app
        .login("alice", PASSWORD)
        .await
        .expect("login by username");
    assert_eq!(response.token_type, "Bearer");
    assert_eq!(
        response.expires_in, 900,
        "the default lifetime is 15 minutes"
    );
    let expires_at = response.expires_at.expect("expires_at").seconds;
    assert!((before + 900..=now_unix() + 900).contains(&expires_at));
    let user = response.user.expect("user");
    assert_eq!(user.id, alice.id);
    assert_eq!(user.username, "Alice");
    assert_eq!(user.roles, vec!["viewer".to_owned()]);

    let verdict = app.verify(&response.access_token).await;
    assert!(verdict.valid);
    assert_eq!(verdict.claims.expect("claims").sub, alice.id);

    let by_email = app
        .login("ALICE@Example.com", PASSWORD)
        .await
        .expect("login by email, ignoring case");
    assert_eq!(by_email.user.expect("user").id, alice.id);
}

async fn login_with_unknown_user_is_rejected_like_a_wrong_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;

    let wrong = assert_code(
        app.login("alice", "not the password").await,
        Code::Unauthenticated,
    );
    let unknown = assert_code(app.login("mallory", PASSWORD).await, Code::Unauthenticated);
    assert_eq!(wrong.message(), unknown.message());
    assert_eq!(wrong.message(), "invalid username or password");
    // Passwords are compared exactly: no trimming, no case folding.
    assert_code(
        app.login("alice", &format!("{PASSWORD} ")).await,
        Code::Unauthenticated,
    );
    assert_code(
        app.login("alice", &PASSWORD.to_uppercase()).await,
        Code::Unauthenticated,
    );
    // The server keeps serving after the failures.
    app.login("alice", PASSWORD)
        .await
        .expect("a good login still works");
}

async fn login_by_a_disabled_user_is_rejected_like_a_wrong_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    app.core
        .accounts()
        .set_active("alice", false, now_unix())
        .await
        .expect("disable");

    let disabled = assert_code(app.login("alice", PASSWORD).await, Code::Unauthenticated);
    let unknown = assert_code(app.login("mallory", PASSWORD).await, Code::Unauthenticated);
    assert_eq!(disabled.message(), unknown.message());
}

async fn login_with_empty_fields_is_an_invalid_argument(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;

    let status = assert_code(app.login("", PASSWORD).await, Code::InvalidArgument);
    assert!(
        status.message().contains("username"),
        "{}",
        status.message()
    );
    let status = assert_code(app.login("alice", "").await, Code::InvalidArgument);
    assert!(
        status.message().contains("password"),
        "{}",
        status.message()
    );
    app.login("alice", PASSWORD).await.expect("still serving");
}

async fn oversized_passwords_are_rejected_before_any_hashing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let runs_before = app.hash_runs().await;

    let status = assert_code(
        app.login("alice", &"x".repeat(1025)).await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("1024 bytes"),
        "{}",
        status.message()
    );
    assert_code(
        app.login("alice", &"x".repeat(60 * 1024)).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        app.hash_runs().await,
        runs_before,
        "no argon2 run may start for an oversized password"
    );
    app.login("alice", PASSWORD).await.expect("still serving");
}

async fn login_records_the_time_of_the_last_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    assert_eq!(alice.last_login_at, None);

    let before = now_unix();
    let response = app.login("alice", PASSWORD).await.expect("login");
    let seen = response
        .user
        .expect("user")
        .last_login_at
        .expect("set")
        .seconds;
    assert!(seen >= before);
    let stored = app
        .core
        .accounts()
        .store()
        .user_by_id(&alice.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.last_login_at, Some(seen));
}

async fn login_rehashes_a_password_stored_with_other_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = PasswordHasher::new(
        Argon2Config {
            memory_kib: 12_288,
            iterations: 3,
            parallelism: 1,
        },
        1,
        Duration::from_secs(5),
    )
    .await
    .expect("old hasher");
    let old_hash = old
        .hash(SecretString::from(PASSWORD.to_owned()))
        .await
        .expect("hash");
    let store = app.core.accounts().store();
    store
        .create_user(NewUser {
            id: uuid::Uuid::new_v4().to_string(),
            username: "legacy".into(),
            email: None,
            password_hash: SecretString::from(old_hash.clone()),
            roles: vec![],
            created_at: now_unix(),
        })
        .await
        .expect("insert");

    app.login("legacy", PASSWORD).await.expect("login");
    let stored = store
        .find_credentials("legacy")
        .await
        .expect("read")
        .expect("exists");
    let new_hash = stored.password_hash.expose_secret();
    assert_ne!(new_hash, old_hash);
    assert!(
        new_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{new_hash}"
    );
    app.login("legacy", PASSWORD)
        .await
        .expect("the new hash verifies too");
}

async fn a_tampered_hash_with_huge_costs_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    // m = 4 GiB: verifying it would allocate 4 GiB. It must be refused instead.
    let tampered = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    app.core
        .accounts()
        .store()
        .create_user(NewUser {
            id: uuid::Uuid::new_v4().to_string(),
            username: "tampered".into(),
            email: None,
            password_hash: SecretString::from(tampered.to_owned()),
            roles: vec![],
            created_at: now_unix(),
        })
        .await
        .expect("insert");

    let status = assert_code(app.login("tampered", PASSWORD).await, Code::Unauthenticated);
    assert_eq!(status.message(), "invalid username or password");
}

async fn logins_beyond_the_hashing_capacity_get_resource_exhausted(backend: Backend) {
    let app = Arc::new(
        TestApp::builder(backend)
            .config(|config| {
                config.password.hash_concurrency = 1;
                config.password.hash_queue_timeout = Duration::ZERO;
            })
            .spawn()
            .await,
    );
    app.create_user("alice", &[]).await;

    let calls: Vec<_> = (0..8)
        .map(|_| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.login("alice", PASSWORD).await })
        })
        .collect();
    let mut ok = 0;
    let mut exhausted = 0;
    for call in calls {
        match call.await.expect("task") {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(status.message().contains("retry"), "{}", status.message());
                exhausted += 1;
            }
        }
    }
    assert!(ok >= 1, "at least one login gets the permit");
    assert!(
        exhausted >= 1,
        "8 logins at once cannot all get 1 permit with no wait"
    );
    app.login("alice", PASSWORD)
        .await
        .expect("capacity comes back");
}

async fn unknown_user_wrong_password_and_disabled_user_get_identical_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    app.create_user("bob", &[]).await;
    app.core
        .accounts()
        .set_active("bob", false, now_unix())
        .await
        .expect("disable");

    let answers = [
        app.login("mallory", PASSWORD).await,
        app.login("alice", "not the password").await,
        app.login("bob", PASSWORD).await,
    ]
    .map(|result| assert_code(result, Code::Unauthenticated));
    for answer in &answers[1..] {
        assert_eq!(answer.code(), answers[0].code());
        assert_eq!(answer.message().as_bytes(), answers[0].message().as_bytes());
        assert_eq!(answer.details(), answers[0].details());
        assert_eq!(answer.metadata().get("retry-after"), None);
    }
    assert_eq!(answers[0].message(), "invalid username or password");
}

async fn passwords_are_compared_exactly_as_sent(backend: Backend) {
    // Five wrong variants would use up the default allowance before the right one.
    let app = TestApp::builder(backend)
        .config(|config| config.throttle.login_free_failures = 10)
        .spawn()
        .await;
    // "Crème brûlée" in NFC (precomposed) form.
    let nfc = "Cr\u{e8}me br\u{fb}l\u{e9}e";
    let nfd = "Cre\u{300}me bru\u{302}le\u{301}e";
    assert_ne!(nfc, nfd);
    app.create_user_with("alice", None, &[], nfc).await;

    // No trimming, no case folding, no Unicode normalization: bytes as sent.
    for variant in [
        format!("{nfc} "),
        format!(" {nfc}"),
        nfc.to_uppercase(),
        nfc.to_lowercase(),
        nfd.to_owned(),
    ] {
        let status = assert_code(app.login("alice", &variant).await, Code::Unauthenticated);
        assert_eq!(
            status.message(),
            "invalid username or password",
            "{variant:?}"
        );
    }
    app.login("alice", nfc)
        .await
        .expect("the exact password works");
}

/// The median of `samples`.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn unknown_users_and_wrong_passwords_take_the_same_time(backend: Backend) {
    // Throttling would refuse these logins early (and so faster): lift it.
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_free_failures = 100_000;
            config.throttle.login_free_failures_per_address = 100_000;
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;

    let timed = |login: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let result = app.login(login, "not the password").await;
            let elapsed = started.elapsed();
            assert_code(result, Code::Unauthenticated);
            elapsed
        }
    };
    // Warm up connections, caches and the hashing threads.
    for _ in 0..5 {
        timed("alice").await;
        timed("mallory").await;
    }
    // A real leak (no dummy hash, an early return) is a many-fold gap in
    // every round; noise from other tests sharing the CPU is not, so a
    // round that lands within 10% settles it (at most three rounds).
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let (mut existing, mut unknown) = (Vec::new(), Vec::new());
        // Interleaved, alternating which goes first, so drift in machine
        // load falls on both alike.
        for i in 0..40 {
            if i % 2 == 0 {
                existing.push(timed("alice").await);
                unknown.push(timed("mallory").await);
            } else {
                unknown.push(timed("mallory").await);
                existing.push(timed("alice").await);
            }
        }
        let (existing, unknown) = (median(existing), median(unknown));
        let (fast, slow) = if existing < unknown {
            (existing, unknown)
        } else {
            (unknown, existing)
        };
        rounds.push((existing, unknown));
        if slow.as_secs_f64() < fast.as_secs_f64() * 1.10 {
            return;
        }
    }
    panic!(
        "median wrong-password vs unknown-user login times more than 10% apart in every \
         round: {rounds:?}"
    );
}
