//! Instance secrets: the `instance_secrets` table.

use secrecy::{ExposeSecret, SecretBox};
use sqlx::Pool;

use super::{Get, Params, SqlDb};
use crate::error::{Error, Result};

pub(super) async fn get_or_create<DB: SqlDb>(
    pool: &Pool<DB>,
    name: &str,
    fresh: &SecretBox<Vec<u8>>,
    now: i64,
) -> Result<SecretBox<Vec<u8>>> {
    let context = "reading an instance secret";
    // Whoever inserts first wins; everyone then reads the winner's value,
    // so replicas starting together still agree.
    sqlx::query(
        "INSERT INTO instance_secrets (name, secret, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .param(name)
    .param(fresh.expose_secret().as_slice())
    .param(now)
    .execute(DB::pool(pool))
    .await
    .map_err(|e| Error::database(context, e))?;
    let row = sqlx::query("SELECT secret FROM instance_secrets WHERE name = $1")
        .param(name)
        .fetch_one(DB::pool(pool))
        .await
        .map_err(|e| Error::database(context, e))?;
    let secret: Vec<u8> = row
        .field("secret")
        .map_err(|e| Error::database(context, e))?;
    Ok(SecretBox::new(Box::new(secret)))
}
