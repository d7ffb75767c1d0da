//! Configuration: defaults < TOML file < `AUTHD_*` environment < flags,
//! composed from the owners' settings groups (ARCHITECTURE.md, "settings").
//!
//! Each setting is one typed `clap` field: its `///` doc is the help, its name
//! the flag, the file key and (with `AUTHD_`, [`authd_env`]) the variable, its
//! `#[arg]` the default and the value parser (shared ones in [`crate::settings`]).
//! `Config::default()` is an empty command line, so no default is written
//! twice. The file's values become the arguments' defaults (`config::layer`),
//! so a value parses the same from anywhere (`access_token_ttl = 600` is
//! seconds) and a refused one ([`Sources::explain`]) or a failed check across
//! fields ([`Config::check`]) names its key, where it came from and the fix.
//! figment would need a second, serde-shaped declaration beside clap's.
//!
//! # How to add a setting
//!
//! Add one field (doc, `#[arg(long, env, default_value = "...", value_parser =
//! ...)]`, the checked type) to its owner's group and use it; a rule across
//! fields goes in the owner's `check`. Then add its row to README's table.

use std::path::PathBuf;

use crate::error::Result;
use crate::{app, grpc, password, store, telemetry, throttle, token};

mod layer;

pub use crate::password::Argon2Config;
pub use crate::tls::TlsArgs;
pub use crate::token::{rotation::Signing, settings::Algorithm};
pub use layer::{FileValues, Sources, authd_env, settings_after_subcommand};

/// What every command reads: the config file, the database and logging.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// TOML config file; its keys are the flag names with `_` for `-`.
    #[arg(long, env, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The database.
    #[command(flatten)]
    pub store: store::StoreSettings,

    /// Logging.
    #[command(flatten)]
    pub log: telemetry::LogSettings,
}

/// The configuration of one authd server: everything `authd serve` (or
/// plain `authd`) takes, grouped by owner.
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
