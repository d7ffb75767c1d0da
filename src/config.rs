//! Configuration: zero-set-up defaults, overridden by a TOML file, then by
//! `AUTHD_*` environment variables, then by command-line flags.
//!
//! # Mechanism
//!
//! Each setting is declared once, as a field of a `clap::Args` group: its
//! `///` doc is the help, `#[arg(long, env = "AUTHD_...")]` the flag and
//! variable, and the field name the config-file key. The groups live with
//! the subsystem that owns them and are composed here ([`ConfigArgs`] for
//! the server; [`AdminArgs`] and the groups `user`, `keys` and `audit` pick)
//! so every command shows and accepts only what it uses.
//!
//! The TOML file is layered *between* the defaults and the environment by
//! installing each file key as the default value of the argument with that
//! id, before clap parses ([`layer`]); clap then applies flags over
//! variables over defaults as it always does. `ArgMatches::value_source`
//! and the file's spans give every value's [`Source`], so an error names
//! the key, where its value came from (`/etc/authd.toml:3:20`, the variable
//! or the flag) and how to fix it. figment, the alternative, would need a
//! second, serde-shaped declaration next to clap's for the flags and
//! `--help`; this way clap is the only one. The file's values are text to
//! clap, so a duration parses the same from a flag, a variable or the file,
//! integers included (`access_token_ttl = 600`).
//!
//! This module owns layering and validation; it must not be imported below
//! `app` and `cli`. Secrets are [`secrecy`] types from the moment they are
//! read, by value or from a `*_FILE`, and never show in `Debug` or logs.
//!
//! # How to add a setting
//!
//! Add one field, with its doc (ending in `[default: ...]`), `#[arg(long,
//! env = "AUTHD_NAME")]` and an `Option<T>` type, to the group of its owner
//! (or to [`ConfigArgs`] for a server-only one). Give [`Config`] the checked
//! value and its default, and check it in the group's `load` with
//! `src.bad("name", "how to fix it")` for errors. The flag, the variable,
//! the file key, `--help` and error attribution follow from the field; add
//! its row to README's configuration table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::client_addr::TrustedProxies;
use crate::error::{Error, Result};
use crate::throttle::ThrottlePolicy;
use crate::token::kek::KeyEncryptionKey;
use crate::token::rotation::KeyPolicy;

mod layer;

pub use crate::grpc::ext_authz::ExtAuthzHeaders;
use crate::grpc::ext_authz::{MAX_HEADER_SEPARATORS, RESERVED_HEADERS};
pub use crate::password::settings::PasswordArgs;
pub use crate::password::settings::{
    ARGON2_MAX_ITERATIONS, ARGON2_MAX_MEMORY_KIB, ARGON2_MAX_PARALLELISM, Argon2Config,
    OWASP_ARGON2ID,
};
pub use crate::store::url::StoreArgs;
pub use crate::telemetry::{LogArgs, LogFormat};
pub use crate::token::settings::Signing;
pub use crate::token::settings::{LifetimeArgs, SigningArgs};

pub use layer::{FileValues, Source, Sources};

/// The listen address when none is configured: loopback only, so a fresh
/// install is not reachable from the network until someone decides it should be.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// The database when none is configured: an SQLite file in the working
/// directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://authd.db";

/// What every command reads: the config file, the database and logging.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AdminArgs {
    /// TOML config file; its keys are the flag names with `_` for `-`.
    #[arg(long, env = "AUTHD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The database.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// The server's settings: everything `authd serve` (or plain `authd`) takes.
/// Each can also be set by the environment variable named in its help, or
/// in the config file under the flag's name with `_` for `-`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Config file, database and logging.
    #[command(flatten)]
    pub admin: AdminArgs,

    /// Password hashing.
    #[command(flatten)]
    pub password: PasswordArgs,

    /// Signing keys.
    #[command(flatten)]
    pub signing: SigningArgs,

    /// Token lifetimes.
    #[command(flatten)]
    pub lifetimes: LifetimeArgs,

    /// Address of the gRPC listener [default: 127.0.0.1:50051].
    #[arg(long, env = "AUTHD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// `iss` claim of issued tokens; Verify rejects any other [default: authd].
    #[arg(long, env = "AUTHD_ISSUER")]
    pub issuer: Option<String>,

    /// `aud` claim of issued tokens; Verify rejects tokens without it [default: authd].
    #[arg(long, env = "AUTHD_AUDIENCE")]
    pub audience: Option<String>,

    /// Absolute lifetime of a session (and of its refresh tokens); refreshing
    /// does not extend it [default: 7d].
    #[arg(long, env = "AUTHD_SESSION_LIFETIME")]
    pub session_lifetime: Option<String>,

    /// Window in which presenting an already-rotated refresh token again
    /// returns the same successor instead of revoking the session [default: 10s].
    #[arg(long, env = "AUTHD_REFRESH_GRACE")]
    pub refresh_grace: Option<String>,

    /// Most live sessions per user; logging in beyond it ends the oldest (0: no limit) [default: 100].
    #[arg(long, env = "AUTHD_MAX_SESSIONS_PER_USER")]
    pub max_sessions_per_user: Option<u32>,

    /// How long cached user/session state may be trusted after the change
    /// feed was last heard from; past it Verify reads the database [default: 3s].
    #[arg(long, env = "AUTHD_CACHE_TRUST_BOUND")]
    pub cache_trust_bound: Option<String>,

    /// Tokens whose signature and claims already checked out, remembered so
    /// Verify need not check them again (0: off) [default: 100000].
    #[arg(long, env = "AUTHD_VERIFY_CACHE_ENTRIES")]
    pub verify_cache_entries: Option<usize>,

    /// Longest time a verified token is remembered (never past its `exp`) [default: 5m].
    #[arg(long, env = "AUTHD_VERIFY_CACHE_TTL")]
    pub verify_cache_ttl: Option<String>,

    /// Longest token Verify will parse; longer ones are malformed [default: 8192].
    #[arg(long, env = "AUTHD_MAX_TOKEN_BYTES")]
    pub max_token_bytes: Option<usize>,

    /// How long shutdown waits for in-flight calls [default: 10s].
    #[arg(long, env = "AUTHD_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<String>,

    /// Longest time one gRPC call may take before it is cancelled; a
    /// shorter `grpc-timeout` from the caller wins [default: 10s].
    #[arg(long, env = "AUTHD_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,

    /// Largest gRPC request message accepted, in bytes; bigger ones are
    /// refused before they are read [default: 65536].
    #[arg(long, env = "AUTHD_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,

    /// Address of the HTTP listener (JWKS, discovery, health, metrics), or
    /// `off` [default: 127.0.0.1:8080].
    #[arg(long, env = "AUTHD_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<String>,

    /// Rotate the signing key automatically this often, e.g. `720h`, or `off`
    /// [default: off].
    #[arg(long, env = "AUTHD_KEY_ROTATION_INTERVAL")]
    pub key_rotation_interval: Option<String>,

    /// ext_authz: request header carrying the user id to the upstream
    /// [default: x-authd-user-id].
    #[arg(long, env = "AUTHD_EXT_AUTHZ_USER_ID_HEADER")]
    pub ext_authz_user_id_header: Option<String>,

    /// ext_authz: request header carrying the username [default: x-authd-username].
    #[arg(long, env = "AUTHD_EXT_AUTHZ_USERNAME_HEADER")]
    pub ext_authz_username_header: Option<String>,

    /// ext_authz: request header carrying the roles, comma-separated
    /// [default: x-authd-roles].
    #[arg(long, env = "AUTHD_EXT_AUTHZ_ROLES_HEADER")]
    pub ext_authz_roles_header: Option<String>,

    /// OpenTelemetry collector to export RPC spans to over OTLP/gRPC, e.g.
    /// `http://127.0.0.1:4317`; unset: no export. Needs a build with
    /// `--features otlp`; spans never carry tokens, passwords or hashes.
    #[arg(long, env = "AUTHD_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// Failed logins per login name (existing or not) that cost nothing;
    /// further ones are slowed down by a doubling back-off [default: 5].
    #[arg(long, env = "AUTHD_LOGIN_FREE_FAILURES")]
    pub login_free_failures: Option<u32>,

    /// Failed logins per client address that cost nothing, against password
    /// spraying over many names; higher, since users may share a NAT [default: 50].
    #[arg(long, env = "AUTHD_LOGIN_FREE_FAILURES_PER_ADDRESS")]
    pub login_free_failures_per_address: Option<u32>,

    /// A login name's or address's failures are forgotten this long after
    /// its last failure [default: 1h].
    #[arg(long, env = "AUTHD_LOGIN_FAILURE_WINDOW")]
    pub login_failure_window: Option<String>,

    /// First block after the free failures; each further failure doubles it [default: 1s].
    #[arg(long, env = "AUTHD_LOGIN_BACKOFF_BASE")]
    pub login_backoff_base: Option<String>,

    /// Longest block; at most the failure window, so no lock-out is permanent [default: 15m].
    #[arg(long, env = "AUTHD_LOGIN_BACKOFF_MAX")]
    pub login_backoff_max: Option<String>,

    /// Proxies whose `x-forwarded-for` is believed (its last hop becomes the
    /// client address): comma-separated IPs or CIDR networks, e.g.
    /// `10.0.0.0/8,127.0.0.1`. Only list proxies that append the real peer
    /// [default: none, the peer address is used].
    #[arg(long, env = "AUTHD_TRUSTED_PROXIES", value_name = "LIST")]
    pub trusted_proxies: Option<String>,

    /// PEM certificate chain (leaf first) served on the gRPC and HTTP
    /// listeners; with `--tls-key` turns TLS on for both [default: off].
    #[arg(long, env = "AUTHD_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "AUTHD_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// PEM bundle of CAs that gRPC client certificates must chain to (mutual
    /// TLS). Certificates stay optional for callers; one that is presented
    /// must verify [default: off].
    #[arg(long, env = "AUTHD_TLS_CLIENT_CA", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,

    /// Client-certificate identities allowed to call GetUser and
    /// RevokeSessions, comma-separated: `dns:NAME`, `uri:URI` (SPIFFE ID) or
    /// `cn:NAME`. Needs `--tls-client-ca` [default: off, no restriction].
    #[arg(
        long,
        env = "AUTHD_ADMIN_CLIENTS",
        value_name = "IDS",
        value_delimiter = ','
    )]
    pub admin_clients: Vec<String>,

    /// Serve without TLS on a non-loopback address, for example behind a
    /// mesh sidecar that terminates mutual TLS [default: false].
    #[arg(
        long,
        env = "AUTHD_ALLOW_PLAINTEXT",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub allow_plaintext: bool,
}

/// The validated configuration of one authd process.
#[derive(Debug, Clone)]
pub struct Config {
    /// gRPC listen address; port 0 picks a free port (tests use this).
    pub listen: SocketAddr,
    /// Database URL; secret because it may contain a password.
    pub database_url: SecretString,
    /// Pool size per process.
    pub database_max_connections: u32,
    /// Bound on waiting for a pooled connection, so calls fail fast rather than hang.
    pub database_acquire_timeout: Duration,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Absolute session lifetime; refresh tokens die with their session.
    pub session_lifetime: Duration,
    /// Retry window for an already-rotated refresh token.
    pub refresh_grace: Duration,
    /// Live sessions per user before the oldest is evicted (0: unlimited).
    pub max_sessions_per_user: u32,
    /// How long cached state is trusted after the change feed was last heard from.
    pub cache_trust_bound: Duration,
    /// Longest token Verify parses.
    pub max_token_bytes: usize,
    /// Size of the verified-token cache (0: off).
    pub verify_cache_entries: usize,
    /// Longest time a verified token is remembered.
    pub verify_cache_ttl: Duration,
    /// Tolerated clock skew for `exp` and `nbf`.
    pub leeway: Duration,
    /// Signing algorithm and, for HS256, the secret.
    pub signing: Signing,
    /// Argon2id cost for new hashes (and the target of rehash-on-login).
    pub argon2: Argon2Config,
    /// Password hashes computed at once: bounds CPU and memory (each costs `argon2.memory_kib`).
    pub hash_concurrency: usize,
    /// How long a login may wait for a hashing permit before `RESOURCE_EXHAUSTED`.
    pub hash_queue_timeout: Duration,
    /// How long shutdown waits for in-flight calls.
    pub shutdown_grace: Duration,
    /// Longest time one gRPC call may take (a shorter `grpc-timeout` wins).
    pub request_timeout: Duration,
    /// Largest gRPC request message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_filter: String,
    /// HTTP listener (JWKS, discovery, health, metrics); `None` turns it off.
    pub http_listen: Option<SocketAddr>,
    /// Encrypts private signing keys at rest when set (at least 32 bytes).
    pub key_encryption_secret: Option<std::sync::Arc<SecretBox<Vec<u8>>>>,
    /// How long a new key is published before it signs.
    pub key_prepublish: Duration,
    /// Automatic rotation period; `None` rotates only on `authd keys rotate`.
    pub key_rotation_interval: Option<Duration>,
    /// How often keys are reloaded from the database and due transitions applied.
    pub key_refresh_interval: Duration,
    /// ext_authz identity headers set on allowed requests.
    pub ext_authz_headers: ExtAuthzHeaders,
    /// OTLP/gRPC collector that RPC spans are exported to; `None`: no export.
    /// Only ever `Some` in a build with the `otlp` feature.
    pub otlp_endpoint: Option<String>,
    /// How failed logins are throttled, per login name and per client address.
    pub login_throttle: ThrottlePolicy,
    /// Proxies whose `x-forwarded-for` names the client address (empty: none).
    pub trusted_proxies: TrustedProxies,
    /// TLS on both listeners (and mutual TLS on gRPC with a client CA); `None`: plaintext.
    pub tls: Option<crate::tls::TlsSettings>,
    /// Client identities allowed on GetUser and RevokeSessions; empty: no restriction.
    pub admin_clients: crate::tls::AdminClients,
    /// Plaintext on a non-loopback address is refused unless this is set
    /// (traffic then must be protected by something else, such as a sidecar).
    pub allow_plaintext: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: SecretString::from(DEFAULT_DATABASE_URL),
            database_max_connections: 10,
            database_acquire_timeout: Duration::from_secs(1),
            issuer: "authd".to_owned(),
            audience: "authd".to_owned(),
            access_token_ttl: Duration::from_secs(15 * 60),
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            max_sessions_per_user: 100,
            cache_trust_bound: Duration::from_secs(3),
            max_token_bytes: crate::token::MAX_TOKEN_BYTES,
            verify_cache_entries: crate::token::DEFAULT_VERIFIED_CACHE_ENTRIES,
            verify_cache_ttl: Duration::from_secs(300),
            leeway: Duration::from_secs(10),
            signing: Signing::EdDsa,
            argon2: Argon2Config::default(),
            hash_concurrency: std::thread::available_parallelism().map_or(1, usize::from),
            hash_queue_timeout: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_message_bytes: 64 * 1024,
            log_format: LogFormat::Text,
            log_filter: "info".to_owned(),
            http_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            key_encryption_secret: None,
            key_prepublish: Duration::from_secs(3600),
            key_rotation_interval: None,
            key_refresh_interval: Duration::from_secs(30),
            ext_authz_headers: ExtAuthzHeaders::default(),
            otlp_endpoint: None,
            login_throttle: ThrottlePolicy::default(),
            trusted_proxies: TrustedProxies::default(),
            tls: None,
            admin_clients: crate::tls::AdminClients::default(),
            allow_plaintext: false,
        }
    }
}

/// The database settings, checked: what every command needs to open the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The database, its scheme checked.
    pub url: crate::store::DatabaseUrl,
    /// Pool size and acquire timeout.
    pub pool: crate::store::PoolSettings,
}

impl StoreConfig {
    /// Checks the database settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting, its source and how to fix it.
    pub fn load(args: &StoreArgs, src: &Sources) -> Result<Self> {
        let defaults = Config::default();
        let url = database_url_setting(args, src)?;
        let max_connections = args
            .database_max_connections
            .unwrap_or(defaults.database_max_connections);
        if !(1..=1000).contains(&max_connections) {
            return Err(src.bad("database_max_connections", "must be between 1 and 1000"));
        }
        let acquire_timeout = duration_setting(
            src,
            args.database_acquire_timeout.clone(),
            "database_acquire_timeout",
            defaults.database_acquire_timeout,
            Duration::from_millis(10)..=Duration::from_secs(60),
        )?;
        let url = url
            .expose_secret()
            .parse()
            .map_err(|fix: String| src.bad("database_url", &fix))?;
        Ok(Self {
            url,
            pool: crate::store::PoolSettings {
                max_connections,
                acquire_timeout,
            },
        })
    }
}

/// The log format and filter, checked.
///
/// # Errors
/// [`Error::Config`] for an unknown format.
pub fn log_settings(args: &LogArgs, src: &Sources) -> Result<(LogFormat, Option<String>)> {
    let format = match args
        .log_format
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(src.bad(
                "log_format",
                &format!("`{other}` is not a format; use text or json"),
            ));
        }
    };
    Ok((format, args.log.clone()))
}

/// The password-hashing settings, checked.
#[derive(Debug, Clone, Copy)]
pub struct PasswordConfig {
    /// Argon2id cost.
    pub argon2: Argon2Config,
    /// Hashes computed at once.
    pub hash_concurrency: usize,
    /// How long a login waits for a hashing slot.
    pub hash_queue_timeout: Duration,
}

impl PasswordConfig {
    /// Checks the password-hashing settings against OWASP and authd's caps.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting, its source and how to fix it.
    pub fn load(args: &PasswordArgs, src: &Sources) -> Result<Self> {
        let defaults = Config::default();
        let argon2 = Argon2Config {
            memory_kib: args.argon2_memory_kib.unwrap_or(defaults.argon2.memory_kib),
            iterations: args.argon2_iterations.unwrap_or(defaults.argon2.iterations),
            parallelism: args
                .argon2_parallelism
                .unwrap_or(defaults.argon2.parallelism),
        };
        validate_argon2_from(argon2, src)?;
        let hash_concurrency = args.hash_concurrency.unwrap_or(defaults.hash_concurrency);
        if !(1..=1024).contains(&hash_concurrency) {
            return Err(src.bad("hash_concurrency", "must be between 1 and 1024"));
        }
        let hash_queue_timeout = duration_setting(
            src,
            args.hash_queue_timeout.clone(),
            "hash_queue_timeout",
            defaults.hash_queue_timeout,
            Duration::ZERO..=Duration::from_secs(60),
        )?;
        Ok(Self {
            argon2,
            hash_concurrency,
            hash_queue_timeout,
        })
    }
}

/// The signing settings, checked: the algorithm (with the HS256 secret),
/// the key-encryption secret and the pre-publish period.
#[derive(Debug, Clone)]
pub struct SigningConfig {
    /// Algorithm and, for HS256, the secret.
    pub signing: Signing,
    /// Encrypts private keys at rest.
    pub key_encryption_secret: Option<std::sync::Arc<SecretBox<Vec<u8>>>>,
    /// How long a new key is published before it signs.
    pub key_prepublish: Duration,
}

impl SigningConfig {
    /// Checks the signing settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting, its source and how to fix it.
    pub fn load(args: &SigningArgs, src: &Sources) -> Result<Self> {
        let defaults = Config::default();
        let algorithm = args
            .signing_algorithm
            .clone()
            .unwrap_or_else(|| "EdDSA".to_owned());
        let signing = match algorithm.to_ascii_uppercase().as_str() {
            "EDDSA" | "ED25519" => Signing::EdDsa,
            "ES256" => Signing::Es256,
            "RS256" => Signing::Rs256,
            "HS256" => {
                let secret = long_secret(
                    src,
                    args.hs256_secret.as_ref(),
                    args.hs256_secret_file.as_deref(),
                    "hs256_secret",
                )?
                .ok_or_else(|| {
                    src.bad(
                        "hs256_secret_file",
                        "HS256 needs a secret of at least 32 bytes; generate one with \
                         `head -c 48 /dev/urandom | base64 > hs256.secret`",
                    )
                })?;
                Signing::Hs256 { secret }
            }
            _ => {
                return Err(src.bad(
                    "signing_algorithm",
                    &format!("`{algorithm}` is not supported; use EdDSA, ES256, RS256 or HS256"),
                ));
            }
        };
        let key_encryption_secret = long_secret(
            src,
            args.key_encryption_secret.as_ref(),
            args.key_encryption_secret_file.as_deref(),
            "key_encryption_secret",
        )?;
        let key_prepublish = duration_setting(
            src,
            args.key_prepublish.clone(),
            "key_prepublish",
            defaults.key_prepublish,
            Duration::ZERO..=Duration::from_secs(30 * 24 * 3600),
        )?;
        Ok(Self {
            signing,
            key_encryption_secret,
            key_prepublish,
        })
    }
}

/// The token lifetimes that decide how long a replaced key keeps verifying.
#[derive(Debug, Clone, Copy)]
pub struct LifetimeConfig {
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Tolerated clock skew.
    pub leeway: Duration,
    /// How often keys are reloaded.
    pub key_refresh_interval: Duration,
}

impl LifetimeConfig {
    /// Checks the token lifetimes.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting, its source and how to fix it.
    pub fn load(args: &LifetimeArgs, src: &Sources) -> Result<Self> {
        let defaults = Config::default();
        Ok(Self {
            access_token_ttl: duration_setting(
                src,
                args.access_token_ttl.clone(),
                "access_token_ttl",
                defaults.access_token_ttl,
                Duration::from_secs(10)..=Duration::from_secs(24 * 3600),
            )?,
            leeway: duration_setting(
                src,
                args.leeway.clone(),
                "leeway",
                defaults.leeway,
                Duration::ZERO..=Duration::from_secs(300),
            )?,
            key_refresh_interval: duration_setting(
                src,
                args.key_refresh_interval.clone(),
                "key_refresh_interval",
                defaults.key_refresh_interval,
                Duration::from_secs(1)..=Duration::from_secs(3600),
            )?,
        })
    }
}

/// The key policy for `signing` and `lifetimes`: a replaced key verifies
/// for a token lifetime plus leeway plus one refresh interval.
///
/// # Errors
/// [`Error::Internal`] if the key-encryption key cannot be derived.
pub fn key_policy(
    signing: &SigningConfig,
    lifetimes: LifetimeConfig,
    rotation_interval: Option<Duration>,
) -> Result<KeyPolicy> {
    let kek = match &signing.key_encryption_secret {
        Some(secret) => Some(KeyEncryptionKey::from_secret(secret.expose_secret())?),
        None => None,
    };
    Ok(KeyPolicy {
        signing: signing.signing.clone(),
        kek,
        prepublish: signing.key_prepublish,
        rotation_interval,
        refresh_interval: lifetimes.key_refresh_interval,
        overlap: lifetimes.access_token_ttl + lifetimes.leeway + lifetimes.key_refresh_interval,
    })
}

impl Config {
    /// Builds the configuration from defaults, the config file, the
    /// environment and flags (clap has already merged the last three).
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting and how to fix it.
    pub fn load(args: &ConfigArgs) -> Result<Self> {
        Self::load_from(args, &Sources::default())
    }

    /// [`Self::load`], with errors saying where each bad value came from
    /// (`src`, from [`crate::cli::parse_from`]).
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting, its source and how to fix it.
    #[allow(clippy::too_many_lines)] // one straight sequence of settings reads best in one place
    pub fn load_from(args: &ConfigArgs, src: &Sources) -> Result<Self> {
        let defaults = Self::default();
        let store = StoreConfig::load(&args.admin.store, src)?;
        let database_url = database_url_setting(&args.admin.store, src)?;
        let (log_format, log_filter) = log_settings(&args.admin.log, src)?;
        let password = PasswordConfig::load(&args.password, src)?;
        let signing = SigningConfig::load(&args.signing, src)?;
        let lifetimes = LifetimeConfig::load(&args.lifetimes, src)?;
        let keys = load_key_settings(args, src, &defaults, signing.key_prepublish)?;
        let (login_throttle, trusted_proxies) = load_throttle_settings(args, src)?;
        let transport = load_transport_settings(args, src)?;

        let listen = match args.listen.clone() {
            Some(s) => s.parse().map_err(|_| {
                src.bad(
                    "listen",
                    &format!("`{s}` is not an address; use IP:PORT such as 127.0.0.1:50051"),
                )
            })?,
            None => defaults.listen,
        };
        let issuer = args.issuer.clone().unwrap_or(defaults.issuer);
        if issuer.trim().is_empty() {
            return Err(src.bad("issuer", "must not be empty"));
        }
        let audience = args.audience.clone().unwrap_or(defaults.audience);
        if audience.trim().is_empty() {
            return Err(src.bad("audience", "must not be empty"));
        }
        let session_lifetime = duration_setting(
            src,
            args.session_lifetime.clone(),
            "session_lifetime",
            defaults.session_lifetime,
            Duration::from_secs(60)..=Duration::from_secs(366 * 24 * 3600),
        )?;
        if session_lifetime < lifetimes.access_token_ttl {
            return Err(src.bad(
                "session_lifetime",
                "must be at least the access token lifetime (--access-token-ttl)",
            ));
        }
        let refresh_grace = duration_setting(
            src,
            args.refresh_grace.clone(),
            "refresh_grace",
            defaults.refresh_grace,
            Duration::ZERO..=Duration::from_secs(300),
        )?;
        let cache_trust_bound = duration_setting(
            src,
            args.cache_trust_bound.clone(),
            "cache_trust_bound",
            defaults.cache_trust_bound,
            Duration::ZERO..=Duration::from_secs(60),
        )?;
        let max_token_bytes = args.max_token_bytes.unwrap_or(defaults.max_token_bytes);
        if !(1024..=65_536).contains(&max_token_bytes) {
            return Err(src.bad("max_token_bytes", "must be between 1024 and 65536"));
        }
        let verify_cache_entries = args
            .verify_cache_entries
            .unwrap_or(defaults.verify_cache_entries);
        if verify_cache_entries > 10_000_000 {
            return Err(src.bad(
                "verify_cache_entries",
                "must be at most 10000000 (about 3 GB of memory)",
            ));
        }
        let verify_cache_ttl = duration_setting(
            src,
            args.verify_cache_ttl.clone(),
            "verify_cache_ttl",
            defaults.verify_cache_ttl,
            Duration::ZERO..=Duration::from_secs(24 * 3600),
        )?;
        let shutdown_grace = duration_setting(
            src,
            args.shutdown_grace.clone(),
            "shutdown_grace",
            defaults.shutdown_grace,
            Duration::ZERO..=Duration::from_secs(600),
        )?;
        let request_timeout = duration_setting(
            src,
            args.request_timeout.clone(),
            "request_timeout",
            defaults.request_timeout,
            Duration::from_millis(100)..=Duration::from_secs(600),
        )?;
        let max_message_bytes = args.max_message_bytes.unwrap_or(defaults.max_message_bytes);
        if !(4096..=4 * 1024 * 1024).contains(&max_message_bytes) {
            return Err(src.bad(
                "max_message_bytes",
                "must be between 4096 and 4194304 (4 MiB)",
            ));
        }
        let otlp_endpoint = otlp_endpoint_setting(src, args.otlp_endpoint.clone())?;

        Self {
            listen,
            database_url,
            database_max_connections: store.pool.max_connections,
            database_acquire_timeout: store.pool.acquire_timeout,
            issuer,
            audience,
            access_token_ttl: lifetimes.access_token_ttl,
            session_lifetime,
            refresh_grace,
            max_sessions_per_user: args
                .max_sessions_per_user
                .unwrap_or(defaults.max_sessions_per_user),
            cache_trust_bound,
            max_token_bytes,
            verify_cache_entries,
            verify_cache_ttl,
            leeway: lifetimes.leeway,
            signing: signing.signing,
            argon2: password.argon2,
            hash_concurrency: password.hash_concurrency,
            hash_queue_timeout: password.hash_queue_timeout,
            shutdown_grace,
            request_timeout,
            max_message_bytes,
            log_format,
            log_filter: log_filter.unwrap_or(defaults.log_filter),
            http_listen: keys.http_listen,
            key_encryption_secret: signing.key_encryption_secret,
            key_prepublish: signing.key_prepublish,
            key_rotation_interval: keys.key_rotation_interval,
            key_refresh_interval: lifetimes.key_refresh_interval,
            ext_authz_headers: keys.ext_authz_headers,
            otlp_endpoint,
            login_throttle,
            trusted_proxies,
            tls: transport.tls,
            admin_clients: transport.admin_clients,
            allow_plaintext: transport.allow_plaintext,
        }
        .checked_transport_security()
    }

    /// The key policy of this configuration.
    ///
    /// # Errors
    /// [`Error::Internal`] if the key-encryption key cannot be derived.
    pub fn key_policy(&self) -> Result<KeyPolicy> {
        key_policy(
            &SigningConfig {
                signing: self.signing.clone(),
                key_encryption_secret: self.key_encryption_secret.clone(),
                key_prepublish: self.key_prepublish,
            },
            LifetimeConfig {
                access_token_ttl: self.access_token_ttl,
                leeway: self.leeway,
                key_refresh_interval: self.key_refresh_interval,
            },
            self.key_rotation_interval,
        )
    }

    /// The database URL, its scheme checked.
    ///
    /// # Errors
    /// [`Error::Config`] for an unsupported scheme.
    pub fn database(&self) -> Result<crate::store::DatabaseUrl> {
        self.database_url
            .expose_secret()
            .parse()
            .map_err(|fix: String| Sources::default().bad("database_url", &fix))
    }

    /// Pool size and acquire timeout.
    #[must_use]
    pub fn pool(&self) -> crate::store::PoolSettings {
        crate::store::PoolSettings {
            max_connections: self.database_max_connections,
            acquire_timeout: self.database_acquire_timeout,
        }
    }

    /// Refuses plaintext on a non-loopback address unless `allow_plaintext`
    /// says something else protects the traffic. [`crate::App::build`] checks
    /// again, for configurations built in code.
    ///
    /// # Errors
    /// [`Error::Config`] naming the listener and the two ways to fix it.
    pub fn check_transport_security(&self) -> Result<()> {
        if self.tls.is_some() || self.allow_plaintext {
            return Ok(());
        }
        let exposed = [
            Some(("listen", self.listen)),
            self.http_listen.map(|addr| ("http-listen", addr)),
        ];
        for (flag, addr) in exposed.into_iter().flatten() {
            if !addr.ip().is_loopback() {
                return Err(Error::Config(format!(
                    "refusing to serve plaintext on {addr} (--{flag}), which is not a loopback \
                     address: turn TLS on with --tls-cert and --tls-key (AUTHD_TLS_CERT, \
                     AUTHD_TLS_KEY), or, if something else encrypts the traffic (such as a mesh \
                     sidecar terminating mutual TLS), pass --allow-plaintext \
                     (AUTHD_ALLOW_PLAINTEXT=true)"
                )));
            }
        }
        Ok(())
    }

    fn checked_transport_security(self) -> Result<Self> {
        self.check_transport_security()?;
        Ok(self)
    }

    /// The database URL with any password replaced by `***`, for messages.
    #[must_use]
    pub fn database_url_for_display(&self) -> String {
        crate::store::redact_url(self.database_url.expose_secret())
    }
}

/// Checks Argon2 parameters against OWASP's minimums and authd's caps,
/// blaming the value's source.
fn validate_argon2_from(p: Argon2Config, src: &Sources) -> Result<()> {
    crate::password::settings::check_argon2(p).map_err(|(key, message)| src.bad(key, &message))
}

/// The login throttling settings and the trusted proxies (issue 5), taken
/// out of `file`.
fn load_throttle_settings(
    args: &ConfigArgs,
    src: &Sources,
) -> Result<(ThrottlePolicy, TrustedProxies)> {
    let defaults = ThrottlePolicy::default();
    let account_free_failures = args
        .login_free_failures
        .unwrap_or(defaults.account_free_failures);
    if !(1..=1000).contains(&account_free_failures) {
        return Err(src.bad(
            "login-free-failures",
            "must be between 1 and 1000 (5 lets a user mistype a few times)",
        ));
    }
    let address_free_failures = args
        .login_free_failures_per_address
        .unwrap_or(defaults.address_free_failures);
    if !(1..=1_000_000).contains(&address_free_failures) {
        return Err(src.bad(
            "login-free-failures-per-address",
            "must be between 1 and 1000000 (raise it for clients behind a shared NAT)",
        ));
    }
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let window = duration_setting(
        src,
        args.login_failure_window.clone(),
        "login-failure-window",
        Duration::from_secs(defaults.window_secs.unsigned_abs()),
        Duration::from_secs(1)..=Duration::from_secs(30 * 24 * 3600),
    )?;
    let base = duration_setting(
        src,
        args.login_backoff_base.clone(),
        "login-backoff-base",
        Duration::from_secs(defaults.base_delay_secs.unsigned_abs()),
        Duration::from_secs(1)..=Duration::from_secs(3600),
    )?;
    let max = duration_setting(
        src,
        args.login_backoff_max.clone(),
        "login-backoff-max",
        Duration::from_secs(defaults.max_delay_secs.unsigned_abs()),
        Duration::from_secs(1)..=Duration::from_secs(30 * 24 * 3600),
    )?;
    let policy = ThrottlePolicy {
        account_free_failures,
        address_free_failures,
        window_secs: secs(window),
        base_delay_secs: secs(base),
        max_delay_secs: secs(max),
    };
    if policy.max_delay_secs < policy.base_delay_secs {
        return Err(src.bad("login-backoff-max", "must be at least --login-backoff-base"));
    }
    if policy.max_delay_secs > policy.window_secs {
        return Err(src.bad(
            "login-backoff-max",
            "must be at most --login-failure-window (failures are forgotten after the window, \
             so a longer block could not happen); lower it or lengthen the window",
        ));
    }
    let trusted_proxies = args
        .trusted_proxies
        .clone()
        .as_deref()
        .unwrap_or_default()
        .parse()?;
    Ok((policy, trusted_proxies))
}

/// The validated issue-4 settings (HTTP listener, keys, ext_authz).
struct KeySettings {
    http_listen: Option<SocketAddr>,
    key_rotation_interval: Option<Duration>,
    ext_authz_headers: ExtAuthzHeaders,
}

fn load_key_settings(
    args: &ConfigArgs,
    src: &Sources,
    defaults: &Config,
    key_prepublish: Duration,
) -> Result<KeySettings> {
    let http_listen = match args.http_listen.clone() {
        None => defaults.http_listen,
        Some(s) if s.eq_ignore_ascii_case("off") => None,
        Some(s) => Some(s.parse().map_err(|_| {
            src.bad(
                "http-listen",
                &format!("`{s}` is not an address; use IP:PORT such as 127.0.0.1:8080, or off"),
            )
        })?),
    };
    let key_rotation_interval = match args.key_rotation_interval.clone() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("off") => None,
        Some(s) => Some(duration_setting(
            src,
            Some(s),
            "key-rotation-interval",
            Duration::ZERO,
            Duration::from_secs(3600)..=Duration::from_secs(366 * 24 * 3600),
        )?),
    };
    if let Some(interval) = key_rotation_interval
        && interval <= key_prepublish
    {
        return Err(src.bad(
            "key-rotation-interval",
            "must be longer than --key-prepublish",
        ));
    }
    let header = |arg: &Option<String>, default: &str, flag| {
        let name = arg
            .clone()
            .unwrap_or_else(|| default.to_owned())
            .to_ascii_lowercase();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(src.bad(
                flag,
                "must be an HTTP header name (letters, digits, '-', '_')",
            ));
        }
        if name.bytes().filter(|b| matches!(b, b'-' | b'_')).count() > MAX_HEADER_SEPARATORS {
            return Err(src.bad(flag, "must have at most 5 '-' or '_' separators"));
        }
        if RESERVED_HEADERS.contains(&name.replace('_', "-").as_str()) {
            return Err(src.bad(
                flag,
                "must not be a header the caller or the proxy relies on \
                 (authorization, cookie, host, ...); use an x-... name",
            ));
        }
        Ok(name)
    };
    let d = &defaults.ext_authz_headers;
    let ext_authz_headers = ExtAuthzHeaders {
        user_id: header(
            &args.ext_authz_user_id_header,
            &d.user_id,
            "ext-authz-user-id-header",
        )?,
        username: header(
            &args.ext_authz_username_header,
            &d.username,
            "ext-authz-username-header",
        )?,
        roles: header(
            &args.ext_authz_roles_header,
            &d.roles,
            "ext-authz-roles-header",
        )?,
    };
    let spelled = |n: &str| n.replace('_', "-");
    let h = &ext_authz_headers;
    if spelled(&h.user_id) == spelled(&h.username)
        || spelled(&h.user_id) == spelled(&h.roles)
        || spelled(&h.username) == spelled(&h.roles)
    {
        return Err(Error::Config(
            "--ext-authz-user-id-header, --ext-authz-username-header and \
             --ext-authz-roles-header must name three different headers"
                .to_owned(),
        ));
    }
    Ok(KeySettings {
        http_listen,
        key_rotation_interval,
        ext_authz_headers,
    })
}

/// The validated transport-security settings.
struct TransportSettings {
    tls: Option<crate::tls::TlsSettings>,
    admin_clients: crate::tls::AdminClients,
    allow_plaintext: bool,
}

/// Reads `--tls-cert`, `--tls-key`, `--tls-client-ca`, `--admin-clients`
/// and `--allow-plaintext`: each needs the one before it.
fn load_transport_settings(args: &ConfigArgs, src: &Sources) -> Result<TransportSettings> {
    let cert = args.tls_cert.clone();
    let key = args.tls_key.clone();
    let client_ca = args.tls_client_ca.clone();
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(crate::tls::TlsSettings::load(
            &cert,
            &key,
            client_ca.as_deref(),
        )?),
        (Some(_), None) => {
            return Err(src.bad(
                "tls-key",
                "--tls-cert is set but its private key is not; give both (PEM files)",
            ));
        }
        (None, Some(_)) => {
            return Err(src.bad(
                "tls-cert",
                "--tls-key is set but the certificate is not; give both (PEM files)",
            ));
        }
    };
    if client_ca.is_some() && tls.is_none() {
        return Err(src.bad(
            "tls-client-ca",
            "client certificates need TLS; also give --tls-cert and --tls-key",
        ));
    }
    let listed = args.admin_clients.clone();
    let allowed = listed
        .iter()
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            entry
                .parse::<crate::tls::ClientIdentity>()
                .map_err(|message| src.bad("admin-clients", &message))
        })
        .collect::<Result<Vec<_>>>()?;
    if !allowed.is_empty()
        && !tls
            .as_ref()
            .is_some_and(crate::tls::TlsSettings::verifies_clients)
    {
        return Err(src.bad(
            "admin-clients",
            "the allow-list checks client certificates, so it needs mutual TLS: also give \
             --tls-cert, --tls-key and --tls-client-ca",
        ));
    }
    Ok(TransportSettings {
        tls,
        admin_clients: crate::tls::AdminClients::new(allowed),
        allow_plaintext: args.allow_plaintext,
    })
}

/// Checks `--otlp-endpoint`: an `http://HOST:PORT` URL, and only in a build
/// that can export. Refusing it elsewhere beats silently exporting nothing.
fn otlp_endpoint_setting(src: &Sources, value: Option<String>) -> Result<Option<String>> {
    const FLAG: &str = "otlp_endpoint";
    let Some(text) = value else {
        return Ok(None);
    };
    if !cfg!(feature = "otlp") {
        return Err(src.bad(FLAG, crate::telemetry::OTLP_NOT_BUILT));
    }
    // This build has no TLS client, so the collector is reached in plain
    // HTTP/2: one on loopback (an agent next to authd) or a trusted network.
    let uri: tonic::codegen::http::Uri = text.parse().map_err(|_| {
        src.bad(
            FLAG,
            &format!("`{text}` is not a URL; use http://HOST:PORT such as http://127.0.0.1:4317"),
        )
    })?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(src.bad(
            FLAG,
            &format!(
                "`{text}` must be http://HOST:PORT (such as http://127.0.0.1:4317); \
                 TLS to the collector is not in this build"
            ),
        ));
    }
    Ok(Some(text))
}

/// A secret given by value or in a file (`*_FILE`, trailing newline
/// ignored), which must be at least 32 bytes; a short one is reported under
/// the setting it came from, so a short file is blamed on the file setting.
fn long_secret(
    src: &Sources,
    value: Option<&SecretString>,
    file: Option<&Path>,
    key: &str,
) -> Result<Option<std::sync::Arc<SecretBox<Vec<u8>>>>> {
    let file_key = format!("{key}_file");
    let (secret, from) = match (value, file) {
        (Some(value), _) => (value.clone(), key),
        (None, Some(path)) => (read_secret_file(src, path, &file_key)?, file_key.as_str()),
        (None, None) => return Ok(None),
    };
    if secret.expose_secret().len() < 32 {
        return Err(src.bad(
            from,
            "is shorter than 32 bytes; generate one with `head -c 48 /dev/urandom | base64`",
        ));
    }
    let bytes = secret.expose_secret().as_bytes().to_vec();
    Ok(Some(std::sync::Arc::new(SecretBox::new(Box::new(bytes)))))
}

/// The database URL, by value or from `--database-url-file`, checked.
fn database_url_setting(store: &StoreArgs, src: &Sources) -> Result<SecretString> {
    let (url, key) = match (&store.database_url, &store.database_url_file) {
        (Some(url), _) => (url.clone(), "database_url"),
        (None, Some(path)) => (
            read_secret_file(src, path, "database_url_file")?,
            "database_url_file",
        ),
        (None, None) => (SecretString::from(DEFAULT_DATABASE_URL), "database_url"),
    };
    url.expose_secret()
        .parse::<crate::store::DatabaseUrl>()
        .map_err(|fix| src.bad(key, &fix))?;
    Ok(url)
}

/// Reads a `*_FILE` secret straight into a secret type.
fn read_secret_file(src: &Sources, path: &Path, key: &str) -> Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| src.bad(key, &format!("cannot read {}: {e}", path.display())))?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

fn duration_setting(
    src: &Sources,
    arg: Option<String>,
    flag: &str,
    default: Duration,
    range: std::ops::RangeInclusive<Duration>,
) -> Result<Duration> {
    let Some(text) = arg else {
        return Ok(default);
    };
    let value = parse_duration(&text).ok_or_else(|| {
        src.bad(
            flag,
            &format!("`{text}` is not a duration; use a number with ms, s, m, h or d, e.g. 15m"),
        )
    })?;
    if !range.contains(&value) {
        return Err(src.bad(
            flag,
            &format!(
                "{text} is out of range ({:?} to {:?})",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(value)
}

/// Parses `250ms`, `30s`, `15m`, `1h`, `7d`, or a bare number of seconds.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let millis = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }?;
    Some(Duration::from_millis(millis))
}

pub use crate::store::redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }

    #[test]
    fn defaults_need_no_set_up() {
        let config = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(config.argon2, Argon2Config::default());
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert!(matches!(config.signing, Signing::EdDsa));
    }

    #[test]
    fn throttle_settings_are_validated_with_a_fix() {
        let config = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(config.login_throttle, ThrottlePolicy::default());
        assert!(config.trusted_proxies.is_empty());

        let config = Config::load(&ConfigArgs {
            login_free_failures: Some(3),
            login_free_failures_per_address: Some(500),
            login_failure_window: Some("2h".into()),
            login_backoff_base: Some("2s".into()),
            login_backoff_max: Some("30m".into()),
            trusted_proxies: Some("10.0.0.0/8, 127.0.0.1".into()),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert_eq!(
            config.login_throttle,
            ThrottlePolicy {
                account_free_failures: 3,
                address_free_failures: 500,
                window_secs: 7200,
                base_delay_secs: 2,
                max_delay_secs: 1800,
            }
        );
        assert!(config.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));

        for (args, flag, fix) in [
            (
                ConfigArgs {
                    login_free_failures: Some(0),
                    ..ConfigArgs::default()
                },
                "AUTHD_LOGIN_FREE_FAILURES",
                "between 1 and 1000",
            ),
            (
                ConfigArgs {
                    login_backoff_max: Some("2h".into()),
                    ..ConfigArgs::default()
                },
                "AUTHD_LOGIN_BACKOFF_MAX",
                "lengthen the window",
            ),
            (
                ConfigArgs {
                    login_backoff_base: Some("10m".into()),
                    login_backoff_max: Some("1m".into()),
                    ..ConfigArgs::default()
                },
                "AUTHD_LOGIN_BACKOFF_MAX",
                "at least --login-backoff-base",
            ),
            (
                ConfigArgs {
                    trusted_proxies: Some("proxy.internal".into()),
                    ..ConfigArgs::default()
                },
                "AUTHD_TRUSTED_PROXIES",
                "10.0.0.0/8",
            ),
        ] {
            let message = Config::load(&args).unwrap_err().to_string();
            assert!(message.contains(flag), "{message}");
            assert!(message.contains(fix), "{message}");
        }
    }

    #[test]
    fn bad_values_name_the_flag_and_variable() {
        let message = load(&["--listen", "not-an-address"])
            .unwrap_err()
            .to_string();
        assert!(message.contains("--listen"), "{message}");
        assert!(message.contains("AUTHD_LISTEN"), "{message}");
        assert!(
            message.contains("set by the command-line flag"),
            "{message}"
        );

        let message = load(&[
            "--signing-algorithm",
            "HS256",
            "--hs256-secret",
            "tiny-s3cret",
        ])
        .unwrap_err()
        .to_string();
        assert!(message.contains("32 bytes"), "{message}");
        assert!(
            !message.contains("tiny-s3cret"),
            "the secret leaked: {message}"
        );
        assert!(load(&["--database-url", "mysql://x"]).is_err());
    }

    #[test]
    fn file_values_apply_below_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\nissuer = \"from-file\"\naccess_token_ttl = \"5m\"\n",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let config = load(&["--config", file, "--issuer", "from-flag"]).unwrap();
        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.issuer, "from-flag");
        assert_eq!(config.access_token_ttl, Duration::from_secs(300));

        std::fs::write(&path, "issuer = \"a\"\nno_such_key = 1\n").unwrap();
        let message = load(&["--config", file]).unwrap_err().to_string();
        assert!(message.contains("no_such_key"), "{message}");
        assert!(message.contains(&format!("{file}:2:15")), "{message}");
    }

    #[test]
    fn a_bare_number_in_the_file_is_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.toml");
        std::fs::write(&path, "access_token_ttl = 600\nleeway = 0\n").unwrap();
        let config = load(&["--config", path.to_str().unwrap()]).unwrap();
        assert_eq!(config.access_token_ttl, Duration::from_secs(600));
        assert_eq!(config.leeway, Duration::ZERO);
    }

    #[test]
    fn a_bad_file_value_is_blamed_on_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.toml");
        std::fs::write(
            &path,
            "issuer = \"authd\"\naccess_token_ttl = \"forever\"\n",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let message = load(&["--config", file]).unwrap_err().to_string();
        assert!(message.contains("--access-token-ttl"), "{message}");
        assert!(message.contains("file key access_token_ttl"), "{message}");
        assert!(
            message.contains(&format!("set in {file}:2:20")),
            "{message}"
        );
        // The same value as a flag is blamed on the flag, not the file.
        let message = load(&["--config", file, "--access-token-ttl", "never"])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("set by the command-line flag"),
            "{message}"
        );

        std::fs::write(&path, "leeway = 1.5.0\n").unwrap();
        let message = load(&["--config", file]).unwrap_err().to_string();
        assert!(message.contains(&format!("{file}:1:")), "{message}");
    }

    #[test]
    fn a_short_secret_file_is_reported_under_the_file_setting() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("kek");
        std::fs::write(&secret, "short\n").unwrap();
        let message = load(&["--key-encryption-secret-file", secret.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("--key-encryption-secret-file"),
            "{message}"
        );
        assert!(message.contains("32 bytes"), "{message}");
    }

    #[test]
    fn key_http_and_ext_authz_settings_are_validated() {
        let config = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(config.http_listen.unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(config.key_prepublish, Duration::from_secs(3600));
        assert!(config.key_rotation_interval.is_none());
        assert_eq!(config.ext_authz_headers, ExtAuthzHeaders::default());

        let config = load(&[
            "--http-listen",
            "off",
            "--signing-algorithm",
            "rs256",
            "--key-rotation-interval",
            "720h",
            "--ext-authz-roles-header",
            "X-Groups",
        ])
        .unwrap();
        assert!(config.http_listen.is_none());
        assert!(matches!(config.signing, Signing::Rs256));
        assert_eq!(
            config.key_rotation_interval,
            Some(Duration::from_secs(720 * 3600))
        );
        assert_eq!(config.ext_authz_headers.roles, "x-groups");

        for (args, flag) in [
            (
                args(&["--key-encryption-secret", "short-kek"]),
                "--key-encryption-secret",
            ),
            (
                ConfigArgs {
                    key_rotation_interval: Some("1h".into()),
                    ..ConfigArgs::default()
                },
                "--key-rotation-interval",
            ),
            (
                ConfigArgs {
                    ext_authz_user_id_header: Some("x user: id".into()),
                    ..ConfigArgs::default()
                },
                "--ext-authz-user-id-header",
            ),
            (
                ConfigArgs {
                    http_listen: Some("everywhere".into()),
                    ..ConfigArgs::default()
                },
                "--http-listen",
            ),
        ] {
            let message = Config::load(&args).unwrap_err().to_string();
            assert!(message.contains(flag), "{message}");
            assert!(!message.contains("short-kek"), "{message}");
        }
    }

    #[test]
    fn ext_authz_header_names_must_be_distinct_and_not_reserved() {
        for (args, expected) in [
            (
                ConfigArgs {
                    ext_authz_roles_header: Some("Authorization".into()),
                    ..ConfigArgs::default()
                },
                "--ext-authz-roles-header",
            ),
            (
                ConfigArgs {
                    ext_authz_username_header: Some("x_forwarded_for".into()),
                    ..ConfigArgs::default()
                },
                "--ext-authz-username-header",
            ),
            (
                ConfigArgs {
                    ext_authz_roles_header: Some("x_authd_user_id".into()),
                    ..ConfigArgs::default()
                },
                "three different headers",
            ),
            (
                ConfigArgs {
                    ext_authz_roles_header: Some("a-b-c-d-e-f-g".into()),
                    ..ConfigArgs::default()
                },
                "at most 5",
            ),
        ] {
            let message = Config::load(&args).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn every_other_spelling_of_the_identity_headers_is_listed() {
        let spellings = ExtAuthzHeaders::default().other_spellings();
        for name in [
            "x_authd_roles",
            "x-authd_roles",
            "x_authd-roles",
            "x_authd_user_id",
            "x-authd-user_id",
            "x_authd_username",
        ] {
            assert!(
                spellings.contains(&name.to_owned()),
                "{name}: {spellings:?}"
            );
        }
        // The names themselves are set, never removed; 3 + 7 + 3 others.
        assert!(!spellings.contains(&"x-authd-roles".to_owned()));
        assert_eq!(spellings.len(), 13);
    }

    #[test]
    fn otlp_endpoint_is_off_by_default_and_needs_the_feature() {
        assert!(
            Config::load(&ConfigArgs::default())
                .unwrap()
                .otlp_endpoint
                .is_none()
        );
        let with = |endpoint: &str| {
            Config::load(&ConfigArgs {
                otlp_endpoint: Some(endpoint.to_owned()),
                ..ConfigArgs::default()
            })
        };
        if cfg!(feature = "otlp") {
            let config = with("http://127.0.0.1:4317").unwrap();
            assert_eq!(
                config.otlp_endpoint.as_deref(),
                Some("http://127.0.0.1:4317")
            );
            for bad in ["127.0.0.1:4317", "https://collector:4317", "not a url"] {
                let message = with(bad).unwrap_err().to_string();
                assert!(message.contains("--otlp-endpoint"), "{message}");
                assert!(message.contains("AUTHD_OTLP_ENDPOINT"), "{message}");
            }
        } else {
            let message = with("http://127.0.0.1:4317").unwrap_err().to_string();
            assert!(message.contains("--otlp-endpoint"), "{message}");
            assert!(message.contains("--features otlp"), "{message}");
        }
    }

    #[test]
    fn plaintext_on_a_non_loopback_address_is_refused_unless_allowed() {
        for (args, flag) in [
            (
                ConfigArgs {
                    listen: Some("0.0.0.0:50051".into()),
                    ..ConfigArgs::default()
                },
                "--listen",
            ),
            (
                ConfigArgs {
                    http_listen: Some("192.0.2.10:8080".into()),
                    ..ConfigArgs::default()
                },
                "--http-listen",
            ),
        ] {
            let message = Config::load(&args).unwrap_err().to_string();
            for needed in [
                flag,
                "--tls-cert",
                "--tls-key",
                "--allow-plaintext",
                "AUTHD_ALLOW_PLAINTEXT",
            ] {
                assert!(message.contains(needed), "{needed}: {message}");
            }
            let allowed = Config::load(&ConfigArgs {
                allow_plaintext: true,
                ..args
            })
            .unwrap();
            assert!(allowed.allow_plaintext);
        }
        // Loopback (IPv4 and IPv6) and a turned-off HTTP listener need nothing.
        let config = Config::load(&ConfigArgs {
            listen: Some("[::1]:50051".into()),
            http_listen: Some("off".into()),
            ..ConfigArgs::default()
        })
        .unwrap();
        assert!(config.tls.is_none() && !config.allow_plaintext);
        // A configuration built in code is checked the same way.
        let built = Config {
            listen: "0.0.0.0:50051".parse().unwrap(),
            ..Config::default()
        };
        assert!(built.check_transport_security().is_err());
    }

    #[test]
    fn allow_plaintext_can_come_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:50051\"\nallow_plaintext = true\n",
        )
        .unwrap();
        let config = load(&["--config", path.to_str().unwrap()]).unwrap();
        assert!(config.allow_plaintext);
    }

    #[test]
    fn client_certificate_settings_need_the_settings_they_build_on() {
        for (args, flag) in [
            (
                ConfigArgs {
                    tls_client_ca: Some("ca.pem".into()),
                    ..ConfigArgs::default()
                },
                "--tls-client-ca",
            ),
            (
                ConfigArgs {
                    admin_clients: vec!["dns:ops.internal".into()],
                    ..ConfigArgs::default()
                },
                "--admin-clients",
            ),
            (
                ConfigArgs {
                    tls_key: Some("key.pem".into()),
                    ..ConfigArgs::default()
                },
                "--tls-cert",
            ),
            (
                ConfigArgs {
                    admin_clients: vec!["ops.internal".into()],
                    ..ConfigArgs::default()
                },
                "--admin-clients",
            ),
        ] {
            let message = Config::load(&args).unwrap_err().to_string();
            assert!(message.contains(flag), "{flag}: {message}");
        }
        assert!(
            !Config::load(&ConfigArgs::default())
                .unwrap()
                .admin_clients
                .is_on()
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let args = args(&[
            "--database-url",
            "postgres://u:topsecretpw@h/db",
            "--signing-algorithm",
            "HS256",
            "--hs256-secret",
            "an-hs256-secret-that-is-long-enough-0123456789",
            "--key-encryption-secret",
            "a-key-encryption-secret-long-enough-0123",
        ]);
        let config = Config::load(&args).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("a-key-encryption-secret"), "{debug}");
        assert!(!debug.contains("topsecretpw"), "{debug}");
        assert!(!debug.contains("an-hs256-secret"), "{debug}");
        let debug = format!("{args:?}");
        assert!(!debug.contains("topsecretpw"), "{debug}");
        assert!(!debug.contains("an-hs256-secret"), "{debug}");
        assert!(!debug.contains("a-key-encryption-secret"), "{debug}");
    }

    /// The server's arguments as `authd ARGS` parses them (the process's own
    /// `AUTHD_*` variables apply too; tests run without any).
    fn parsed(list: &[&str]) -> (ConfigArgs, Sources) {
        let argv = std::iter::once("authd").chain(list.iter().copied());
        match crate::cli::parse_from(argv) {
            Ok((cli, sources)) => (cli.config, sources),
            Err(crate::cli::ParseFailure::Config(e)) => panic!("{e}"),
            Err(crate::cli::ParseFailure::Clap(e)) => panic!("{e}"),
        }
    }

    fn args(list: &[&str]) -> ConfigArgs {
        parsed(list).0
    }

    /// `authd ARGS`'s configuration, or the error it starts with.
    fn load(list: &[&str]) -> Result<Config> {
        let argv = std::iter::once("authd").chain(list.iter().copied());
        match crate::cli::parse_from(argv) {
            Ok((cli, sources)) => Config::load_from(&cli.config, &sources),
            Err(crate::cli::ParseFailure::Config(e)) => Err(e),
            Err(crate::cli::ParseFailure::Clap(e)) => panic!("{e}"),
        }
    }
}
