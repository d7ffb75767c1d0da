//! Key rotation: next → current → previous → retired, across replicas,
//! with an injected `now` instead of waiting.

use std::time::Duration;

use authd::clock::{ManualClock, now_unix};
use authd::grpc::pb::{self, InvalidReason};
use authd::store::KeyState;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};

use crate::helpers::{Backend, TestApp};
use crate::http::{get, http};

on_both_backends!(
    a_next_key_is_published_before_it_signs_and_the_old_key_verifies_until_it_retires,
    a_second_replica_sees_a_rotation_without_restart,
    a_replica_reloads_as_soon_as_another_process_announces_a_rotation,
    tokens_naming_unknown_keys_never_cause_a_key_reload,
    a_replica_never_promotes_a_key_it_cannot_sign_with,
    private_keys_are_encrypted_at_rest_when_a_secret_is_configured,
    the_keys_commands_rotate_and_list,
    keys_rotate_now_makes_the_old_keys_tokens_fail_at_once_on_another_replica,
    keys_retire_ends_a_stopped_key_at_once_and_refuses_the_signing_one,
    a_signers_overlap_is_kept_when_a_process_with_shorter_tokens_rotates,
);

const PREPUBLISH: i64 = 60;

fn kid_of(token: &str) -> String {
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().expect("a header"))
            .expect("base64url"),
    )
    .expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    get(http(app), "/.well-known/jwks.json").await.json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

async fn grpc_jwks(app: &TestApp) -> Vec<(String, String)> {
    app.client
        .clone()
        .get_jwks(pb::GetJwksRequest {})
        .await
        .expect("GetJwks")
        .into_inner()
        .keys
        .into_iter()
        .map(|k| (k.kid, k.status))
        .collect()
}

async fn a_next_key_is_published_before_it_signs_and_the_old_key_verifies_until_it_retires(
    backend: Backend,
) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.signing.key_prepublish = Duration::from_secs(PREPUBLISH.unsigned_abs());
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let old_token = app.token_for("alice").await;
    let old_kid = kid_of(&old_token);
    let t0 = now_unix();

    let rotation = app.keys.rotate(t0).await.expect("rotate");
    let new_kid = rotation.kid;
    assert_eq!(rotation.activates_at, t0 + PREPUBLISH);
    // Published at once, in both places...
    assert_eq!(
        jwks_kids(&app).await,
        vec![old_kid.clone(), new_kid.clone()]
    );
    assert_eq!(
        grpc_jwks(&app).await,
        vec![
            (old_kid.clone(), "current".to_owned()),
            (new_kid.clone(), "next".to_owned())
        ]
    );
    // ...but it does not sign yet, even when keys are reloaded before its time.
    app.keys
        .maintain(t0 + PREPUBLISH - 1)
        .await
        .expect("maintain");
    assert_eq!(kid_of(&app.token_for("alice").await), old_kid);

    // Its time comes: it signs, and the old key verifies its tokens still.
    app.keys.maintain(t0 + PREPUBLISH).await.expect("maintain");
    let new_token = app.token_for("alice").await;
    assert_eq!(kid_of(&new_token), new_kid);
    assert!(
        app.verify(&old_token).await.valid,
        "overlap: the old key verifies"
    );
    assert!(app.verify(&new_token).await.valid);
    assert_eq!(
        grpc_jwks(&app).await,
        vec![
            (new_kid.clone(), "current".to_owned()),
            (old_kid.clone(), "previous".to_owned())
        ]
    );

    // Every token the old key signed has expired (lifetime + leeway + one
    // refresh interval later): it retires and its tokens name an unknown key.
    let overlap = 900 + 10 + 30;
    app.keys
        .maintain(t0 + PREPUBLISH + overlap - 1)
        .await
        .expect("maintain");
    assert!(
        app.verify(&old_token).await.valid,
        "not retired a second early"
    );
    app.keys
        .maintain(t0 + PREPUBLISH + overlap)
        .await
        .expect("maintain");
    let response = app.verify(&old_token).await;
    assert!(!response.valid);
    assert_eq!(response.reason(), InvalidReason::UnknownKey);
    assert_eq!(jwks_kids(&app).await, vec![new_kid.clone()]);
    assert!(app.verify(&new_token).await.valid);

    let listed = app.keys.list().await.expect("list");
    let old = listed
        .iter()
        .find(|k| k.kid == old_kid)
        .expect("still listed");
    assert_eq!(old.state, KeyState::Retired);
    assert!(
        old.private_key.expose_secret().is_empty(),
        "a retired key's private half is wiped"
    );
}

async fn a_second_replica_sees_a_rotation_without_restart(backend: Backend) {
    let prepublish = |c: &mut authd::Config| {
        c.signing.key_prepublish = Duration::from_secs(PREPUBLISH.unsigned_abs());
    };
    let a = TestApp::builder(backend).config(prepublish).spawn().await;
    let b = a.spawn_replica(prepublish).await;
    a.create_user("alice", &[]).await;
    let old_kid = kid_of(&b.token_for("alice").await);
    assert_eq!(kid_of(&a.token_for("alice").await), old_kid, "one key set");
    let t0 = now_unix();

    let new_kid = a.keys.rotate(t0).await.expect("rotate").kid;
    // B's periodic refresh (run here at a chosen time) publishes it too.
    b.keys.maintain(t0).await.expect("refresh");
    assert_eq!(jwks_kids(&b).await, vec![old_kid.clone(), new_kid.clone()]);

    // A promotes it first: A's new tokens verify on B, which knows the key.
    a.keys.maintain(t0 + PREPUBLISH).await.expect("promote");
    let from_a = a.token_for("alice").await;
    assert_eq!(kid_of(&from_a), new_kid);
    assert!(b.verify(&from_a).await.valid);
    // B's next refresh finds the rotation done and signs with the new key.
    b.keys.maintain(t0 + PREPUBLISH).await.expect("refresh");
    assert_eq!(kid_of(&b.token_for("alice").await), new_kid);
    assert_eq!(
        b.keys.list().await.expect("list").len(),
        2,
        "the race to promote made no extra key"
    );
}

async fn a_replica_reloads_as_soon_as_another_process_announces_a_rotation(backend: Backend) {
    // B's periodic refresh is an hour away: only the announcement can help.
    let a = TestApp::builder(backend)
        .config(|c| c.signing.key_prepublish = Duration::ZERO)
        .spawn()
        .await;
    let b = a
        .spawn_replica(|c| c.lifetimes.key_refresh_interval = Duration::from_secs(3600))
        .await;
    a.create_user("alice", &[]).await;
    let new_kid = a.keys.rotate(now_unix()).await.expect("rotate").kid;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !jwks_kids(&b).await.contains(&new_kid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica B never picked up the announced key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = a.token_for("alice").await;
    assert_eq!(
        kid_of(&token),
        new_kid,
        "with no pre-publish it signs at once"
    );
    assert!(
        b.verify(&token).await.valid,
        "B verifies the new key's tokens"
    );
}

async fn tokens_naming_unknown_keys_never_cause_a_key_reload(backend: Backend) {
    // The refresher waits by the app's clock, which stands still here: its
    // rate limit passes when the test says so, not after a real-time sleep.
    let clock = ManualClock::new();
    let app = TestApp::builder(backend).clock(&clock).spawn().await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    // Let the start-up reload (the feed opening) happen first.
    app.wait_for_feed().await;
    let started = app.keys.reloads();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.keys.reloads() == started {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed opening never caused its key reload"
        );
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reloads = app.keys.reloads();

    let (_, rest) = token.split_once('.').expect("a JWT");
    for i in 0..50 {
        let forged_header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"EdDSA","typ":"JWT","kid":"no-such-key-{i}"}}"#
        ));
        let response = app.verify(&format!("{forged_header}.{rest}")).await;
        assert_eq!(response.reason(), InvalidReason::UnknownKey);
    }
    // Past any rate limit a nudge-driven reload would wait, short of the
    // periodic refresh (30 s); then a moment for the refresher to run.
    clock.advance(Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        app.keys.reloads(),
        reloads,
        "unknown kids caused a database read of the keys"
    );
}

async fn private_keys_are_encrypted_at_rest_when_a_secret_is_configured(backend: Backend) {
    let secret = |s: &'static str| {
        move |c: &mut authd::Config| {
            c.signing.key_encryption_secret = Some(SecretString::from(s));
            c.signing.signing_algorithm = authd::config::Algorithm::Es256;
        }
    };
    let app = TestApp::builder(backend)
        .config(secret("a key-encryption secret, 32+ bytes"))
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    assert!(app.verify(&token).await.valid);

    let stored = app.keys.list().await.expect("list");
    let private = stored[0].private_key.expose_secret();
    assert!(private.starts_with(b"AKE1"), "sealed, not PKCS#8");
    assert_ne!(private.first(), Some(&0x30));

    // A replica with the same secret works; without it, or with another, it refuses to start.
    let same = app
        .spawn_replica(secret("a key-encryption secret, 32+ bytes"))
        .await;
    assert!(same.verify(&token).await.valid);
    for customize in [
        Box::new(|c: &mut authd::Config| {
            c.signing.signing_algorithm = authd::config::Algorithm::Es256;
        }) as Box<dyn FnOnce(&mut authd::Config)>,
        Box::new(secret("another secret, also 32 bytes long")),
    ] {
        let mut config = authd::Config::default();
        config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        config.admin.store.database_url = app.database_url().parse().expect("a URL");
        config.server.http_listen = None;
        customize(&mut config);
        let error = authd::App::build(config)
            .await
            .expect_err("refuses to start");
        assert!(
            matches!(error, authd::Error::Config(ref m) if m.contains("key-encryption")),
            "{error}"
        );
    }
}

/// Runs `authd ARGS` against `app`'s database with default settings.
fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let url = SecretString::from(app.database_url().to_owned());
    let dir = tempfile::tempdir().expect("scratch dir");
    std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env("AUTHD_DATABASE_URL", url.expose_secret())
        .env_remove("AUTHD_KEY_PREPUBLISH")
        .env_remove("AUTHD_ACCESS_TOKEN_TTL")
        .current_dir(dir.path())
        .output()
        .expect("run authd")
}

/// [`cli`], which must succeed; its standard output.
fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    let out = cli(app, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Polls `app`'s Verify of `token` until it says `reason` (10 s at most).
async fn until_invalid(app: &TestApp, token: &str, reason: InvalidReason) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = app.verify(token).await;
        if !answer.valid && answer.reason() == reason {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the token still verifies as {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn audit_events(app: &TestApp, event: &str) -> Vec<authd::store::AuditEntry> {
    app.core
        .accounts()
        .store()
        .audit_tail(10_000, None)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.event == event)
        .collect()
}

async fn keys_rotate_now_makes_the_old_keys_tokens_fail_at_once_on_another_replica(
    backend: Backend,
) {
    // B's periodic refresh is an hour away: only the announcement can help.
    let a = TestApp::builder(backend).spawn().await;
    let b = a
        .spawn_replica(|c| c.lifetimes.key_refresh_interval = Duration::from_secs(3600))
        .await;
    a.create_user("alice", &[]).await;
    let old = b.token_for("alice").await;
    let old_kid = kid_of(&old);
    assert!(b.verify(&old).await.valid);

    let out = cli_ok(&a, &["keys", "rotate", "--now"]);
    assert!(out.contains("is now signing"), "{out}");
    assert!(out.contains(&old_kid), "names the retired key: {out}");
    until_invalid(&b, &old, InvalidReason::UnknownKey).await;
    assert!(
        !jwks_kids(&b).await.contains(&old_kid),
        "gone from the JWKS"
    );
    let fresh = b.token_for("alice").await;
    assert_ne!(kid_of(&fresh), old_kid, "B signs with the new key");
    // A applies the same announcement on its own feed, perhaps after B:
    // once it refuses the old key it holds the new key set.
    until_invalid(&a, &old, InvalidReason::UnknownKey).await;
    assert!(a.verify(&fresh).await.valid);

    let retired = audit_events(&a, "key_retired").await;
    assert!(
        retired
            .iter()
            .any(|e| e.subject == old_kid && e.detail.contains("emergency")),
        "{retired:?}"
    );
    // The command promotes it, or a server that heard of the key first did.
    let promoted = audit_events(&a, "key_promoted").await;
    assert!(
        promoted.iter().any(|e| e.subject == kid_of(&fresh)),
        "{promoted:?}"
    );
}

async fn keys_retire_ends_a_stopped_key_at_once_and_refuses_the_signing_one(backend: Backend) {
    let a = TestApp::builder(backend)
        .config(|c| c.signing.key_prepublish = Duration::ZERO)
        .spawn()
        .await;
    let b = a
        .spawn_replica(|c| c.lifetimes.key_refresh_interval = Duration::from_secs(3600))
        .await;
    a.create_user("alice", &[]).await;
    let old = b.token_for("alice").await;
    let old_kid = kid_of(&old);
    let new_kid = a.keys.rotate(now_unix()).await.expect("rotate").kid;
    // A normal rotation: the old key verifies until its tokens expire.
    b.keys.maintain(now_unix()).await.expect("refresh");
    assert!(b.verify(&old).await.valid, "previous keys still verify");

    let out = cli_ok(&a, &["keys", "retire", &old_kid]);
    assert!(out.contains("is retired"), "{out}");
    until_invalid(&b, &old, InvalidReason::UnknownKey).await;
    let again = cli_ok(&a, &["keys", "retire", &old_kid]);
    assert!(again.contains("already retired"), "{again}");
    assert_eq!(
        audit_events(&a, "key_retired")
            .await
            .iter()
            .filter(|e| e.subject == old_kid)
            .count(),
        1,
        "one audit row for one retirement"
    );

    let signing = cli(&a, &["keys", "retire", &new_kid]);
    assert!(!signing.status.success());
    let stderr = String::from_utf8_lossy(&signing.stderr);
    assert!(
        stderr.contains("signs now") && stderr.contains("rotate --now"),
        "{stderr}"
    );
    assert!(
        a.verify(&a.token_for("alice").await).await.valid,
        "still signing"
    );
    let unknown = cli(&a, &["keys", "retire", "no-such-kid"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no signing key has the id"), "{stderr}");
}

async fn a_signers_overlap_is_kept_when_a_process_with_shorter_tokens_rotates(backend: Backend) {
    // The server issues two-hour tokens; `keys rotate` runs with the
    // default lifetime (minutes). The replaced key must verify for the
    // server's tokens, not the command's.
    let two_hours = 2 * 3600;
    let app = TestApp::builder(backend)
        .config(|c| c.lifetimes.access_token_ttl = Duration::from_secs(two_hours))
        .spawn()
        .await;
    let before = app.core.tokens().keys().signing().unwrap().kid.clone();
    let t0 = now_unix();
    cli_ok(&app, &["keys", "rotate", "--key-prepublish", "0s"]);
    let previous = app
        .keys
        .list()
        .await
        .expect("list")
        .into_iter()
        .find(|k| k.kid == before)
        .expect("the old key");
    assert_eq!(previous.state, KeyState::Previous);
    let retires_at = previous.retires_at.expect("a retirement time");
    assert!(
        retires_at >= t0 + i64::try_from(two_hours).unwrap(),
        "the old key retires {}s after the rotation, before the server's tokens expire",
        retires_at - t0
    );
}

async fn the_keys_commands_rotate_and_list(backend: Backend) {
    let app = TestApp::builder(backend).spawn().await;
    let run = |args: &[&str]| cli_ok(&app, args);
    let before = app.core.tokens().keys().signing().unwrap().kid.clone();
    let out = run(&["keys", "rotate", "--key-prepublish", "0s"]);
    assert!(out.contains("is now signing"), "{out}");
    let list = run(&["keys", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&before) && l.contains("previous")),
        "{list}"
    );
    assert_eq!(
        list.lines().filter(|l| l.contains("current")).count(),
        1,
        "{list}"
    );

    // The running server picks the rotation up on its next refresh.
    app.keys.maintain(now_unix()).await.expect("refresh");
    let token = {
        app.create_user("alice", &[]).await;
        app.token_for("alice").await
    };
    assert_ne!(kid_of(&token), before);
}

async fn a_replica_never_promotes_a_key_it_cannot_sign_with(backend: Backend) {
    // A new key-encryption secret being rolled out: B has it, A not yet.
    let a = TestApp::builder(backend)
        .config(|c| {
            c.signing.key_prepublish = Duration::from_secs(PREPUBLISH.unsigned_abs());
        })
        .spawn()
        .await;
    let b = a
        .spawn_replica(|c| {
            c.signing.key_prepublish = Duration::from_secs(PREPUBLISH.unsigned_abs());
            c.signing.key_encryption_secret =
                Some(SecretString::from("a key-encryption secret, 32+ bytes"));
        })
        .await;
    a.create_user("alice", &[]).await;
    let old_kid = kid_of(&a.token_for("alice").await);
    let t0 = now_unix();
    let sealed = b.keys.rotate(t0).await.expect("rotate on B").kid;

    // A cannot open the sealed key, so it does not make it current...
    a.keys
        .maintain(t0 + PREPUBLISH)
        .await
        .expect("maintain on A");
    let states: Vec<(String, KeyState)> = a
        .keys
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect();
    assert!(
        states.contains(&(old_kid.clone(), KeyState::Current)),
        "{states:?}"
    );
    assert!(
        states.contains(&(sealed.clone(), KeyState::Next)),
        "{states:?}"
    );
    assert_eq!(kid_of(&a.token_for("alice").await), old_kid);
    // ...while B, which can, does.
    b.keys
        .maintain(t0 + PREPUBLISH)
        .await
        .expect("maintain on B");
    assert_eq!(kid_of(&b.token_for("alice").await), sealed);
}

/// How far the skewed replicas' clocks are from the database's.
const SKEW: Duration = Duration::from_secs(2 * 3600);

/// Lets `app`'s key refresher run whole passes by its own (manual) clock,
/// as it does in production: moves `clock` past the refresh interval until
/// a second pass has begun (so the first is over). The clock moves at most
/// a few minutes, far less than [`SKEW`].
async fn refresher_passes(app: &TestApp, clock: &ManualClock) {
    let target = app.keys.reloads() + 2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for _ in 0..100 {
        if app.keys.reloads() >= target {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refresher never ran"
        );
        clock.advance(Duration::from_secs(31));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the refresher did not run two passes");
}

/// The database's clock, as the replicas' store reads it.
async fn db_now(app: &TestApp) -> i64 {
    app.core.accounts().store().db_now().await.expect("db_now")
}

/// Moves key `kid`'s `column` (a Unix time) to `at`: the test's stand-in
/// for the database's clock reaching that moment.
async fn set_key_time(app: &TestApp, kid: &str, column: &str, at: i64) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(app.database_url())
        .await
        .expect("connect");
    let sql = format!("UPDATE signing_keys SET {column} = $1 WHERE kid = $2");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(at)
        .bind(kid)
        .execute(&mut conn)
        .await
        .expect("update");
    assert_eq!(done.rows_affected(), 1);
}

async fn state_of(app: &TestApp, kid: &str) -> authd::store::StoredKey {
    app.keys
        .list()
        .await
        .expect("list")
        .into_iter()
        .find(|k| k.kid == kid)
        .expect("the key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_skewed_clocks_promote_and_retire_keys_by_the_database_clock() {
    // Every process's refresher runs only when its clock is moved: the
    // first one's never is; one replica's runs two hours ahead, the other's
    // two hours behind.
    let still = ManualClock::new();
    let ahead = ManualClock::starting_at(Duration::from_secs(now_unix().unsigned_abs()) + SKEW);
    let behind = ManualClock::starting_at(
        Duration::from_secs(now_unix().unsigned_abs())
            .checked_sub(SKEW)
            .expect("long after 1970"),
    );
    let prepublish = |c: &mut authd::Config| {
        c.signing.key_prepublish = Duration::from_secs(PREPUBLISH.unsigned_abs());
    };
    let a = TestApp::builder(Backend::Postgres)
        .clock(&still)
        .config(prepublish)
        .spawn()
        .await;
    let on_a = |clock: &ManualClock| {
        TestApp::builder_on(crate::helpers::TestDb::attach(a.database_url()))
            .clock(clock)
            .config(prepublish)
            .spawn()
    };
    let early = on_a(&ahead).await;
    let late = on_a(&behind).await;
    a.create_user("alice", &[]).await;
    let old_kid = kid_of(&a.token_for("alice").await);

    // A key is published to sign a minute from now by the database.
    let t0 = db_now(&a).await;
    let new_kid = a.keys.rotate(t0).await.expect("rotate").kid;
    assert_eq!(state_of(&a, &new_kid).await.activates_at, t0 + PREPUBLISH);

    // The replica two hours ahead does not promote it: by the database it
    // is not due, and that replica's tokens still name the old key.
    refresher_passes(&early, &ahead).await;
    assert_eq!(state_of(&a, &new_kid).await.state, KeyState::Next);
    assert_eq!(kid_of(&early.token_for("alice").await), old_kid);
    assert!(
        jwks_kids(&early).await.contains(&new_kid),
        "but publishes it"
    );

    // The database's clock reaches its time: the replica two hours behind,
    // by whose own clock it is two hours early, promotes it, and signs with it.
    let due = db_now(&a).await;
    set_key_time(&a, &new_kid, "activates_at", due).await;
    refresher_passes(&late, &behind).await;
    let promoted_at = db_now(&a).await;
    assert_eq!(state_of(&a, &new_kid).await.state, KeyState::Current);
    assert_eq!(kid_of(&late.token_for("alice").await), new_kid);
    // The old key verifies for one overlap of the database's time.
    let overlap = 900 + 10 + 30;
    let old = state_of(&a, &old_kid).await;
    assert_eq!(old.state, KeyState::Previous);
    let retires_at = old.retires_at.expect("a retirement time");
    assert!(
        (due + overlap..=promoted_at + overlap).contains(&retires_at),
        "retires at {retires_at}, promoted between {due} and {promoted_at} by the database"
    );

    // The replica ahead, by whose clock that overlap ended long ago, does
    // not retire it...
    refresher_passes(&early, &ahead).await;
    assert_eq!(state_of(&a, &old_kid).await.state, KeyState::Previous);
    assert!(jwks_kids(&early).await.contains(&old_kid));
    assert_eq!(kid_of(&early.token_for("alice").await), new_kid);

    // ...and when the database's clock passes it, the replica behind does.
    set_key_time(&a, &old_kid, "retires_at", db_now(&a).await).await;
    refresher_passes(&late, &behind).await;
    assert_eq!(state_of(&a, &old_kid).await.state, KeyState::Retired);
    assert!(!jwks_kids(&late).await.contains(&old_kid));
}
