//! `authd user ...`: runs the user subcommands (add, list, set-password,
//! roles, enable/disable, delete) through the account service, and prints
//! user rows.

use crate::clock::now_unix;
use crate::error::{Error, Result};
use crate::password::PasswordPolicy;
use crate::service::{Accounts, NewAccount};
use crate::user::User;

use super::{UserCommand, password_input};

pub(super) async fn run_user(accounts: &Accounts, command: UserCommand) -> Result<()> {
    let now = now_unix();
    match command {
        UserCommand::Add {
            name,
            email,
            roles,
            password_stdin,
            password: hashing,
        } => {
            // Validate what we can before asking for a password.
            crate::user::validate_username(&name)?;
            if let Some(email) = &email {
                crate::user::validate_email(email)?;
            }
            crate::user::normalize_roles(&roles)?;
            let policy = PasswordPolicy::from_settings(&hashing);
            let password = password_input::read_password(password_stdin, true, policy)?;
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
            password: hashing,
        } => {
            if accounts.store().user_by_username(&name).await?.is_none() {
                return Err(Error::NotFound(format!("no user named {name:?}")));
            }
            let policy = PasswordPolicy::from_settings(&hashing);
            let password = password_input::read_password(password_stdin, true, policy)?;
            let user = accounts.set_password(&name, password, now).await?;
            println!("password changed for user {}", user.username);
        }
    }
    Ok(())
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
