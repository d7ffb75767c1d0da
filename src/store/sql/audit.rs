//! The append-only audit log: the `audit_log` table.

use sqlx::{FromRow, Pool};

use super::{Columns, Get, Params, SqlDb};
use crate::error::{Error, Result};
use crate::store::{AuditEntry, NewAuditEntry};

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
