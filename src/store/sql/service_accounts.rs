//! Service accounts: the `service_accounts` table and its client secrets
//! (`service_account_secrets`, hashes only).

use sqlx::{FromRow, Pool};

use super::users::join_roles;
use super::{Columns, Params, SqlDb, begin, commit, publish, revocations};
use crate::error::{Error, Result};
use crate::store::{
    Change, DeletedKind, NewServiceAccount, SecretRecord, ServiceAccount, ServiceAccountCredentials,
};

/// The columns of a service-account row, for SELECT lists.
macro_rules! account_columns {
    () => {
        "id, name, description, roles, client_id, created_at, last_used_at"
    };
}

/// A row of the `service_accounts` table.
struct AccountRow {
    id: String,
    name: String,
    description: String,
    roles: String,
    client_id: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl<R: Columns> FromRow<'_, R> for AccountRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.field("id")?,
            name: row.field("name")?,
            description: row.field("description")?,
            roles: row.field("roles")?,
            client_id: row.field("client_id")?,
            created_at: row.field("created_at")?,
            last_used_at: row.field("last_used_at")?,
        })
    }
}

impl From<AccountRow> for ServiceAccount {
    fn from(row: AccountRow) -> Self {
        ServiceAccount {
            id: row.id,
            name: row.name,
            description: row.description,
            roles: row.roles.split_whitespace().map(str::to_owned).collect(),
            client_id: row.client_id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// The case-insensitive uniqueness key of a service-account name.
fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Maps an insert error, turning unique violations into [`Error::AlreadyExists`].
fn write_error(context: &'static str, err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        let what = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
        return if what.contains("client_id") {
            Error::AlreadyExists("a service account with this client id already exists".to_owned())
        } else {
            Error::AlreadyExists(
                "a service account with this name already exists (names ignore case)".to_owned(),
            )
        };
    }
    Error::database(context, err)
}

fn no_such_account() -> Error {
    Error::NotFound("no such service account".to_owned())
}

pub(super) async fn create<DB: SqlDb>(
    pool: &Pool<DB>,
    account: &NewServiceAccount,
    secret_hash: &str,
) -> Result<ServiceAccount> {
    let context = "creating a service account";
    let mut tx = begin(pool, context).await?;
    let created = sqlx::query_as::<DB, AccountRow>(concat!(
        "INSERT INTO service_accounts (id, name, name_key, description, roles, client_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        account_columns!()
    ))
    .param(account.id.as_str())
    .param(account.name.as_str())
    .param(name_key(&account.name))
    .param(account.description.as_str())
    .param(join_roles(&account.roles))
    .param(account.client_id.as_str())
    .param(account.created_at)
    .fetch_one(DB::tx(&mut tx))
    .await
    .map_err(|e| write_error(context, e))?;
    insert_secret::<DB>(&mut tx, &account.id, secret_hash, account.created_at).await?;
    commit(tx, context).await?;
    Ok(created.into())
}

async fn insert_secret<DB: SqlDb>(
    tx: &mut super::Tx<DB>,
    account_id: &str,
    secret_hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_account_secrets (secret_hash, account_id, created_at) \
         VALUES ($1, $2, $3)",
    )
    .param(secret_hash)
    .param(account_id)
    .param(now)
    .execute(DB::tx(tx))
    .await
    .map(drop)
    .map_err(|e| write_error("storing a client secret", e))
}

pub(super) async fn by_id<DB: SqlDb>(pool: &Pool<DB>, id: &str) -> Result<Option<ServiceAccount>> {
    sqlx::query_as::<DB, AccountRow>(concat!(
        "SELECT ",
        account_columns!(),
        " FROM service_accounts WHERE id = $1"
    ))
    .param(id)
    .fetch_optional(DB::pool(pool))
    .await
    .map(|row| row.map(ServiceAccount::from))
    .map_err(|e| Error::database("reading a service account", e))
}

/// An account row joined with one of its secrets (none: `NULL`s).
struct CredentialsRow {
    account: AccountRow,
    secret_hash: Option<String>,
    secret_created_at: Option<i64>,
    expires_at: Option<i64>,
}

impl<R: Columns> FromRow<'_, R> for CredentialsRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            account: AccountRow::from_row(row)?,
            secret_hash: row.field("secret_hash")?,
            secret_created_at: row.field("secret_created_at")?,
            expires_at: row.field("expires_at")?,
        })
    }
}

pub(super) async fn credentials<DB: SqlDb>(
    pool: &Pool<DB>,
    client_id: &str,
) -> Result<Option<ServiceAccountCredentials>> {
    // One round trip whether or not the client id exists, so the two take
    // about the same time.
    let rows = sqlx::query_as::<DB, CredentialsRow>(
        "SELECT a.id, a.name, a.description, a.roles, a.client_id, a.created_at, \
                a.last_used_at, s.secret_hash, s.created_at AS secret_created_at, s.expires_at \
         FROM service_accounts a \
         LEFT JOIN service_account_secrets s ON s.account_id = a.id \
         WHERE a.client_id = $1 ORDER BY s.created_at DESC, s.secret_hash",
    )
    .param(client_id)
    .fetch_all(DB::pool(pool))
    .await
    .map_err(|e| Error::database("looking up client credentials", e))?;
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let secret = |row: &CredentialsRow| {
        Some(SecretRecord {
            hash: row.secret_hash.clone()?,
            created_at: row.secret_created_at?,
            expires_at: row.expires_at,
        })
    };
    let mut secrets: Vec<SecretRecord> = secret(&first).into_iter().collect();
    secrets.extend(rows.filter_map(|row| secret(&row)));
    Ok(Some(ServiceAccountCredentials {
        account: first.account.into(),
        secrets,
    }))
}

pub(super) async fn list<DB: SqlDb>(
    pool: &Pool<DB>,
    after_id: Option<&str>,
    limit: u32,
) -> Result<Vec<ServiceAccount>> {
    let query = match after_id {
        Some(after) => sqlx::query_as::<DB, AccountRow>(concat!(
            "SELECT ",
            account_columns!(),
            " FROM service_accounts WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .param(after),
        None => sqlx::query_as::<DB, AccountRow>(concat!(
            "SELECT ",
            account_columns!(),
            " FROM service_accounts ORDER BY id LIMIT $1"
        )),
    };
    query
        .param(i64::from(limit))
        .fetch_all(DB::pool(pool))
        .await
        .map(|rows| rows.into_iter().map(ServiceAccount::from).collect())
        .map_err(|e| Error::database("listing service accounts", e))
}

pub(super) async fn rotate_secret<DB: SqlDb>(
    pool: &Pool<DB>,
    id: &str,
    new_hash: &str,
    now: i64,
    previous_expires_at: i64,
) -> Result<ServiceAccount> {
    let context = "rotating a client secret";
    let mut tx = begin(pool, context).await?;
    // A no-op update: it locks the account's row (PostgreSQL) so concurrent
    // rotations take turns, and says whether the account exists.
    let account = sqlx::query_as::<DB, AccountRow>(concat!(
        "UPDATE service_accounts SET name = name WHERE id = $1 RETURNING ",
        account_columns!()
    ))
    .param(id)
    .fetch_optional(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .ok_or_else(no_such_account)?;
    sqlx::query(
        "UPDATE service_account_secrets SET expires_at = $1 \
         WHERE account_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
    )
    .param(previous_expires_at)
    .param(id)
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?;
    sqlx::query("DELETE FROM service_account_secrets WHERE account_id = $1 AND expires_at <= $2")
        .param(id)
        .param(now)
        .execute(DB::tx(&mut tx))
        .await
        .map_err(|e| Error::database(context, e))?;
    insert_secret::<DB>(&mut tx, id, new_hash, now).await?;
    // Announced so the revocation stream reports the rotation (the cached
    // account itself is unchanged by it).
    publish(&mut tx, &Change::ServiceAccount(id.to_owned())).await?;
    commit(tx, context).await?;
    Ok(account.into())
}

pub(super) async fn touch<DB: SqlDb>(pool: &Pool<DB>, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE service_accounts SET last_used_at = $1 WHERE id = $2")
        .param(now)
        .param(id)
        .execute(DB::pool(pool))
        .await
        .map(drop)
        .map_err(|e| Error::database("recording a service account's use", e))
}

pub(super) async fn delete<DB: SqlDb>(pool: &Pool<DB>, id: &str) -> Result<ServiceAccount> {
    let context = "deleting a service account";
    let mut tx = begin(pool, context).await?;
    let account = sqlx::query_as::<DB, AccountRow>(concat!(
        "DELETE FROM service_accounts WHERE id = $1 RETURNING ",
        account_columns!()
    ))
    .param(id)
    .fetch_optional(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .ok_or_else(no_such_account)?;
    // Its secrets went with it (ON DELETE CASCADE); its tokens go with the
    // announcement, and the tombstone keeps the deletion for the revocation
    // stream's snapshot.
    revocations::tombstone(&mut tx, DeletedKind::ServiceAccount, &account.id).await?;
    publish(&mut tx, &Change::ServiceAccount(account.id.clone())).await?;
    commit(tx, context).await?;
    Ok(account.into())
}

pub(super) async fn admin_principals_except<DB: SqlDb>(
    pool: &Pool<DB>,
    except_id: &str,
) -> Result<u64> {
    // Roles are one space-separated column: pad it so `admin` matches as a
    // whole word only.
    let Count(count) = sqlx::query_as::<DB, Count>(
        "SELECT (SELECT COUNT(*) FROM users WHERE active \
                 AND (' ' || roles || ' ') LIKE '% admin %') \
              + (SELECT COUNT(*) FROM service_accounts WHERE id <> $1 \
                 AND (' ' || roles || ' ') LIKE '% admin %') AS n",
    )
    .param(except_id)
    .fetch_one(DB::pool(pool))
    .await
    .map_err(|e| Error::database("counting administrators", e))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// A single `n` column.
struct Count(i64);

impl<R: Columns> FromRow<'_, R> for Count {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self(row.field("n")?))
    }
}
