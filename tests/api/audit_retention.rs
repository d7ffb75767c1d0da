//! Retention of the append-only audit log: `authd audit export --before`
//! writes the old rows as JSON lines, `authd audit purge` removes exactly
//! those (and records that it did), and nothing else can remove a row.

use std::time::Duration;

use authd::clock::ManualClock;
use authd::store::AuditEntry;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::Connection as _;

use crate::helpers::{Backend, TestApp};

on_both_backends!(
    exported_rows_and_only_those_are_purged_and_the_purge_is_recorded,
    the_log_still_refuses_every_other_change,
);

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let url = SecretString::from(app.database_url().to_owned());
    let dir = tempfile::tempdir().expect("scratch dir");
    std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env("AUTHD_DATABASE_URL", url.expose_secret())
        .current_dir(dir.path())
        .output()
        .expect("run authd")
}

/// `authd audit export --before CUT --output PATH`, which must succeed; the file's text.
fn export(app: &TestApp, cut: i64, path: &std::path::Path) -> String {
    let cut = cut.to_string();
    let out = cli(
        app,
        &[
            "audit",
            "export",
            "--before",
            &cut,
            "--output",
            path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path).expect("the export")
}

/// `authd audit purge --before CUT --exported PATH`.
fn purge(app: &TestApp, cut: &str, path: &std::path::Path) -> std::process::Output {
    cli(
        app,
        &[
            "audit",
            "purge",
            "--before",
            cut,
            "--exported",
            path.to_str().unwrap(),
        ],
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .concat()
}

async fn rows(app: &TestApp) -> Vec<AuditEntry> {
    app.core
        .accounts()
        .store()
        .audit_tail(10_000, None)
        .await
        .expect("read the audit log")
}

/// Runs `sql` on `app`'s database directly; its error, if any.
async fn raw(app: &TestApp, sql: &str) -> Option<String> {
    let url = app.database_url();
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    let result = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open");
        sqlx::query(sql).execute(&mut conn).await.map(|_| ())
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(sql).execute(&mut conn).await.map(|_| ())
    };
    result.err().map(|e| e.to_string())
}

/// An app with audit rows at `t0` (a user, a login, a failed login) and
/// at `t0 + 100` (another login); returns it with `t0`.
async fn app_with_old_and_new_rows(backend: Backend) -> (TestApp, i64) {
    let clock = ManualClock::new();
    let app = TestApp::builder(backend).clock(&clock).spawn().await;
    let t0 = clock.clock().now_unix();
    app.create_user("alice", &[]).await;
    app.token_for("alice").await;
    assert!(app.login("alice", "wrong password").await.is_err());
    clock.advance(Duration::from_secs(100));
    app.token_for("alice").await;
    (app, t0)
}

async fn exported_rows_and_only_those_are_purged_and_the_purge_is_recorded(backend: Backend) {
    let (app, t0) = app_with_old_and_new_rows(backend).await;
    let before = rows(&app).await;
    let cut = t0 + 50;
    let old: Vec<&AuditEntry> = before.iter().filter(|r| r.at < cut).collect();
    assert!(old.len() >= 3, "{before:?}");
    assert!(before.iter().any(|r| r.at >= cut), "newer rows too");

    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("audit.jsonl");
    let text = export(&app, cut, &path);
    let ids: Vec<i64> = text
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("a JSON object per line");
            assert!(row["event"].is_string() && row["time"].is_string(), "{row}");
            row["id"].as_i64().expect("an id")
        })
        .collect();
    let old_ids: Vec<i64> = old.iter().map(|r| r.id).collect();
    assert_eq!(
        ids, old_ids,
        "exactly the rows before the cut, oldest first"
    );

    // An export that misses a row removes nothing.
    let short = dir.path().join("short.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&short, lines[..lines.len() - 1].join("\n")).expect("write");
    let refused = purge(&app, &cut.to_string(), &short);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("export again"), "{stderr}");
    assert_eq!(rows(&app).await.len(), before.len(), "nothing removed");

    // RFC 3339 is accepted too, and means the same cut.
    let out = purge(&app, &authd::audit::rfc3339(cut), &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("removed {}", old.len())),
        "{stdout}"
    );

    let after = rows(&app).await;
    assert!(
        after.iter().all(|r| !old_ids.contains(&r.id)),
        "old rows gone"
    );
    for newer in before.iter().filter(|r| r.at >= cut) {
        assert!(after.iter().any(|r| r.id == newer.id), "newer rows kept");
    }
    let purged: Vec<&AuditEntry> = after.iter().filter(|r| r.event == "audit_purged").collect();
    assert_eq!(purged.len(), 1, "{after:?}");
    let record = purged[0];
    assert!(
        record.detail.contains(&format!("{} rows", old.len())),
        "{record:?}"
    );
    assert!(
        record.detail.contains(&sha256_hex(text.as_bytes())),
        "names the digest: {record:?}"
    );
    assert!(record.subject.starts_with("cli"), "{record:?}");
}

async fn the_log_still_refuses_every_other_change(backend: Backend) {
    let (app, t0) = app_with_old_and_new_rows(backend).await;
    let count = rows(&app).await.len();
    for sql in [
        "DELETE FROM audit_log".to_owned(),
        format!("DELETE FROM audit_log WHERE at < {}", t0 + 50),
        "UPDATE audit_log SET detail = 'edited'".to_owned(),
    ] {
        let error = raw(&app, &sql)
            .await
            .unwrap_or_else(|| panic!("{sql} was allowed"));
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(rows(&app).await.len(), count);
    // A purge leaves no grant behind that a later DELETE could use.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("audit.jsonl");
    export(&app, t0 + 50, &path);
    assert!(purge(&app, &(t0 + 50).to_string(), &path).status.success());
    let error = raw(&app, "DELETE FROM audit_log").await.expect("refused");
    assert!(error.contains("append-only"), "{error}");
}
