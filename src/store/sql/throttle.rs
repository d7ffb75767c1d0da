//! Failed-login counts: the `login_failures` table (see [`crate::throttle`]).

use sqlx::{FromRow, Pool};

use super::{Columns, Params, RowsAffected, SqlDb, begin, commit, rollback};
use crate::error::{Error, Result};
use crate::store::{AttemptClaim, LoginFailures};

impl<R: Columns> FromRow<'_, R> for LoginFailures {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            key: row.field("throttle_key")?,
            failures: row.field("failures")?,
            last_failure_at: row.field("last_failure_at")?,
            pending: row.field("pending")?,
            pending_since: row.field("pending_since")?,
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
        "SELECT throttle_key, failures, last_failure_at, pending, pending_since \
         FROM login_failures \
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

/// The row of one key, locked for the rest of `tx`, and its count as it
/// was: an upsert that changes nothing (a key without a row gets one with
/// no failures, which a rollback takes away again). An upsert rather than
/// `SELECT ... FOR UPDATE`, which SQLite lacks; on SQLite the write takes
/// the database's write lock, which serialises the claims just the same.
async fn lock_key<DB: SqlDb>(tx: &mut super::Tx<DB>, key: &str) -> sqlx::Result<LoginFailures> {
    sqlx::query_as::<DB, LoginFailures>(
        "INSERT INTO login_failures (throttle_key, failures, last_failure_at) \
         VALUES ($1, 0, 0) ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = login_failures.failures \
         RETURNING throttle_key, failures, last_failure_at, pending, pending_since",
    )
    .param(key)
    .fetch_one(DB::tx(tx))
    .await
}

pub(super) async fn claim<DB: SqlDb>(
    pool: &Pool<DB>,
    keys: &[&str],
    now: i64,
    stale_before: i64,
    admit: &(dyn for<'c> Fn(&'c [LoginFailures]) -> bool + Sync),
) -> Result<AttemptClaim> {
    let context = "counting a login attempt";
    let mut keys = distinct(keys);
    // One lock order for every claim, so two claims sharing keys cannot
    // deadlock (PostgreSQL locks each row as its upsert runs).
    keys.sort_unstable();
    if keys.is_empty() {
        return Ok(AttemptClaim {
            admitted: admit(&[]),
            before: Vec::new(),
        });
    }
    let mut tx = begin(pool, context).await?;
    let mut before = Vec::with_capacity(keys.len());
    for key in &keys {
        let row = lock_key(&mut tx, key)
            .await
            .map_err(|e| Error::database(context, e))?;
        // A fresh row (no failures, nothing in flight) is no count.
        if row.failures > 0 || row.pending > 0 {
            before.push(row);
        }
    }
    if !admit(&before) {
        // Refused: nothing is counted or written.
        rollback(tx, context).await?;
        return Ok(AttemptClaim {
            admitted: false,
            before,
        });
    }
    // One more in flight; claims from before the stale horizon no longer
    // count. Placeholders in order of first use: stale_before $1, now $2, keys $3...
    let sql = format!(
        "UPDATE login_failures SET \
         pending = CASE WHEN pending_since > $1 THEN pending + 1 ELSE 1 END, \
         pending_since = $2 WHERE throttle_key IN ({})",
        placeholders(3, keys.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .param(stale_before)
        .param(now);
    for key in &keys {
        query = query.param(*key);
    }
    query
        .execute(DB::tx(&mut tx))
        .await
        .map_err(|e| Error::database(context, e))?;
    commit(tx, context).await?;
    Ok(AttemptClaim {
        admitted: true,
        before,
    })
}

/// `pending` less one, never below zero.
const ONE_LESS_PENDING: &str =
    "pending = CASE WHEN login_failures.pending > 0 THEN login_failures.pending - 1 ELSE 0 END";

pub(super) async fn fail<DB: SqlDb>(
    pool: &Pool<DB>,
    keys: &[&str],
    now: i64,
    forget_before: i64,
) -> Result<Vec<LoginFailures>> {
    let context = "counting a failed login attempt";
    let mut keys = distinct(keys);
    keys.sort_unstable();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // One upsert per key, in the claims' lock order, in one transaction: a
    // row deleted meanwhile (`authd user unlock`) is made again, and each
    // returns the count this failure made.
    let mut tx = begin(pool, context).await?;
    let mut after = Vec::with_capacity(keys.len());
    for key in &keys {
        let sql = format!(
            "INSERT INTO login_failures (throttle_key, failures, last_failure_at) \
             VALUES ($1, 1, $2) ON CONFLICT (throttle_key) DO UPDATE SET \
             failures = CASE WHEN login_failures.last_failure_at > $3 \
             THEN login_failures.failures + 1 ELSE 1 END, \
             last_failure_at = excluded.last_failure_at, {ONE_LESS_PENDING} \
             RETURNING throttle_key, failures, last_failure_at, pending, pending_since"
        );
        let row = sqlx::query_as::<DB, LoginFailures>(sqlx::AssertSqlSafe(sql))
            .param(*key)
            .param(now)
            .param(forget_before)
            .fetch_one(DB::tx(&mut tx))
            .await
            .map_err(|e| Error::database(context, e))?;
        after.push(row);
    }
    commit(tx, context).await?;
    Ok(after)
}

pub(super) async fn release<DB: SqlDb>(
    pool: &Pool<DB>,
    keys: &[&str],
    clear: &[LoginFailures],
) -> Result<()> {
    let context = "taking back a counted login attempt";
    // Every key once, in the claims' lock order, so this cannot deadlock
    // with a claim either.
    let mut keys = distinct(keys);
    keys.sort_unstable();
    let mut tx = begin(pool, context).await?;
    for key in keys {
        // Only what the caller names as cleared goes: failures counted
        // meanwhile by others stay.
        let cleared = clear
            .iter()
            .find(|c| c.key == key)
            .map_or(0, |c| c.failures);
        let sql = format!(
            "UPDATE login_failures SET {ONE_LESS_PENDING}, \
             failures = CASE WHEN failures > $1 THEN failures - $1 ELSE 0 END \
             WHERE throttle_key = $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .param(cleared)
            .param(key)
            .execute(DB::tx(&mut tx))
            .await
            .map_err(|e| Error::database(context, e))?;
        sqlx::query(
            "DELETE FROM login_failures WHERE throttle_key = $1 AND failures <= 0 AND pending <= 0",
        )
        .param(key)
        .execute(DB::tx(&mut tx))
        .await
        .map_err(|e| Error::database(context, e))?;
    }
    commit(tx, context).await
}

pub(super) async fn note_once<DB: SqlDb>(
    pool: &Pool<DB>,
    key: &str,
    now: i64,
    since: i64,
) -> Result<bool> {
    // One statement: a row is returned only when this call inserted the
    // key or found its last mark at or before `since`; a concurrent call
    // waits for the row (PostgreSQL) or the write lock (SQLite) and then
    // sees the mark just made.
    sqlx::query_as::<DB, LoginFailures>(
        "INSERT INTO login_failures (throttle_key, failures, last_failure_at) \
         VALUES ($1, 1, $2) ON CONFLICT (throttle_key) DO UPDATE SET \
         failures = login_failures.failures + 1, last_failure_at = excluded.last_failure_at \
         WHERE login_failures.last_failure_at <= $3 \
         RETURNING throttle_key, failures, last_failure_at, pending, pending_since",
    )
    .param(key)
    .param(now)
    .param(since)
    .fetch_optional(DB::pool(pool))
    .await
    .map(|row| row.is_some())
    .map_err(|e| Error::database("noting a denial", e))
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
    // A row with an attempt in flight stays until that claim is stale too.
    sqlx::query(
        "DELETE FROM login_failures WHERE last_failure_at <= $1 \
         AND (pending <= 0 OR pending_since <= $1)",
    )
    .param(forget_before)
    .execute(DB::pool(pool))
    .await
    .map(|r| r.rows_affected())
    .map_err(|e| Error::database("purging failed-login counts", e))
}
