//! The append-only audit log: the `audit_log` table.

use sqlx::{FromRow, Pool};

use super::{Columns, Get, Params, SqlDb, Statement, begin, commit, rollback};
use crate::error::{Error, Result};
use crate::store::{AuditEntry, AuditFilter, ExportedRows, NewAuditEntry};

/// The columns of an audit-log row.
macro_rules! audit_columns {
    () => {
        "id, at, event, user_id, subject, client_addr, outcome, detail"
    };
}

impl<R: Columns> FromRow<'_, R> for AuditEntry {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.field("id")?,
            at: row.field("at")?,
            event: row.field("event")?,
            user_id: row.field("user_id")?,
            subject: row.field("subject")?,
            client_addr: row.field("client_addr")?,
            outcome: row.field("outcome")?,
            detail: row.field("detail")?,
        })
    }
}

pub(super) async fn append<DB: SqlDb>(pool: &Pool<DB>, entry: &NewAuditEntry) -> Result<i64> {
    let context = "writing the audit log";
    let row = sqlx::query(
        "INSERT INTO audit_log (at, event, user_id, subject, client_addr, \
         outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .param(entry.at)
    .param(entry.event.as_str())
    .param(entry.user_id.clone())
    .param(entry.subject.as_str())
    .param(entry.client_addr.clone())
    .param(entry.outcome.as_str())
    .param(entry.detail.as_str())
    .fetch_one(DB::pool(pool))
    .await
    .map_err(|e| Error::database(context, e))?;
    row.field("id").map_err(|e| Error::database(context, e))
}

pub(super) async fn tail<DB: SqlDb>(
    pool: &Pool<DB>,
    limit: u32,
    after_id: Option<i64>,
) -> Result<Vec<AuditEntry>> {
    let limit = i64::from(limit);
    let rows = match after_id {
        Some(after) => {
            sqlx::query_as::<DB, AuditEntry>(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
            ))
            .param(after)
            .param(limit)
            .fetch_all(DB::pool(pool))
            .await
        }
        None => sqlx::query_as::<DB, AuditEntry>(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_log ORDER BY id DESC LIMIT $1"
        ))
        .param(limit)
        .fetch_all(DB::pool(pool))
        .await
        .map(|mut rows| {
            rows.reverse();
            rows
        }),
    };
    rows.map_err(|e| Error::database("reading the audit log", e))
}

pub(super) async fn page<DB: SqlDb>(
    pool: &Pool<DB>,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>> {
    // Built from the filters that are set, every value bound; newest first
    // by the primary key, resumed below the last id served.
    let mut sql = Statement::new(concat!(
        "SELECT ",
        audit_columns!(),
        " FROM audit_log WHERE TRUE"
    ));
    if before_id.is_some() {
        sql.push(" AND id < ?");
    }
    if filter.subject.is_some() {
        // lower() folds ASCII letters on SQLite, all letters on PostgreSQL;
        // usernames are ASCII, so they match alike on both.
        sql.push(" AND (lower(subject) = ? OR user_id = ?)");
    }
    if filter.event.is_some() {
        sql.push(" AND event = ?");
    }
    if filter.since.is_some() {
        sql.push(" AND at >= ?");
    }
    sql.push(" ORDER BY id DESC LIMIT ?");

    let mut query = sqlx::query_as::<DB, AuditEntry>(sql.sql());
    if let Some(before) = before_id {
        query = query.param(before);
    }
    if let Some(subject) = &filter.subject {
        query = query.param(subject.to_lowercase()).param(subject.clone());
    }
    if let Some(event) = &filter.event {
        query = query.param(event.clone());
    }
    if let Some(since) = filter.since {
        query = query.param(since);
    }
    query
        .param(i64::from(limit))
        .fetch_all(DB::pool(pool))
        .await
        .map_err(|e| Error::database("reading the audit log", e))
}

pub(super) async fn before<DB: SqlDb>(
    pool: &Pool<DB>,
    before: i64,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>> {
    sqlx::query_as::<DB, AuditEntry>(concat!(
        "SELECT ",
        audit_columns!(),
        " FROM audit_log WHERE at < $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .param(before)
    .param(after_id.unwrap_or(0))
    .param(i64::from(limit))
    .fetch_all(DB::pool(pool))
    .await
    .map_err(|e| Error::database("exporting the audit log", e))
}

pub(super) async fn purge<DB: SqlDb>(
    pool: &Pool<DB>,
    before: i64,
    exported: ExportedRows,
    record: &NewAuditEntry,
) -> Result<u64> {
    let context = "removing exported audit rows";
    let mut tx = begin(pool, context).await?;
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS last_id FROM audit_log WHERE at < $1",
    )
    .param(before)
    .fetch_one(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?;
    let count: i64 = row.field("n").map_err(|e| Error::database(context, e))?;
    let last_id: i64 = row
        .field("last_id")
        .map_err(|e| Error::database(context, e))?;
    if u64::try_from(count).ok() != Some(exported.count) || last_id != exported.last_id {
        rollback(tx, context).await?;
        return Err(Error::FailedPrecondition(format!(
            "the audit log holds {count} rows before that time (last id {last_id}) but the export \
             holds {} (last id {}); export again with the same --before and purge with that file",
            exported.count, exported.last_id
        )));
    }
    for statement in [
        "INSERT INTO audit_purge_grant (before) VALUES ($1)",
        "DELETE FROM audit_log WHERE at < $1",
        "DELETE FROM audit_purge_grant WHERE before = $1",
    ] {
        sqlx::query(statement)
            .param(before)
            .execute(DB::tx(&mut tx))
            .await
            .map_err(|e| Error::database(context, e))?;
    }
    sqlx::query(
        "INSERT INTO audit_log (at, event, user_id, subject, client_addr, \
         outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .param(record.at)
    .param(record.event.as_str())
    .param(record.user_id.clone())
    .param(record.subject.as_str())
    .param(record.client_addr.clone())
    .param(record.outcome.as_str())
    .param(record.detail.as_str())
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?;
    commit(tx, context).await?;
    Ok(exported.count)
}
