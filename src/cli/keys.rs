//! `authd keys ...`: rotates, retires and lists the signing keys, straight
//! on the store (key times are the database's).

use crate::config::Sources;
use crate::error::Result;

use super::KeysCommand;

pub(super) async fn run_keys(
    store: &std::sync::Arc<dyn crate::store::Store>,
    command: KeysCommand,
    sources: &Sources,
) -> Result<()> {
    use crate::token::rotation::{KeyManager, KeyPolicy};
    match command {
        KeysCommand::Rotate {
            now: true,
            signing,
            lifetimes,
        } => {
            sources.attribute(signing.check())?;
            let policy = KeyPolicy::new(&signing, &lifetimes, None)?;
            let keys = KeyManager::load(store.clone(), policy).await?;
            // Key times are the database's (token::rotation), not this host's.
            let done = keys.rotate_now(store.db_now().await?).await?;
            println!(
                "key {} ({}) is now signing; retired at once: {}",
                done.rotation.kid,
                done.rotation.algorithm,
                done.retired.join(", ")
            );
        }
        KeysCommand::Retire { kid } => {
            // No key material is needed: a row changes state, is audited and announced.
            let now = store.db_now().await?;
            match crate::token::rotation::retire_key(store.as_ref(), &kid, now).await? {
                crate::store::KeyRetirement::AlreadyRetired => {
                    println!("key {kid} was already retired");
                }
                _ => println!("key {kid} is retired: its tokens no longer verify"),
            }
        }
        KeysCommand::Rotate {
            now: false,
            signing,
            lifetimes,
        } => {
            sources.attribute(signing.check())?;
            let policy = KeyPolicy::new(&signing, &lifetimes, None)?;
            let keys = KeyManager::load(store.clone(), policy).await?;
            let now = store.db_now().await?;
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
            // Metadata straight from the table: no key is loaded or decrypted.
            for key in store.all_signing_keys().await? {
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
