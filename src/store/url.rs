//! The database settings ([`StoreSettings`]) and the URL, parsed once into the
//! backend it names.
//!
//! Owns the declaration of the `--database-*` settings, the scheme check (`sqlite:` or `postgres://`/`postgresql://`),
//! the TLS mode a PostgreSQL URL asks for ([`PgTls`]: `sslmode`,
//! `sslrootcert`) and the redacted form used in messages and logs. It must
//! not connect: that is [`super::connect`]'s job.

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
    #[arg(long, env, value_name = "URL", hide_env_values = true,
          default_value = "sqlite://authd.db", value_parser = DatabaseUrl::from_str)]
    pub database_url: DatabaseUrl,

    /// File with the database URL, used instead of `--database-url` (keeps a password out of env).
    #[arg(long, env, value_name = "FILE")]
    pub database_url_file: Option<PathBuf>,

    /// Most database connections per authd process.
    #[arg(long, env, default_value = "10", value_parser = settings::int(1_u32, 1000))]
    pub database_max_connections: u32,

    /// How long a call waits for a database connection before failing with UNAVAILABLE.
    #[arg(long, env, default_value = "1s", value_parser = settings::duration("10ms", "60s"))]
    pub database_acquire_timeout: Duration,
}

impl StoreSettings {
    /// The database, read from `--database-url-file` when that is set.
    ///
    /// # Errors
    /// An unreadable file or an unsupported scheme in it.
    pub fn url(&self) -> settings::Checked<DatabaseUrl> {
        let (key, Some(path)) = ("database_url_file", &self.database_url_file) else {
            return Ok(self.database_url.clone());
        };
        let text = settings::read_secret_file(path, key)?;
        let url = DatabaseUrl::from_str(text.expose_secret());
        url.or_else(|fix| settings::invalid(key, fix))
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

    /// How the connection is protected, for the start-up log: the
    /// effective [`PgTls`] for PostgreSQL, `none (local file)` for SQLite.
    #[must_use]
    pub fn tls_mode(&self) -> String {
        match self {
            Self::Sqlite(_) => "none (local file)".to_owned(),
            Self::Postgres(url) => PgTls::of(url.expose_secret())
                .map_or_else(|fix| format!("invalid ({fix})"), |tls| tls.to_string()),
        }
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
            // A bad `sslmode` fails here, with its fix, not at the first connection.
            PgTls::of(url)?;
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

/// The `sslmode` values authd honours, with libpq's meaning. libpq's
/// `allow` (plaintext first, TLS only if the server insists) is refused:
/// sqlx would never try TLS for it, so it would silently mean `disable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// TLS if the server offers it, else plaintext; the certificate is not
    /// checked (libpq's default, and so authd's).
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS, and the certificate must chain to a trusted CA; the host name is
    /// not compared.
    VerifyCa,
    /// TLS, a certificate chaining to a trusted CA, and naming the host
    /// authd connects to. The only mode that stops an active attacker
    /// holding some other trusted certificate.
    VerifyFull,
}

impl SslMode {
    /// libpq's name of the mode.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether the server's certificate is checked against a CA.
    #[must_use]
    pub fn verifies_certificate(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyFull)
    }
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            "allow" => {
                return Err("sslmode=allow is not supported (it would never use TLS); \
                            use disable, prefer, require, verify-ca or verify-full"
                    .to_owned());
            }
            _ => {
                return Err(
                    "sslmode must be disable, prefer, require, verify-ca or verify-full \
                            (verify-full with sslrootcert=CA.pem checks the server fully)"
                        .to_owned(),
                );
            }
        })
    }
}

/// The TLS a PostgreSQL URL asks for: its `sslmode` and `sslrootcert`
/// query parameters, else `PGSSLMODE` / `PGSSLROOTCERT` (as libpq and
/// sqlx read them), else `prefer` without a root certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTls {
    /// The effective mode. `require` with a root certificate counts as
    /// `verify-ca`, as in libpq.
    pub mode: SslMode,
    /// The CA bundle (PEM) the server's certificate must chain to, besides
    /// the Mozilla roots built into authd (`webpki-roots`; the system store
    /// is not read).
    pub root_cert: Option<PathBuf>,
}

impl PgTls {
    /// Reads the TLS mode of `url` (a `postgres://` URL).
    ///
    /// # Errors
    /// An unsupported `sslmode`, with the values that are.
    pub fn of(url: &str) -> Result<Self, String> {
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let mut mode = None;
        let mut root_cert = None;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                // sqlx's spellings of the same parameters count too.
                "sslmode" | "ssl-mode" => mode = Some(value.parse::<SslMode>()?),
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => {
                    root_cert = Some(PathBuf::from(&*value));
                }
                _ => {}
            }
        }
        let mode = match mode {
            Some(mode) => mode,
            None => match std::env::var("PGSSLMODE") {
                Ok(value) => value.parse().map_err(|fix| format!("PGSSLMODE: {fix}"))?,
                Err(_) => SslMode::Prefer,
            },
        };
        let root_cert = root_cert.or_else(|| std::env::var_os("PGSSLROOTCERT").map(PathBuf::from));
        let mode = match (mode, &root_cert) {
            (SslMode::Require, Some(_)) => SslMode::VerifyCa,
            _ => mode,
        };
        Ok(Self { mode, root_cert })
    }
}

/// `verify-full (sslrootcert /etc/authd/db-ca.pem)`, for the start-up log.
impl fmt::Display for PgTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode.as_str())?;
        match &self.root_cert {
            Some(path) if self.mode.verifies_certificate() => {
                write!(f, " (sslrootcert {})", path.display())
            }
            _ if self.mode.verifies_certificate() => f.write_str(" (Mozilla roots)"),
            _ => Ok(()),
        }
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

    #[test]
    fn sslmode_and_sslrootcert_are_read_from_the_url_and_bad_modes_say_the_fix() {
        let tls =
            PgTls::of("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem").unwrap();
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(tls.to_string(), "verify-full (sslrootcert /etc/ca.pem)");
        // libpq: `require` with a root certificate checks the CA.
        let tls = PgTls::of("postgres://u@h/db?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(
            PgTls::of("postgres://u@h/db?sslmode=disable").unwrap().mode,
            SslMode::Disable
        );
        let allow = "postgres://u:pw@h/db?sslmode=allow".parse::<DatabaseUrl>();
        assert!(allow.unwrap_err().contains("not supported"));
        let bogus = "postgres://u:pw@h/db?sslmode=on".parse::<DatabaseUrl>();
        assert!(bogus.unwrap_err().contains("verify-full"));
        let lite: DatabaseUrl = "sqlite://authd.db".parse().unwrap();
        assert_eq!(lite.tls_mode(), "none (local file)");
    }
}
