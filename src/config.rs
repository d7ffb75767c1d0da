//! Configuration: zero-set-up defaults, overridden by a TOML file, then by
//! `AUTHD_*` environment variables, then by command-line flags.
//!
//! # Mechanism
//!
//! Each setting is one typed field of a `clap::Args` group owned by its
//! subsystem ([`StoreSettings`], [`PasswordSettings`], [`SigningSettings`],
//! [`LifetimeSettings`], [`TokenSettings`], [`ThrottleSettings`], [`TlsArgs`],
//! [`ExtAuthzSettings`], [`LogSettings`], [`OtlpSettings`], [`ServerSettings`]):
//! its `///` doc is the help, `#[arg(long, env = "AUTHD_...", default_value =
//! "...", value_parser = ...)]` the flag, variable, default and check, its
//! name the file key and its type the checked value (shared parsers in
//! [`crate::settings`]). [`Config`] composes the groups and its `Default` is
//! an empty command line, so no default is written twice; each command
//! composes only the groups it uses ([`AdminArgs`] for all of them).
//!
//! The file is layered *between* the defaults and the environment by
//! installing its values as the defaults of the arguments with the key as id
//! (`config::layer`); clap then applies flags over variables over defaults and
//! runs the value parser on whichever won, so a value parses the same from
//! anywhere (`access_token_ttl = 600` is seconds). A refused value
//! ([`FileValues::explain`]) or failed cross-field check ([`Config::check`],
//! the owners' `check`) names the key, where its value came from
//! (`/etc/authd.toml:3:20`, the variable or the flag) and how to fix it.
//! figment would need a second, serde-shaped declaration beside clap's.
//!
//! This module owns layering and attribution; nothing below `app` and `cli`
//! imports it. Secrets are [`secrecy`] types from the moment they are read.
//!
//! # How to add a setting
//!
//! Add one field (doc, `#[arg(long, env = "AUTHD_NAME", default_value = "...",
//! value_parser = ...)]`, the checked type) to its owner's settings group and
//! use it (`config.server.name`); if it depends on another setting, say so in
//! the owner's `check`. Then add its row to README's configuration table.

use std::path::PathBuf;

use crate::error::Result;

mod layer;

pub use crate::app::settings::ServerSettings;
pub use crate::grpc::ext_authz::{ExtAuthzHeaders, ExtAuthzSettings};
pub use crate::password::{Argon2Config, settings::PasswordSettings};
pub use crate::settings::parse_duration;
pub use crate::store::{StoreSettings, redact_url};
pub use crate::telemetry::{LogFormat, LogSettings, OtlpSettings};
pub use crate::throttle::ThrottleSettings;
pub use crate::tls::TlsArgs;
pub use crate::token::rotation::Signing;
pub use crate::token::settings::{Algorithm, LifetimeSettings, SigningSettings, TokenSettings};
pub use layer::{FileValues, Source, Sources, settings_after_subcommand};

/// What every command reads: the config file, the database and logging.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// TOML config file; its keys are the flag names with `_` for `-`.
    #[arg(long, env = "AUTHD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The database.
    #[command(flatten)]
    pub store: StoreSettings,

    /// Logging.
    #[command(flatten)]
    pub log: LogSettings,
}

/// The configuration of one authd server: everything `authd serve` (or
/// plain `authd`) takes, grouped by owner. Each setting can also be set by
/// the environment variable named in its help, or in the config file under
/// the flag's name with `_` for `-`.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Config file, database and logging.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Password hashing.
    #[command(flatten)]
    pub password: PasswordSettings,
    /// Signing keys.
    #[command(flatten)]
    pub signing: SigningSettings,
    /// Token lifetimes.
    #[command(flatten)]
    pub lifetimes: LifetimeSettings,
    /// Listeners, limits and timing.
    #[command(flatten)]
    pub server: ServerSettings,
    /// Tokens and sessions.
    #[command(flatten)]
    pub token: TokenSettings,
    /// ext_authz identity headers.
    #[command(flatten)]
    pub ext_authz: ExtAuthzSettings,
    /// Span export.
    #[command(flatten)]
    pub otlp: OtlpSettings,
    /// Login throttling and trusted proxies.
    #[command(flatten)]
    pub throttle: ThrottleSettings,
    /// TLS, mutual TLS and the admin allow-list.
    #[command(flatten)]
    pub tls: TlsArgs,
}

impl Default for Config {
    fn default() -> Self {
        crate::settings::defaults()
    }
}

impl Config {
    /// Runs the owners' checks across fields (each value was checked when
    /// parsed) and reads the TLS files, blaming a failure on its key and,
    /// from `src` (see [`crate::cli::parse_from`]), where its value came from.
    ///
    /// # Errors
    /// [`crate::Error::Config`] naming the setting, its source and how to fix it.
    pub fn check(&self, src: &Sources) -> Result<()> {
        let server = &self.server;
        let listeners = [
            ("listen", Some(server.listen)),
            ("http_listen", server.http_listen),
        ];
        for checked in [
            self.admin.store.url().map(drop),
            self.password.check(),
            self.signing.check(),
            self.token.check(&self.signing, &self.lifetimes),
            self.throttle.check(),
            self.ext_authz.check(),
            self.tls.check(),
            self.tls.check_plaintext(&listeners),
        ] {
            src.attribute(checked)?;
        }
        self.tls.settings().map(drop)
    }

    /// The key policy of this configuration.
    ///
    /// # Errors
    /// [`crate::Error::Internal`] if the key-encryption key cannot be derived.
    pub fn key_policy(&self) -> Result<crate::token::rotation::KeyPolicy> {
        self.signing
            .key_policy(&self.lifetimes, self.token.key_rotation_interval)
    }

    /// The database, read from its file if one is set.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for an unreadable file or unsupported scheme.
    pub fn database(&self) -> Result<crate::store::DatabaseUrl> {
        Sources::default().attribute(self.admin.store.url())
    }

    /// Pool size and acquire timeout.
    #[must_use]
    pub fn pool(&self) -> crate::store::PoolSettings {
        self.admin.store.pool()
    }

    /// The database URL with any password replaced by `***`, for messages.
    #[must_use]
    pub fn database_url_for_display(&self) -> String {
        self.database()
            .map(|url| url.redacted())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
