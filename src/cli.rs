//! The command line: `serve` (the default), `migrate`, `user ...`, `keys ...`,
//! `audit tail`, `service-account ...`, `healthcheck` (`cli::healthcheck`) and
//! `import django` (in `cli::import`).
//!
//! `authd` and `authd serve` take the server's settings; the other commands
//! take only the config file, the database and logging settings, plus the
//! few they use (`keys rotate` the signing settings, `user add` and
//! `user set-password` the hashing cost). All commands read the same config
//! file, ignoring the keys they do not use (see [`parse_from`]). Commands
//! that only read (`user list`, `keys list`, `audit tail`, `service-account
//! list`) never migrate or
//! create anything. Passwords are read
//! from standard input (`--password-stdin`, one line) or an interactive
//! prompt, never from an argument, which would leave them in shell history
//! and the process table. Errors end up as one line on stderr and a
//! non-zero exit (see [`describe`]).

use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::clock::Clock;
use crate::config::{AdminArgs, Config, FileValues, Sources};
use crate::error::{Error, Result};
use crate::password::settings::PasswordSettings;
use crate::service::Accounts;
use crate::token::settings::{LifetimeSettings, SigningSettings};

mod audit;
mod audit_retention;
mod healthcheck;
mod import;
mod keys;
mod password_input;
mod service_account;
mod user;

pub use audit::run_audit;
use keys::run_keys;
pub use service_account::{ServiceAccountArgs, ServiceAccountCommand};
use user::run_user;

/// authd: a standalone gRPC authentication service.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// The server's settings, for `authd` without a subcommand.
    #[command(flatten, next_help_heading = SERVER_HEADING)]
    pub config: Config,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

const SERVER_HEADING: &str = "Server settings (flag, env AUTHD_*, or config file)";
const ADMIN_HEADING: &str = "Settings (flag, env AUTHD_*, or config file)";

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (the default).
    Serve(#[command(flatten, next_help_heading = SERVER_HEADING)] Box<Config>),
    /// Apply database migrations and exit.
    Migrate(#[command(flatten, next_help_heading = ADMIN_HEADING)] AdminArgs),
    /// Manage users.
    User(UserArgs),
    /// Manage signing keys.
    Keys(KeysArgs),
    /// Read the audit log.
    Audit(AuditArgs),
    /// Manage service accounts (machine identities with a client id and secret).
    ServiceAccount(ServiceAccountArgs),
    /// Ask a running authd's gRPC health service; exit 0 when SERVING (container health checks).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Import users from another system (`import django`: a Django project's).
    Import(import::ImportArgs),
}

/// `authd user`: the database settings and what to do.
#[derive(Debug, clap::Args)]
pub struct UserArgs {
    /// Config file, database and logging.
    #[command(flatten, next_help_heading = ADMIN_HEADING)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// `authd keys`: the database settings and what to do.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// Config file, database and logging.
    #[command(flatten, next_help_heading = ADMIN_HEADING)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// `authd audit`: the database settings and what to do.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Config file, database and logging.
    #[command(flatten, next_help_heading = ADMIN_HEADING)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The commands whose settings are global, so they may follow the
/// sub-subcommand (`authd user list --database-url ...`).
const ADMIN_COMMANDS: [&str; 5] = ["user", "keys", "audit", "service-account", "import"];

/// Why parsing the command line stopped.
#[derive(Debug)]
pub enum ParseFailure {
    /// clap's own outcome: a usage error, or `--help` / `--version`; `exit()` prints it.
    Clap(clap::Error),
    /// The config file is unreadable, not TOML or has an unknown key, or a
    /// value is refused (naming its key and where it came from).
    Config(Error),
}

/// The command-line parser, with the config file's values installed as
/// the defaults of its arguments (see [`crate::config`]); `pub(crate)` for
/// the `fuzzing` entry point.
pub(crate) fn command(file: &FileValues) -> std::result::Result<clap::Command, Error> {
    use clap::CommandFactory as _;
    let mut command = crate::config::authd_env(Cli::command());
    for name in ADMIN_COMMANDS {
        command = command.mut_subcommand(name, |sub| sub.mut_args(|arg| arg.global(true)));
    }
    file.apply(command)
}

/// The `--config` file named on the command line or by `AUTHD_CONFIG`: it
/// must be read before parsing, since its values become the defaults.
fn config_path(args: &[std::ffi::OsString]) -> Option<std::path::PathBuf> {
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next().map(std::path::PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(path.into());
        }
    }
    std::env::var_os("AUTHD_CONFIG")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
}

/// Parses `args` (the program name first): defaults, then the config file,
/// then `AUTHD_*` variables, then flags; returns where each value came from.
///
/// # Errors
/// [`ParseFailure::Clap`] for usage errors and `--help`; [`ParseFailure::Config`]
/// for a config file that cannot be used or a value that is refused.
pub fn parse_from<I, T>(args: I) -> std::result::Result<(Cli, Sources), ParseFailure>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches as _;
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let file = config_path(&args)
        .map(|path| FileValues::read(&path))
        .transpose()
        .map_err(ParseFailure::Config)?
        .unwrap_or_default();
    let command = command(&file).map_err(ParseFailure::Config)?;
    let args = crate::config::settings_after_subcommand(&command, args);
    let sources = file.sources(&command, &args);
    let matches = command.clone().try_get_matches_from(&args).map_err(|e| {
        match sources.explain(&command, e) {
            Ok(config) => ParseFailure::Config(config),
            Err(clap) => ParseFailure::Clap(clap),
        }
    })?;
    let cli = Cli::from_arg_matches(&matches).map_err(ParseFailure::Clap)?;
    Ok((cli, sources))
}

impl Cli {
    /// The database URL this command line names, redacted, for error messages.
    #[must_use]
    pub fn database_for_display(&self, sources: &Sources) -> String {
        let admin = match &self.command {
            None => &self.config.admin,
            Some(Command::Serve(config)) => &config.admin,
            Some(Command::Migrate(admin)) => admin,
            Some(Command::User(user)) => &user.admin,
            Some(Command::Keys(keys)) => &keys.admin,
            Some(Command::Audit(audit)) => &audit.admin,
            Some(Command::ServiceAccount(sa)) => &sa.admin,
            Some(Command::Healthcheck(_)) => return String::new(),
            Some(Command::Import(import)) => &import.admin,
        };
        sources
            .attribute(admin.store.url())
            .map(|url| url.redacted())
            .unwrap_or_default()
    }
}

/// Most rows `audit tail` prints at once (`--lines`), and reads per poll.
pub const MAX_TAIL_LINES: u32 = 10_000;

/// `authd audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the last events, oldest first: time (RFC 3339, UTC), event,
    /// subject, client address, outcome, detail.
    Tail {
        /// How many of the latest events to print (at most 10000).
        #[arg(short = 'n', long = "lines", default_value_t = 50,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TAIL_LINES)))]
        lines: u32,
        /// Keep printing new events as they are appended, until Ctrl-C.
        #[arg(short = 'f', long)]
        follow: bool,
        /// With --follow, how often to look for new events, in milliseconds (100 to 60000).
        #[arg(long, default_value_t = 1000, value_name = "MS",
              value_parser = clap::value_parser!(u64).range(100..=60_000))]
        poll_interval_ms: u64,
        /// One JSON object per line instead of columns.
        #[arg(long)]
        json: bool,
    },
    /// Write every event older than --before as JSON lines (the objects of
    /// `tail --json`), oldest first, to standard output or --output: the
    /// archive `audit purge` needs.
    Export {
        /// Events strictly older than this: Unix seconds or RFC 3339
        /// (`2026-11-01T00:00:00Z`).
        #[arg(long, value_parser = audit_retention::parse_before)]
        before: i64,
        /// Write to this file (created, or truncated) instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Remove the events older than --before that an `audit export` file
    /// holds: only when the log's events before that time are exactly the
    /// exported ones; recorded as an `audit_purged` event. The one way
    /// events ever leave the log.
    Purge {
        /// The same --before the export was made with.
        #[arg(long, value_parser = audit_retention::parse_before)]
        before: i64,
        /// The file `audit export --before ... --output FILE` wrote.
        #[arg(long)]
        exported: std::path::PathBuf,
    },
}

/// `authd keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key (with the configured algorithm); it signs
    /// after --key-prepublish, and the current key then verifies until its
    /// tokens have expired.
    Rotate {
        /// Emergency: the new key signs at once and the key that signed until
        /// now is retired at once, so every token it signed stops verifying on
        /// every replica within moments (users whose tokens it signed must
        /// refresh or log in again). For a leaked private key.
        #[arg(long)]
        now: bool,
        /// The algorithm and secrets of new keys.
        #[command(flatten)]
        signing: SigningSettings,
        /// How long the replaced key keeps verifying.
        #[command(flatten)]
        lifetimes: LifetimeSettings,
    },
    /// List signing keys and where each is in its life (metadata only:
    /// needs no key-encryption secret and changes nothing).
    List,
    /// Retire a key that is waiting to sign or has stopped signing, at once:
    /// its tokens stop verifying on every replica within moments. The key
    /// that signs now cannot be retired (use `keys rotate --now`).
    Retire {
        /// The key's id (the KID column of `authd keys list`).
        kid: String,
    },
}

/// `authd user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is prompted for, or read from stdin.
    Add {
        /// Username: letters, digits, '.', '_' and '-'; unique ignoring case.
        name: String,
        /// Email address; also unique ignoring case, and accepted by Login.
        #[arg(long)]
        email: Option<String>,
        /// Role to grant; repeat for several (e.g. --role admin).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The hashing cost of the new password and its minimum length.
        #[command(flatten)]
        password: PasswordSettings,
    },
    /// List users.
    List,
    /// Disable a user: logins fail and their sessions end.
    Disable {
        /// Username.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Username.
        name: String,
    },
    /// Replace a user's roles (ends their sessions: tokens carry roles).
    SetRoles {
        /// Username.
        name: String,
        /// Role to grant; repeat for several. None at all removes every role.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Delete a user and their sessions.
    Delete {
        /// Username.
        name: String,
    },
    /// Clear a login name's failed-login count, so a throttled user can log
    /// in again at once (their username and email; optionally an address's count too).
    Unlock {
        /// Username (or any login name, existing or not).
        name: String,
        /// Also clear the count of this client IP address.
        #[arg(long, value_name = "IP")]
        address: Option<String>,
    },
    /// Set a user's password (ends their sessions); it is prompted for, or read from stdin.
    SetPassword {
        /// Username.
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The hashing cost of the new password and its minimum length.
        #[command(flatten)]
        password: PasswordSettings,
    },
}

/// Runs the parsed command line; `sources` (from [`parse_from`]) says
/// where each setting came from, for error messages.
///
/// # Errors
/// Whatever the command fails with; see [`describe`] for the message.
pub async fn run(cli: Cli, sources: &Sources) -> Result<()> {
    let command = cli.command.unwrap_or(Command::Serve(Box::new(cli.config)));
    match command {
        // Boxed: the server's future (gRPC-Web and CORS layers included) is
        // too big to sit on this one's stack.
        Command::Serve(config) => Box::pin(serve(*config, sources)).await,
        Command::Healthcheck(args) => healthcheck::run(args).await,
        Command::Import(args) => import::run(args, sources).await,
        Command::Migrate(admin) => {
            let store = open_admin(&admin, sources, Open::Migrated).await?;
            store.close().await;
            println!("database is up to date");
            Ok(())
        }
        Command::Audit(AuditArgs { admin, command }) => {
            let open = match command {
                AuditCommand::Purge { .. } => Open::Migrated,
                _ => Open::ReadOnly,
            };
            let store = open_admin(&admin, sources, open).await?;
            let result = run_audit(store.as_ref(), command, app::shutdown_signal()).await;
            store.close().await;
            result
        }
        Command::Keys(KeysArgs { admin, command }) => {
            let open = match command {
                KeysCommand::List => Open::ReadOnly,
                KeysCommand::Rotate { .. } | KeysCommand::Retire { .. } => Open::Migrated,
            };
            let store = open_admin(&admin, sources, open).await?;
            let result = run_keys(&store, command, sources).await;
            store.close().await;
            result
        }
        Command::ServiceAccount(ServiceAccountArgs { admin, command }) => {
            let open = match command {
                ServiceAccountCommand::List => Open::ReadOnly,
                _ => Open::Migrated,
            };
            let store = open_admin(&admin, sources, open).await?;
            let hashing: PasswordSettings = crate::settings::defaults();
            let hasher = crate::password::PasswordHasher::new(
                hashing.argon2(),
                hashing.hash_concurrency,
                hashing.hash_queue_timeout,
            )
            .await?;
            let accounts = Accounts::new(store.clone(), hasher, Clock::system());
            let result = service_account::run(&accounts, command).await;
            store.close().await;
            result
        }
        Command::User(UserArgs { admin, command }) => {
            let open = match command {
                UserCommand::List => Open::ReadOnly,
                _ => Open::Migrated,
            };
            let hashing = match &command {
                UserCommand::Add { password, .. } | UserCommand::SetPassword { password, .. } => {
                    password.clone()
                }
                _ => crate::settings::defaults(),
            };
            sources.attribute(hashing.check())?;
            let store = open_admin(&admin, sources, open).await?;
            let hasher = crate::app::hasher_for(&hashing).await?;
            let accounts =
                Accounts::new(store.clone(), hasher, Clock::system()).with_actor(cli_actor());
            let result = run_user(&accounts, command).await;
            store.close().await;
            result
        }
    }
}

/// Runs the server until SIGINT or SIGTERM.
async fn serve(config: Config, sources: &Sources) -> Result<()> {
    config.check(sources)?;
    let log = &config.admin.log;
    let telemetry = crate::telemetry::init(
        log.log_format,
        log.log.as_deref().unwrap_or("info"),
        config.otlp.otlp_endpoint.as_deref(),
    )?;
    let result = match App::build(config).await {
        Ok(app) => app.run_until_stopped(app::shutdown_signal()).await,
        Err(e) => Err(e),
    };
    // After the drain, so the last RPCs' spans are in the final batch.
    drop(tokio::task::spawn_blocking(move || telemetry.shutdown()).await);
    result
}

/// How an administrative command opens the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// Migrated first (creating an SQLite file): for commands that write.
    Migrated,
    /// As it is, refused without the current schema: for commands that only read.
    ReadOnly,
}

/// Starts logging (quiet unless `--log` asks otherwise; spans are exported
/// only by the server) and opens the store for an administrative command.
async fn open_admin(
    admin: &AdminArgs,
    sources: &Sources,
    open: Open,
) -> Result<std::sync::Arc<dyn crate::store::Store>> {
    let url = sources.attribute(admin.store.url())?;
    let log = &admin.log;
    // Administrative commands exit at once, so the telemetry guard has nothing to flush.
    let _telemetry =
        crate::telemetry::init(log.log_format, log.log.as_deref().unwrap_or("warn"), None)?;
    let pool = admin.store.pool();
    match open {
        Open::Migrated => app::open_store(&url, pool).await,
        Open::ReadOnly => crate::store::open_existing(&url, pool).await,
    }
}

/// Who the audit log names for CLI changes: the OS user running it, as the
/// environment tells (a hint for the reader, not an authenticated identity).
fn cli_actor() -> String {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli, os user {who}")
}

/// The one-line message printed for a failed command.
#[must_use]
pub fn describe(error: &Error, database: &str) -> String {
    match error {
        Error::Unavailable { source, .. } => {
            format!("cannot reach the database at {database}: {source}")
        }
        other => other.to_string(),
    }
}
