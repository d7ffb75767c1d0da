//! `authd-load seed` (`tools/authd-load/src/seed.rs`) and the load tool's
//! first-sight tokens (`tools/authd-load/src/first_sight.rs`), both compiled
//! into this suite from the load tool's own files: a seeded database is one
//! the real server works with. The seeded counts are what was asked for, a
//! seeded user logs in with the known password, lists exactly the sessions
//! the seed gave it (plus the new one), and a token the load tool signs for
//! a seeded session is valid to Verify on first sight.

use authd::clock::now_unix;
use authd::config::Algorithm;
use authd::grpc::pb;
use sqlx::Connection as _;

use crate::helpers::{Backend, TestApp, TestDb, authd_command, with_bearer};

#[allow(dead_code, reason = "the load tool's file; the suite uses part of it")]
#[path = "../../tools/authd-load/src/seed.rs"]
mod seed_tool;

#[allow(dead_code, reason = "the load tool's file; the suite uses part of it")]
#[path = "../../tools/authd-load/src/first_sight.rs"]
mod first_sight;

on_both_backends!(a_seeded_database_has_the_rows_asked_for_and_serves_its_users);

const SECRET: &str = "a seeding test hs256 secret of 32+ bytes";

/// Runs `sql` (one row, one integer column) on the database at `url`.
async fn scalar(backend: Backend, url: &str, sql: &str, bind: &str) -> i64 {
    match backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.replace('?', "$1")))
                .bind(bind)
                .fetch_one(&mut conn)
                .await
                .expect("count");
            n
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind(bind)
                .fetch_one(&mut conn)
                .await
                .expect("count");
            n
        }
    }
}

#[allow(clippy::too_many_lines, reason = "one story: seed, count, serve")]
async fn a_seeded_database_has_the_rows_asked_for_and_serves_its_users(backend: Backend) {
    let db = TestDb::new(backend).await;
    let migrated = authd_command()
        .arg("migrate")
        .env("AUTHD_DATABASE_URL", &db.url)
        .output()
        .expect("authd migrate runs");
    assert!(migrated.status.success(), "{migrated:?}");
    let now = now_unix();
    let plan = seed_tool::Plan {
        users: 40,
        sessions: 300,
        known: 2,
        seed: 5,
        max_per_user: 100,
        session_lifetime: 7 * 86_400,
        now,
    };
    let report = seed_tool::seed(&db.url, &plan).await.expect("seeding");
    assert_eq!((report.users, report.sessions), (40, 300));
    let url = db.url.clone();
    let count = |sql: &'static str, bind: &'static str| scalar(backend, &url, sql, bind);
    assert_eq!(
        count("SELECT COUNT(*) FROM users WHERE id <> ?", "").await,
        40
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM sessions WHERE id <> ?", "").await,
        300
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash <> ?",
            ""
        )
        .await,
        300
    );
    // A second seed of the same database is refused: the names would collide.
    assert!(seed_tool::seed(&db.url, &plan).await.is_err());

    let live_sql = "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
                    WHERE u.username_key = ? AND s.revoked_at IS NULL";
    let seeded_live = count(live_sql, "user-1").await;
    let app = TestApp::builder_on(db)
        .config(|config| {
            config.signing.signing_algorithm = Algorithm::Hs256;
            config.signing.hs256_secret = Some(SECRET.into());
        })
        .spawn()
        .await;

    // A known user logs in with the known password; the others cannot.
    let login = app
        .login("user-1", seed_tool::KNOWN_PASSWORD)
        .await
        .expect("a known seeded user logs in");
    assert!(
        app.login("user-7", seed_tool::KNOWN_PASSWORD)
            .await
            .is_err()
    );
    let verdict = app.verify(&login.access_token).await;
    assert!(verdict.valid, "{verdict:?}");
    let sessions = app
        .client
        .clone()
        .list_sessions(with_bearer(pb::ListSessionsRequest {}, &login.access_token))
        .await
        .expect("ListSessions")
        .into_inner()
        .sessions;
    assert_eq!(
        i64::try_from(sessions.len()).expect("a count"),
        seeded_live + 1
    );

    // A seeded session's token, signed by the load tool, is valid on first
    // sight, and names the seeded user.
    let target = match backend {
        Backend::Postgres => {
            let targets = first_sight::sample(&app_url(&app), 3, "", now)
                .await
                .expect("sampling");
            assert_eq!(targets.len(), 3);
            targets[0].clone()
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app_url(&app))
                .await
                .expect("connect");
            let (session_id, user_id) = sqlx::query_as::<_, (String, String)>(
                "SELECT s.id, s.user_id FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.revoked_at IS NULL AND u.roles = '' ORDER BY s.id LIMIT 1",
            )
            .fetch_one(&mut conn)
            .await
            .expect("a live seeded session");
            first_sight::Target {
                session_id,
                user_id,
                roles: Vec::new(),
            }
        }
    };
    let user_id = target.user_id.clone();
    let token = first_sight::token(
        SECRET.as_bytes(),
        "authd",
        "authd",
        &target,
        "a-first-sight-jti",
        now_unix(),
        300,
    )
    .expect("signing");
    let verdict = app.verify(&token).await;
    assert!(verdict.valid, "{verdict:?}");
    assert_eq!(verdict.user.map(|u| u.id), Some(user_id));
}

fn app_url(app: &TestApp) -> String {
    app.database_url().to_owned()
}
