//! Signing keys: the `signing_keys` table and its lifecycle
//! (next, current, previous, retired).

use secrecy::{ExposeSecret, SecretBox};
use sqlx::{FromRow, Pool};

use super::{Columns, Get, Params, RowsAffected, SqlDb, begin, commit, publish, rollback};
use crate::error::{Error, Result};
use crate::store::{Change, KeyRetirement, KeyState, StoredKey};

/// The columns of a signing key row, for SELECT lists.
macro_rules! key_columns {
    () => {
        "kid, algorithm, state, private_key, public_key, created_at, activates_at, retires_at, \
         overlap_secs"
    };
}

/// A `signing_keys` row.
struct KeyRow {
    kid: String,
    algorithm: String,
    state: String,
    private_key: Vec<u8>,
    public_key: Vec<u8>,
    created_at: i64,
    activates_at: Option<i64>,
    retires_at: Option<i64>,
    overlap_secs: Option<i64>,
}

impl<R: Columns> FromRow<'_, R> for KeyRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            kid: row.field("kid")?,
            algorithm: row.field("algorithm")?,
            state: row.field("state")?,
            private_key: row.field("private_key")?,
            public_key: row.field("public_key")?,
            created_at: row.field("created_at")?,
            activates_at: row.field("activates_at")?,
            retires_at: row.field("retires_at")?,
            overlap_secs: row.field("overlap_secs")?,
        })
    }
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = Error;

    fn try_from(row: KeyRow) -> Result<Self> {
        Ok(StoredKey {
            kid: row.kid,
            algorithm: row.algorithm,
            state: KeyState::parse(&row.state)?,
            private_key: SecretBox::new(Box::new(row.private_key)),
            public_key: row.public_key,
            created_at: row.created_at,
            activates_at: row.activates_at.unwrap_or(row.created_at),
            retires_at: row.retires_at,
            overlap_secs: row.overlap_secs,
        })
    }
}

/// Every key but the retired ones, newest first.
pub(super) async fn verifying<DB: SqlDb>(pool: &Pool<DB>) -> Result<Vec<StoredKey>> {
    let rows = sqlx::query_as::<DB, KeyRow>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM signing_keys WHERE state <> 'retired' ORDER BY created_at DESC, kid"
    ))
    .fetch_all(DB::pool(pool))
    .await
    .map_err(|e| Error::database("reading signing keys", e))?;
    rows.into_iter().map(StoredKey::try_from).collect()
}

pub(super) async fn all<DB: SqlDb>(pool: &Pool<DB>) -> Result<Vec<StoredKey>> {
    let rows = sqlx::query_as::<DB, KeyRow>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM signing_keys ORDER BY created_at DESC, kid"
    ))
    .fetch_all(DB::pool(pool))
    .await
    .map_err(|e| Error::database("reading signing keys", e))?;
    rows.into_iter().map(StoredKey::try_from).collect()
}

pub(super) async fn insert<DB: SqlDb>(pool: &Pool<DB>, key: &StoredKey) -> Result<bool> {
    let context = "storing a signing key";
    let private: &SecretBox<Vec<u8>> = &key.private_key;
    let mut tx = begin(pool, context).await?;
    let inserted = sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, state, private_key, public_key, \
         created_at, activates_at, retires_at, overlap_secs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .param(key.kid.as_str())
    .param(key.algorithm.as_str())
    .param(key.state.as_str())
    .param(private.expose_secret().as_slice())
    .param(key.public_key.as_slice())
    .param(key.created_at)
    .param(key.activates_at)
    .param(key.retires_at)
    .param(key.overlap_secs)
    .execute(DB::tx(&mut tx))
    .await
    .map(|done| done.rows_affected() == 1)
    .map_err(|e| Error::database(context, e))?;
    if inserted {
        publish(&mut tx, &Change::Keys).await?;
    }
    commit(tx, context).await?;
    Ok(inserted)
}

pub(super) async fn promote<DB: SqlDb>(
    pool: &Pool<DB>,
    current_kid: &str,
    next_kid: &str,
    now: i64,
    previous_retires_at: i64,
) -> Result<bool> {
    let context = "rotating signing keys";
    let mut tx = begin(pool, context).await?;
    // Demote first: the unique index allows one current key at a time.
    let demoted = sqlx::query(
        "UPDATE signing_keys SET state = 'previous', retires_at = $1 \
         WHERE kid = $2 AND state = 'current'",
    )
    .param(previous_retires_at)
    .param(current_kid)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .rows_affected();
    if demoted != 1 {
        // Another process rotated first (our current key is no longer
        // current); its result stands. Promoting now would meet the
        // one-current-key index as an error instead of this answer.
        rollback(tx, context).await?;
        return Ok(false);
    }
    let promoted = sqlx::query(
        "UPDATE signing_keys SET state = 'current', activates_at = $1 \
         WHERE kid = $2 AND state = 'next'",
    )
    .param(now)
    .param(next_kid)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .rows_affected();
    if promoted == 1 {
        publish(&mut tx, &Change::Keys).await?;
        commit(tx, context).await?;
        Ok(true)
    } else {
        // Another process rotated first; its result stands.
        rollback(tx, context).await?;
        Ok(false)
    }
}

pub(super) async fn retire<DB: SqlDb>(pool: &Pool<DB>, now: i64) -> Result<Vec<String>> {
    let context = "retiring signing keys";
    // The private key is wiped: a retired key can never sign again.
    let empty: &[u8] = &[];
    let mut tx = begin(pool, context).await?;
    let rows = sqlx::query(
        "UPDATE signing_keys SET state = 'retired', private_key = $1 \
         WHERE state = 'previous' AND retires_at <= $2 RETURNING kid",
    )
    .param(empty)
    .param(now)
    .fetch_all(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?;
    let retired = rows
        .iter()
        .map(|row| row.field("kid"))
        .collect::<sqlx::Result<Vec<String>>>()
        .map_err(|e| Error::database(context, e))?;
    if !retired.is_empty() {
        publish(&mut tx, &Change::Keys).await?;
    }
    commit(tx, context).await?;
    Ok(retired)
}

/// The database's clock, Unix seconds ([`crate::store::Store::db_now`]).
pub(super) async fn db_now<DB: SqlDb>(pool: &Pool<DB>) -> Result<i64> {
    let context = "reading the database's clock";
    sqlx::query(DB::SELECT_NOW)
        .fetch_one(DB::pool(pool))
        .await
        .and_then(|row| row.field("now"))
        .map_err(|e| Error::database(context, e))
}

/// Raises the stored overlap of the current and next keys to at least
/// `overlap_secs` (a signer's own need); no announcement, since nothing a
/// verifier holds changes.
pub(super) async fn record_overlap<DB: SqlDb>(pool: &Pool<DB>, overlap_secs: i64) -> Result<()> {
    sqlx::query(
        "UPDATE signing_keys SET overlap_secs = $1 \
         WHERE state IN ('current', 'next') AND (overlap_secs IS NULL OR overlap_secs < $1)",
    )
    .param(overlap_secs)
    .execute(DB::pool(pool))
    .await
    .map_err(|e| Error::database("recording the rotation overlap", e))?;
    Ok(())
}

/// Retires the key `kid` now, whatever its `retires_at`, if it is next or
/// previous; the current key is never retired here (a replacement must
/// sign first).
pub(super) async fn retire_one<DB: SqlDb>(pool: &Pool<DB>, kid: &str) -> Result<KeyRetirement> {
    let context = "retiring a signing key";
    let empty: &[u8] = &[];
    let mut tx = begin(pool, context).await?;
    let retired = sqlx::query(
        "UPDATE signing_keys SET state = 'retired', private_key = $1 \
         WHERE kid = $2 AND state IN ('next', 'previous')",
    )
    .param(empty)
    .param(kid)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .rows_affected();
    if retired == 1 {
        publish(&mut tx, &Change::Keys).await?;
        commit(tx, context).await?;
        return Ok(KeyRetirement::Retired);
    }
    let state: Option<String> = sqlx::query("SELECT state FROM signing_keys WHERE kid = $1")
        .param(kid)
        .fetch_optional(DB::tx(&mut tx))
        .await
        .map_err(|e| Error::database(context, e))?
        .map(|row| row.field("state"))
        .transpose()
        .map_err(|e| Error::database(context, e))?;
    rollback(tx, context).await?;
    Ok(match state.as_deref() {
        None => KeyRetirement::NotFound,
        Some("current") => KeyRetirement::Current,
        Some(_) => KeyRetirement::AlreadyRetired,
    })
}
