//! Token settings owned by `token`: how access tokens are signed
//! ([`SigningArgs`], [`Signing`]) and the lifetimes that decide how long a
//! replaced key verifies ([`LifetimeArgs`]).
//!
//! Declares the settings and types; checking a configured value and saying
//! where it came from is `config`'s job, above this module.

use std::path::PathBuf;

use secrecy::{SecretBox, SecretString};

/// How new signing keys are made: the server and `keys rotate`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SigningArgs {
    /// Signing algorithm: `EdDSA` (Ed25519), `ES256` or `RS256` (keys generated,
    /// stored in the database and published as a JWKS), or `HS256` (shared
    /// secret, nothing published) [default: EdDSA].
    #[arg(long, env = "AUTHD_SIGNING_ALGORITHM")]
    pub signing_algorithm: Option<String>,

    /// HS256 secret, at least 32 bytes. Prefer `--hs256-secret-file`.
    #[arg(
        long,
        env = "AUTHD_HS256_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        value_parser = clap::builder::TypedValueParser::map(clap::builder::StringValueParser::new(), SecretString::from)
    )]
    pub hs256_secret: Option<SecretString>,

    /// File holding the HS256 secret (trailing newline ignored).
    #[arg(long, env = "AUTHD_HS256_SECRET_FILE", value_name = "FILE")]
    pub hs256_secret_file: Option<PathBuf>,

    /// Secret that encrypts private signing keys in the database (at least
    /// 32 bytes). Prefer `--key-encryption-secret-file`.
    #[arg(
        long,
        env = "AUTHD_KEY_ENCRYPTION_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        value_parser = clap::builder::TypedValueParser::map(clap::builder::StringValueParser::new(), SecretString::from)
    )]
    pub key_encryption_secret: Option<SecretString>,

    /// File holding the key-encryption secret (trailing newline ignored).
    #[arg(long, env = "AUTHD_KEY_ENCRYPTION_SECRET_FILE", value_name = "FILE")]
    pub key_encryption_secret_file: Option<PathBuf>,

    /// How long a new key is published before it signs, so JWKS caches
    /// learn it first [default: 1h].
    #[arg(long, env = "AUTHD_KEY_PREPUBLISH")]
    pub key_prepublish: Option<String>,
}

/// Token lifetimes, which also decide how long a replaced signing key
/// keeps verifying: the server and `keys rotate`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LifetimeArgs {
    /// Lifetime of access tokens, e.g. `900s`, `15m`, `1h` [default: 15m].
    #[arg(long, env = "AUTHD_ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<String>,

    /// Clock skew tolerated when checking `exp` and `nbf` [default: 10s].
    #[arg(long, env = "AUTHD_LEEWAY")]
    pub leeway: Option<String>,

    /// How often each replica reloads keys from the database and applies due
    /// rotations and retirements [default: 30s].
    #[arg(long, env = "AUTHD_KEY_REFRESH_INTERVAL")]
    pub key_refresh_interval: Option<String>,
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
