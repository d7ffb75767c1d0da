//! Configuration: zero-set-up defaults, overridden by a TOML file, then by
//! `AUTHD_*` environment variables, then by command-line flags.
//!
//! This module owns parsing and validation only. Every value is checked at
//! start-up and a bad one is rejected with a message naming the flag, the
//! variable and what a valid value looks like. Secrets (the database URL, which
//! may hold a password, and the HS256 secret) are held in [`secrecy`] types so
//! they never show up in `Debug` output or logs; each can also be read from a
//! file (`*_FILE`), which keeps it out of the process table and environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;

use crate::client_addr::TrustedProxies;
use crate::error::{Error, Result};
use crate::throttle::ThrottlePolicy;

/// The listen address when none is configured: loopback only, so a fresh
/// install is not reachable from the network until someone decides it should be.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// The database when none is configured: an SQLite file in the working
/// directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://authd.db";

/// Flags shared by every subcommand. Each one can also be set by the
/// environment variable named in its help, or in the config file.
/// (`Debug` is written by hand: it must not show the secrets.)
#[derive(Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML config file; its keys are the flag names with `_` for `-`.
    #[arg(long, env = "AUTHD_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address of the gRPC listener [default: 127.0.0.1:50051].
    #[arg(long, env = "AUTHD_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Database URL: `sqlite://PATH` or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// [default: `sqlite://authd.db`].
    #[arg(
        long,
        env = "AUTHD_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// File holding the database URL (keeps a password out of the environment).
    #[arg(
        long,
        env = "AUTHD_DATABASE_URL_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub database_url_file: Option<PathBuf>,

    /// Most database connections per authd process [default: 10].
    #[arg(long, env = "AUTHD_DATABASE_MAX_CONNECTIONS", global = true)]
    pub database_max_connections: Option<u32>,

    /// How long a call waits for a database connection before failing with
    /// UNAVAILABLE [default: 1s].
    #[arg(long, env = "AUTHD_DATABASE_ACQUIRE_TIMEOUT", global = true)]
    pub database_acquire_timeout: Option<String>,

    /// `iss` claim of issued tokens; Verify rejects any other [default: authd].
    #[arg(long, env = "AUTHD_ISSUER", global = true)]
    pub issuer: Option<String>,

    /// `aud` claim of issued tokens; Verify rejects tokens without it [default: authd].
    #[arg(long, env = "AUTHD_AUDIENCE", global = true)]
    pub audience: Option<String>,

    /// Lifetime of access tokens, e.g. `900s`, `15m`, `1h` [default: 15m].
    #[arg(long, env = "AUTHD_ACCESS_TOKEN_TTL", global = true)]
    pub access_token_ttl: Option<String>,

    /// Absolute lifetime of a session (and of its refresh tokens); refreshing
    /// does not extend it [default: 7d].
    #[arg(long, env = "AUTHD_SESSION_LIFETIME", global = true)]
    pub session_lifetime: Option<String>,

    /// Window in which presenting an already-rotated refresh token again
    /// returns the same successor instead of revoking the session [default: 10s].
    #[arg(long, env = "AUTHD_REFRESH_GRACE", global = true)]
    pub refresh_grace: Option<String>,

    /// Most live sessions per user; logging in beyond it ends the oldest (0: no limit) [default: 100].
    #[arg(long, env = "AUTHD_MAX_SESSIONS_PER_USER", global = true)]
    pub max_sessions_per_user: Option<u32>,

    /// How long cached user/session state may be trusted after the change
    /// feed was last heard from; past it Verify reads the database [default: 3s].
    #[arg(long, env = "AUTHD_CACHE_TRUST_BOUND", global = true)]
    pub cache_trust_bound: Option<String>,

    /// Tokens whose signature and claims already checked out, remembered so
    /// Verify need not check them again (0: off) [default: 100000].
    #[arg(long, env = "AUTHD_VERIFY_CACHE_ENTRIES", global = true)]
    pub verify_cache_entries: Option<usize>,

    /// Longest time a verified token is remembered (never past its `exp`) [default: 5m].
    #[arg(long, env = "AUTHD_VERIFY_CACHE_TTL", global = true)]
    pub verify_cache_ttl: Option<String>,

    /// Longest token Verify will parse; longer ones are malformed [default: 8192].
    #[arg(long, env = "AUTHD_MAX_TOKEN_BYTES", global = true)]
    pub max_token_bytes: Option<usize>,

    /// Clock skew tolerated when checking `exp` and `nbf` [default: 10s].
    #[arg(long, env = "AUTHD_LEEWAY", global = true)]
    pub leeway: Option<String>,

    /// Signing algorithm: `EdDSA` (Ed25519), `ES256` or `RS256` (keys generated,
    /// stored in the database and published as a JWKS), or `HS256` (shared
    /// secret, nothing published) [default: EdDSA].
    #[arg(long, env = "AUTHD_SIGNING_ALGORITHM", global = true)]
    pub signing_algorithm: Option<String>,

    /// HS256 secret, at least 32 bytes. Prefer `--hs256-secret-file`.
    #[arg(
        long,
        env = "AUTHD_HS256_SECRET",
        global = true,
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub hs256_secret: Option<String>,

    /// File holding the HS256 secret (trailing newline ignored).
    #[arg(
        long,
        env = "AUTHD_HS256_SECRET_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub hs256_secret_file: Option<PathBuf>,

    /// Argon2id memory cost in KiB [default: 19456].
    #[arg(long, env = "AUTHD_ARGON2_MEMORY_KIB", global = true)]
    pub argon2_memory_kib: Option<u32>,

    /// Argon2id iterations [default: 2].
    #[arg(long, env = "AUTHD_ARGON2_ITERATIONS", global = true)]
    pub argon2_iterations: Option<u32>,

    /// Argon2id parallelism [default: 1].
    #[arg(long, env = "AUTHD_ARGON2_PARALLELISM", global = true)]
    pub argon2_parallelism: Option<u32>,

    /// Password hashes computed at once [default: the number of CPUs].
    #[arg(long, env = "AUTHD_HASH_CONCURRENCY", global = true)]
    pub hash_concurrency: Option<usize>,

    /// How long a login waits for a hashing slot before RESOURCE_EXHAUSTED [default: 1s].
    #[arg(long, env = "AUTHD_HASH_QUEUE_TIMEOUT", global = true)]
    pub hash_queue_timeout: Option<String>,

    /// How long shutdown waits for in-flight calls [default: 10s].
    #[arg(long, env = "AUTHD_SHUTDOWN_GRACE", global = true)]
    pub shutdown_grace: Option<String>,

    /// Longest time one gRPC call may take before it is cancelled; a
    /// shorter `grpc-timeout` from the caller wins [default: 10s].
    #[arg(long, env = "AUTHD_REQUEST_TIMEOUT", global = true)]
    pub request_timeout: Option<String>,

    /// Largest gRPC request message accepted, in bytes; bigger ones are
    /// refused before they are read [default: 65536].
    #[arg(long, env = "AUTHD_MAX_MESSAGE_BYTES", global = true)]
    pub max_message_bytes: Option<usize>,

    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "AUTHD_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,

    /// Log filter in `tracing` syntax, e.g. `info` or `authd=debug` [default: info].
    #[arg(long, env = "AUTHD_LOG", global = true)]
    pub log: Option<String>,

    /// Address of the HTTP listener (JWKS, discovery, health, metrics), or
    /// `off` [default: 127.0.0.1:8080].
    #[arg(long, env = "AUTHD_HTTP_LISTEN", global = true, value_name = "ADDR")]
    pub http_listen: Option<String>,

    /// Secret that encrypts private signing keys in the database (at least
    /// 32 bytes). Prefer `--key-encryption-secret-file`.
    #[arg(
        long,
        env = "AUTHD_KEY_ENCRYPTION_SECRET",
        global = true,
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub key_encryption_secret: Option<String>,

    /// File holding the key-encryption secret (trailing newline ignored).
    #[arg(
        long,
        env = "AUTHD_KEY_ENCRYPTION_SECRET_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub key_encryption_secret_file: Option<PathBuf>,

    /// How long a new key is published before it signs, so JWKS caches
    /// learn it first [default: 1h].
    #[arg(long, env = "AUTHD_KEY_PREPUBLISH", global = true)]
    pub key_prepublish: Option<String>,

    /// Rotate the signing key automatically this often, e.g. `720h`, or `off`
    /// [default: off].
    #[arg(long, env = "AUTHD_KEY_ROTATION_INTERVAL", global = true)]
    pub key_rotation_interval: Option<String>,

    /// How often each replica reloads keys from the database and applies due
    /// rotations and retirements [default: 30s].
    #[arg(long, env = "AUTHD_KEY_REFRESH_INTERVAL", global = true)]
    pub key_refresh_interval: Option<String>,

    /// ext_authz: request header carrying the user id to the upstream
    /// [default: x-authd-user-id].
    #[arg(long, env = "AUTHD_EXT_AUTHZ_USER_ID_HEADER", global = true)]
    pub ext_authz_user_id_header: Option<String>,

    /// ext_authz: request header carrying the username [default: x-authd-username].
    #[arg(long, env = "AUTHD_EXT_AUTHZ_USERNAME_HEADER", global = true)]
    pub ext_authz_username_header: Option<String>,

    /// ext_authz: request header carrying the roles, comma-separated
    /// [default: x-authd-roles].
    #[arg(long, env = "AUTHD_EXT_AUTHZ_ROLES_HEADER", global = true)]
    pub ext_authz_roles_header: Option<String>,

    /// OpenTelemetry collector to export RPC spans to over OTLP/gRPC, e.g.
    /// `http://127.0.0.1:4317`; unset: no export. Needs a build with
    /// `--features otlp`; spans never carry tokens, passwords or hashes.
    #[arg(long, env = "AUTHD_OTLP_ENDPOINT", global = true, value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// Failed logins per login name (existing or not) that cost nothing;
    /// further ones are slowed down by a doubling back-off [default: 5].
    #[arg(long, env = "AUTHD_LOGIN_FREE_FAILURES", global = true)]
    pub login_free_failures: Option<u32>,

    /// Failed logins per client address that cost nothing, against password
    /// spraying over many names; higher, since users may share a NAT [default: 50].
    #[arg(long, env = "AUTHD_LOGIN_FREE_FAILURES_PER_ADDRESS", global = true)]
    pub login_free_failures_per_address: Option<u32>,

    /// A login name's or address's failures are forgotten this long after
    /// its last failure [default: 1h].
    #[arg(long, env = "AUTHD_LOGIN_FAILURE_WINDOW", global = true)]
    pub login_failure_window: Option<String>,

    /// First block after the free failures; each further failure doubles it [default: 1s].
    #[arg(long, env = "AUTHD_LOGIN_BACKOFF_BASE", global = true)]
    pub login_backoff_base: Option<String>,

    /// Longest block; at most the failure window, so no lock-out is permanent [default: 15m].
    #[arg(long, env = "AUTHD_LOGIN_BACKOFF_MAX", global = true)]
    pub login_backoff_max: Option<String>,

    /// Proxies whose `x-forwarded-for` is believed (its last hop becomes the
    /// client address): comma-separated IPs or CIDR networks, e.g.
    /// `10.0.0.0/8,127.0.0.1`. Only list proxies that append the real peer
    /// [default: none, the peer address is used].
    #[arg(
        long,
        env = "AUTHD_TRUSTED_PROXIES",
        global = true,
        value_name = "LIST"
    )]
    pub trusted_proxies: Option<String>,
    /// PEM certificate chain (leaf first) served on the gRPC and HTTP
    /// listeners; with `--tls-key` turns TLS on for both [default: off].
    #[arg(long, env = "AUTHD_TLS_CERT", global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "AUTHD_TLS_KEY", global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// PEM bundle of CAs that gRPC client certificates must chain to (mutual
    /// TLS). Certificates stay optional for callers; one that is presented
    /// must verify [default: off].
    #[arg(long, env = "AUTHD_TLS_CLIENT_CA", global = true, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,

    /// Client-certificate identities allowed to call GetUser and
    /// RevokeSessions, comma-separated: `dns:NAME`, `uri:URI` (SPIFFE ID) or
    /// `cn:NAME`. Needs `--tls-client-ca` [default: off, no restriction].
    #[arg(
        long,
        env = "AUTHD_ADMIN_CLIENTS",
        global = true,
        value_name = "IDS",
        value_delimiter = ','
    )]
    pub admin_clients: Vec<String>,

    /// Serve without TLS on a non-loopback address, for example behind a
    /// mesh sidecar that terminates mutual TLS [default: false].
    #[arg(
        long,
        env = "AUTHD_ALLOW_PLAINTEXT",
        global = true,
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub allow_plaintext: bool,
}

impl std::fmt::Debug for ConfigArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |set: bool| if set { "[redacted]" } else { "None" };
        f.debug_struct("ConfigArgs")
            .field("config", &self.config)
            .field("listen", &self.listen)
            .field("database_url", &redacted(self.database_url.is_some()))
            .field("database_url_file", &self.database_url_file)
            .field("signing_algorithm", &self.signing_algorithm)
            .field("hs256_secret", &redacted(self.hs256_secret.is_some()))
            .field("hs256_secret_file", &self.hs256_secret_file)
            .finish_non_exhaustive()
    }
}

/// The config file's shape: the same keys as the flags, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    database_max_connections: Option<u32>,
    database_acquire_timeout: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    access_token_ttl: Option<String>,
    session_lifetime: Option<String>,
    refresh_grace: Option<String>,
    max_sessions_per_user: Option<u32>,
    cache_trust_bound: Option<String>,
    max_token_bytes: Option<usize>,
    verify_cache_entries: Option<usize>,
    verify_cache_ttl: Option<String>,
    leeway: Option<String>,
    signing_algorithm: Option<String>,
    hs256_secret: Option<String>,
    hs256_secret_file: Option<PathBuf>,
    argon2_memory_kib: Option<u32>,
    argon2_iterations: Option<u32>,
    argon2_parallelism: Option<u32>,
    hash_concurrency: Option<usize>,
    hash_queue_timeout: Option<String>,
    shutdown_grace: Option<String>,
    request_timeout: Option<String>,
    max_message_bytes: Option<usize>,
    log_format: Option<String>,
    log: Option<String>,
    http_listen: Option<String>,
    key_encryption_secret: Option<String>,
    key_encryption_secret_file: Option<PathBuf>,
    key_prepublish: Option<String>,
    key_rotation_interval: Option<String>,
    key_refresh_interval: Option<String>,
    ext_authz_user_id_header: Option<String>,
    ext_authz_username_header: Option<String>,
    ext_authz_roles_header: Option<String>,
    otlp_endpoint: Option<String>,
    login_free_failures: Option<u32>,
    login_free_failures_per_address: Option<u32>,
    login_failure_window: Option<String>,
    login_backoff_base: Option<String>,
    login_backoff_max: Option<String>,
    trusted_proxies: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    admin_clients: Option<Vec<String>>,
    allow_plaintext: Option<bool>,
}

/// How access tokens are signed.
#[derive(Debug, Clone)]
pub enum Signing {
    /// Ed25519 with a key pair generated on first start and kept in the database.
    EdDsa,
    /// ECDSA P-256 with SHA-256, key pairs kept in the database.
    Es256,
    /// RSA (2048-bit) PKCS#1 v1.5 with SHA-256, key pairs kept in the database.
    Rs256,
    /// HMAC-SHA256 with a shared secret; anyone holding it can mint tokens.
    Hs256 {
        /// The shared secret (at least 32 bytes).
        secret: std::sync::Arc<SecretBox<Vec<u8>>>,
    },
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl Default for Argon2Config {
    /// OWASP's first recommendation: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
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

/// Names of the request headers ext_authz sets on allowed requests (lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtAuthzHeaders {
    /// Carries the user id.
    pub user_id: String,
    /// Carries the username.
    pub username: String,
    /// Carries the roles, comma-separated.
    pub roles: String,
}

impl ExtAuthzHeaders {
    /// Every other spelling of the three names with `-` and `_` swapped
    /// (`x_authd-roles`, `x_authd_roles`, ...): servers that map `_` to `-`
    /// (or both to `_`, as CGI does) would read a client's copy under such a
    /// name as ours, so ext_authz removes them all.
    #[must_use]
    pub fn other_spellings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in [&self.user_id, &self.username, &self.roles] {
            let separators: Vec<usize> = name
                .bytes()
                .enumerate()
                .filter(|(_, b)| matches!(b, b'-' | b'_'))
                .map(|(i, _)| i)
                .collect();
            // Validated names have at most `MAX_HEADER_SEPARATORS` separators.
            let count = separators.len().min(MAX_HEADER_SEPARATORS);
            for mask in 0u32..(1 << count) {
                let mut bytes = name.clone().into_bytes();
                for (bit, &at) in separators.iter().take(count).enumerate() {
                    bytes[at] = if mask & (1 << bit) == 0 { b'-' } else { b'_' };
                }
                let spelling = String::from_utf8(bytes).unwrap_or_default();
                if &spelling != name && !out.contains(&spelling) {
                    out.push(spelling);
                }
            }
        }
        out
    }
}

/// Most `-`/`_` separators an ext_authz header name may have (its other
/// spellings, all removed on every allowed request, number 2^this).
const MAX_HEADER_SEPARATORS: usize = 5;

/// Headers ext_authz must never set: they carry the caller's own
/// credentials or steer the proxy.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "proxy-authorization",
    "x-forwarded-for",
    "x-envoy-original-path",
];

impl Default for ExtAuthzHeaders {
    fn default() -> Self {
        Self {
            user_id: "x-authd-user-id".to_owned(),
            username: "x-authd-username".to_owned(),
            roles: "x-authd-roles".to_owned(),
        }
    }
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

/// Argon2 parameter combinations OWASP recommends (memory KiB, iterations),
/// all equivalent in strength; a configuration must meet at least one.
const OWASP_ARGON2ID: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

/// Upper bounds on Argon2 parameters, for configuration and for stored
/// hashes alike: a tampered row must not make one login allocate gigabytes
/// or spin for minutes.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 262_144;
/// See [`ARGON2_MAX_MEMORY_KIB`].
pub const ARGON2_MAX_ITERATIONS: u32 = 16;
/// See [`ARGON2_MAX_MEMORY_KIB`].
pub const ARGON2_MAX_PARALLELISM: u32 = 16;

impl Config {
    /// Builds the configuration from defaults, the config file, the
    /// environment and flags (clap has already merged the last two).
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting and how to fix it.
    #[allow(clippy::too_many_lines)] // one straight sequence of settings reads best in one place
    pub fn load(args: &ConfigArgs) -> Result<Self> {
        let mut file = match &args.config {
            Some(path) => read_file_config(path)?,
            None => FileConfig::default(),
        };
        let defaults = Self::default();
        let keys = load_key_settings(args, &KeyFileSettings::take(&mut file), &defaults)?;
        let (login_throttle, trusted_proxies) = load_throttle_settings(args, &mut file)?;
        let transport = load_transport_settings(args, TransportFileSettings::take(&mut file))?;

        let listen = match args.listen.clone().or(file.listen) {
            Some(s) => s.parse().map_err(|_| {
                bad(
                    "listen",
                    "AUTHD_LISTEN",
                    &format!("`{s}` is not an address; use IP:PORT such as 127.0.0.1:50051"),
                )
            })?,
            None => defaults.listen,
        };

        let database_url = secret_setting(
            [
                (args.database_url.clone(), args.database_url_file.clone()),
                (file.database_url, file.database_url_file),
            ],
            "database-url-file",
        )?
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(bad(
                "database-url",
                "AUTHD_DATABASE_URL",
                "use sqlite://PATH or postgres://USER@HOST:PORT/DB",
            ));
        }

        let database_max_connections = args
            .database_max_connections
            .or(file.database_max_connections)
            .unwrap_or(defaults.database_max_connections);
        if !(1..=1000).contains(&database_max_connections) {
            return Err(bad(
                "database-max-connections",
                "AUTHD_DATABASE_MAX_CONNECTIONS",
                "must be between 1 and 1000",
            ));
        }

        let database_acquire_timeout = duration_setting(
            args.database_acquire_timeout.clone(),
            file.database_acquire_timeout,
            "database-acquire-timeout",
            "AUTHD_DATABASE_ACQUIRE_TIMEOUT",
            defaults.database_acquire_timeout,
            Duration::from_millis(10)..=Duration::from_secs(60),
        )?;

        let issuer = args
            .issuer
            .clone()
            .or(file.issuer)
            .unwrap_or(defaults.issuer);
        if issuer.trim().is_empty() {
            return Err(bad("issuer", "AUTHD_ISSUER", "must not be empty"));
        }
        let audience = args
            .audience
            .clone()
            .or(file.audience)
            .unwrap_or(defaults.audience);
        if audience.trim().is_empty() {
            return Err(bad("audience", "AUTHD_AUDIENCE", "must not be empty"));
        }

        let access_token_ttl = duration_setting(
            args.access_token_ttl.clone(),
            file.access_token_ttl,
            "access-token-ttl",
            "AUTHD_ACCESS_TOKEN_TTL",
            defaults.access_token_ttl,
            Duration::from_secs(10)..=Duration::from_secs(24 * 3600),
        )?;
        let session_lifetime = duration_setting(
            args.session_lifetime.clone(),
            file.session_lifetime,
            "session-lifetime",
            "AUTHD_SESSION_LIFETIME",
            defaults.session_lifetime,
            Duration::from_secs(60)..=Duration::from_secs(366 * 24 * 3600),
        )?;
        if session_lifetime < access_token_ttl {
            return Err(bad(
                "session-lifetime",
                "AUTHD_SESSION_LIFETIME",
                "must be at least the access token lifetime (--access-token-ttl)",
            ));
        }
        let refresh_grace = duration_setting(
            args.refresh_grace.clone(),
            file.refresh_grace,
            "refresh-grace",
            "AUTHD_REFRESH_GRACE",
            defaults.refresh_grace,
            Duration::ZERO..=Duration::from_secs(300),
        )?;
        let max_sessions_per_user = args
            .max_sessions_per_user
            .or(file.max_sessions_per_user)
            .unwrap_or(defaults.max_sessions_per_user);
        let cache_trust_bound = duration_setting(
            args.cache_trust_bound.clone(),
            file.cache_trust_bound,
            "cache-trust-bound",
            "AUTHD_CACHE_TRUST_BOUND",
            defaults.cache_trust_bound,
            Duration::ZERO..=Duration::from_secs(60),
        )?;
        let max_token_bytes = args
            .max_token_bytes
            .or(file.max_token_bytes)
            .unwrap_or(defaults.max_token_bytes);
        if !(1024..=65_536).contains(&max_token_bytes) {
            return Err(bad(
                "max-token-bytes",
                "AUTHD_MAX_TOKEN_BYTES",
                "must be between 1024 and 65536",
            ));
        }
        let verify_cache_entries = args
            .verify_cache_entries
            .or(file.verify_cache_entries)
            .unwrap_or(defaults.verify_cache_entries);
        if verify_cache_entries > 10_000_000 {
            return Err(bad(
                "verify-cache-entries",
                "AUTHD_VERIFY_CACHE_ENTRIES",
                "must be at most 10000000 (about 3 GB of memory)",
            ));
        }
        let verify_cache_ttl = duration_setting(
            args.verify_cache_ttl.clone(),
            file.verify_cache_ttl,
            "verify-cache-ttl",
            "AUTHD_VERIFY_CACHE_TTL",
            defaults.verify_cache_ttl,
            Duration::ZERO..=Duration::from_secs(24 * 3600),
        )?;
        let leeway = duration_setting(
            args.leeway.clone(),
            file.leeway,
            "leeway",
            "AUTHD_LEEWAY",
            defaults.leeway,
            Duration::ZERO..=Duration::from_secs(300),
        )?;

        let algorithm = args
            .signing_algorithm
            .clone()
            .or(file.signing_algorithm)
            .unwrap_or_else(|| "EdDSA".to_owned());
        let signing = match algorithm.to_ascii_uppercase().as_str() {
            "EDDSA" | "ED25519" => Signing::EdDsa,
            "ES256" => Signing::Es256,
            "RS256" => Signing::Rs256,
            "HS256" => {
                let secret = secret_setting(
                    [
                        (args.hs256_secret.clone(), args.hs256_secret_file.clone()),
                        (file.hs256_secret, file.hs256_secret_file),
                    ],
                    "hs256-secret-file",
                )?
                .ok_or_else(|| {
                    bad(
                        "hs256-secret-file",
                        "AUTHD_HS256_SECRET_FILE",
                        "HS256 needs a secret of at least 32 bytes; generate one with \
                         `head -c 48 /dev/urandom | base64 > hs256.secret`",
                    )
                })?;
                if secret.len() < 32 {
                    return Err(bad(
                        "hs256-secret",
                        "AUTHD_HS256_SECRET",
                        "is shorter than 32 bytes; generate one with \
                         `head -c 48 /dev/urandom | base64`",
                    ));
                }
                Signing::Hs256 {
                    secret: std::sync::Arc::new(SecretBox::new(Box::new(secret.into_bytes()))),
                }
            }
            _ => {
                return Err(bad(
                    "signing-algorithm",
                    "AUTHD_SIGNING_ALGORITHM",
                    &format!("`{algorithm}` is not supported; use EdDSA, ES256, RS256 or HS256"),
                ));
            }
        };

        let argon2 = Argon2Config {
            memory_kib: args
                .argon2_memory_kib
                .or(file.argon2_memory_kib)
                .unwrap_or(defaults.argon2.memory_kib),
            iterations: args
                .argon2_iterations
                .or(file.argon2_iterations)
                .unwrap_or(defaults.argon2.iterations),
            parallelism: args
                .argon2_parallelism
                .or(file.argon2_parallelism)
                .unwrap_or(defaults.argon2.parallelism),
        };
        validate_argon2(argon2)?;

        let hash_concurrency = args
            .hash_concurrency
            .or(file.hash_concurrency)
            .unwrap_or(defaults.hash_concurrency);
        if !(1..=1024).contains(&hash_concurrency) {
            return Err(bad(
                "hash-concurrency",
                "AUTHD_HASH_CONCURRENCY",
                "must be between 1 and 1024",
            ));
        }
        let hash_queue_timeout = duration_setting(
            args.hash_queue_timeout.clone(),
            file.hash_queue_timeout,
            "hash-queue-timeout",
            "AUTHD_HASH_QUEUE_TIMEOUT",
            defaults.hash_queue_timeout,
            Duration::ZERO..=Duration::from_secs(60),
        )?;
        let shutdown_grace = duration_setting(
            args.shutdown_grace.clone(),
            file.shutdown_grace,
            "shutdown-grace",
            "AUTHD_SHUTDOWN_GRACE",
            defaults.shutdown_grace,
            Duration::ZERO..=Duration::from_secs(600),
        )?;
        let request_timeout = duration_setting(
            args.request_timeout.clone(),
            file.request_timeout,
            "request-timeout",
            "AUTHD_REQUEST_TIMEOUT",
            defaults.request_timeout,
            Duration::from_millis(100)..=Duration::from_secs(600),
        )?;
        let max_message_bytes = args
            .max_message_bytes
            .or(file.max_message_bytes)
            .unwrap_or(defaults.max_message_bytes);
        if !(4096..=4 * 1024 * 1024).contains(&max_message_bytes) {
            return Err(bad(
                "max-message-bytes",
                "AUTHD_MAX_MESSAGE_BYTES",
                "must be between 4096 and 4194304 (4 MiB)",
            ));
        }

        let log_format = match args
            .log_format
            .clone()
            .or(file.log_format)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "log-format",
                    "AUTHD_LOG_FORMAT",
                    &format!("`{other}` is not a format; use text or json"),
                ));
            }
        };
        let log_filter = args.log.clone().or(file.log).unwrap_or(defaults.log_filter);
        let otlp_endpoint =
            otlp_endpoint_setting(args.otlp_endpoint.clone().or(file.otlp_endpoint))?;

        Self {
            listen,
            database_url: SecretString::from(database_url),
            database_max_connections,
            database_acquire_timeout,
            issuer,
            audience,
            access_token_ttl,
            session_lifetime,
            refresh_grace,
            max_sessions_per_user,
            cache_trust_bound,
            max_token_bytes,
            verify_cache_entries,
            verify_cache_ttl,
            leeway,
            signing,
            argon2,
            hash_concurrency,
            hash_queue_timeout,
            shutdown_grace,
            request_timeout,
            max_message_bytes,
            log_format,
            log_filter,
            http_listen: keys.http_listen,
            key_encryption_secret: keys.key_encryption_secret,
            key_prepublish: keys.key_prepublish,
            key_rotation_interval: keys.key_rotation_interval,
            key_refresh_interval: keys.key_refresh_interval,
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
        redact_url(self.database_url.expose_secret())
    }
}

/// Checks Argon2 parameters against OWASP's minimums and authd's caps.
///
/// # Errors
/// [`Error::Config`] saying which bound was missed.
pub fn validate_argon2(p: Argon2Config) -> Result<()> {
    if p.parallelism == 0 || p.parallelism > ARGON2_MAX_PARALLELISM {
        return Err(bad(
            "argon2-parallelism",
            "AUTHD_ARGON2_PARALLELISM",
            &format!("must be between 1 and {ARGON2_MAX_PARALLELISM}"),
        ));
    }
    if p.memory_kib > ARGON2_MAX_MEMORY_KIB || p.iterations > ARGON2_MAX_ITERATIONS {
        return Err(bad(
            "argon2-memory-kib",
            "AUTHD_ARGON2_MEMORY_KIB",
            &format!(
                "argon2 cost is above authd's caps (memory at most {ARGON2_MAX_MEMORY_KIB} KiB, \
                 iterations at most {ARGON2_MAX_ITERATIONS})"
            ),
        ));
    }
    let meets_owasp = OWASP_ARGON2ID
        .iter()
        .any(|&(m, t)| p.memory_kib >= m && p.iterations >= t);
    if !meets_owasp {
        return Err(bad(
            "argon2-memory-kib",
            "AUTHD_ARGON2_MEMORY_KIB",
            "argon2 cost is below OWASP's minimum; use at least memory 19456 KiB with 2 \
             iterations (or 47104/1, 12288/3, 9216/4, 7168/5)",
        ));
    }
    Ok(())
}

/// The login throttling settings and the trusted proxies (issue 5), taken
/// out of `file`.
fn load_throttle_settings(
    args: &ConfigArgs,
    file: &mut FileConfig,
) -> Result<(ThrottlePolicy, TrustedProxies)> {
    let defaults = ThrottlePolicy::default();
    let account_free_failures = args
        .login_free_failures
        .or(file.login_free_failures.take())
        .unwrap_or(defaults.account_free_failures);
    if !(1..=1000).contains(&account_free_failures) {
        return Err(bad(
            "login-free-failures",
            "AUTHD_LOGIN_FREE_FAILURES",
            "must be between 1 and 1000 (5 lets a user mistype a few times)",
        ));
    }
    let address_free_failures = args
        .login_free_failures_per_address
        .or(file.login_free_failures_per_address.take())
        .unwrap_or(defaults.address_free_failures);
    if !(1..=1_000_000).contains(&address_free_failures) {
        return Err(bad(
            "login-free-failures-per-address",
            "AUTHD_LOGIN_FREE_FAILURES_PER_ADDRESS",
            "must be between 1 and 1000000 (raise it for clients behind a shared NAT)",
        ));
    }
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let window = duration_setting(
        args.login_failure_window.clone(),
        file.login_failure_window.take(),
        "login-failure-window",
        "AUTHD_LOGIN_FAILURE_WINDOW",
        Duration::from_secs(defaults.window_secs.unsigned_abs()),
        Duration::from_secs(1)..=Duration::from_secs(30 * 24 * 3600),
    )?;
    let base = duration_setting(
        args.login_backoff_base.clone(),
        file.login_backoff_base.take(),
        "login-backoff-base",
        "AUTHD_LOGIN_BACKOFF_BASE",
        Duration::from_secs(defaults.base_delay_secs.unsigned_abs()),
        Duration::from_secs(1)..=Duration::from_secs(3600),
    )?;
    let max = duration_setting(
        args.login_backoff_max.clone(),
        file.login_backoff_max.take(),
        "login-backoff-max",
        "AUTHD_LOGIN_BACKOFF_MAX",
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
        return Err(bad(
            "login-backoff-max",
            "AUTHD_LOGIN_BACKOFF_MAX",
            "must be at least --login-backoff-base",
        ));
    }
    if policy.max_delay_secs > policy.window_secs {
        return Err(bad(
            "login-backoff-max",
            "AUTHD_LOGIN_BACKOFF_MAX",
            "must be at most --login-failure-window (failures are forgotten after the window, \
             so a longer block could not happen); lower it or lengthen the window",
        ));
    }
    let trusted_proxies = args
        .trusted_proxies
        .clone()
        .or(file.trusted_proxies.take())
        .as_deref()
        .unwrap_or_default()
        .parse()?;
    Ok((policy, trusted_proxies))
}

/// The config-file values of the issue-4 settings, taken out of [`FileConfig`]
/// before its other fields are consumed.
#[derive(Default)]
struct KeyFileSettings {
    http_listen: Option<String>,
    key_encryption_secret: Option<String>,
    key_encryption_secret_file: Option<PathBuf>,
    key_prepublish: Option<String>,
    key_rotation_interval: Option<String>,
    key_refresh_interval: Option<String>,
    ext_authz_user_id_header: Option<String>,
    ext_authz_username_header: Option<String>,
    ext_authz_roles_header: Option<String>,
}

impl KeyFileSettings {
    fn take(file: &mut FileConfig) -> Self {
        Self {
            http_listen: file.http_listen.take(),
            key_encryption_secret: file.key_encryption_secret.take(),
            key_encryption_secret_file: file.key_encryption_secret_file.take(),
            key_prepublish: file.key_prepublish.take(),
            key_rotation_interval: file.key_rotation_interval.take(),
            key_refresh_interval: file.key_refresh_interval.take(),
            ext_authz_user_id_header: file.ext_authz_user_id_header.take(),
            ext_authz_username_header: file.ext_authz_username_header.take(),
            ext_authz_roles_header: file.ext_authz_roles_header.take(),
        }
    }
}

/// The validated issue-4 settings (HTTP listener, keys, ext_authz).
struct KeySettings {
    http_listen: Option<SocketAddr>,
    key_encryption_secret: Option<std::sync::Arc<SecretBox<Vec<u8>>>>,
    key_prepublish: Duration,
    key_rotation_interval: Option<Duration>,
    key_refresh_interval: Duration,
    ext_authz_headers: ExtAuthzHeaders,
}

#[allow(clippy::too_many_lines)] // one straight sequence of settings, as in `Config::load`
fn load_key_settings(
    args: &ConfigArgs,
    file: &KeyFileSettings,
    defaults: &Config,
) -> Result<KeySettings> {
    let http_listen = match args.http_listen.clone().or(file.http_listen.clone()) {
        None => defaults.http_listen,
        Some(s) if s.eq_ignore_ascii_case("off") => None,
        Some(s) => Some(s.parse().map_err(|_| {
            bad(
                "http-listen",
                "AUTHD_HTTP_LISTEN",
                &format!("`{s}` is not an address; use IP:PORT such as 127.0.0.1:8080, or off"),
            )
        })?),
    };
    let key_encryption_secret = secret_setting(
        [
            (
                args.key_encryption_secret.clone(),
                args.key_encryption_secret_file.clone(),
            ),
            (
                file.key_encryption_secret.clone(),
                file.key_encryption_secret_file.clone(),
            ),
        ],
        "key-encryption-secret-file",
    )?;
    if let Some(secret) = &key_encryption_secret
        && secret.len() < 32
    {
        return Err(bad(
            "key-encryption-secret",
            "AUTHD_KEY_ENCRYPTION_SECRET",
            "is shorter than 32 bytes; generate one with `head -c 48 /dev/urandom | base64`",
        ));
    }
    let key_prepublish = duration_setting(
        args.key_prepublish.clone(),
        file.key_prepublish.clone(),
        "key-prepublish",
        "AUTHD_KEY_PREPUBLISH",
        defaults.key_prepublish,
        Duration::ZERO..=Duration::from_secs(30 * 24 * 3600),
    )?;
    let key_rotation_interval = match args
        .key_rotation_interval
        .clone()
        .or(file.key_rotation_interval.clone())
    {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("off") => None,
        Some(s) => Some(duration_setting(
            Some(s),
            None,
            "key-rotation-interval",
            "AUTHD_KEY_ROTATION_INTERVAL",
            Duration::ZERO,
            Duration::from_secs(3600)..=Duration::from_secs(366 * 24 * 3600),
        )?),
    };
    if let Some(interval) = key_rotation_interval
        && interval <= key_prepublish
    {
        return Err(bad(
            "key-rotation-interval",
            "AUTHD_KEY_ROTATION_INTERVAL",
            "must be longer than --key-prepublish",
        ));
    }
    let key_refresh_interval = duration_setting(
        args.key_refresh_interval.clone(),
        file.key_refresh_interval.clone(),
        "key-refresh-interval",
        "AUTHD_KEY_REFRESH_INTERVAL",
        defaults.key_refresh_interval,
        Duration::from_secs(1)..=Duration::from_secs(3600),
    )?;
    let header = |arg: &Option<String>, file: &Option<String>, default: &str, flag, env| {
        let name = arg
            .clone()
            .or(file.clone())
            .unwrap_or_else(|| default.to_owned())
            .to_ascii_lowercase();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(bad(
                flag,
                env,
                "must be an HTTP header name (letters, digits, '-', '_')",
            ));
        }
        if name.bytes().filter(|b| matches!(b, b'-' | b'_')).count() > MAX_HEADER_SEPARATORS {
            return Err(bad(flag, env, "must have at most 5 '-' or '_' separators"));
        }
        if RESERVED_HEADERS.contains(&name.replace('_', "-").as_str()) {
            return Err(bad(
                flag,
                env,
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
            &file.ext_authz_user_id_header,
            &d.user_id,
            "ext-authz-user-id-header",
            "AUTHD_EXT_AUTHZ_USER_ID_HEADER",
        )?,
        username: header(
            &args.ext_authz_username_header,
            &file.ext_authz_username_header,
            &d.username,
            "ext-authz-username-header",
            "AUTHD_EXT_AUTHZ_USERNAME_HEADER",
        )?,
        roles: header(
            &args.ext_authz_roles_header,
            &file.ext_authz_roles_header,
            &d.roles,
            "ext-authz-roles-header",
            "AUTHD_EXT_AUTHZ_ROLES_HEADER",
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
        key_encryption_secret: key_encryption_secret
            .map(|s| std::sync::Arc::new(SecretBox::new(Box::new(s.into_bytes())))),
        key_prepublish,
        key_rotation_interval,
        key_refresh_interval,
        ext_authz_headers,
    })
}

/// The config-file values of the transport-security settings, taken out of
/// [`FileConfig`] like [`KeyFileSettings`].
struct TransportFileSettings {
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    admin_clients: Option<Vec<String>>,
    allow_plaintext: Option<bool>,
}

impl TransportFileSettings {
    fn take(file: &mut FileConfig) -> Self {
        Self {
            tls_cert: file.tls_cert.take(),
            tls_key: file.tls_key.take(),
            tls_client_ca: file.tls_client_ca.take(),
            admin_clients: file.admin_clients.take(),
            allow_plaintext: file.allow_plaintext.take(),
        }
    }
}

/// The validated transport-security settings.
struct TransportSettings {
    tls: Option<crate::tls::TlsSettings>,
    admin_clients: crate::tls::AdminClients,
    allow_plaintext: bool,
}

/// Reads `--tls-cert`, `--tls-key`, `--tls-client-ca`, `--admin-clients`
/// and `--allow-plaintext`: each needs the one before it.
fn load_transport_settings(
    args: &ConfigArgs,
    file: TransportFileSettings,
) -> Result<TransportSettings> {
    let cert = args.tls_cert.clone().or(file.tls_cert);
    let key = args.tls_key.clone().or(file.tls_key);
    let client_ca = args.tls_client_ca.clone().or(file.tls_client_ca);
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(crate::tls::TlsSettings::load(
            &cert,
            &key,
            client_ca.as_deref(),
        )?),
        (Some(_), None) => {
            return Err(bad(
                "tls-key",
                "AUTHD_TLS_KEY",
                "--tls-cert is set but its private key is not; give both (PEM files)",
            ));
        }
        (None, Some(_)) => {
            return Err(bad(
                "tls-cert",
                "AUTHD_TLS_CERT",
                "--tls-key is set but the certificate is not; give both (PEM files)",
            ));
        }
    };
    if client_ca.is_some() && tls.is_none() {
        return Err(bad(
            "tls-client-ca",
            "AUTHD_TLS_CLIENT_CA",
            "client certificates need TLS; also give --tls-cert and --tls-key",
        ));
    }
    let listed = if args.admin_clients.is_empty() {
        file.admin_clients.unwrap_or_default()
    } else {
        args.admin_clients.clone()
    };
    let allowed = listed
        .iter()
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            entry
                .parse::<crate::tls::ClientIdentity>()
                .map_err(|message| bad("admin-clients", "AUTHD_ADMIN_CLIENTS", &message))
        })
        .collect::<Result<Vec<_>>>()?;
    if !allowed.is_empty()
        && !tls
            .as_ref()
            .is_some_and(crate::tls::TlsSettings::verifies_clients)
    {
        return Err(bad(
            "admin-clients",
            "AUTHD_ADMIN_CLIENTS",
            "the allow-list checks client certificates, so it needs mutual TLS: also give \
             --tls-cert, --tls-key and --tls-client-ca",
        ));
    }
    Ok(TransportSettings {
        tls,
        admin_clients: crate::tls::AdminClients::new(allowed),
        allow_plaintext: args.allow_plaintext || file.allow_plaintext.unwrap_or(false),
    })
}

/// Checks `--otlp-endpoint`: an `http://HOST:PORT` URL, and only in a build
/// that can export. Refusing it elsewhere beats silently exporting nothing.
fn otlp_endpoint_setting(value: Option<String>) -> Result<Option<String>> {
    const FLAG: &str = "otlp-endpoint";
    const ENV: &str = "AUTHD_OTLP_ENDPOINT";
    let Some(text) = value else {
        return Ok(None);
    };
    if !cfg!(feature = "otlp") {
        return Err(bad(FLAG, ENV, OTLP_NOT_BUILT));
    }
    // This build has no TLS client, so the collector is reached in plain
    // HTTP/2: one on loopback (an agent next to authd) or a trusted network.
    let uri: tonic::codegen::http::Uri = text.parse().map_err(|_| {
        bad(
            FLAG,
            ENV,
            &format!("`{text}` is not a URL; use http://HOST:PORT such as http://127.0.0.1:4317"),
        )
    })?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(bad(
            FLAG,
            ENV,
            &format!(
                "`{text}` must be http://HOST:PORT (such as http://127.0.0.1:4317); \
                 TLS to the collector is not in this build"
            ),
        ));
    }
    Ok(Some(text))
}

/// Why `--otlp-endpoint` is refused by a build without the `otlp` feature.
pub(crate) const OTLP_NOT_BUILT: &str = "this authd was built without OpenTelemetry export; \
     rebuild it with `cargo build --release --features otlp`, or unset the endpoint";

fn bad(flag: &str, env: &str, message: &str) -> Error {
    Error::Config(format!(
        "invalid configuration --{flag} (env {env}): {message}"
    ))
}

fn read_file_config(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read config file {}: {e}; check --config / AUTHD_CONFIG",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|e| {
        Error::Config(format!(
            "config file {} is not valid: {}",
            path.display(),
            e.message()
        ))
    })
}

fn read_secret_file(path: &Path, flag: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read --{flag} {}: {e}", path.display())))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// The first secret given, by value or by file, in order of precedence
/// (flags and environment first, then the config file).
fn secret_setting(
    sources: [(Option<String>, Option<PathBuf>); 2],
    file_flag: &str,
) -> Result<Option<String>> {
    for (value, path) in sources {
        if let Some(value) = value {
            return Ok(Some(value));
        }
        if let Some(path) = path {
            return read_secret_file(&path, file_flag).map(Some);
        }
    }
    Ok(None)
}

fn duration_setting(
    arg: Option<String>,
    file: Option<String>,
    flag: &str,
    env: &str,
    default: Duration,
    range: std::ops::RangeInclusive<Duration>,
) -> Result<Duration> {
    let Some(text) = arg.or(file) else {
        return Ok(default);
    };
    let value = parse_duration(&text).ok_or_else(|| {
        bad(
            flag,
            env,
            &format!("`{text}` is not a duration; use a number with ms, s, m, h or d, e.g. 15m"),
        )
    })?;
    if !range.contains(&value) {
        return Err(bad(
            flag,
            env,
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
    fn defaults_need_no_set_up() {
        let config = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(config.argon2, Argon2Config::default());
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert!(matches!(config.signing, Signing::EdDsa));
    }

    #[test]
    fn weak_or_absurd_argon2_parameters_are_refused() {
        let weak = Argon2Config {
            memory_kib: 4096,
            iterations: 1,
            parallelism: 1,
        };
        assert!(validate_argon2(weak).is_err());
        let huge = Argon2Config {
            memory_kib: 4 * 1024 * 1024,
            iterations: 2,
            parallelism: 1,
        };
        assert!(validate_argon2(huge).is_err());
        assert!(
            validate_argon2(Argon2Config {
                memory_kib: 12_288,
                iterations: 3,
                parallelism: 1
            })
            .is_ok()
        );
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
        let args = ConfigArgs {
            listen: Some("not-an-address".into()),
            ..ConfigArgs::default()
        };
        let message = Config::load(&args).unwrap_err().to_string();
        assert!(message.contains("--listen"), "{message}");
        assert!(message.contains("AUTHD_LISTEN"), "{message}");

        let args = ConfigArgs {
            signing_algorithm: Some("HS256".into()),
            hs256_secret: Some("tiny-s3cret".into()),
            ..ConfigArgs::default()
        };
        let message = Config::load(&args).unwrap_err().to_string();
        assert!(message.contains("32 bytes"), "{message}");
        assert!(
            !message.contains("tiny-s3cret"),
            "the secret leaked: {message}"
        );

        let args = ConfigArgs {
            database_url: Some("mysql://x".into()),
            ..ConfigArgs::default()
        };
        assert!(Config::load(&args).is_err());
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
        let args = ConfigArgs {
            config: Some(path.clone()),
            issuer: Some("from-flag".into()),
            ..ConfigArgs::default()
        };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.issuer, "from-flag");
        assert_eq!(config.access_token_ttl, Duration::from_secs(300));

        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        let message = Config::load(&ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(message.contains("no_such_key"), "{message}");
    }

    #[test]
    fn key_http_and_ext_authz_settings_are_validated() {
        let config = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(config.http_listen.unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(config.key_prepublish, Duration::from_secs(3600));
        assert!(config.key_rotation_interval.is_none());
        assert_eq!(config.ext_authz_headers, ExtAuthzHeaders::default());

        let config = Config::load(&ConfigArgs {
            http_listen: Some("off".into()),
            signing_algorithm: Some("rs256".into()),
            key_rotation_interval: Some("720h".into()),
            ext_authz_roles_header: Some("X-Groups".into()),
            ..ConfigArgs::default()
        })
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
                ConfigArgs {
                    key_encryption_secret: Some("short-kek".into()),
                    ..ConfigArgs::default()
                },
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
        let config = Config::load(&ConfigArgs {
            config: Some(path),
            ..ConfigArgs::default()
        })
        .unwrap();
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
        let args = ConfigArgs {
            database_url: Some("postgres://u:topsecretpw@h/db".into()),
            signing_algorithm: Some("HS256".into()),
            hs256_secret: Some("an-hs256-secret-that-is-long-enough-0123456789".into()),
            key_encryption_secret: Some("a-key-encryption-secret-long-enough-0123".into()),
            ..ConfigArgs::default()
        };
        let config = Config::load(&args).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("a-key-encryption-secret"), "{debug}");
        assert!(!debug.contains("topsecretpw"), "{debug}");
        assert!(!debug.contains("an-hs256-secret"), "{debug}");
        let debug = format!("{args:?}");
        assert!(!debug.contains("topsecretpw"), "{debug}");
        assert!(!debug.contains("an-hs256-secret"), "{debug}");
    }
}
