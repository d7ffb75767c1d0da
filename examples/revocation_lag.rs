//! Measures revocation lag across two authd replicas sharing one PostgreSQL.
//!
//! Starts replicas A and B (each with its own pool, change-feed listener
//! and gRPC port on loopback) on a scratch database, then repeats: log in
//! on A, verify on B until B answers from its cache, `LogoutAll` on A, and
//! poll `Verify` on B over gRPC until it says `valid=false`. The lag is the
//! time from A's `LogoutAll` returning (the revocation committed) to B's
//! first invalid answer. Prints p50, p99 and max.
//!
//! ```sh
//! cargo run --release --example revocation_lag -- --revocations 200 \
//!     --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! The scratch database is created on that server and dropped at the end.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use authd::clock::now_unix;
use authd::grpc::pb;
use authd::grpc::pb::auth_service_client::AuthServiceClient;
use authd::service::NewAccount;
use authd::{App, Config};
use secrecy::SecretString;
use sqlx::Connection as _;
use tonic::Request;
use tonic::transport::Channel;

const PASSWORD: &str = "correct horse battery staple";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

async fn replica(url: &str) -> (AuthServiceClient<Channel>, authd::service::AuthCore) {
    let mut config = Config::default();
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin.store.database_url = url.parse().expect("a database URL");
    let app = App::build(config).await.expect("replica starts");
    let addr = app.local_addr();
    let core = app.core().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    (AuthServiceClient::new(channel), core)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let revocations: usize = arg("--revocations").map_or(200, |n| n.parse().expect("a number"));
    let admin_url = arg("--database-url")
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());

    let name = format!("authd_lag_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL reachable at --database-url");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("create scratch database");
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");

    let (mut a, core_a) = replica(&url).await;
    let (mut b, core_b) = replica(&url).await;
    core_a
        .accounts()
        .create_user(
            NewAccount {
                username: "lag".into(),
                email: None,
                roles: vec![],
                password: SecretString::from(PASSWORD.to_owned()),
            },
            now_unix(),
        )
        .await
        .expect("user");

    let mut lags = Vec::with_capacity(revocations);
    let mut polls = 0u64;
    let run_deadline = Instant::now() + Duration::from_secs(600);
    for _ in 0..revocations {
        assert!(Instant::now() < run_deadline, "the run took too long");
        let login = a
            .login(pb::LoginRequest {
                username: "lag".into(),
                password: PASSWORD.into(),
            })
            .await
            .expect("login on A")
            .into_inner();
        let verify = pb::VerifyRequest {
            token: login.access_token.clone(),
        };
        // Warm B's cache so the measurement is of invalidation, not of a miss.
        for _ in 0..2 {
            assert!(
                b.verify(verify.clone())
                    .await
                    .expect("verify")
                    .into_inner()
                    .valid
            );
        }
        let mut request = Request::new(pb::LogoutAllRequest {});
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", login.access_token).parse().unwrap(),
        );
        a.logout_all(request).await.expect("logout all on A");
        let revoked_at = Instant::now();
        loop {
            polls += 1;
            if !b
                .verify(verify.clone())
                .await
                .expect("verify")
                .into_inner()
                .valid
            {
                lags.push(revoked_at.elapsed());
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(10),
                "B never saw the revocation"
            );
        }
    }

    lags.sort();
    println!(
        "revocation lag over {} revocations (two replicas, one PostgreSQL): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} Verify polls on B; \
         B's Verify database reads: {}",
        lags.len(),
        percentile(&lags, 0.50).as_secs_f64() * 1000.0,
        percentile(&lags, 0.99).as_secs_f64() * 1000.0,
        lags.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        polls,
        database_reads(&core_b),
    );

    drop((a, b));
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
}

/// Verify's database reads on a replica: every state-cache miss is one.
fn database_reads(core: &authd::service::AuthCore) -> u64 {
    let lookups = core.cache().lookups();
    lookups.user_misses + lookups.session_misses
}
