//! Accounts: the `users` table.

use secrecy::{ExposeSecret, SecretString};
use sqlx::{FromRow, Pool};

use super::{
    Columns, Params, RowsAffected, SqlDb, Statement, Tx, begin, commit, publish, revocations,
    rollback, sessions,
};
use crate::error::{Error, Result};
use crate::store::{
    Change, Credentials, DeletedKind, EndReason, ImportedUser, NewUser, UserFilter,
};
use crate::user::{User, email_key, login_key, username_key};

/// The columns of a user row, for SELECT lists (a macro so it can be `concat!`ed).
macro_rules! user_columns {
    () => {
        "id, username, email, active, roles, created_at, last_login_at, external_id"
    };
}

/// A row of the `users` table.
struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    active: bool,
    roles: String,
    created_at: i64,
    last_login_at: Option<i64>,
    external_id: Option<String>,
}

impl<R: Columns> FromRow<'_, R> for UserRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.field("id")?,
            username: row.field("username")?,
            email: row.field("email")?,
            active: row.field("active")?,
            roles: row.field("roles")?,
            created_at: row.field("created_at")?,
            last_login_at: row.field("last_login_at")?,
            external_id: row.field("external_id")?,
        })
    }
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            email: row.email,
            active: row.active,
            roles: split_roles(&row.roles),
            created_at: row.created_at,
            last_login_at: row.last_login_at,
            external_id: row.external_id,
        }
    }
}

/// A `users` row with its password hash.
struct CredentialsRow {
    user: UserRow,
    password_hash: String,
}

impl<R: Columns> FromRow<'_, R> for CredentialsRow {
    fn from_row(row: &R) -> sqlx::Result<Self> {
        Ok(Self {
            user: UserRow::from_row(row)?,
            password_hash: row.field("password_hash")?,
        })
    }
}

impl From<CredentialsRow> for Credentials {
    fn from(row: CredentialsRow) -> Self {
        Credentials {
            user: row.user.into(),
            password_hash: SecretString::from(row.password_hash),
        }
    }
}

/// Roles are stored as one space-separated column (role names contain no spaces).
pub(super) fn join_roles(roles: &[String]) -> String {
    roles.join(" ")
}

fn split_roles(roles: &str) -> Vec<String> {
    roles.split_whitespace().map(str::to_owned).collect()
}

/// Maps an insert/update error, turning unique violations into
/// [`Error::AlreadyExists`] with a message naming the taken field.
fn write_error(context: &'static str, err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        let what = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
        return if what.contains("external_id") {
            Error::AlreadyExists("a user with this external id already exists".to_owned())
        } else if what.contains("email") {
            Error::AlreadyExists("a user with this email already exists".to_owned())
        } else {
            Error::AlreadyExists(
                "a user with this username already exists (usernames ignore case)".to_owned(),
            )
        };
    }
    Error::database(context, err)
}

/// The error for a write by username that matched no row.
fn no_such_user(username: &str) -> Error {
    Error::NotFound(format!("no user named {username:?}"))
}

pub(super) async fn create<DB: SqlDb>(pool: &Pool<DB>, user: NewUser) -> Result<User> {
    sqlx::query_as::<DB, UserRow>(concat!(
        "INSERT INTO users (id, username, username_key, email, email_key, \
         password_hash, active, roles, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $8, $8) RETURNING ",
        user_columns!()
    ))
    .param(user.id.as_str())
    .param(user.username.as_str())
    .param(username_key(&user.username))
    .param(user.email.clone())
    .param(user.email.as_deref().map(email_key))
    .param(user.password_hash.expose_secret())
    .param(join_roles(&user.roles))
    .param(user.created_at)
    .fetch_one(DB::pool(pool))
    .await
    .map(User::from)
    .map_err(|e| write_error("creating a user", e))
}

pub(super) async fn credentials<DB: SqlDb>(
    pool: &Pool<DB>,
    login: &str,
) -> Result<Option<Credentials>> {
    sqlx::query_as::<DB, CredentialsRow>(concat!(
        "SELECT password_hash, ",
        user_columns!(),
        " FROM users WHERE username_key = $1 OR email_key = $1 LIMIT 1"
    ))
    .param(login_key(login))
    .fetch_optional(DB::pool(pool))
    .await
    .map(|row| row.map(Credentials::from))
    .map_err(|e| Error::database("looking up credentials", e))
}

pub(super) async fn credentials_by_external_id<DB: SqlDb>(
    pool: &Pool<DB>,
    external_id: &str,
) -> Result<Option<Credentials>> {
    sqlx::query_as::<DB, CredentialsRow>(concat!(
        "SELECT password_hash, ",
        user_columns!(),
        " FROM users WHERE external_id = $1"
    ))
    .param(external_id)
    .fetch_optional(DB::pool(pool))
    .await
    .map(|row| row.map(Credentials::from))
    .map_err(|e| Error::database("looking up an imported user", e))
}

pub(super) async fn create_imported<DB: SqlDb>(
    pool: &Pool<DB>,
    id: &str,
    user: &ImportedUser,
    password_hash: &SecretString,
) -> Result<User> {
    let context = "importing a user";
    let mut tx = begin(pool, context).await?;
    let created = sqlx::query_as::<DB, UserRow>(concat!(
        "INSERT INTO users (id, username, username_key, email, email_key, password_hash, \
         active, roles, created_at, updated_at, last_login_at, external_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11) RETURNING ",
        user_columns!()
    ))
    .param(id)
    .param(user.username.as_str())
    .param(username_key(&user.username))
    .param(user.email.clone())
    .param(user.email.as_deref().map(email_key))
    .param(password_hash.expose_secret())
    .param(user.active)
    .param(join_roles(&user.roles))
    .param(user.created_at)
    .param(user.last_login_at)
    .param(user.external_id.as_str())
    .fetch_one(DB::tx(&mut tx))
    .await
    .map(User::from)
    .map_err(|e| write_error(context, e))?;
    publish(&mut tx, &Change::User(created.id.clone())).await?;
    commit(tx, context).await?;
    Ok(created)
}

pub(super) async fn update_imported<DB: SqlDb>(
    pool: &Pool<DB>,
    id: &str,
    user: &ImportedUser,
    password_hash: Option<&SecretString>,
    end: Option<EndReason>,
    now: i64,
) -> Result<User> {
    let context = "updating an imported user";
    let mut tx = begin(pool, context).await?;
    // The external id is the match key and stays; a missing hash keeps
    // the stored one (COALESCE), so the row is written in one statement.
    let updated = sqlx::query_as::<DB, UserRow>(concat!(
        "UPDATE users SET username = $1, username_key = $2, email = $3, email_key = $4, \
         active = $5, roles = $6, created_at = $7, last_login_at = $8, \
         password_hash = COALESCE($9, password_hash), updated_at = $10 \
         WHERE id = $11 RETURNING ",
        user_columns!()
    ))
    .param(user.username.as_str())
    .param(username_key(&user.username))
    .param(user.email.clone())
    .param(user.email.as_deref().map(email_key))
    .param(user.active)
    .param(join_roles(&user.roles))
    .param(user.created_at)
    .param(user.last_login_at)
    .param(password_hash.map(|h| h.expose_secret().to_owned()))
    .param(now)
    .param(id)
    .fetch_optional(DB::tx(&mut tx))
    .await
    .map_err(|e| write_error(context, e))?
    .map(User::from)
    .ok_or_else(|| Error::NotFound("no such user".to_owned()))?;
    publish(&mut tx, &Change::User(updated.id.clone())).await?;
    if let Some(reason) = end {
        sessions::end_all_in(&mut tx, &updated.id, reason, now).await?;
    }
    commit(tx, context).await?;
    Ok(updated)
}

pub(super) async fn by_id<DB: SqlDb>(pool: &Pool<DB>, id: &str) -> Result<Option<User>> {
    sqlx::query_as::<DB, UserRow>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = $1"
    ))
    .param(id)
    .fetch_optional(DB::pool(pool))
    .await
    .map(|row| row.map(User::from))
    .map_err(|e| Error::database("reading a user", e))
}

pub(super) async fn by_username<DB: SqlDb>(
    pool: &Pool<DB>,
    username: &str,
) -> Result<Option<User>> {
    sqlx::query_as::<DB, UserRow>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE username_key = $1"
    ))
    .param(username_key(username))
    .fetch_optional(DB::pool(pool))
    .await
    .map(|row| row.map(User::from))
    .map_err(|e| Error::database("reading a user", e))
}

pub(super) async fn list<DB: SqlDb>(pool: &Pool<DB>) -> Result<Vec<User>> {
    sqlx::query_as::<DB, UserRow>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users ORDER BY username_key"
    ))
    .fetch_all(DB::pool(pool))
    .await
    .map(|rows| rows.into_iter().map(User::from).collect())
    .map_err(|e| Error::database("listing users", e))
}

/// Runs `query`, an update of one user by username returning the row,
/// inside `tx`, then announces the change.
async fn update_in<DB: SqlDb>(
    tx: &mut Tx<DB>,
    query: sqlx::query::QueryAs<'_, DB, UserRow, DB::Arguments>,
    username: &str,
    context: &'static str,
) -> Result<User> {
    let user = query
        .fetch_optional(DB::tx(tx))
        .await
        .map_err(|e| write_error(context, e))?
        .map(User::from)
        .ok_or_else(|| no_such_user(username))?;
    publish(tx, &Change::User(user.id.clone())).await?;
    Ok(user)
}

pub(super) async fn set_active<DB: SqlDb>(
    pool: &Pool<DB>,
    username: &str,
    active: bool,
    now: i64,
) -> Result<User> {
    let context = "changing a user";
    let mut tx = begin(pool, context).await?;
    let query = sqlx::query_as::<DB, UserRow>(concat!(
        "UPDATE users SET active = $1, updated_at = $2 WHERE username_key = $3 \
         RETURNING ",
        user_columns!()
    ))
    .param(active)
    .param(now)
    .param(username_key(username));
    let user = update_in(&mut tx, query, username, context).await?;
    if !active {
        sessions::end_all_in(&mut tx, &user.id, EndReason::UserDisabled, now).await?;
    }
    commit(tx, context).await?;
    Ok(user)
}

pub(super) async fn set_password_hash<DB: SqlDb>(
    pool: &Pool<DB>,
    username: &str,
    hash: SecretString,
    now: i64,
) -> Result<User> {
    let context = "changing a password";
    let mut tx = begin(pool, context).await?;
    let query = sqlx::query_as::<DB, UserRow>(concat!(
        "UPDATE users SET password_hash = $1, updated_at = $2 \
         WHERE username_key = $3 RETURNING ",
        user_columns!()
    ))
    .param(hash.expose_secret().to_owned())
    .param(now)
    .param(username_key(username));
    let user = update_in(&mut tx, query, username, context).await?;
    sessions::end_all_in(&mut tx, &user.id, EndReason::PasswordChanged, now).await?;
    commit(tx, context).await?;
    Ok(user)
}

pub(super) async fn change_password<DB: SqlDb>(
    pool: &Pool<DB>,
    user_id: &str,
    expected: &SecretString,
    hash: SecretString,
    keep_session: &str,
    now: i64,
) -> Result<Option<u64>> {
    let context = "changing a password";
    let mut tx = begin(pool, context).await?;
    // Guarded by the hash the current password was checked against, so a
    // change racing another change (or an admin's reset) cannot undo it.
    let changed = sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 \
         WHERE id = $3 AND password_hash = $4 AND active",
    )
    .param(hash.expose_secret().to_owned())
    .param(now)
    .param(user_id)
    .param(expected.expose_secret().to_owned())
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| write_error(context, e))?
    .rows_affected();
    if changed == 0 {
        rollback(tx, context).await?;
        return Ok(None);
    }
    publish(&mut tx, &Change::User(user_id.to_owned())).await?;
    let ended = sessions::end_others_in(
        &mut tx,
        user_id,
        keep_session,
        EndReason::PasswordChanged,
        now,
    )
    .await?;
    commit(tx, context).await?;
    Ok(Some(ended))
}

pub(super) async fn set_roles<DB: SqlDb>(
    pool: &Pool<DB>,
    username: &str,
    roles: &[String],
    now: i64,
) -> Result<User> {
    let context = "changing roles";
    let mut tx = begin(pool, context).await?;
    let query = sqlx::query_as::<DB, UserRow>(concat!(
        "UPDATE users SET roles = $1, updated_at = $2 WHERE username_key = $3 \
         RETURNING ",
        user_columns!()
    ))
    .param(join_roles(roles))
    .param(now)
    .param(username_key(username));
    let user = update_in(&mut tx, query, username, context).await?;
    sessions::end_all_in(&mut tx, &user.id, EndReason::RolesChanged, now).await?;
    commit(tx, context).await?;
    Ok(user)
}

pub(super) async fn delete<DB: SqlDb>(pool: &Pool<DB>, username: &str) -> Result<User> {
    let context = "deleting a user";
    let mut tx = begin(pool, context).await?;
    let query = sqlx::query_as::<DB, UserRow>(concat!(
        "DELETE FROM users WHERE username_key = $1 RETURNING ",
        user_columns!()
    ))
    .param(username_key(username));
    let user = update_in(&mut tx, query, username, context).await?;
    // Sessions went with the user (ON DELETE CASCADE); the tombstone keeps
    // the deletion for the revocation stream's snapshot.
    revocations::tombstone(&mut tx, DeletedKind::User, &user.id).await?;
    publish(&mut tx, &Change::UserSessions(user.id.clone())).await?;
    commit(tx, context).await?;
    Ok(user)
}

/// `text` as a literal inside a `LIKE ... ESCAPE '\'` pattern: its `%`,
/// `_` and `\` match only themselves.
pub(super) fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether a `users` row (aliased or not, by `roles`) holds `admin`, as SQL.
macro_rules! is_active_admin {
    ($t:literal) => {
        concat!(
            $t,
            "active = TRUE AND (' ' || ",
            $t,
            "roles || ' ') LIKE '% admin %'"
        )
    };
}

pub(super) async fn list_page<DB: SqlDb>(
    pool: &Pool<DB>,
    filter: &UserFilter,
    after_id: Option<&str>,
    limit: u32,
) -> Result<Vec<User>> {
    // One statement, built from the filters that are set, so the planner
    // sees only real predicates; every value is a bound parameter. Keyset
    // pagination on the primary key: `id > last ORDER BY id LIMIT n`.
    let prefix = filter.prefix.as_deref().map(|p| {
        (
            format!("{}%", escape_like(&username_key(p))),
            format!("{}%", escape_like(&email_key(p))),
        )
    });
    let role = filter
        .role
        .as_deref()
        .map(|r| format!("% {} %", escape_like(r)));
    let mut sql = Statement::new(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE TRUE"
    ));
    if after_id.is_some() {
        sql.push(" AND id > ?");
    }
    if prefix.is_some() {
        sql.push(" AND (username_key LIKE ? ESCAPE '\\' OR email_key LIKE ? ESCAPE '\\')");
    }
    if role.is_some() {
        sql.push(" AND (' ' || roles || ' ') LIKE ? ESCAPE '\\'");
    }
    if filter.active.is_some() {
        sql.push(" AND active = ?");
    }
    sql.push(" ORDER BY id LIMIT ?");

    let mut query = sqlx::query_as::<DB, UserRow>(sql.sql());
    if let Some(after) = after_id {
        query = query.param(after);
    }
    if let Some((by_username, by_email)) = prefix {
        query = query.param(by_username).param(by_email);
    }
    if let Some(role) = role {
        query = query.param(role);
    }
    if let Some(active) = filter.active {
        query = query.param(active);
    }
    query
        .param(i64::from(limit))
        .fetch_all(DB::pool(pool))
        .await
        .map(|rows| rows.into_iter().map(User::from).collect())
        .map_err(|e| Error::database("listing users", e))
}

pub(super) async fn set_email<DB: SqlDb>(
    pool: &Pool<DB>,
    id: &str,
    email: Option<&str>,
    now: i64,
) -> Result<User> {
    let context = "changing an email";
    let mut tx = begin(pool, context).await?;
    let user = sqlx::query_as::<DB, UserRow>(concat!(
        "UPDATE users SET email = $1, email_key = $2, updated_at = $3 WHERE id = $4 \
         RETURNING ",
        user_columns!()
    ))
    .param(email.map(str::to_owned))
    .param(email.map(email_key))
    .param(now)
    .param(id)
    .fetch_optional(DB::tx(&mut tx))
    .await
    .map_err(|e| write_error(context, e))?
    .map(User::from)
    .ok_or_else(|| Error::NotFound("no such user".to_owned()))?;
    publish(&mut tx, &Change::User(user.id.clone())).await?;
    commit(tx, context).await?;
    Ok(user)
}

pub(super) async fn delete_unless_last_admin<DB: SqlDb>(pool: &Pool<DB>, id: &str) -> Result<User> {
    let context = "deleting a user";
    let mut tx = begin(pool, context).await?;
    // First, a no-op write to every active admin's row: it takes their row
    // locks (PostgreSQL) or the database's write lock (SQLite), so of two
    // transactions deleting admins at once the second waits here for the
    // first to commit, and its next statement (a fresh snapshot under READ
    // COMMITTED) sees that delete. Without it, each could see the other
    // admin still present and both delete: no admin left.
    sqlx::query(concat!(
        "UPDATE users SET updated_at = updated_at WHERE ",
        is_active_admin!("")
    ))
    .execute(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?;
    let deleted = sqlx::query_as::<DB, UserRow>(concat!(
        "DELETE FROM users WHERE id = $1 AND NOT (",
        is_active_admin!(""),
        " AND NOT EXISTS (SELECT 1 FROM users o WHERE o.id <> $1 AND ",
        is_active_admin!("o."),
        ")) RETURNING ",
        user_columns!()
    ))
    .param(id)
    .fetch_optional(DB::tx(&mut tx))
    .await
    .map_err(|e| Error::database(context, e))?
    .map(User::from);
    let Some(user) = deleted else {
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
            .param(id)
            .fetch_optional(DB::tx(&mut tx))
            .await
            .map_err(|e| Error::database(context, e))?
            .is_some();
        rollback(tx, context).await?;
        return Err(if exists {
            Error::FailedPrecondition(
                "this is the last active user with the `admin` role: give the role to \
                 another user first, so authd can still be administered"
                    .to_owned(),
            )
        } else {
            Error::NotFound("no such user".to_owned())
        });
    };
    publish(&mut tx, &Change::User(user.id.clone())).await?;
    // Sessions went with the user (ON DELETE CASCADE); the tombstone keeps
    // the deletion for the revocation stream's snapshot.
    revocations::tombstone(&mut tx, DeletedKind::User, &user.id).await?;
    publish(&mut tx, &Change::UserSessions(user.id.clone())).await?;
    commit(tx, context).await?;
    Ok(user)
}
