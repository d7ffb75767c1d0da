//! Login throttling: failed logins per login name and per client address,
//! with time injected at the service level (`AuthCore::login(.., now)`) and
//! the real server over gRPC for what a client sees.

use authd::Error;
use authd::clock::now_unix;
use authd::service::ClientInfo;
use authd::throttle::{account_key, address_key};
use secrecy::SecretString;
use tonic::{Code, Request, Status};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_code, spawn_app};

on_both_backends!(
    a_hundred_wrong_passwords_in_an_hour_get_only_a_few_password_checks,
    a_blocked_account_is_refused_even_with_the_right_password_until_the_block_passes,
    unknown_and_existing_accounts_are_throttled_identically,
    password_spraying_from_one_address_is_blocked_across_accounts,
    a_block_never_exceeds_the_cap,
    failure_counts_are_forgotten_after_the_window,
    a_successful_login_clears_the_account_count_but_not_the_address_count,
    a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored,
    forwarded_for_from_a_trusted_proxy_names_the_client,
    a_parallel_burst_of_wrong_guesses_gets_no_more_password_checks_than_one_at_a_time,
    a_parallel_burst_with_eight_hashing_threads_gets_no_more_password_checks,
    the_username_and_the_email_of_an_account_share_one_allowance,
    a_right_password_inside_the_allowance_still_logs_in_and_is_not_counted,
    client_secret_guesses_in_a_parallel_burst_are_counted_before_they_are_checked,
    the_attempt_after_the_free_failures_is_refused_unchecked_for_every_kind_of_key,
    parallel_right_logins_of_one_account_are_not_refused_under_the_allowance,
);

const ATTACKER: &str = "192.0.2.66";

fn from(addr: &str) -> ClientInfo {
    ClientInfo {
        addr: Some(addr.to_owned()),
        user_agent: None,
    }
}

/// One login through the service at time `now`.
async fn login_at(
    app: &TestApp,
    login: &str,
    password: &str,
    addr: &str,
    now: i64,
) -> Result<(), Error> {
    app.core
        .login(
            login,
            SecretString::from(password.to_owned()),
            from(addr),
            now,
        )
        .await
        .map(drop)
}

fn retry_after(result: Result<(), Error>) -> i64 {
    match result {
        Err(Error::Throttled { retry_after_secs }) => retry_after_secs,
        other => panic!("expected a throttled login, got {other:?}"),
    }
}

fn assert_invalid_credentials(result: Result<(), Error>) {
    match result {
        Err(Error::InvalidCredentials) => {}
        other => panic!("expected invalid credentials, got {other:?}"),
    }
}

async fn stored_count(app: &TestApp, key: &str) -> Option<i64> {
    app.core
        .accounts()
        .store()
        .login_failures(&[key])
        .await
        .expect("read counts")
        .first()
        .map(|c| c.failures)
}

async fn a_hundred_wrong_passwords_in_an_hour_get_only_a_few_password_checks(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let start = now_unix();
    let runs_before = app.hash_runs().await;

    let mut throttled = 0;
    for i in 0..100 {
        // Evenly over one hour: one guess every 36 seconds.
        let now = start + i * 36;
        match login_at(&app, "alice", &format!("guess number {i}"), ATTACKER, now).await {
            Err(Error::InvalidCredentials) => {}
            Err(Error::Throttled { .. }) => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let checks = app.hash_runs().await - runs_before;
    // 5 free (the fifth starts a block of 1 s), then blocks doubling: the
    // guesses after the blocks of 1 s .. 32 s come after they end (6 more),
    // of 64 s .. 512 s every second or later one (4 more), then one per
    // 15 minutes (2 more): 17.
    assert_eq!(
        checks, 17,
        "100 guesses in an hour got {checks} password checks"
    );
    assert_eq!(
        throttled,
        100 - checks,
        "every other guess was refused unhashed"
    );
    assert_eq!(
        stored_count(&app, &account_key("alice")).await,
        Some(checks.cast_signed())
    );
}

async fn a_blocked_account_is_refused_even_with_the_right_password_until_the_block_passes(
    backend: Backend,
) {
    // Long enough that the real clock cannot end the block during the test.
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_free_failures = 2;
            config.throttle.login_backoff_base = std::time::Duration::from_secs(600);
            config.throttle.login_backoff_max = std::time::Duration::from_secs(600);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;

    // Two free failures; the second starts the block.
    for _ in 0..2 {
        assert_code(
            app.login("alice", "not the password").await,
            Code::Unauthenticated,
        );
    }
    let runs_before = app.hash_runs().await;
    let status = assert_code(app.login("alice", PASSWORD).await, Code::ResourceExhausted);
    assert!(
        status
            .message()
            .starts_with("too many failed login attempts; retry in "),
        "{}",
        status.message()
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
            .contains(&format!("retry in {retry} seconds"))
    );
    assert_eq!(
        app.hash_runs().await,
        runs_before,
        "a blocked login costs no password hash"
    );

    // Once the block has passed (time injected), the right password works,
    // and the success clears the count, so the real clock lets it in too.
    login_at(&app, "alice", PASSWORD, "127.0.0.1", now_unix() + 601)
        .await
        .expect("the block has passed");
    app.login("alice", PASSWORD)
        .await
        .expect("the account count was cleared");
}

async fn unknown_and_existing_accounts_are_throttled_identically(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let now = now_unix();

    let mut answers = Vec::new();
    for name in ["alice", "mallory"] {
        for _ in 0..5 {
            assert_invalid_credentials(
                login_at(&app, name, "not the password", ATTACKER, now).await,
            );
        }
        let runs_before = app.hash_runs().await;
        let err = login_at(&app, name, PASSWORD, ATTACKER, now)
            .await
            .expect_err("throttled");
        assert_eq!(app.hash_runs().await, runs_before, "{name}: no hashing");
        answers.push(Status::from(err));
    }
    let (existing, unknown) = (&answers[0], &answers[1]);
    assert_eq!(existing.code(), Code::ResourceExhausted);
    assert_eq!(existing.code(), unknown.code());
    assert_eq!(existing.message(), unknown.message());
    assert_eq!(
        existing.metadata().get("retry-after"),
        unknown.metadata().get("retry-after")
    );
    assert_eq!(existing.details(), unknown.details());
    // Case does not escape the count: the name is folded as the lookup folds it.
    assert!(matches!(
        login_at(&app, "MALLORY", PASSWORD, ATTACKER, now).await,
        Err(Error::Throttled { .. })
    ));
}

async fn password_spraying_from_one_address_is_blocked_across_accounts(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_free_failures_per_address = 10;
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let now = now_unix();

    // One guess per account: no account count ever reaches its allowance.
    for i in 0..10 {
        assert_invalid_credentials(
            login_at(&app, &format!("user{i}"), "Summer2026!", ATTACKER, now).await,
        );
    }
    let runs_before = app.hash_runs().await;
    let retry = retry_after(login_at(&app, "user99", "Summer2026!", ATTACKER, now).await);
    assert!(retry >= 1);
    // Even a right password from that address waits, unhashed.
    retry_after(login_at(&app, "alice", PASSWORD, ATTACKER, now).await);
    assert_eq!(app.hash_runs().await, runs_before);
    // Other clients are not affected.
    login_at(&app, "alice", PASSWORD, "198.51.100.1", now)
        .await
        .expect("another address logs in");
    // The address's block passes by itself.
    login_at(&app, "alice", PASSWORD, ATTACKER, now + retry)
        .await
        .expect("the address's block has passed");
}

async fn a_block_never_exceeds_the_cap(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_free_failures = 1;
            config.throttle.login_backoff_base = std::time::Duration::from_secs(5);
            config.throttle.login_backoff_max = std::time::Duration::from_secs(60);
        })
        .spawn()
        .await;
    let mut now = now_unix();
    let (mut checks, mut longest) = (0, 0);
    // Guess as early as allowed: blocks grow 5, 10, 20, 40, then stay at 60.
    for _ in 0..30 {
        match login_at(&app, "mallory", "not the password", ATTACKER, now).await {
            Err(Error::InvalidCredentials) => checks += 1,
            Err(Error::Throttled { retry_after_secs }) => {
                assert!(
                    retry_after_secs <= 60,
                    "a block of {retry_after_secs}s exceeds the 60s cap"
                );
                longest = longest.max(retry_after_secs);
                now += retry_after_secs;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(longest, 60, "the cap is reached");
    assert!(checks >= 10, "{checks}");
    assert_eq!(
        stored_count(&app, &account_key("mallory")).await,
        Some(checks)
    );
}

async fn failure_counts_are_forgotten_after_the_window(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.login_failure_window = std::time::Duration::from_secs(600);
            config.throttle.login_backoff_max = std::time::Duration::from_secs(600);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let now = now_unix();
    for _ in 0..5 {
        assert_invalid_credentials(
            login_at(&app, "alice", "not the password", ATTACKER, now).await,
        );
    }
    retry_after(login_at(&app, "alice", PASSWORD, ATTACKER, now).await);

    // A window after the last failure, the count starts again from one:
    // the free failures are free again (four of them, and the right password).
    let later = now + 600;
    for _ in 0..4 {
        assert_invalid_credentials(
            login_at(&app, "alice", "not the password", ATTACKER, later).await,
        );
    }
    assert_eq!(stored_count(&app, &account_key("alice")).await, Some(4));
    login_at(&app, "alice", PASSWORD, ATTACKER, later)
        .await
        .expect("not blocked: the old failures were forgotten");
}

async fn a_successful_login_clears_the_account_count_but_not_the_address_count(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let now = now_unix();
    for _ in 0..4 {
        assert_invalid_credentials(
            login_at(&app, "alice", "not the password", ATTACKER, now).await,
        );
    }
    login_at(&app, "alice", PASSWORD, ATTACKER, now)
        .await
        .expect("four failures are within the allowance");
    assert_eq!(stored_count(&app, &account_key("alice")).await, None);
    assert_eq!(stored_count(&app, &address_key(ATTACKER)).await, Some(4));
    // The account starts from zero: four free failures again.
    for _ in 0..4 {
        assert_invalid_credentials(
            login_at(&app, "alice", "not the password", ATTACKER, now).await,
        );
    }
    login_at(&app, "alice", PASSWORD, ATTACKER, now)
        .await
        .expect("four failures are within the allowance");
}

async fn login_forwarded_for(app: &TestApp, forwarded_for: &str) -> Result<(), Status> {
    let mut request = Request::new(authd::grpc::pb::LoginRequest {
        username: "alice".to_owned(),
        password: "not the password".to_owned(),
    });
    request
        .metadata_mut()
        .insert("x-forwarded-for", forwarded_for.parse().expect("ascii"));
    app.client.clone().login(request).await.map(drop)
}

async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    for i in 0..3 {
        assert_code(
            login_forwarded_for(&app, &format!("203.0.113.{i}")).await,
            Code::Unauthenticated,
        );
    }
    assert_eq!(stored_count(&app, &address_key("127.0.0.1")).await, Some(3));
    assert_eq!(stored_count(&app, &address_key("203.0.113.0")).await, None);
}

async fn forwarded_for_from_a_trusted_proxy_names_the_client(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|config| {
            config.throttle.trusted_proxies = "127.0.0.1".parse().expect("a proxy list");
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    // The client wrote the first hop itself; the proxy appended the second.
    for _ in 0..2 {
        assert_code(
            login_forwarded_for(&app, "10.9.9.9, 203.0.113.7").await,
            Code::Unauthenticated,
        );
    }
    assert_eq!(
        stored_count(&app, &address_key("203.0.113.7")).await,
        Some(2)
    );
    assert_eq!(stored_count(&app, &address_key("10.9.9.9")).await, None);
    assert_eq!(stored_count(&app, &address_key("127.0.0.1")).await, None);
}

/// Blocks long enough that the real clock cannot end one during a test.
fn long_blocks(config: &mut authd::Config) {
    config.throttle.login_backoff_base = std::time::Duration::from_secs(600);
    config.throttle.login_backoff_max = std::time::Duration::from_secs(600);
}

/// Fires `count` wrong guesses for `name` at once over gRPC; returns how
/// many were answered UNAUTHENTICATED (checked) and how many throttled.
async fn burst_of_wrong_guesses(app: &TestApp, name: &str, count: usize) -> (usize, usize) {
    let mut tasks = tokio::task::JoinSet::new();
    // All start together: each waits for the barrier before sending.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(count));
    for i in 0..count {
        let mut client = app.client.clone();
        let barrier = std::sync::Arc::clone(&barrier);
        let request = authd::grpc::pb::LoginRequest {
            username: name.to_owned(),
            password: format!("wrong guess number {i}"),
        };
        tasks.spawn(async move {
            barrier.wait().await;
            client.login(request).await.map(drop)
        });
    }
    let (mut checked, mut throttled) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Err(status) if status.code() == Code::Unauthenticated => checked += 1,
            Err(status) if status.code() == Code::ResourceExhausted => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    (checked, throttled)
}

/// 30 wrong guesses fired at once used to all read the old count before any
/// of them was written, and 10 to 12 got a password check; then 6 (the 5
/// free failures and one more that started the block). Each attempt is now
/// claimed before its check, in one transaction per attempt, and waits
/// while the free failures and the attempts in flight fill the allowance:
/// at most the 5 free failures are checked.
async fn a_parallel_burst_of_wrong_guesses_gets_no_more_password_checks_than_one_at_a_time(
    backend: Backend,
) {
    let app = TestApp::builder(backend).config(long_blocks).spawn().await;
    app.create_user("alice", &[]).await;
    let runs_before = app.hash_runs().await;
    let (checked, throttled) = burst_of_wrong_guesses(&app, "alice", 30).await;
    let runs = app.hash_runs().await - runs_before;
    assert!(
        runs <= 5,
        "30 parallel guesses got {runs} password checks; one at a time get 5"
    );
    // Busy answers (a saturated hashing pool) are RESOURCE_EXHAUSTED too;
    // every checked guess was hashed.
    assert_eq!(u64::try_from(checked).unwrap(), runs);
    assert_eq!(checked + throttled, 30);
    assert_eq!(
        stored_count(&app, &account_key("alice")).await,
        Some(runs.cast_signed()),
        "the count is the number of checks"
    );
    // The same for a name that is no account: the same allowance.
    let runs_before = app.hash_runs().await;
    burst_of_wrong_guesses(&app, "mallory", 30).await;
    let unknown_runs = app.hash_runs().await - runs_before;
    assert!(unknown_runs <= 5, "{unknown_runs}");
}

/// With eight hashing threads the old race let 42 of one burst through.
async fn a_parallel_burst_with_eight_hashing_threads_gets_no_more_password_checks(
    backend: Backend,
) {
    let app = TestApp::builder(backend)
        .config(|config| {
            long_blocks(config);
            config.password.hash_concurrency = 8;
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let runs_before = app.hash_runs().await;
    let (checked, _) = burst_of_wrong_guesses(&app, "alice", 60).await;
    let runs = app.hash_runs().await - runs_before;
    assert!(runs <= 5, "60 parallel guesses got {runs} password checks");
    assert!(checked <= 5, "{checked}");
}

/// A name that resolves to an account counts under the account's id too,
/// so guessing by username and by email draws on one allowance.
async fn the_username_and_the_email_of_an_account_share_one_allowance(backend: Backend) {
    let app = TestApp::builder(backend).config(long_blocks).spawn().await;
    app.create_user_with("alice", Some("alice@example.com"), &[], PASSWORD)
        .await;
    let now = now_unix();
    for login in [
        "alice",
        "alice@example.com",
        "ALICE",
        "Alice@Example.com",
        "alice",
    ] {
        assert_invalid_credentials(login_at(&app, login, "not the password", ATTACKER, now).await);
    }
    // Five failures in all: the account is blocked under either spelling,
    // although neither spelling has five failures of its own.
    let runs_before = app.hash_runs().await;
    retry_after(login_at(&app, "alice@example.com", PASSWORD, ATTACKER, now).await);
    retry_after(login_at(&app, "alice", PASSWORD, "198.51.100.1", now).await);
    assert_eq!(app.hash_runs().await, runs_before, "refused unhashed");
    assert_eq!(stored_count(&app, &account_key("alice")).await, Some(3));
    // Unlocking clears the account under every spelling.
    app.core
        .accounts()
        .unlock("alice", None)
        .await
        .expect("unlock");
    login_at(&app, "alice@example.com", PASSWORD, ATTACKER, now)
        .await
        .expect("unlocked");
}

/// The attempt is counted before its check; a right password takes it back,
/// so a login within the allowance works and leaves no count behind, and the
/// address's count is as it was (a success never counts against a NAT).
async fn a_right_password_inside_the_allowance_still_logs_in_and_is_not_counted(backend: Backend) {
    let app = TestApp::builder(backend).config(long_blocks).spawn().await;
    app.create_user("alice", &[]).await;
    let now = now_unix();
    for _ in 0..4 {
        assert_invalid_credentials(
            login_at(&app, "alice", "not the password", ATTACKER, now).await,
        );
    }
    login_at(&app, "alice", PASSWORD, ATTACKER, now)
        .await
        .expect("attempt number 5 is within the allowance");
    assert_eq!(stored_count(&app, &account_key("alice")).await, None);
    assert_eq!(stored_count(&app, &address_key(ATTACKER)).await, Some(4));
    // Successes alone never build up a count on an address.
    for _ in 0..3 {
        login_at(&app, "alice", PASSWORD, "198.51.100.9", now)
            .await
            .expect("login");
    }
    assert_eq!(stored_count(&app, &address_key("198.51.100.9")).await, None);
}

/// IssueServiceToken and POST /oauth2/token check client secrets through the
/// same claim: a burst of wrong secrets gets the allowance's checks only.
async fn client_secret_guesses_in_a_parallel_burst_are_counted_before_they_are_checked(
    backend: Backend,
) {
    let app = TestApp::builder(backend).config(long_blocks).spawn().await;
    let (client_id, _secret) = crate::oauth2::service_account(&app, "billing-bot").await;
    let now = now_unix();
    let mut tasks = tokio::task::JoinSet::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(30));
    for i in 0..30 {
        let core = app.core.clone();
        let client_id = client_id.clone();
        let barrier = std::sync::Arc::clone(&barrier);
        tasks.spawn(async move {
            barrier.wait().await;
            core.issue_service_token(
                &client_id,
                SecretString::from(format!("authd_sa_wrong-guess-{i}")),
                None,
                from(ATTACKER),
                now,
            )
            .await
            .map(drop)
        });
    }
    let (mut checked, mut throttled) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Err(Error::Unauthenticated(_)) => checked += 1,
            Err(Error::Throttled { .. }) => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        checked <= 5,
        "30 parallel wrong secrets got {checked} checks"
    );
    assert_eq!(checked + throttled, 30);
    assert_eq!(
        stored_count(&app, &format!("client:{client_id}")).await,
        Some(checked)
    );
}

/// Six wrong guesses as (login, address) at `now`: five are checked, the
/// sixth is refused unhashed.
async fn refused_after_five(app: &TestApp, what: &str, tries: Vec<(String, String)>, now: i64) {
    let runs_before = app.hash_runs().await;
    for (i, (login, addr)) in tries.iter().enumerate() {
        let result = login_at(app, login, "not the password", addr, now).await;
        if i < 5 {
            assert_invalid_credentials(result);
        } else {
            retry_after(result);
        }
    }
    assert_eq!(app.hash_runs().await - runs_before, 5, "{what}");
}

/// `--login-free-failures 5` means five checks, then a refusal: the fifth
/// failure starts the block. The same for a login name, an account id (by
/// alternating spellings), a client address and a client secret.
async fn the_attempt_after_the_free_failures_is_refused_unchecked_for_every_kind_of_key(
    backend: Backend,
) {
    let app = TestApp::builder(backend)
        .config(|config| {
            long_blocks(config);
            config.throttle.login_free_failures_per_address = 5;
        })
        .spawn()
        .await;
    app.create_user_with("alice", Some("alice@example.com"), &[], PASSWORD)
        .await;
    let now = now_unix();
    // A name that is no account, from five addresses.
    let tries = (0..6)
        .map(|i| ("mallory".to_owned(), format!("198.51.100.{i}")))
        .collect();
    refused_after_five(&app, "login name", tries, now).await;
    // One account by two spellings, from five addresses.
    let tries = (0..6)
        .map(|i| {
            let login = if i % 2 == 0 {
                "alice"
            } else {
                "alice@example.com"
            };
            (login.to_owned(), format!("203.0.113.{i}"))
        })
        .collect();
    refused_after_five(&app, "account id", tries, now).await;
    // Six names from one address.
    let tries = (0..6)
        .map(|i| (format!("sprayed{i}"), ATTACKER.to_owned()))
        .collect();
    refused_after_five(&app, "address", tries, now).await;

    // A client secret, from five addresses.
    let (client_id, _secret) = crate::oauth2::service_account(&app, "billing-bot").await;
    for i in 0..6 {
        let result = app
            .core
            .issue_service_token(
                &client_id,
                SecretString::from(format!("authd_sa_wrong-guess-{i}")),
                None,
                from(&format!("192.0.2.{}", 100 + i)),
                now,
            )
            .await
            .map(drop);
        match (i, result) {
            (0..5, Err(Error::Unauthenticated(_))) | (5, Err(Error::Throttled { .. })) => {}
            (i, other) => panic!("client secret guess {i}: {other:?}"),
        }
    }
}

/// Once in CI, one of four parallel right logins of one account was refused
/// as throttled: each claim was counted as a failure until its check ended,
/// so parallel right passwords filled the allowance. A claim is now an
/// attempt in flight, not a failure: parallel right logins wait their turn
/// while the allowance is full of attempts in flight, and none is refused
/// while the real failures are under the allowance.
async fn parallel_right_logins_of_one_account_are_not_refused_under_the_allowance(
    backend: Backend,
) {
    let app = TestApp::builder(backend)
        .config(|config| {
            long_blocks(config);
            // A slow machine must not shed them at the hashing pool instead.
            config.password.hash_queue_timeout = std::time::Duration::from_secs(30);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    // Two real failures: three attempts' room left in the allowance.
    for _ in 0..2 {
        assert_code(
            app.login("alice", "not the password").await,
            Code::Unauthenticated,
        );
    }
    for round in 0..2 {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let mut client = app.client.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            tasks.spawn(async move {
                barrier.wait().await;
                client
                    .login(authd::grpc::pb::LoginRequest {
                        username: "alice".to_owned(),
                        password: PASSWORD.to_owned(),
                    })
                    .await
                    .map(drop)
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(status) = done.expect("task") {
                panic!("round {round}: a right login was refused: {status:?}");
            }
        }
    }
    // Nothing is left in flight or counted against the account.
    assert_eq!(stored_count(&app, &account_key("alice")).await, None);
}
