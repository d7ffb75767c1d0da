//! `authd service-account ...`: machine identities from the command line,
//! through the same service layer as the AdminService RPCs. Secrets are
//! printed once, when made; `list` only reads.

use clap::Subcommand;

use super::cli_actor;
use crate::clock::now_unix;
use crate::config::AdminArgs;
use crate::error::Result;
use crate::service::{Accounts, ChangedBy, NewServiceAccountRequest};

/// `authd service-account`: the database settings and what to do.
#[derive(Debug, clap::Args)]
pub struct ServiceAccountArgs {
    /// Config file, database and logging.
    #[command(flatten, next_help_heading = super::ADMIN_HEADING)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: ServiceAccountCommand,
}

/// `authd service-account ...`
#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Create a service account; prints its client id and secret, once.
    Add {
        /// Name: letters, digits, '.', '_' and '-'; unique ignoring case.
        name: String,
        /// Role its tokens carry; repeat for several (e.g. --role admin).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// What the account is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List service accounts (never their secrets).
    List,
    /// Give a service account a new client secret; prints it, once.
    Rotate {
        /// The service account's id.
        id: String,
        /// How long the current secret keeps working (e.g. 1h; at most 30d).
        #[arg(long, default_value = "0s", value_parser = crate::settings::duration("0s", "30d"))]
        overlap: std::time::Duration,
    },
    /// Delete a service account: its secrets and tokens stop working.
    Delete {
        /// The service account's id.
        id: String,
    },
}

pub(super) async fn run(accounts: &Accounts, command: ServiceAccountCommand) -> Result<()> {
    use secrecy::ExposeSecret as _;
    let now = now_unix();
    let by = ChangedBy {
        actor: cli_actor(),
        client_addr: None,
    };
    match command {
        ServiceAccountCommand::Add {
            name,
            roles,
            description,
        } => {
            let created = accounts
                .create_service_account(
                    NewServiceAccountRequest {
                        name,
                        description,
                        roles,
                    },
                    &by,
                    now,
                )
                .await?;
            println!(
                "created service account {} (id {})",
                created.account.name, created.account.id
            );
            println!("client id:     {}", created.account.client_id);
            println!("client secret: {}", created.client_secret.expose_secret());
            println!("the secret is shown only now: authd keeps only its hash");
        }
        ServiceAccountCommand::List => {
            println!(
                "{:<36}  {:<20}  {:<25}  {:<20}  ROLES",
                "ID", "NAME", "CLIENT ID", "LAST USED"
            );
            let mut after: Option<String> = None;
            loop {
                let (page, more) = accounts
                    .list_service_accounts(after.as_deref(), crate::service::pages::MAX_PAGE_SIZE)
                    .await?;
                for account in &page {
                    println!(
                        "{:<36}  {:<20}  {:<25}  {:<20}  {}",
                        account.id,
                        account.name,
                        account.client_id,
                        account
                            .last_used_at
                            .map_or_else(|| "never".to_owned(), crate::audit::rfc3339),
                        account.roles.join(",")
                    );
                }
                match page.last() {
                    Some(last) if more => after = Some(last.id.clone()),
                    _ => break,
                }
            }
        }
        ServiceAccountCommand::Rotate { id, overlap } => {
            let rotated = accounts
                .rotate_service_account_secret(&id, overlap, &by, now)
                .await?;
            println!(
                "new client secret: {}",
                rotated.client_secret.expose_secret()
            );
            match rotated.previous_expires_at {
                Some(at) => println!(
                    "the previous secret works until {}",
                    crate::audit::rfc3339(at)
                ),
                None => println!("the previous secret has stopped working"),
            }
        }
        ServiceAccountCommand::Delete { id } => {
            let account = accounts.delete_service_account(&id, &by, now).await?;
            println!(
                "deleted service account {} (id {})",
                account.name, account.id
            );
        }
    }
    Ok(())
}
