//! Token settings owned by `token`: signing ([`SigningSettings`], building a
//! [`Signing`]), the lifetimes that also decide how long a replaced key
//! verifies ([`LifetimeSettings`]), and the server's token and session
//! settings ([`TokenSettings`]), with their checks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{SecretBox, SecretString};

use super::rotation::Signing;
use crate::settings::{self, Checked, OrOff, duration, int, invalid, or_off};

/// How new signing keys are made: the server and `keys rotate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SigningSettings {
    /// Signing algorithm: `EdDSA`, `ES256`, `RS256` (published as a JWKS) or `HS256` (a secret).
    #[arg(long, env, value_enum, ignore_case = true, default_value = "EdDSA")]
    pub signing_algorithm: Algorithm,

    /// HS256 secret, at least 32 bytes. Prefer `--hs256-secret-file`.
    #[arg(long, env, hide_env_values = true, value_name = "SECRET")]
    pub hs256_secret: Option<SecretString>,

    /// File holding the HS256 secret (trailing newline ignored).
    #[arg(long, env, value_name = "FILE")]
    pub hs256_secret_file: Option<PathBuf>,

    /// Secret (at least 32 bytes) encrypting private signing keys in the database.
    #[arg(long, env, hide_env_values = true, value_name = "SECRET")]
    pub key_encryption_secret: Option<SecretString>,

    /// File holding the key-encryption secret (trailing newline ignored); preferred.
    #[arg(long, env, value_name = "FILE")]
    pub key_encryption_secret_file: Option<PathBuf>,

    /// How long a new key is published before it signs, so JWKS caches learn it first.
    #[arg(long, env, default_value = "1h", value_parser = duration("0s", "30d"))]
    pub key_prepublish: Duration,
}

/// The signing algorithms `--signing-algorithm` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// Ed25519.
    #[value(name = "EdDSA", alias = "Ed25519")]
    EdDsa,
    /// ECDSA P-256.
    #[value(name = "ES256")]
    Es256,
    /// RSA PKCS#1 v1.5.
    #[value(name = "RS256")]
    Rs256,
    /// HMAC-SHA256 with a shared secret.
    #[value(name = "HS256")]
    Hs256,
}

impl SigningSettings {
    /// The signing mode, with the HS256 secret read (from its file if need be).
    ///
    /// # Errors
    /// HS256 without a secret, or a short or unreadable one.
    pub fn signing(&self) -> Checked<Signing> {
        Ok(match self.signing_algorithm {
            Algorithm::EdDsa => Signing::EdDsa,
            Algorithm::Es256 => Signing::Es256,
            Algorithm::Rs256 => Signing::Rs256,
            Algorithm::Hs256 => {
                let file = self.hs256_secret_file.as_deref();
                let keys = ("hs256_secret", "hs256_secret_file");
                let fix = "HS256 needs a secret of at least 32 bytes; generate one with \
                    `head -c 48 /dev/urandom | base64 > hs256.secret`";
                match settings::long_secret(self.hs256_secret.as_ref(), file, keys)? {
                    Some(secret) => Signing::Hs256 { secret },
                    None => invalid(keys.1, fix)?,
                }
            }
        })
    }

    /// The key-encryption secret, if one is set.
    ///
    /// # Errors
    /// A short or unreadable secret.
    pub fn key_encryption_secret(&self) -> Checked<Option<Arc<SecretBox<Vec<u8>>>>> {
        let file = self.key_encryption_secret_file.as_deref();
        let keys = ("key_encryption_secret", "key_encryption_secret_file");
        settings::long_secret(self.key_encryption_secret.as_ref(), file, keys)
    }

    /// Checks the secrets.
    ///
    /// # Errors
    /// As [`Self::signing`] and [`Self::key_encryption_secret`].
    pub fn check(&self) -> Checked {
        self.signing()?;
        self.key_encryption_secret().map(drop)
    }
}

/// Token lifetimes, which also decide how long a replaced signing key
/// keeps verifying: the server and `keys rotate`.
#[derive(Debug, Clone, clap::Args)]
pub struct LifetimeSettings {
    /// Lifetime of access tokens, e.g. `900s`, `15m`, `1h`.
    #[arg(long, env, default_value = "15m", value_parser = duration("10s", "1d"))]
    pub access_token_ttl: Duration,

    /// Clock skew tolerated when checking `exp` and `nbf`.
    #[arg(long, env, default_value = "10s", value_parser = duration("0s", "5m"))]
    pub leeway: Duration,

    /// How often each replica reloads keys and applies due rotations and retirements.
    #[arg(long, env, default_value = "30s", value_parser = duration("1s", "1h"))]
    pub key_refresh_interval: Duration,
}

/// The server's token and session settings.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenSettings {
    /// `iss` claim of issued tokens; Verify rejects any other.
    #[arg(long, env, default_value = "authd", value_parser = settings::non_empty)]
    pub issuer: String,

    /// `aud` claim of issued tokens; Verify rejects tokens without it.
    #[arg(long, env, default_value = "authd", value_parser = settings::non_empty)]
    pub audience: String,

    /// Absolute lifetime of a session and its refresh tokens; refreshing does not extend it.
    #[arg(long, env, default_value = "7d", value_parser = duration("60s", "366d"))]
    pub session_lifetime: Duration,

    /// Window in which a spent refresh token returns the same successor instead of revoking.
    #[arg(long, env, default_value = "10s", value_parser = duration("0s", "5m"))]
    pub refresh_grace: Duration,

    /// End a session whose refresh token went unused this long (e.g. `24h`), or `off`.
    #[arg(long, env, default_value = "off", value_parser = or_off(duration("1m", "366d")))]
    pub refresh_idle_timeout: OrOff<Duration>,

    /// Most live sessions per user; logging in beyond it ends the oldest (0: no limit).
    #[arg(long, env, default_value = "100")]
    pub max_sessions_per_user: u32,

    /// Verified tokens remembered so Verify skips their checks (0: off; 10000000 is about 3 GB).
    #[arg(long, env, default_value_t = super::DEFAULT_VERIFIED_CACHE_ENTRIES,
          value_parser = int(0_usize, 10_000_000))]
    pub verify_cache_entries: usize,

    /// Longest time a verified token is remembered (never past its `exp`).
    #[arg(long, env, default_value = "5m", value_parser = duration("0s", "1d"))]
    pub verify_cache_ttl: Duration,

    /// Longest token Verify will parse; longer ones are malformed.
    #[arg(long, env, default_value_t = super::MAX_TOKEN_BYTES,
          value_parser = int(1024_usize, 65_536))]
    pub max_token_bytes: usize,

    /// Rotate the signing key automatically this often, e.g. `720h`, or `off`.
    #[arg(long, env, default_value = "off", value_parser = or_off(duration("1h", "366d")))]
    pub key_rotation_interval: OrOff<Duration>,
}

impl TokenSettings {
    /// Checks the settings that depend on the signing and lifetime settings.
    ///
    /// # Errors
    /// A session shorter than an access token, an idle timeout not longer
    /// than an access token, or a rotation interval not longer than the
    /// pre-publish period.
    pub fn check(&self, signing: &SigningSettings, lifetimes: &LifetimeSettings) -> Checked {
        let ttl = lifetimes.access_token_ttl;
        if self.session_lifetime < ttl {
            return invalid("session_lifetime", "must be at least --access-token-ttl");
        }
        if self.refresh_idle_timeout.is_some_and(|idle| idle <= ttl) {
            let fix = "must be longer than --access-token-ttl (a client that refreshes when its \
                access token expires would be logged out), or `off`";
            return invalid("refresh_idle_timeout", fix);
        }
        let prepublish = signing.key_prepublish;
        if self.key_rotation_interval.is_some_and(|i| i <= prepublish) {
            let fix = "must be longer than --key-prepublish";
            return invalid("key_rotation_interval", fix);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_idle_timeout_is_off_by_default_and_must_outlast_an_access_token() {
        let signing = settings::defaults::<SigningSettings>();
        let lifetimes = settings::defaults::<LifetimeSettings>();
        let mut token = settings::defaults::<TokenSettings>();
        assert_eq!(token.refresh_idle_timeout, None);
        token.check(&signing, &lifetimes).unwrap();

        token.refresh_idle_timeout = Some(lifetimes.access_token_ttl);
        let err = token.check(&signing, &lifetimes).unwrap_err();
        assert_eq!(err.key, "refresh_idle_timeout");
        assert!(err.message.contains("--access-token-ttl"), "{err:?}");

        token.refresh_idle_timeout = Some(Duration::from_secs(24 * 3600));
        token.check(&signing, &lifetimes).unwrap();
    }
}
