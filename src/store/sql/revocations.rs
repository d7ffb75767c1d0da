//! What the revocation stream's snapshot reads besides ended sessions
//! (those are `sessions::ended_since`): users disabled, and users and
//! service accounts deleted within a window, from the `deletions`
//! tombstones that remember the deleted rows.
//!
//! A tombstone is written inside the deleting transaction (with the
//! database's clock: the deletes take no `now`, and the time only bounds
//! how long the tombstone is kept) and purged with the ended sessions.

use sqlx::{FromRow, Pool};

use super::{Columns, Params, SqlDb, Tx};
use crate::error::{Error, Result};
use crate::store::{DeletedKind, Deletion, DisabledUser};

/// Writes the tombstone of a deleted row inside the deleting transaction.
pub(super) async fn tombstone<DB: SqlDb>(
    tx: &mut Tx<DB>,
    kind: DeletedKind,
    id: &str,
) -> Result<()> {
    sqlx::query(DB::TOMBSTONE)
        .param(kind.as_str())
        .param(id)
        .execute(DB::tx(tx))
        .await
        .map(drop)
        .map_err(|e| Error::database("recording a deletion", e))
}

/// A disabled user's id and last change.
struct DisabledRow {
    id: String,
    updated_at: i64,
}

impl<R: Columns> FromRow<'_, R> for DisabledRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.field("id")?,
            updated_at: row.field("updated_at")?,
        })
    }
}

pub(super) async fn disabled_users<DB: SqlDb>(
    pool: &Pool<DB>,
    since: i64,
) -> Result<Vec<DisabledUser>> {
    sqlx::query_as::<DB, DisabledRow>(
        "SELECT id, updated_at FROM users WHERE active = FALSE AND updated_at >= $1 ORDER BY id",
    )
    .param(since)
    .fetch_all(DB::pool(pool))
    .await
    .map(|rows| {
        rows.into_iter()
            .map(|row| DisabledUser {
                id: row.id,
                changed_at: row.updated_at,
            })
            .collect()
    })
    .map_err(|e| Error::database("listing disabled users", e))
}

/// A `deletions` row.
struct DeletionRow {
    kind: String,
    id: String,
    deleted_at: i64,
}

impl<R: Columns> FromRow<'_, R> for DeletionRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            kind: row.field("kind")?,
            id: row.field("id")?,
            deleted_at: row.field("deleted_at")?,
        })
    }
}

pub(super) async fn deletions<DB: SqlDb>(pool: &Pool<DB>, since: i64) -> Result<Vec<Deletion>> {
    sqlx::query_as::<DB, DeletionRow>(
        "SELECT kind, id, deleted_at FROM deletions WHERE deleted_at >= $1 ORDER BY kind, id",
    )
    .param(since)
    .fetch_all(DB::pool(pool))
    .await
    .map(|rows| {
        rows.into_iter()
            .filter_map(|row| {
                Some(Deletion {
                    kind: DeletedKind::parse(&row.kind)?,
                    id: row.id,
                    deleted_at: row.deleted_at,
                })
            })
            .collect()
    })
    .map_err(|e| Error::database("listing deletions", e))
}

pub(super) async fn purge_tombstones<DB: SqlDb>(pool: &Pool<DB>, before: i64) -> Result<u64> {
    use super::RowsAffected as _;
    sqlx::query("DELETE FROM deletions WHERE deleted_at <= $1")
        .param(before)
        .execute(DB::pool(pool))
        .await
        .map(|done| done.rows_affected())
        .map_err(|e| Error::database("purging deletions", e))
}
