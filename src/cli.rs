//! The command line: `serve` (the default), `migrate`, `user ...`, `keys ...`
//! and `audit tail`.
//!
//! Every subcommand reads the same configuration flags. Passwords are read
//! from standard input (`--password-stdin`, one line) or an interactive
//! prompt, never from an argument, which would leave them in shell history
//! and the process table. Errors end up as one line on stderr and a
//! non-zero exit (see [`describe`]).

use std::io::{BufRead as _, IsTerminal as _};

use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::app::{self, App};
use crate::clock::{Clock, now_unix};
use crate::config::{Config, ConfigArgs};
use crate::error::{Error, Result};
use crate::service::{Accounts, NewAccount};
use crate::user::User;

/// authd: a standalone gRPC authentication service.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about, long_about = None)]
pub struct Cli {
    /// Configuration shared by every subcommand.
    #[command(
        flatten,
        next_help_heading = "Configuration (flag, env AUTHD_*, or config file)"
    )]
    pub config: ConfigArgs,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
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
}

/// `authd keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key (with the configured algorithm); it signs
    /// after --key-prepublish, and the current key then verifies until its
    /// tokens have expired.
    Rotate,
    /// List signing keys and where each is in its life.
    List,
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
    },
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever the command fails with; see [`describe`] for the message.
pub async fn run(cli: Cli) -> Result<()> {
    let config = Config::load(&cli.config)?;
    let command = cli.command.unwrap_or(Command::Serve);
    // Administrative commands stay quiet unless asked otherwise.
    let filter = match (&command, cli.config.log.is_some()) {
        (Command::Serve, _) | (_, true) => config.log_filter.clone(),
        _ => "warn".to_owned(),
    };
    // Spans are exported only by the server; administrative commands log.
    let otlp_endpoint = match command {
        Command::Serve => config.otlp_endpoint.clone(),
        _ => None,
    };
    let telemetry = crate::telemetry::init(config.log_format, &filter, otlp_endpoint.as_deref())?;

    match command {
        Command::Serve => {
            let result = match App::build(config).await {
                Ok(app) => app.run_until_stopped(app::shutdown_signal()).await,
                Err(e) => Err(e),
            };
            // After the drain, so the last RPCs' spans are in the final batch.
            drop(tokio::task::spawn_blocking(move || telemetry.shutdown()).await);
            result
        }
        Command::Migrate => {
            app::open_store(&config).await?.close().await;
            println!("database is up to date");
            Ok(())
        }
        Command::Audit(command) => {
            let store = app::open_store(&config).await?;
            let result = run_audit(store.as_ref(), command, app::shutdown_signal()).await;
            store.close().await;
            result
        }
        Command::Keys(command) => {
            let store = app::open_store(&config).await?;
            let result = run_keys(&config, &store, command).await;
            store.close().await;
            result
        }
        Command::User(command) => {
            let store = app::open_store(&config).await?;
            let hasher = app::password_hasher(&config).await?;
            let accounts =
                Accounts::new(store.clone(), hasher, Clock::system()).with_actor(cli_actor());
            let result = run_user(&accounts, command).await;
            store.close().await;
            result
        }
    }
}

async fn run_user(accounts: &Accounts, command: UserCommand) -> Result<()> {
    let now = now_unix();
    match command {
        UserCommand::Add {
            name,
            email,
            roles,
            password_stdin,
        } => {
            // Validate what we can before asking for a password.
            crate::user::validate_username(&name)?;
            if let Some(email) = &email {
                crate::user::validate_email(email)?;
            }
            crate::user::normalize_roles(&roles)?;
            let password = read_password(password_stdin, true)?;
            let user = accounts
                .create_user(
                    NewAccount {
                        username: name,
                        email,
                        roles,
                        password,
                    },
                    now,
                )
                .await?;
            println!("created user {} (id {})", user.username, user.id);
        }
        UserCommand::List => {
            let users = accounts.list_users().await?;
            println!(
                "{:<36}  {:<20}  {:<8}  {:<24}  ROLES",
                "ID", "USERNAME", "ACTIVE", "EMAIL"
            );
            for user in users {
                print_user_row(&user);
            }
        }
        UserCommand::Disable { name } => {
            let user = accounts.set_active(&name, false, now).await?;
            println!("disabled user {}", user.username);
        }
        UserCommand::Enable { name } => {
            let user = accounts.set_active(&name, true, now).await?;
            println!("enabled user {}", user.username);
        }
        UserCommand::SetRoles { name, roles } => {
            let user = accounts.set_roles(&name, &roles, now).await?;
            println!(
                "roles of user {} are now: {}",
                user.username,
                if user.roles.is_empty() {
                    "(none)".to_owned()
                } else {
                    user.roles.join(", ")
                }
            );
        }
        UserCommand::Delete { name } => {
            let user = accounts.delete_user(&name).await?;
            println!("deleted user {}", user.username);
        }
        UserCommand::Unlock { name, address } => {
            let cleared = accounts.unlock(&name, address.as_deref()).await?;
            match address {
                Some(address) => println!(
                    "unlocked {name} and address {address} ({cleared} failed-login counts cleared)"
                ),
                None => println!("unlocked {name} ({cleared} failed-login counts cleared)"),
            }
        }
        UserCommand::SetPassword {
            name,
            password_stdin,
        } => {
            if accounts.store().user_by_username(&name).await?.is_none() {
                return Err(Error::NotFound(format!("no user named {name:?}")));
            }
            let password = read_password(password_stdin, true)?;
            let user = accounts.set_password(&name, password, now).await?;
            println!("password changed for user {}", user.username);
        }
    }
    Ok(())
}

async fn run_keys(
    config: &Config,
    store: &std::sync::Arc<dyn crate::store::Store>,
    command: KeysCommand,
) -> Result<()> {
    use crate::token::rotation::{KeyManager, KeyPolicy};
    let now = now_unix();
    let keys = KeyManager::load(store.clone(), KeyPolicy::from_config(config)?, now).await?;
    match command {
        KeysCommand::Rotate => {
            let rotation = keys.rotate(now).await?;
            if rotation.activates_at <= now {
                println!(
                    "key {} ({}) is now signing; the previous key verifies until its tokens expire",
                    rotation.kid, rotation.algorithm
                );
            } else {
                println!(
                    "key {} ({}) is published and starts signing in {}s (at Unix time {})",
                    rotation.kid,
                    rotation.algorithm,
                    rotation.activates_at - now,
                    rotation.activates_at
                );
            }
        }
        KeysCommand::List => {
            println!(
                "{:<44}  {:<6}  {:<8}  {:<12}  {:<12}  RETIRES_AT",
                "KID", "ALG", "STATE", "CREATED_AT", "ACTIVATES_AT"
            );
            for key in keys.list().await? {
                println!(
                    "{:<44}  {:<6}  {:<8}  {:<12}  {:<12}  {}",
                    key.kid,
                    key.algorithm,
                    key.state.as_str(),
                    key.created_at,
                    key.activates_at,
                    key.retires_at
                        .map_or_else(|| "-".to_owned(), |t| t.to_string())
                );
            }
        }
    }
    Ok(())
}

/// Who the audit log names for CLI changes: the OS user running it, as the
/// environment tells (a hint for the reader, not an authenticated identity).
fn cli_actor() -> String {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli, os user {who}")
}

/// Runs `authd audit ...`, printing to stdout; `--follow` stops when `stop` resolves.
///
/// # Errors
/// Database errors, or a closed standard output.
pub async fn run_audit(
    store: &dyn crate::store::Store,
    command: AuditCommand,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let AuditCommand::Tail {
        lines,
        follow,
        poll_interval_ms,
        json,
    } = command;
    let render: fn(&crate::store::AuditEntry) -> String = if json {
        crate::audit::render_json
    } else {
        crate::audit::render_line
    };
    let print = |entries: &[crate::store::AuditEntry]| print_audit(entries, render);
    let mut last = print(&store.audit_tail(lines.min(MAX_TAIL_LINES), None).await?)?;
    if !follow {
        return Ok(());
    }
    // Bounded in time by the interval (clamped by the parser) and in work
    // by MAX_TAIL_LINES per poll; it ends on `stop` (Ctrl-C or SIGTERM).
    let interval = std::time::Duration::from_millis(poll_interval_ms.clamp(100, 60_000));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        let after = last.unwrap_or(0);
        let fresh = store.audit_tail(MAX_TAIL_LINES, Some(after)).await?;
        if let Some(id) = print(&fresh)? {
            last = Some(id);
        }
    }
}

/// Prints `entries` one per line; returns the last one's id.
fn print_audit(
    entries: &[crate::store::AuditEntry],
    render: fn(&crate::store::AuditEntry) -> String,
) -> Result<Option<i64>> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for entry in entries {
        writeln!(out, "{}", render(entry))
            .map_err(|e| Error::internal("writing the audit log to stdout", e))?;
    }
    out.flush()
        .map_err(|e| Error::internal("writing the audit log to stdout", e))?;
    Ok(entries.last().map(|e| e.id))
}

fn print_user_row(user: &User) {
    println!(
        "{:<36}  {:<20}  {:<8}  {:<24}  {}",
        user.id,
        user.username,
        if user.active { "yes" } else { "no" },
        user.email.as_deref().unwrap_or("-"),
        user.roles.join(",")
    );
}

/// Reads a password from stdin's first line, or prompts twice on the terminal.
fn read_password(from_stdin: bool, confirm: bool) -> Result<SecretString> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::invalid("password", format!("cannot read standard input: {e}")))?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        crate::password::validate_new_password(password)?;
        return Ok(SecretString::from(password.to_owned()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "password",
            "no terminal to prompt on; pass --password-stdin and pipe the password in",
        ));
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|e| Error::invalid("password", format!("cannot read the password: {e}")))?;
    crate::password::validate_new_password(&first)?;
    if confirm {
        let second = rpassword::prompt_password("Repeat password: ")
            .map_err(|e| Error::invalid("password", format!("cannot read the password: {e}")))?;
        if first != second {
            return Err(Error::invalid("password", "the two entries differ"));
        }
    }
    Ok(SecretString::from(first))
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
