//! Reads a Django database directly (PostgreSQL or SQLite), with a pool of
//! its own, read only: the user table (`auth_user`, or a custom user
//! model's with the same columns), `auth_group`, and the user–group table
//! Django makes for the model (`<user table>_groups`).
//!
//! The statements turn every column into text or an integer in SQL (the
//! primary key as text, so an integer and a UUID key read alike; booleans
//! as 0/1; timestamps as Unix seconds, by each database's own date
//! functions), so one decoder reads both databases' rows; a row whose
//! value does not decode is a skipped row, never the end of the import.

use std::collections::HashMap;
use std::str::FromStr as _;

use secrecy::SecretString;
use sqlx::{ColumnIndex, Database, Decode, Pool, Row, Type};

use super::{SourceRow, quoted};
use crate::error::{Error, Result};
use crate::service::DjangoUser;
use crate::store::redact_url;

/// The user columns, each as text or an integer; `{epoch}` is the
/// database's "timestamp to Unix seconds" of the column named inside.
const USER_COLUMNS: &str = "CAST(id AS TEXT) AS pk, username, email, password, \
     CAST(CASE WHEN is_active THEN 1 ELSE 0 END AS BIGINT) AS is_active, \
     CAST(CASE WHEN is_superuser THEN 1 ELSE 0 END AS BIGINT) AS is_superuser, \
     CAST(CASE WHEN is_staff THEN 1 ELSE 0 END AS BIGINT) AS is_staff";

/// Reads every user of the Django database at `url`, with their groups.
///
/// # Errors
/// [`Error::InvalidArgument`] (field `django-database`): a URL that is
/// neither PostgreSQL nor SQLite, a database that cannot be opened, or
/// missing tables, each said with the (redacted) URL.
pub(super) async fn read(url: &str, user_table: &str) -> Result<Vec<SourceRow>> {
    check_table_name(user_table)?;
    let shown = redact_url(url);
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::invalid(
            "django-database",
            format!("cannot {what} the Django database {shown}: {e}"),
        )
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = sqlx::postgres::PgConnectOptions::from_str(url)
            .map_err(|e| fail("use the URL of", &e))?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| fail("connect to", &e))?;
        let dialect = Dialect {
            epoch: |c| format!("CAST(FLOOR(EXTRACT(EPOCH FROM {c})) AS BIGINT)"),
            columns: |t| {
                format!(
                    "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = '{t}'"
                )
            },
        };
        let rows = read_from(&pool, user_table, &dialect)
            .await
            .map_err(|e| fail("read", &e));
        pool.close().await;
        rows
    } else if url.starts_with("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .map_err(|e| fail("use the URL of", &e))?
            .read_only(true)
            .create_if_missing(false);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| fail("open", &e))?;
        let dialect = Dialect {
            epoch: |c| format!("CAST(strftime('%s', {c}) AS INTEGER)"),
            columns: |t| format!("SELECT name FROM pragma_table_info('{t}')"),
        };
        let rows = read_from(&pool, user_table, &dialect)
            .await
            .map_err(|e| fail("read", &e));
        pool.close().await;
        rows
    } else {
        Err(Error::invalid(
            "django-database",
            format!(
                "{shown} is not a PostgreSQL or SQLite URL: use postgres://USER@HOST/NAME or \
                 sqlite:///path/to/db.sqlite3 (for MySQL and others, import a dumpdata file)"
            ),
        ))
    }
}

/// What the two databases spell differently.
struct Dialect {
    /// A timestamp column (named by the argument) as Unix seconds.
    epoch: fn(&str) -> String,
    /// The names (column `name`) of a table's columns; the table name is
    /// a checked identifier, so it goes in as a literal.
    columns: fn(&str) -> String,
}

/// A table name as Django makes them: letters, digits and `_`, so it can
/// be quoted into a statement as it is.
fn check_table_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "user-table",
            format!(
                "{} is not a table name: use letters, digits and '_' (e.g. accounts_user)",
                quoted(name)
            ),
        ))
    }
}

/// Reads the users and their group names from `pool`.
async fn read_from<DB>(
    pool: &Pool<DB>,
    user_table: &str,
    dialect: &Dialect,
) -> std::result::Result<Vec<SourceRow>, String>
where
    DB: Database,
    for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    Option<String>: for<'r> Decode<'r, DB> + Type<DB>,
    Option<i64>: for<'r> Decode<'r, DB> + Type<DB>,
{
    let users = format!(
        "SELECT {USER_COLUMNS}, {} AS date_joined, {} AS last_login FROM \"{user_table}\" \
         ORDER BY id",
        (dialect.epoch)("date_joined"),
        (dialect.epoch)("last_login")
    );
    let users = sqlx::query(sqlx::AssertSqlSafe(users))
        .fetch_all(pool)
        .await
        .map_err(|e| format!("table {user_table}: {e}"))?;
    let groups = groups_of(pool, user_table, dialect).await?;
    Ok(users
        .iter()
        .enumerate()
        .map(|(at, row)| user(row, at, &groups))
        .collect())
}

/// User pk (as text) to the names of their groups.
async fn groups_of<DB>(
    pool: &Pool<DB>,
    user_table: &str,
    dialect: &Dialect,
) -> std::result::Result<HashMap<String, Vec<String>>, String>
where
    DB: Database,
    for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'n> &'n str: ColumnIndex<DB::Row>,
    Option<String>: for<'r> Decode<'r, DB> + Type<DB>,
{
    // Django names the many-to-many table `<table>_groups`, and its user
    // column after the model (`user_id` for a model called User): the one
    // `..._id` column besides `group_id`.
    let through = format!("{user_table}_groups");
    let columns = sqlx::query(sqlx::AssertSqlSafe((dialect.columns)(&through)))
        .fetch_all(pool)
        .await
        .map_err(|e| format!("table {through}: {e}"))?;
    let user_column = columns
        .iter()
        .filter_map(|row| row.try_get::<Option<String>, _>("name").ok().flatten())
        .find(|name| name.ends_with("_id") && name != "group_id")
        .ok_or_else(|| {
            format!("table {through} is missing, or has no user column (`<model>_id`)")
        })?;
    let sql = format!(
        "SELECT CAST(m.\"{user_column}\" AS TEXT) AS pk, g.name AS name \
         FROM \"{through}\" m JOIN auth_group g ON g.id = m.group_id ORDER BY g.name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(|e| format!("tables {through} and auth_group: {e}"))?;
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let pk: Option<String> = row.try_get("pk").ok().flatten();
        let name: Option<String> = row.try_get("name").ok().flatten();
        if let (Some(pk), Some(name)) = (pk, name) {
            groups.entry(pk).or_default().push(name);
        }
    }
    Ok(groups)
}

/// One user row; a value that does not decode makes it a skipped row.
fn user<R: Row>(row: &R, at: usize, groups: &HashMap<String, Vec<String>>) -> SourceRow
where
    for<'n> &'n str: ColumnIndex<R>,
    Option<String>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    let text = |name: &str| {
        row.try_get::<Option<String>, _>(name)
            .map_err(|e| format!("{name} does not read as text: {e}"))
    };
    let number = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .map_err(|e| format!("{name} does not read as a number: {e}"))
    };
    let pk = text("pk").ok().flatten();
    let username = text("username").ok().flatten().unwrap_or_default();
    let source = pk
        .as_ref()
        .map_or_else(|| format!("row {}", at + 1), |pk| format!("pk {pk}"));
    let read = || -> std::result::Result<DjangoUser, String> {
        let pk = pk.clone().ok_or_else(|| "has no primary key".to_owned())?;
        if username.is_empty() {
            return Err("has no username".to_owned());
        }
        let flag = |name: &str| number(name).map(|v| v.unwrap_or(0) != 0);
        Ok(DjangoUser {
            groups: groups.get(&pk).cloned().unwrap_or_default(),
            pk,
            username: username.clone(),
            email: text("email")?.unwrap_or_default(),
            password: SecretString::from(
                text("password")?.ok_or_else(|| "has no password (NULL)".to_owned())?,
            ),
            is_active: flag("is_active")?,
            is_superuser: flag("is_superuser")?,
            is_staff: flag("is_staff")?,
            date_joined: number("date_joined")?
                .ok_or_else(|| "date_joined is missing or not a date and time".to_owned())?,
            last_login: number("last_login")?,
        })
    };
    match read() {
        Ok(user) => SourceRow::User(user),
        Err(reason) => SourceRow::Unreadable {
            source,
            username,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        for ok in ["auth_user", "accounts_user", "_x1"] {
            assert!(check_table_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a\"b", "auth user", "x;drop", "1abc", &"a".repeat(64)] {
            assert!(check_table_name(bad).is_err(), "{bad:?}");
        }
    }
}
