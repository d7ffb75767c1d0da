//! Sessions and their refresh tokens: the `sessions` and `refresh_tokens` tables.

use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};
use sqlx::{FromRow, Pool};

use super::users::join_roles;
use super::{Columns, Get, Params, RowsAffected, SqlDb, Tx, begin, commit, publish, rollback};
use crate::error::{Error, Result};
use crate::store::{
    Change, EndReason, LoginSnapshot, NewSession, RefreshRecord, Rotation, SESSIONS_PER_READ,
    Session,
};

/// The columns of a session row.
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, client_addr, user_agent, \
         revoked_at, revoked_reason"
    };
}

/// A `sessions` row.
struct SessionRow {
    id: String,
    user_id: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    client_addr: Option<String>,
    user_agent: Option<String>,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
}

impl<R: Columns> FromRow<'_, R> for SessionRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.field("id")?,
            user_id: row.field("user_id")?,
            created_at: row.field("created_at")?,
            last_used_at: row.field("last_used_at")?,
            expires_at: row.field("expires_at")?,
            client_addr: row.field("client_addr")?,
            user_agent: row.field("user_agent")?,
            revoked_at: row.field("revoked_at")?,
            revoked_reason: row.field("revoked_reason")?,
        })
    }
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: row.id,
            user_id: row.user_id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            client_addr: row.client_addr,
            user_agent: row.user_agent,
            ended: row.revoked_at.map(|at| {
                (
                    at,
                    EndReason::parse(row.revoked_reason.as_deref().unwrap_or_default()),
                )
            }),
        }
    }
}

/// A `refresh_tokens` row.
struct RefreshRow {
    session_id: String,
    rotated_at: Option<i64>,
    successor_sealed: Option<Vec<u8>>,
}

impl<R: Columns> FromRow<'_, R> for RefreshRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            session_id: row.field("session_id")?,
            rotated_at: row.field("rotated_at")?,
            successor_sealed: row.field("successor_sealed")?,
        })
    }
}

impl From<RefreshRow> for RefreshRecord {
    fn from(row: RefreshRow) -> Self {
        RefreshRecord {
            session_id: row.session_id,
            rotated_at: row.rotated_at,
            successor_sealed: row.successor_sealed,
        }
    }
}

pub(super) async fn start<DB: SqlDb>(
    pool: &Pool<DB>,
    session: NewSession,
    seen: &LoginSnapshot,
    rehash: Option<SecretString>,
    max_per_user: u32,
) -> Result<Option<Vec<String>>> {
    let mut tx = begin(pool, "starting a session").await?;
    // Locks the user row (PostgreSQL) and re-checks it: a password, role or
    // active change since the password check makes this login fail instead
    // of outliving it.
    let unchanged = sqlx::query(
        "UPDATE users SET last_login_at = $1, \
         password_hash = COALESCE($2, password_hash) \
         WHERE id = $3 AND active = TRUE AND password_hash = $4 AND roles = $5",
    )
    .param(session.created_at)
    .param(rehash.as_ref().map(|h| h.expose_secret().to_owned()))
    .param(session.user_id.as_str())
    .param(seen.password_hash.expose_secret().to_owned())
    .param(join_roles(&seen.roles))
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database("recording a login", e))?
    .rows_affected()
        == 1;
    if !unchanged {
        rollback(tx, "starting a session").await?;
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, \
         expires_at, client_addr, user_agent) \
         VALUES ($1, $2, $3, $3, $4, $5, $6)",
    )
    .param(session.id.as_str())
    .param(session.user_id.as_str())
    .param(session.created_at)
    .param(session.expires_at)
    .param(session.client_addr.clone())
    .param(session.user_agent.clone())
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database("starting a session", e))?;
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
         VALUES ($1, $2, $3)",
    )
    .param(session.refresh_hash.as_str())
    .param(session.id.as_str())
    .param(session.created_at)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database("storing a refresh token", e))?;

    let mut evicted = Vec::new();
    if max_per_user > 0 {
        // Session ids are time-ordered (UUIDv7): newest first. The user row
        // lock above serialises a user's logins, so concurrent logins cannot
        // overshoot the limit.
        let live = sqlx::query(
            "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 ORDER BY id DESC",
        )
        .param(session.user_id.as_str())
        .param(session.created_at)
        .fetch_all(DB::tx(&mut tx))
        .await
        .map_err(|e| Error::database("counting sessions", e))?;
        let keep = usize::try_from(max_per_user).unwrap_or(usize::MAX);
        for row in live.iter().skip(keep) {
            let id: String = row
                .field("id")
                .map_err(|e| Error::database("counting sessions", e))?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
                 WHERE id = $3",
            )
            .param(session.created_at)
            .param(EndReason::Evicted.as_str())
            .param(id.as_str())
            .execute(DB::tx(&mut tx))
            .await
            .map_err(|e| Error::database("evicting a session", e))?;
            publish(&mut tx, &Change::Session(id.clone())).await?;
            evicted.push(id);
        }
    }
    commit(tx, "starting a session").await?;
    Ok(Some(evicted))
}

pub(super) async fn by_id<DB: SqlDb>(pool: &Pool<DB>, id: &str) -> Result<Option<Session>> {
    sqlx::query_as::<DB, SessionRow>(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE id = $1"
    ))
    .param(id)
    .fetch_optional(DB::pool(pool))
    .await
    .map(|row| row.map(Session::from))
    .map_err(|e| Error::database("reading a session", e))
}

/// `ids`, [`SESSIONS_PER_READ`] at a time, each read with one statement
/// whose list is padded with its last id: one statement text (one prepared
/// statement per connection) on both databases, whatever the count.
pub(super) async fn by_ids<DB: SqlDb>(pool: &Pool<DB>, ids: &[String]) -> Result<Vec<Session>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let list: Vec<String> = (1..=SESSIONS_PER_READ).map(|i| format!("${i}")).collect();
        let columns = session_columns!();
        format!(
            "SELECT {columns} FROM sessions WHERE id IN ({})",
            list.join(", ")
        )
    });
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(SESSIONS_PER_READ) {
        let mut query = sqlx::query_as::<DB, SessionRow>(SQL.as_str());
        for i in 0..SESSIONS_PER_READ {
            query = query.param(chunk[i.min(chunk.len() - 1)].as_str());
        }
        let rows = query.fetch_all(DB::pool(pool)).await;
        let rows = rows.map_err(|e| Error::database("reading sessions", e))?;
        out.extend(rows.into_iter().map(Session::from));
    }
    Ok(out)
}

pub(super) async fn live<DB: SqlDb>(
    pool: &Pool<DB>,
    user_id: &str,
    now: i64,
) -> Result<Vec<Session>> {
    sqlx::query_as::<DB, SessionRow>(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2 ORDER BY id"
    ))
    .param(user_id)
    .param(now)
    .fetch_all(DB::pool(pool))
    .await
    .map(|rows| rows.into_iter().map(Session::from).collect())
    .map_err(|e| Error::database("listing sessions", e))
}

/// Sessions that ended at or after `since` (of `user_id` only, if given).
pub(super) async fn ended_since<DB: SqlDb>(
    pool: &Pool<DB>,
    since: i64,
    user_id: Option<&str>,
) -> Result<Vec<Session>> {
    let rows = match user_id {
        None => {
            sqlx::query_as::<DB, SessionRow>(concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at >= $1 ORDER BY id"
            ))
            .param(since)
            .fetch_all(DB::pool(pool))
            .await
        }
        Some(user_id) => {
            sqlx::query_as::<DB, SessionRow>(concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL \
                 AND revoked_at >= $2 ORDER BY id"
            ))
            .param(user_id)
            .param(since)
            .fetch_all(DB::pool(pool))
            .await
        }
    };
    rows.map(|rows| rows.into_iter().map(Session::from).collect())
        .map_err(|e| Error::database("listing ended sessions", e))
}

pub(super) async fn refresh_token<DB: SqlDb>(
    pool: &Pool<DB>,
    hash: &str,
) -> Result<Option<RefreshRecord>> {
    sqlx::query_as::<DB, RefreshRow>(
        "SELECT session_id, rotated_at, successor_sealed FROM refresh_tokens \
         WHERE token_hash = $1",
    )
    .param(hash)
    .fetch_optional(DB::pool(pool))
    .await
    .map(|row| row.map(RefreshRecord::from))
    .map_err(|e| Error::database("reading a refresh token", e))
}

pub(super) async fn rotate_refresh_token<DB: SqlDb>(
    pool: &Pool<DB>,
    old_hash: &str,
    new_hash: &str,
    sealed_successor: &[u8],
    now: i64,
) -> Result<Rotation> {
    let context = "rotating a refresh token";
    let mut tx = begin(pool, context).await?;
    // First the session: locks its row and checks it is live, so a logout
    // committing meanwhile either waits for this rotation (and then ends the
    // session) or wins outright.
    let live = sqlx::query(
        "UPDATE sessions SET last_used_at = $1 WHERE id = \
         (SELECT session_id FROM refresh_tokens WHERE token_hash = $2) \
         AND revoked_at IS NULL AND expires_at > $1",
    )
    .param(now)
    .param(old_hash)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .rows_affected()
        == 1;
    if !live {
        rollback(tx, context).await?;
        return Ok(Rotation::SessionEnded);
    }
    // Only one caller can move a token from live to rotated.
    let won = sqlx::query(
        "UPDATE refresh_tokens SET rotated_at = $1, successor_sealed = $2 \
         WHERE token_hash = $3 AND rotated_at IS NULL",
    )
    .param(now)
    .param(sealed_successor)
    .param(old_hash)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .rows_affected()
        == 1;
    if !won {
        rollback(tx, context).await?;
        return Ok(Rotation::AlreadyRotated);
    }
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
         SELECT $1, session_id, $2 FROM refresh_tokens WHERE token_hash = $3",
    )
    .param(new_hash)
    .param(now)
    .param(old_hash)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database("storing a refresh token", e))?;
    commit(tx, context).await?;
    Ok(Rotation::Rotated)
}

pub(super) async fn end<DB: SqlDb>(
    pool: &Pool<DB>,
    id: &str,
    reason: EndReason,
    now: i64,
) -> Result<bool> {
    let context = "ending a session";
    let mut tx = begin(pool, context).await?;
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE id = $3 AND revoked_at IS NULL",
    )
    .param(now)
    .param(reason.as_str())
    .param(id)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .rows_affected()
        == 1;
    if ended {
        publish(&mut tx, &Change::Session(id.to_owned())).await?;
    }
    commit(tx, context).await?;
    Ok(ended)
}

/// Ends the live sessions of `user_id` inside `tx` and announces it.
pub(super) async fn end_all_in<DB: SqlDb>(
    tx: &mut Tx<DB>,
    user_id: &str,
    reason: EndReason,
    now: i64,
) -> Result<u64> {
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE user_id = $3 AND revoked_at IS NULL",
    )
    .param(now)
    .param(reason.as_str())
    .param(user_id)
    .execute(DB::tx(tx))
    .await
    .map_err(|e| Error::database("ending sessions", e))?
    .rows_affected();
    publish(tx, &Change::UserSessions(user_id.to_owned())).await?;
    Ok(ended)
}

/// Ends every live session of a user but `keep`, announcing it in `tx`.
pub(super) async fn end_others_in<DB: SqlDb>(
    tx: &mut Tx<DB>,
    user_id: &str,
    keep: &str,
    reason: EndReason,
    now: i64,
) -> Result<u64> {
    let ended = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE user_id = $3 AND id <> $4 AND revoked_at IS NULL",
    )
    .param(now)
    .param(reason.as_str())
    .param(user_id)
    .param(keep)
    .execute(DB::tx(tx))
    .await
    .map_err(|e| Error::database("ending sessions", e))?
    .rows_affected();
    publish(tx, &Change::UserSessions(user_id.to_owned())).await?;
    Ok(ended)
}

pub(super) async fn end_all<DB: SqlDb>(
    pool: &Pool<DB>,
    user_id: &str,
    reason: EndReason,
    now: i64,
) -> Result<u64> {
    let mut tx = begin(pool, "ending sessions").await?;
    let ended = end_all_in(&mut tx, user_id, reason, now).await?;
    commit(tx, "ending sessions").await?;
    Ok(ended)
}

pub(super) async fn purge<DB: SqlDb>(pool: &Pool<DB>, now: i64, ended_before: i64) -> Result<u64> {
    sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1 \
         OR (revoked_at IS NOT NULL AND revoked_at <= $2)",
    )
    .param(now)
    .param(ended_before)
    .execute(DB::pool(pool))
    .await
    .map(|done| done.rows_affected())
    .map_err(|e| Error::database("purging sessions", e))
}
