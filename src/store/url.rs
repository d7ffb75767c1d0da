//! The database settings ([`StoreSettings`]) and the URL, parsed once into the
//! backend it names.
//!
//! Owns the declaration of the `--database-*` settings, the scheme check (`sqlite:` or `postgres://`/`postgresql://`) and
//! the redacted form used in messages and logs. It must not connect: that
//! is [`super::connect`]'s job.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::settings;

use secrecy::{ExposeSecret as _, SecretString};

/// The database every command opens.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreSettings {
    /// Database URL: `sqlite://PATH` or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    #[arg(long, env = "AUTHD_DATABASE_URL", value_name = "URL", hide_env_values = true,
          default_value = "sqlite://authd.db", value_parser = DatabaseUrl::from_str)]
    pub database_url: DatabaseUrl,

    /// File holding the database URL (keeps a password out of the
    /// environment); when set, it is used instead of `--database-url`.
    #[arg(long, env = "AUTHD_DATABASE_URL_FILE", value_name = "FILE")]
    pub database_url_file: Option<PathBuf>,

    /// Most database connections per authd process.
    #[arg(long, env = "AUTHD_DATABASE_MAX_CONNECTIONS", default_value = "10",
          value_parser = settings::int(1_u32, 1000))]
    pub database_max_connections: u32,

    /// How long a call waits for a database connection before failing with UNAVAILABLE.
    #[arg(long, env = "AUTHD_DATABASE_ACQUIRE_TIMEOUT", default_value = "1s",
          value_parser = settings::duration("10ms", "60s"))]
    pub database_acquire_timeout: Duration,
}

impl StoreSettings {
    /// The database, read from `--database-url-file` when that is set.
    ///
    /// # Errors
    /// An unreadable file or an unsupported scheme in it.
    pub fn url(&self) -> settings::Checked<DatabaseUrl> {
        let Some(path) = &self.database_url_file else {
            return Ok(self.database_url.clone());
        };
        let key = "database_url_file";
        settings::read_secret_file(path, key)?
            .expose_secret()
            .parse()
            .or_else(|fix: String| settings::invalid(key, fix))
    }

    /// Pool size and acquire timeout.
    #[must_use]
    pub fn pool(&self) -> super::PoolSettings {
        super::PoolSettings {
            max_connections: self.database_max_connections,
            acquire_timeout: self.database_acquire_timeout,
        }
    }
}

/// A database URL whose scheme has been checked.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (or `sqlite::memory:`); no password, so not secret.
    Sqlite(String),
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`; secret, since it may hold a password.
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// The URL with any password replaced by `***`, for messages and logs.
    #[must_use]
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(url) => url.clone(),
            Self::Postgres(url) => redact_url(url.expose_secret()),
        }
    }

    /// Whether this names a server that may be down for a while
    /// (PostgreSQL), so a starting authd should wait for it rather than
    /// fail; SQLite is a local file and keeps failing fast.
    #[must_use]
    pub fn waits_for_database(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The backend's name, for the start-up log.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    /// # Errors
    /// A fix (never echoing the URL, which may hold a password).
    fn from_str(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(SecretString::from(url.to_owned())))
        } else {
            Err("use sqlite://PATH or postgres://USER@HOST:PORT/DB".to_owned())
        }
    }
}

/// Shows the redacted URL only.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

/// Replaces the password of a URL's userinfo, and the values of query
/// parameters that carry secrets (`password`, `sslpassword`, ...), with `***`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}:***@{host}")
        }
        _ => authority.to_owned(),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                    format!("{key}=***")
                }
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_redacted_for_display() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/authd"),
            "postgres://app:***@db:5432/authd"
        );
        assert_eq!(
            redact_url("postgres://app@db/authd"),
            "postgres://app@db/authd"
        );
        assert_eq!(redact_url("sqlite://authd.db"), "sqlite://authd.db");
        assert_eq!(
            redact_url("postgres://app@db/authd?sslmode=require&password=s3cret"),
            "postgres://app@db/authd?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://app:pw@db/authd?sslpassword=x"),
            "postgres://app:***@db/authd?sslpassword=***"
        );
    }

    #[test]
    fn the_scheme_picks_the_backend_and_debug_hides_the_password() {
        let pg: DatabaseUrl = "postgres://u:pw123@h/db".parse().unwrap();
        assert!(pg.waits_for_database());
        assert!(!format!("{pg:?}").contains("pw123"));
        let lite: DatabaseUrl = "sqlite://authd.db".parse().unwrap();
        assert_eq!(lite.backend(), "sqlite");
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
    }
}
