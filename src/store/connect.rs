//! Opening a store: for the server and commands that write (created and
//! migrated as needed), or as it is for commands that only read.
//!
//! Owns the choice of backend from a [`DatabaseUrl`] and the schema check;
//! it must not run SQL beyond that check (the backends do).

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret as _;

use super::{DatabaseUrl, PoolSettings, Store, postgres, sqlite};
use crate::error::{Error, Result};

/// Opens the store named by `url`, without migrating.
///
/// SQLite opens its file at once (creating it); PostgreSQL connects lazily
/// (see [`postgres::PgStore::connect_lazy`]), so an unreachable server shows
/// up at the first use, as [`Error::Unavailable`] within the acquire timeout.
/// A PostgreSQL connection that an attacker on the network could intercept
/// (`sslmode` weaker than `verify-full` to a host other than loopback) is
/// logged at warn.
///
/// # Errors
/// [`Error::Unavailable`] if the SQLite file cannot be opened;
/// [`Error::Config`] for a malformed URL, a bad `sslmode` or `sslrootcert`.
pub async fn connect(url: &DatabaseUrl, pool: PoolSettings) -> Result<Arc<dyn Store>> {
    Ok(match url {
        DatabaseUrl::Sqlite(raw) => Arc::new(sqlite::SqliteStore::connect(raw, pool, true).await?),
        DatabaseUrl::Postgres(raw) => {
            let store = postgres::PgStore::connect_lazy(raw.expose_secret(), pool)?;
            store.warn_if_unauthenticated();
            Arc::new(store)
        }
    })
}

/// Opens an existing, fully migrated store for a command that only reads
/// or changes rows: it never creates an SQLite file or a table, and it
/// connects to PostgreSQL eagerly so an unreachable server is reported
/// with its cause.
///
/// # Errors
/// [`Error::Unavailable`] if the database cannot be reached or opened;
/// [`Error::Config`] saying "no authd schema at <redacted URL>; run
/// `authd migrate`" when the tables are missing or older than this build.
pub async fn open_existing(url: &DatabaseUrl, pool: PoolSettings) -> Result<Arc<dyn Store>> {
    let no_schema = || {
        Error::Config(format!(
            "no authd schema at {}; run `authd migrate`",
            url.redacted()
        ))
    };
    match url {
        DatabaseUrl::Sqlite(raw) => {
            let store = match sqlite::SqliteStore::connect(raw, pool, false).await {
                Ok(store) => store,
                // SQLITE_CANTOPEN: the file is not there (and was not created).
                Err(Error::Unavailable { source, .. })
                    if source
                        .downcast_ref::<sqlx::Error>()
                        .and_then(|e| e.as_database_error())
                        .and_then(sqlx::error::DatabaseError::code)
                        .is_some_and(|code| code == "14") =>
                {
                    return Err(no_schema());
                }
                Err(e) => return Err(e),
            };
            if !store.schema_is_current().await? {
                store.pool().close().await;
                return Err(no_schema());
            }
            Ok(Arc::new(store))
        }
        DatabaseUrl::Postgres(raw) => {
            let store = postgres::PgStore::connect_lazy(raw.expose_secret(), pool)?;
            store
                .check_reachable(pool.acquire_timeout.max(Duration::from_secs(5)))
                .await?;
            if !store.schema_is_current().await? {
                store.pool().close().await;
                return Err(no_schema());
            }
            Ok(Arc::new(store))
        }
    }
}

/// Connects to PostgreSQL once, outside any pool, so an unreachable server
/// is reported with its cause ("connection refused", "the server's
/// certificate is not signed by sslrootcert ...") instead of a pool's
/// "timed out"; nothing to do for SQLite.
///
/// # Errors
/// [`Error::Unavailable`] with the connection error as its source.
pub async fn check_reachable(url: &DatabaseUrl, pool: PoolSettings) -> Result<()> {
    match url {
        DatabaseUrl::Sqlite(_) => Ok(()),
        DatabaseUrl::Postgres(raw) => {
            postgres::PgStore::connect_lazy(raw.expose_secret(), pool)?
                .check_reachable(pool.acquire_timeout.max(Duration::from_secs(5)))
                .await
        }
    }
}

/// Whether every migration of `migrator` is among the `applied` versions.
pub(super) fn all_applied(migrator: &sqlx::migrate::Migrator, applied: &[(i64,)]) -> bool {
    migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .all(|m| applied.iter().any(|(v,)| *v == m.version))
}
