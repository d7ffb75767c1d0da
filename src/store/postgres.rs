//! The PostgreSQL store, for production: several authd replicas share one database.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::PoolSettings;
use crate::error::{Error, Result};

/// A pool of PostgreSQL connections.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url`, failing fast if the server cannot be reached.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL (without echoing it, since it
    /// may hold a password), [`Error::Unavailable`] if the server is unreachable.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|_| {
            Error::Config(
                "the PostgreSQL URL is not valid; use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                    .to_owned(),
            )
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|e| Error::Unavailable {
                context: "connecting to PostgreSQL",
                source: Box::new(e),
            })?;
        Ok(Self { pool })
    }

    /// The underlying pool, for tests and tools.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

sql_store!(PgStore, sqlx::migrate!("./migrations/postgres"));
