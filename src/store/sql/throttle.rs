//! Failed-login counts: the `login_failures` table (see [`crate::throttle`]).

use sqlx::{FromRow, Pool};

use super::{Columns, Params, RowsAffected, SqlDb};
use crate::error::{Error, Result};
use crate::store::LoginFailures;

impl<R: Columns> FromRow<'_, R> for LoginFailures {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            key: row.field("throttle_key")?,
            failures: row.field("failures")?,
            last_failure_at: row.field("last_failure_at")?,
        })
    }
}

/// `count` placeholders `$first, $first+1, ...`, comma-separated, for an
/// `IN (...)` list of values bound in that order.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `keys` without repeats (a statement may not upsert one row twice), in order.
fn distinct<'a>(keys: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::with_capacity(keys.len());
    for key in keys {
        if !out.contains(key) {
            out.push(key);
        }
    }
    out
}

pub(super) async fn failures<DB: SqlDb>(
    pool: &Pool<DB>,
    keys: &[&str],
) -> Result<Vec<LoginFailures>> {
    let keys = distinct(keys);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // Only placeholders are spliced in; the keys are bound.
    let sql = format!(
        "SELECT throttle_key, failures, last_failure_at FROM login_failures \
         WHERE throttle_key IN ({})",
        placeholders(1, keys.len())
    );
    let mut query = sqlx::query_as::<DB, LoginFailures>(sqlx::AssertSqlSafe(sql));
    for key in keys {
        query = query.param(key);
    }
    query
        .fetch_all(DB::pool(pool))
        .await
        .map_err(|e| Error::database("reading failed-login counts", e))
}

pub(super) async fn record_failure<DB: SqlDb>(
    pool: &Pool<DB>,
    keys: &[&str],
    now: i64,
    forget_before: i64,
) -> Result<()> {
    let keys = distinct(keys);
    if keys.is_empty() {
        return Ok(());
    }
    // Placeholders in order of first use: the first key $1, now $2, further
    // keys $3.., forget_before last.
    let rows = (0..keys.len())
        .map(|i| {
            let key = if i == 0 { 1 } else { i + 2 };
            format!("(${key}, 1, $2)")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let forget = keys.len() + 2;
    let sql = format!(
        "INSERT INTO login_failures (throttle_key, failures, last_failure_at) \
         VALUES {rows} ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = CASE WHEN login_failures.last_failure_at > ${forget} \
         THEN login_failures.failures + 1 ELSE 1 END, \
         last_failure_at = excluded.last_failure_at"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .param(keys[0])
        .param(now);
    for key in &keys[1..] {
        query = query.param(*key);
    }
    query
        .param(forget_before)
        .execute(DB::pool(pool))
        .await
        .map(drop)
        .map_err(|e| Error::database("counting a failed login", e))
}

pub(super) async fn clear<DB: SqlDb>(pool: &Pool<DB>, keys: &[&str]) -> Result<u64> {
    let keys = distinct(keys);
    if keys.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "DELETE FROM login_failures WHERE throttle_key IN ({})",
        placeholders(1, keys.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for key in keys {
        query = query.param(key);
    }
    query
        .execute(DB::pool(pool))
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| Error::database("clearing failed-login counts", e))
}

pub(super) async fn purge<DB: SqlDb>(pool: &Pool<DB>, forget_before: i64) -> Result<u64> {
    sqlx::query("DELETE FROM login_failures WHERE last_failure_at <= $1")
        .param(forget_before)
        .execute(DB::pool(pool))
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| Error::database("purging failed-login counts", e))
}
