//! The PostgreSQL store, for production: several authd replicas share one database.

use std::str::FromStr;

use sqlx::Executor;
use sqlx::postgres::{
    PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgSslMode,
};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;

use super::sql::{SqlDb, SqlStore, migrate_error};
use super::url::{PgTls, SslMode};
use super::{Change, ChangeFeed, FeedItem, PoolSettings};
use crate::error::{Cause, Error, Result};

/// The `LISTEN`/`NOTIFY` channel on which replicas announce changes.
pub const CHANGES_CHANNEL: &str = "authd_changes";

/// A pool of PostgreSQL connections.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Kept to open the change-feed listener on a connection of its own,
    /// outside the pool, so it never takes a slot from calls.
    options: PgConnectOptions,
    /// The TLS the URL asked for, to explain a failed handshake.
    tls: PgTls,
}

impl PgStore {
    /// Prepares a pool for `url` without connecting: connections are opened
    /// on first use, so a server can start while PostgreSQL is down and
    /// recover by itself when it comes back. Every use waits at most the
    /// acquire timeout for a connection, then fails with [`Error::Unavailable`].
    /// TLS follows the URL's `sslmode` and `sslrootcert` ([`PgTls`]).
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL (without echoing it, since it
    /// may hold a password), an unsupported `sslmode`, or an `sslrootcert`
    /// that cannot be read or holds no PEM certificate.
    pub fn connect_lazy(url: &str, settings: PoolSettings) -> Result<Self> {
        let tls = PgTls::of(url).map_err(Error::Config)?;
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|_| {
                Error::Config(
                    "the PostgreSQL URL is not valid; use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                        .to_owned(),
                )
            })?
            .application_name("authd")
            .ssl_mode(match tls.mode {
                SslMode::Disable => PgSslMode::Disable,
                SslMode::Prefer => PgSslMode::Prefer,
                SslMode::Require => PgSslMode::Require,
                SslMode::VerifyCa => PgSslMode::VerifyCa,
                SslMode::VerifyFull => PgSslMode::VerifyFull,
            });
        if let Some(path) = &tls.root_cert {
            check_root_cert(path)?;
            options = options.ssl_root_cert(path);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options.clone());
        Ok(Self { pool, options, tls })
    }

    /// The TLS this store connects with (`sslmode`, `sslrootcert`).
    #[must_use]
    pub fn tls(&self) -> &PgTls {
        &self.tls
    }

    /// Logs at warn when the connection could be intercepted: a mode
    /// weaker than `verify-full` to a host that is not loopback (or a Unix
    /// socket). `verify-ca` is named apart: sqlx trusts Mozilla's roots
    /// besides `sslrootcert`, so with no host check any publicly trusted
    /// certificate passes.
    pub fn warn_if_unauthenticated(&self) {
        let host = self.options.get_host();
        let local = self.options.get_socket().is_some()
            || host.starts_with('/')
            || host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let mode = self.tls.mode;
        if local || mode == SslMode::VerifyFull {
            return;
        }
        if mode == SslMode::VerifyCa {
            tracing::warn!(
                host,
                sslmode = mode.as_str(),
                "sslmode=verify-ca does not check the host name, and Mozilla's roots are \
                 trusted besides sslrootcert: any publicly trusted certificate passes; \
                 use sslmode=verify-full"
            );
        } else {
            tracing::warn!(
                host,
                sslmode = mode.as_str(),
                "the connection to PostgreSQL is not authenticated: someone on the network \
                 can read or change it; use sslmode=verify-full with sslrootcert=CA.pem"
            );
        }
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
            Ok(Err(e)) => Err(unreachable(explain_connect_error(
                e,
                &self.tls,
                self.options.get_host(),
            ))),
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

/// Reads `sslrootcert` once at start-up, so a missing or empty file is a
/// configuration error with its path rather than a failed handshake later
/// (sqlx reads it again for each connection).
fn check_root_cert(path: &std::path::Path) -> Result<()> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| Error::Config(format!("sslrootcert {shown} cannot be read: {e}")))?;
    let mut count = 0_usize;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| {
            Error::Config(format!(
                "sslrootcert {shown} is not a PEM certificate bundle: {e}"
            ))
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(Error::Config(format!(
            "sslrootcert {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(())
}

/// A failed connection, said in terms of the URL's TLS settings when TLS
/// is what failed; the original error stays as the source.
#[derive(Debug)]
struct ConnectError {
    /// What failed and how to fix it.
    message: String,
    /// sqlx's error.
    source: sqlx::Error,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Explains a connection error that TLS caused ("the server's certificate
/// is not signed by sslrootcert ..."); other errors are returned as they
/// are. Never shows the URL (it may hold a password): only the host and the
/// `sslrootcert` path.
fn explain_connect_error(err: sqlx::Error, tls: &PgTls, host: &str) -> Cause {
    let mode = tls.mode.as_str();
    let roots = match &tls.root_cert {
        Some(path) => format!("sslrootcert {}", path.display()),
        None => "Mozilla's roots (no sslrootcert given; the system store is not read)".to_owned(),
    };
    // rustls reports a refused certificate through the socket's I/O error;
    // sqlx's own TLS errors are `Tls`.
    let rustls_error = match &err {
        sqlx::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        sqlx::Error::Tls(inner) => inner.downcast_ref::<rustls::Error>(),
        _ => None,
    };
    let message = match (rustls_error, &err) {
        (Some(rustls::Error::InvalidCertificate(cert_error)), _) => match cert_error {
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature => {
                format!(
                    "the server's certificate is not signed by {roots} (sslmode={mode}); \
                     set sslrootcert to the CA that signed the server's certificate"
                )
            }
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. } => format!(
                "the server's certificate is not valid for host {host} (sslmode={mode} \
                 checks the host name); connect with a name or address the certificate lists"
            ),
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. } => {
                format!("the server's certificate has expired (sslmode={mode})")
            }
            other => format!("the server's certificate was refused (sslmode={mode}): {other:?}"),
        },
        (Some(other), _) => format!("TLS with PostgreSQL failed (sslmode={mode}): {other}"),
        (None, sqlx::Error::Tls(inner)) if inner.to_string().contains("does not support TLS") => {
            format!(
                "the server does not offer TLS, but sslmode={mode} requires it; \
                 turn on ssl in postgresql.conf or use sslmode=prefer"
            )
        }
        (None, sqlx::Error::Database(db))
            if db.code().as_deref() == Some("28000") && db.message().contains("no encryption") =>
        {
            format!(
                "the server refuses unencrypted connections (pg_hba.conf hostssl), but \
                 sslmode={mode}; use sslmode=verify-full with sslrootcert (or require): {}",
                db.message()
            )
        }
        _ => return Box::new(err),
    };
    Box::new(ConnectError {
        message,
        source: err,
    })
}

/// The embedded PostgreSQL migrations.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl SqlDb for sqlx::Postgres {
    const PUBLISH: &'static str = "SELECT pg_notify('authd_changes', $1)";
    const SELECT_NOW: &'static str = "SELECT CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) AS now";
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
