//! The PostgreSQL store, for production: several authd replicas share one database.

use std::str::FromStr;

use sqlx::Executor;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use super::sql::{SqlDb, SqlStore, migrate_error};
use super::{Change, ChangeFeed, FeedItem, PoolSettings};
use crate::error::{Error, Result};

/// The `LISTEN`/`NOTIFY` channel on which replicas announce changes.
pub const CHANGES_CHANNEL: &str = "authd_changes";

/// A pool of PostgreSQL connections.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Kept to open the change-feed listener on a connection of its own,
    /// outside the pool, so it never takes a slot from calls.
    options: PgConnectOptions,
}

impl PgStore {
    /// Prepares a pool for `url` without connecting: connections are opened
    /// on first use, so a server can start while PostgreSQL is down and
    /// recover by itself when it comes back. Every use waits at most the
    /// acquire timeout for a connection, then fails with [`Error::Unavailable`].
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL (without echoing it, since it
    /// may hold a password).
    pub fn connect_lazy(url: &str, settings: PoolSettings) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| {
                Error::Config(
                    "the PostgreSQL URL is not valid; use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                        .to_owned(),
                )
            })?
            .application_name("authd");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options.clone());
        Ok(Self { pool, options })
    }

    /// The underlying pool, for tests and tools.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens one connection now, outside the pool, so an unreachable server
    /// is reported with its cause ("connection refused") rather than as the
    /// pool's "timed out"; for commands that run once and exit.
    ///
    /// # Errors
    /// [`Error::Unavailable`] with the connection error as its source.
    pub async fn check_reachable(&self, timeout: std::time::Duration) -> Result<()> {
        use sqlx::Connection as _;
        let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| Error::Unavailable {
            context: "connecting to PostgreSQL",
            source,
        };
        match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(&self.options)).await {
            Ok(Ok(connection)) => {
                drop(connection.close().await);
                Ok(())
            }
            Ok(Err(e)) => Err(unreachable(Box::new(e))),
            Err(elapsed) => Err(unreachable(Box::new(elapsed))),
        }
    }

    /// Whether every embedded migration has been applied, without applying any.
    ///
    /// # Errors
    /// Database errors.
    pub async fn schema_is_current(&self) -> Result<bool> {
        let (present,): (bool,) =
            sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| Error::database("reading the schema version", e))?;
        if !present {
            return Ok(false);
        }
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| Error::database("reading the schema version", e))?;
        Ok(super::connect::all_applied(&MIGRATOR, &applied))
    }
}

/// The embedded PostgreSQL migrations.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl SqlDb for sqlx::Postgres {
    const PUBLISH: &'static str = "SELECT pg_notify('authd_changes', $1)";
    const TOMBSTONE: &'static str = "INSERT INTO deletions (kind, id, deleted_at) \
        VALUES ($1, $2, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)) \
        ON CONFLICT (kind, id) DO UPDATE SET deleted_at = excluded.deleted_at";

    fn pool(pool: &PgPool) -> impl Executor<'_, Database = Self> {
        pool
    }

    fn tx(conn: &mut PgConnection) -> impl Executor<'_, Database = Self> {
        conn
    }
}

#[async_trait::async_trait]
impl SqlStore for PgStore {
    type Db = sqlx::Postgres;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn run_migrations(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(migrate_error)
    }

    async fn open_change_feed(&self) -> Result<Box<dyn ChangeFeed>> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_lazy_with(self.options.clone());
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(|e| Error::database("listening for changes", e))?;
        listener
            .listen(CHANGES_CHANNEL)
            .await
            .map_err(|e| Error::database("listening for changes", e))?;
        Ok(Box::new(PgChangeFeed {
            listener,
            broken: false,
        }))
    }

    async fn send_heartbeat(&self) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(Change::Heartbeat.encode())
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| Error::database("sending a heartbeat", e))
    }
}

/// Changes pushed by PostgreSQL `NOTIFY`; reconnects by itself.
struct PgChangeFeed {
    listener: PgListener,
    /// The last call failed: whatever comes next follows a gap.
    broken: bool,
}

#[async_trait::async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn next(&mut self) -> Result<FeedItem> {
        match self.listener.try_recv().await {
            // The connection dropped and was re-established: notifications
            // sent in between are lost for good.
            Ok(None) => {
                self.broken = false;
                Ok(FeedItem::Resync)
            }
            Ok(Some(_)) if self.broken => {
                self.broken = false;
                Ok(FeedItem::Resync)
            }
            Ok(Some(notification)) => Ok(match Change::decode(notification.payload()) {
                Some(Change::Heartbeat) | None => FeedItem::Alive,
                Some(change) => FeedItem::Change(change),
            }),
            Err(e) => {
                self.broken = true;
                Err(Error::database("listening for changes", e))
            }
        }
    }
}
