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
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::client_addr::TrustedProxies;
use crate::error::{Error, Result};
use crate::throttle::ThrottlePolicy;
use crate::token::rotation::KeyPolicy;

mod groups;
mod layer;
mod server;

pub use groups::{
    LifetimeConfig, PasswordConfig, SigningConfig, StoreConfig, key_policy, log_settings,
    parse_duration,
};
use groups::{database_url_setting, duration_setting};
use server::{
    load_key_settings, load_throttle_settings, load_transport_settings, otlp_endpoint_setting,
};

pub use crate::grpc::ext_authz::ExtAuthzHeaders;
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

pub use crate::store::redact_url;

#[cfg(test)]
mod tests;
