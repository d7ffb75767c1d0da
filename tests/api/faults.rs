//! Database faults and shutdown: PostgreSQL down at start-up, restarted or
//! cut under load, an exhausted pool, and SIGTERM under load. Each test that
//! takes PostgreSQL away runs its own throwaway cluster ([`PgCluster`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use authd::grpc::pb;
use sqlx::Connection as _;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Backend, PASSWORD, TestApp, TestDb};
use crate::http::{get, http};
use crate::pg_cluster::PgCluster;

/// How long any wait for a state change may take before the test fails.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Health of `service` ("" is the whole server).
async fn health_of(app: &TestApp, service: &str) -> ServingStatus {
    HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status()
}

/// Polls health (both names) until it reports `want`; fails after [`WAIT_LIMIT`].
async fn wait_for_health(app: &TestApp, want: ServingStatus) -> Duration {
    let start = Instant::now();
    loop {
        if health_of(app, "").await == want && health_of(app, "auth.v1.AuthService").await == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < WAIT_LIMIT, "health never became {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn verify_call(app: &TestApp, token: &str) -> Result<pb::VerifyResponse, tonic::Status> {
    app.client
        .clone()
        .verify(pb::VerifyRequest {
            token: token.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Starts authd on `cluster` with a short acquire timeout.
async fn app_on(cluster: &PgCluster) -> TestApp {
    TestApp::builder_on(TestDb::attach(&cluster.url()))
        .config(|c| {
            c.admin.store.database_acquire_timeout = Duration::from_millis(500);
            c.server.cache_trust_bound = Duration::from_secs(1);
        })
        .spawn()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authd_starts_while_postgres_is_down_and_serves_by_itself_once_it_is_back() {
    let mut cluster = PgCluster::start();
    cluster.stop();
    let app = app_on(&cluster).await;

    assert_eq!(health_of(&app, "").await, ServingStatus::NotServing);
    assert_eq!(
        health_of(&app, "auth.v1.AuthService").await,
        ServingStatus::NotServing
    );
    let ready = get(http(&app), "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);

    let started = Instant::now();
    let login = app.login("alice", PASSWORD).await;
    let status = login.expect_err("no database, no login");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("retry later"), "{status:?}");
    let verify = verify_call(&app, "not.a.token").await.expect_err("gated");
    assert_eq!(verify.code(), Code::Unavailable, "{verify:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, took {:?}",
        started.elapsed()
    );

    cluster.start_again();
    wait_for_health(&app, ServingStatus::Serving).await;
    assert_eq!(get(http(&app), "/readyz").await.status, 200);
    app.create_user("alice", &[]).await;
    let login = app
        .login("alice", PASSWORD)
        .await
        .expect("login after recovery");
    assert!(
        verify_call(&app, &login.access_token)
            .await
            .expect("verify")
            .valid
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_heals_without_restarting_authd() {
    let mut cluster = PgCluster::start();
    let app = app_on(&cluster).await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    app.wait_for_feed().await;

    // Load: Verify in a loop, every outcome recorded with its time.
    let stop = Arc::new(AtomicBool::new(false));
    let mut client = app.client.clone();
    let token = login.access_token.clone();
    let flag = Arc::clone(&stop);
    let load = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..1_000_000 {
            if flag.load(Ordering::Relaxed) {
                break;
            }
            let result = client
                .verify(pb::VerifyRequest {
                    token: token.clone(),
                })
                .await;
            let code = match result {
                Ok(r) if r.get_ref().valid => Code::Ok,
                Ok(r) => panic!("a valid token turned invalid during the outage: {r:?}"),
                Err(status) => status.code(),
            };
            outcomes.push((Instant::now(), code));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        outcomes
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    let down_at = Instant::now();
    cluster.stop();
    let took = wait_for_health(&app, ServingStatus::NotServing).await;
    assert!(took < Duration::from_secs(3), "NOT_SERVING after {took:?}");
    let during = app.login("alice", PASSWORD).await.expect_err("down");
    assert_eq!(during.code(), Code::Unavailable, "{during:?}");

    cluster.start_again();
    let up_at = Instant::now();
    let took = wait_for_health(&app, ServingStatus::Serving).await;
    assert!(
        took < Duration::from_secs(5),
        "SERVING again after {took:?}"
    );
    app.wait_for_feed().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = load.await.expect("load task");

    for (at, code) in &outcomes {
        assert!(
            matches!(code, Code::Ok | Code::Unavailable),
            "only UNAVAILABLE during a fault, got {code:?}"
        );
        if *code == Code::Unavailable {
            assert!(*at >= down_at, "errors only after the database went away");
        }
    }
    let last_error = outcomes
        .iter()
        .filter(|(_, c)| *c != Code::Ok)
        .map(|(at, _)| *at)
        .max();
    if let Some(last_error) = last_error {
        assert!(
            last_error < up_at + Duration::from_secs(3),
            "errors went on {:?} after PostgreSQL was back",
            last_error - up_at
        );
    }
    assert!(
        outcomes.iter().rev().take(5).all(|(_, c)| *c == Code::Ok),
        "the load ends healthy"
    );
    app.login("alice", PASSWORD)
        .await
        .expect("login after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_every_database_connection_heals_within_seconds() {
    let app = TestApp::builder(Backend::Postgres)
        .config(|c| {
            c.server.cache_trust_bound = Duration::from_secs(1);
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    app.wait_for_feed().await;

    let mut admin = sqlx::PgConnection::connect(app.database_url())
        .await
        .expect("connect");
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminate every other connection");
    assert!(killed.len() >= 2, "pool and listener connections were cut");
    let cut_at = Instant::now();

    // Within a few seconds everything works again, with no restart.
    loop {
        let verify = verify_call(&app, &login.access_token).await;
        let fresh = app.login("alice", PASSWORD).await;
        if let Ok(v) = &verify {
            assert!(v.valid, "never invalid because of a fault: {v:?}");
        }
        for status in [verify.as_ref().err(), fresh.as_ref().err()]
            .into_iter()
            .flatten()
        {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        }
        if verify.is_ok() && fresh.is_ok() {
            break;
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(5),
            "still failing after {:?}",
            cut_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.core
            .cache()
            .wait_until_trusted(Duration::from_secs(5))
            .await,
        "the change feed listens again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_fails_calls_with_unavailable_within_the_acquire_timeout() {
    let acquire = Duration::from_millis(500);
    let app = TestApp::builder(Backend::Postgres)
        .config(|c| {
            c.admin.store.database_max_connections = 1;
            c.admin.store.database_acquire_timeout = acquire;
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;

    // Another client locks the users table: a login that reaches it holds
    // the pool's only connection until the lock goes.
    let mut locker = sqlx::PgConnection::connect(app.database_url())
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut locker)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .expect("lock");
    let holder = {
        let mut client = app.client.clone();
        tokio::spawn(async move {
            client
                .login(pb::LoginRequest {
                    username: "alice".into(),
                    password: PASSWORD.into(),
                })
                .await
        })
    };
    // Wait until the holder's query waits on the lock (bounded).
    let start = Instant::now();
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'users'::regclass",
        )
        .fetch_one(&mut locker)
        .await
        .expect("pg_locks");
        if waiting > 0 {
            break;
        }
        assert!(
            start.elapsed() < WAIT_LIMIT,
            "the login never reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = Instant::now();
    let status = app
        .login("alice", PASSWORD)
        .await
        .expect_err("no connection to be had");
    let took = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("retry later"), "{status:?}");
    assert!(
        took < acquire + Duration::from_millis(1500),
        "failed after {took:?}, not within the acquire timeout"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .expect("unlock");
    let held = holder.await.expect("task");
    assert!(held.is_ok(), "the held login completes: {held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_never_verifies_while_the_database_is_down() {
    let mut cluster = PgCluster::start();
    let app = app_on(&cluster).await;
    app.create_user("alice", &[]).await;
    let revoked = app.login("alice", PASSWORD).await.expect("login");
    let live = app.login("alice", PASSWORD).await.expect("login");
    app.wait_for_feed().await;
    app.client
        .clone()
        .logout(pb::LogoutRequest {
            refresh_token: revoked.refresh_token.clone(),
        })
        .await
        .expect("logout");
    assert!(
        !verify_call(&app, &revoked.access_token)
            .await
            .expect("verify")
            .valid
    );
    assert!(
        verify_call(&app, &live.access_token)
            .await
            .expect("verify")
            .valid
    );

    cluster.stop();
    let start = Instant::now();
    let mut unavailable = 0;
    while start.elapsed() < Duration::from_secs(3) {
        for token in [&revoked.access_token, &live.access_token] {
            match verify_call(&app, token).await {
                Ok(v) if token == &revoked.access_token => {
                    assert!(!v.valid, "a revoked session verified during an outage");
                }
                Ok(_) => {}
                Err(s) => {
                    assert_eq!(s.code(), Code::Unavailable, "{s:?}");
                    unavailable += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        unavailable > 0,
        "with the feed gone the cache is untrusted, so Verify says UNAVAILABLE"
    );
}

/// Runs the real binary on `db_url` with `AUTHD_*` settings `env`.
fn spawn_binary(db_url: &str, listen: &str, env: &[(&str, &str)]) -> std::process::Child {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_authd"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTHD_") {
            command.env_remove(key);
        }
    }
    command
        .arg("serve")
        .env("AUTHD_DATABASE_URL", db_url)
        .env("AUTHD_LISTEN", listen)
        .env("AUTHD_HTTP_LISTEN", "off")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run authd")
}

// One scenario from start to exit code, read top to bottom.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_in_flight_calls_and_exits_zero_with_no_half_rotated_family() {
    let db = TestDb::new(Backend::Postgres).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    // Create the user before the server starts, through the CLI.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["user", "add", "alice", "--password-stdin"])
        .env("AUTHD_DATABASE_URL", &db.url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(format!("{PASSWORD}\n").as_bytes())?;
            child.wait()
        })
        .expect("authd user add");
    assert!(status.success(), "user add");

    let mut child = spawn_binary(&db.url, &listen, &[("AUTHD_SHUTDOWN_GRACE", "10s")]);
    let pid = child.id();
    let endpoint = format!("http://{listen}");
    let start = Instant::now();
    let channel = loop {
        if let Ok(channel) = tonic::transport::Channel::from_shared(endpoint.clone())
            .expect("uri")
            .connect()
            .await
        {
            break channel;
        }
        assert!(start.elapsed() < WAIT_LIMIT, "authd never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let client = pb::auth_service_client::AuthServiceClient::new(channel.clone());
    let mut health = HealthClient::new(channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.expect("ok").expect("first");
    assert_eq!(first.status(), ServingStatus::Serving);

    // Workers: Login, then Refresh and Verify in a loop, until told to stop
    // or the server goes away. Each records calls that failed before SIGTERM.
    let sent = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut workers = Vec::new();
    // The sessions are opened one at a time: parallel logins of one account
    // are each counted by the throttle while their passwords are checked,
    // and this test is about the drain, not about that.
    let mut logins = Vec::new();
    for _ in 0..4 {
        logins.push(
            client
                .clone()
                .login(pb::LoginRequest {
                    username: "alice".into(),
                    password: PASSWORD.into(),
                })
                .await
                .expect("login before SIGTERM")
                .into_inner(),
        );
    }
    for login in logins {
        let mut client = client.clone();
        let sent = Arc::clone(&sent);
        let rounds = Arc::clone(&rounds);
        workers.push(tokio::spawn(async move {
            let mut ok = 0_u32;
            let mut refresh = login.refresh_token;
            for _ in 0..10_000 {
                let before = sent.load(Ordering::SeqCst);
                let result = client
                    .refresh(pb::RefreshRequest {
                        refresh_token: refresh.clone(),
                    })
                    .await;
                match result {
                    Ok(r) => {
                        let r = r.into_inner();
                        refresh = r.refresh_token;
                        ok += 1;
                        rounds.fetch_add(1, Ordering::SeqCst);
                        let v = client
                            .verify(pb::VerifyRequest {
                                token: r.access_token,
                            })
                            .await;
                        if let Ok(v) = v {
                            assert!(v.into_inner().valid);
                        } else if !sent.load(Ordering::SeqCst) {
                            panic!("verify failed before SIGTERM: {v:?}");
                        }
                    }
                    Err(status) => {
                        assert!(
                            before || sent.load(Ordering::SeqCst),
                            "failed before SIGTERM: {status:?}"
                        );
                        // After SIGTERM new calls may be refused; never INTERNAL
                        // from authd. A call the client sent while the server's
                        // GOAWAY (NO_ERROR) was on the wire was never processed
                        // (RFC 9113, 6.8: safe to retry); tonic's client reports
                        // that as INTERNAL with the h2 GoAway as its source.
                        let refused_by_goaway = format!("{status:?}").contains("GoAway(")
                            && format!("{status:?}").contains("NO_ERROR");
                        if !refused_by_goaway {
                            assert_ne!(status.code(), Code::Internal, "{status:?}");
                        }
                        return ok;
                    }
                }
            }
            ok
        }));
    }
    // A slow call (Login hashes a password) in flight when SIGTERM lands,
    // once the load is under way (logins hash at the lowest priority, so on
    // a busy machine the first round can take a while).
    let mut slow = client.clone();
    let load_start = Instant::now();
    while rounds.load(Ordering::SeqCst) == 0 {
        assert!(
            load_start.elapsed() < WAIT_LIMIT,
            "the load never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_flight = tokio::spawn(async move {
        slow.login(Request::new(pb::LoginRequest {
            username: "alice".into(),
            password: PASSWORD.into(),
        }))
        .await
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    sent.store(true, Ordering::SeqCst);
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let terminated_at = Instant::now();

    let next = watch.message().await.expect("ok").expect("an update");
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);
    drop(health);

    let login = in_flight.await.expect("task");
    assert!(login.is_ok(), "the in-flight login completes: {login:?}");
    let mut total = 0;
    for worker in workers {
        total += worker.await.expect("worker");
    }
    assert!(total > 0, "the load did run");
    drop(client);
    drop(channel);

    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            terminated_at.elapsed() < Duration::from_secs(12),
            "authd did not exit within the drain period"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");

    // Every session has exactly one live (unrotated) refresh token.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let families: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.id, count(r.token_hash) FILTER (WHERE r.rotated_at IS NULL) \
         FROM sessions s LEFT JOIN refresh_tokens r ON r.session_id = s.id GROUP BY s.id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("families");
    assert!(families.len() >= 5, "{families:?}");
    for (session, live) in families {
        assert_eq!(live, 1, "session {session} has {live} live refresh tokens");
    }
}
