//! The checked settings of each group, for the commands that take only
//! some groups ([`StoreConfig`] for every command, [`PasswordConfig`] for
//! `user add`, [`SigningConfig`] for `keys rotate`), and the checks they share.

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use super::{Argon2Config, Config, DEFAULT_DATABASE_URL, LogFormat, Signing, Sources};
use crate::config::{LifetimeArgs, LogArgs, PasswordArgs, SigningArgs, StoreArgs};
use crate::error::Result;
use crate::token::kek::KeyEncryptionKey;
use crate::token::rotation::KeyPolicy;

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

/// Checks Argon2 parameters against OWASP's minimums and authd's caps,
/// blaming the value's source.
fn validate_argon2_from(p: Argon2Config, src: &Sources) -> Result<()> {
    crate::password::settings::check_argon2(p).map_err(|(key, message)| src.bad(key, &message))
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
pub(super) fn database_url_setting(store: &StoreArgs, src: &Sources) -> Result<SecretString> {
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

pub(super) fn duration_setting(
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
