//! Configuration: zero-set-up defaults, overridden by a TOML file, then by
//! `AUTHD_*` environment variables, then by command-line flags.
//!
//! # Mechanism
//!
//! Each setting is one typed field of a `clap::Args` group owned by its
//! subsystem (`store::StoreSettings`, `password::settings`, `token::settings`,
//! `throttle`, `tls`, `grpc::ext_authz`, `grpc::web`, `telemetry`, `app::settings`): its
//! `///` doc is the help, `#[arg(long, env = "AUTHD_...", default_value =
//! "...", value_parser = ...)]` the flag, variable, default and check, its
//! name the file key and its type the checked value (shared parsers in
//! [`crate::settings`]). [`Config`] composes the groups and its `Default` is
//! an empty command line, so no default is written twice; each command
//! composes only the groups it uses ([`AdminArgs`] for all of them).
//!
//! The file is layered *between* the defaults and the environment as the
//! defaults of the arguments (`config::layer`), so the value parser runs on
//! whichever value won and a value parses the same from anywhere
//! (`access_token_ttl = 600` is seconds). A refused value
//! ([`Sources::explain`]) or failed cross-field check ([`Config::check`],
//! the owners' `check`) names the key, where its value came from
//! (`/etc/authd.toml:3:20`, the variable or the flag) and how to fix it.
//! figment would need a second, serde-shaped declaration beside clap's.
//!
//! This module owns layering and attribution; nothing below `app` and `cli`
//! imports it. Secrets are [`secrecy`] types from the moment they are read.
//! `tools/settings-lines` counts the settings code (ARCHITECTURE.md).
//!
//! # How to add a setting
//!
//! Add one field (doc, `#[arg(long, env = "AUTHD_NAME", default_value = "...",
//! value_parser = ...)]`, the checked type) to its owner's settings group and
//! use it (`config.server.name`); if it depends on another setting, say so in
//! the owner's `check`. Then add its row to README's configuration table.

use std::path::PathBuf;

use crate::error::Result;
use crate::{app, grpc, password, store, telemetry, throttle, token};

mod layer;

pub use crate::password::Argon2Config;
pub use crate::tls::TlsArgs;
pub use crate::token::{rotation::Signing, settings::Algorithm};
pub use layer::{FileValues, Sources, settings_after_subcommand};

/// What every command reads: the config file, the database and logging.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// TOML config file; its keys are the flag names with `_` for `-`.
    #[arg(long, env = "AUTHD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The database.
    #[command(flatten)]
    pub store: store::StoreSettings,

    /// Logging.
    #[command(flatten)]
    pub log: telemetry::LogSettings,
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
    pub password: password::settings::PasswordSettings,
    /// Signing keys.
    #[command(flatten)]
    pub signing: token::settings::SigningSettings,
    /// Token lifetimes.
    #[command(flatten)]
    pub lifetimes: token::settings::LifetimeSettings,
    /// Listeners, limits and timing.
    #[command(flatten)]
    pub server: app::settings::ServerSettings,
    /// Tokens and sessions.
    #[command(flatten)]
    pub token: token::settings::TokenSettings,
    /// ext_authz identity headers.
    #[command(flatten)]
    pub ext_authz: grpc::ext_authz::ExtAuthzSettings,
    /// gRPC-Web: the browser origins allowed (CORS).
    #[command(flatten)]
    pub grpc_web: grpc::web::GrpcWebSettings,
    /// Span export.
    #[command(flatten)]
    pub otlp: telemetry::OtlpSettings,
    /// Login throttling and trusted proxies.
    #[command(flatten)]
    pub throttle: throttle::ThrottleSettings,
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
        let listeners = [
            ("listen", Some(self.server.listen)),
            ("http_listen", self.server.http_listen),
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
        crate::tls::TlsSettings::from_args(&self.tls).map(drop)
    }
}

#[cfg(test)]
mod tests;
