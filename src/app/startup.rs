//! Start-up: migrations and the signing keys, which must succeed once
//! before any call is served. With PostgreSQL an unreachable database is
//! not fatal: the first attempt hands its retries to a `start-up` task
//! (capped backoff) while the server runs NOT_SERVING.

use std::sync::Arc;
use std::time::Duration;

use super::tasks::Tasks;
use crate::error::{Error, Result};
use crate::readiness::Readiness;
use crate::store::{self, DatabaseUrl, PoolSettings, Store};
use crate::token::rotation::KeyManager;

/// First pause between start-up attempts while the database is unreachable.
const STARTUP_RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest pause between start-up attempts: recovery is noticed within it.
const STARTUP_RETRY_MAX: Duration = Duration::from_secs(1);

/// Applies migrations and loads the signing keys: what must succeed once
/// before any call is served.
async fn start_up(store: &dyn Store, keys: &KeyManager) -> Result<()> {
    store.migrate().await?;
    keys.start().await
}

/// Runs [`start_up`] once. On success `readiness` is started; with
/// PostgreSQL an unreachable database hands the retries to a `start-up`
/// background task instead of failing; every other error fails.
pub(super) async fn begin_start_up(
    database: &DatabaseUrl,
    pool: PoolSettings,
    store: &Arc<dyn Store>,
    keys: &KeyManager,
    readiness: &Readiness,
    tasks: &mut Tasks,
) -> Result<()> {
    match start_up(store.as_ref(), keys).await {
        Ok(()) => {
            readiness.mark_started();
            Ok(())
        }
        Err(e @ Error::Unavailable { .. }) if database.waits_for_database() => {
            // The pool only says it timed out; one direct connection says why.
            let cause = match store::check_reachable(database, pool).await {
                Err(cause) => cause,
                Ok(()) => e,
            };
            tracing::warn!(
                error = %cause,
                "database unreachable at start-up; serving NOT_SERVING and retrying"
            );
            tasks.spawn_job(
                "start-up",
                retry_start_up(Arc::clone(store), keys.clone(), readiness.clone()),
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Retries [`start_up`] with capped backoff until it succeeds, then marks
/// `readiness` started. Each attempt is bounded by the acquire timeout; the
/// task ends with the server (the supervisor stops it on shutdown).
async fn retry_start_up(store: Arc<dyn Store>, keys: KeyManager, readiness: Readiness) {
    let mut pause = STARTUP_RETRY_FIRST;
    for attempt in 2_u64.. {
        tokio::time::sleep(pause).await;
        match start_up(store.as_ref(), &keys).await {
            Ok(()) => {
                readiness.mark_started();
                tracing::info!(
                    attempt,
                    "database reached: migrations applied, keys loaded; serving"
                );
                return;
            }
            Err(e @ Error::Unavailable { .. }) => {
                tracing::warn!(attempt, error = %e, "database still unreachable; retrying start-up");
            }
            Err(e) => {
                tracing::error!(attempt, error = %e, "start-up failed; retrying (NOT_SERVING meanwhile)");
            }
        }
        pause = (pause * 2).min(STARTUP_RETRY_MAX);
    }
}
