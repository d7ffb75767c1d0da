//! The SQLite store, the embedded default: one file, no server.

use std::collections::VecDeque;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Executor;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::sql::{SqlDb, SqlStore, migrate_error};
use super::{Change, ChangeFeed, FeedItem, PoolSettings};
use crate::error::{Error, Result};

/// How often a server looks for changes made by other processes (the CLI).
pub const CHANGE_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long opening the database waits for its first connection at most
/// (or the acquire timeout, if longer).
const OPEN_WAIT: Duration = Duration::from_secs(5);
/// How long `change_log` rows are kept; a server that has not polled for
/// this long has long stopped trusting its cache anyway.
const CHANGE_LOG_RETENTION_SECS: i64 = 3600;

/// A pool of connections to one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens the database file named by `url`, creating it when
    /// `create_if_missing` (read-only commands pass `false`, so a mistyped
    /// path does not leave an empty database behind).
    ///
    /// WAL mode lets readers (Verify) proceed while a writer (Login) commits;
    /// the busy timeout makes concurrent writers queue instead of failing.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL, [`Error::Unavailable`] if the
    /// file cannot be opened or created.
    pub async fn connect(
        url: &str,
        settings: PoolSettings,
        create_if_missing: bool,
    ) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| {
                Error::Config("the SQLite URL is not valid; use sqlite://PATH".to_owned())
            })?
            .create_if_missing(create_if_missing)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // An in-memory database exists once per connection: keep exactly one.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut pool = SqlitePoolOptions::new()
            .max_connections(if in_memory {
                1
            } else {
                settings.max_connections
            })
            .acquire_timeout(settings.acquire_timeout);
        if in_memory {
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        // The first connection (creating the file, WAL) may take longer than
        // a call may wait on a loaded machine: opening waits up to 5 s,
        // as for PostgreSQL, while the pool keeps its own acquire timeout.
        let pool = pool.connect_lazy_with(options);
        let deadline = std::time::Instant::now() + settings.acquire_timeout.max(OPEN_WAIT);
        loop {
            match pool.acquire().await {
                Ok(_) => break,
                Err(sqlx::Error::PoolTimedOut) if std::time::Instant::now() < deadline => {}
                Err(e) => {
                    return Err(Error::Unavailable {
                        context: "opening the SQLite database",
                        source: Box::new(e),
                    });
                }
            }
        }
        Ok(Self { pool })
    }

    /// The underlying pool, for tests and tools.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Whether every embedded migration has been applied, without applying any.
    ///
    /// # Errors
    /// Database errors.
    pub async fn schema_is_current(&self) -> Result<bool> {
        let (tables,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| Error::database("reading the schema version", e))?;
        if tables == 0 {
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

/// The embedded SQLite migrations.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqlDb for sqlx::Sqlite {
    const SELECT_NOW: &'static str = "SELECT CAST(strftime('%s', 'now') AS INTEGER) AS now";
    const PUBLISH: &'static str = "INSERT INTO change_log (event, created_at) \
        VALUES ($1, CAST(strftime('%s', 'now') AS INTEGER))";
    const TOMBSTONE: &'static str = "INSERT INTO deletions (kind, id, deleted_at) \
        VALUES ($1, $2, CAST(strftime('%s', 'now') AS INTEGER)) \
        ON CONFLICT (kind, id) DO UPDATE SET deleted_at = excluded.deleted_at";

    fn pool(pool: &SqlitePool) -> impl Executor<'_, Database = Self> {
        pool
    }

    fn tx(conn: &mut SqliteConnection) -> impl Executor<'_, Database = Self> {
        conn
    }
}

#[async_trait::async_trait]
impl SqlStore for SqliteStore {
    type Db = sqlx::Sqlite;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn run_migrations(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(migrate_error)
    }

    async fn open_change_feed(&self) -> Result<Box<dyn ChangeFeed>> {
        let (last_seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM change_log")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| Error::database("reading the change log", e))?;
        Ok(Box::new(SqliteChangeFeed {
            pool: self.pool.clone(),
            last_seq,
            pending: VecDeque::from([FeedItem::Alive]),
            broken: false,
            polls: 0,
        }))
    }

    async fn send_heartbeat(&self) -> Result<()> {
        // Every successful poll proves the feed alive; nothing to send.
        Ok(())
    }
}

/// Changes read by polling `change_log`, written by every process in the
/// same transaction as the change itself.
struct SqliteChangeFeed {
    pool: SqlitePool,
    last_seq: i64,
    pending: VecDeque<FeedItem>,
    broken: bool,
    polls: u64,
}

impl SqliteChangeFeed {
    async fn poll(&mut self) -> Result<()> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, event FROM change_log WHERE seq > $1 ORDER BY seq LIMIT 1000",
        )
        .bind(self.last_seq)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::database("reading the change log", e))?;
        if std::mem::take(&mut self.broken) {
            self.pending.push_back(FeedItem::Resync);
        }
        for (seq, event) in rows {
            self.last_seq = seq;
            if let Some(change) = Change::decode(&event) {
                self.pending.push_back(FeedItem::Change(change));
            }
        }
        self.pending.push_back(FeedItem::Alive);
        self.polls += 1;
        if self.polls.is_multiple_of(600) {
            let cutoff = crate::clock::now_unix() - CHANGE_LOG_RETENTION_SECS;
            // Pruning is housekeeping; a failure here is retried next time.
            let _ = sqlx::query("DELETE FROM change_log WHERE created_at < $1")
                .bind(cutoff)
                .execute(&self.pool)
                .await;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ChangeFeed for SqliteChangeFeed {
    async fn next(&mut self) -> Result<FeedItem> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(item);
            }
            tokio::time::sleep(CHANGE_POLL_INTERVAL).await;
            if let Err(e) = self.poll().await {
                self.broken = true;
                return Err(e);
            }
        }
    }
}
