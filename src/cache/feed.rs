//! The tasks that keep a [`StateCache`] current: following the store's
//! change feed, and sending the heartbeats that prove every replica's feed
//! alive when nothing changes. The follower also hands every change and
//! every resync to a [`FeedListener`] (the revocation hub).
//!
//! Fail-closed: any doubt about the feed (it cannot be opened, it errs, it
//! stays silent past its idle limit) makes the cache distrusted at once, so
//! Verify reads the database until the feed has proved itself again.

use std::sync::Arc;
use std::time::Duration;

use super::StateCache;
use crate::store::{Change, FeedItem, Store};

/// Hears what the change feed delivers, after the cache has applied it.
/// Called on the follower's task: it must not block (hand the item on).
pub trait FeedListener: Send + Sync {
    /// A change was announced.
    fn change(&self, change: &Change);
    /// The feed (re)connected after a gap: changes may have been missed.
    fn resync(&self);
}

/// Follows the store's change feed forever, keeping `cache` current.
///
/// A feed that stays silent for `idle_limit` (several heartbeat periods) is
/// taken for dead, for example a connection left half-open by a failover,
/// and is reopened.
pub async fn follow_changes(
    store: Arc<dyn Store>,
    cache: Arc<StateCache>,
    listener: Arc<dyn FeedListener>,
    idle_limit: Duration,
) {
    let mut backoff = Duration::from_millis(50);
    let mut opened_before = false;
    loop {
        let mut feed = match store.change_feed().await {
            Ok(feed) => feed,
            Err(e) => {
                cache.distrust();
                tracing::warn!(error = %e, "cannot open the change feed; Verify reads the database");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        if opened_before {
            cache.count_feed_reconnect();
        }
        opened_before = true;
        // Whatever was cached before the feed was listening may be stale.
        cache.resync();
        listener.resync();
        loop {
            let Ok(item) = tokio::time::timeout(idle_limit, feed.next()).await else {
                cache.distrust();
                tracing::warn!(?idle_limit, "change feed silent; reopening it");
                break;
            };
            match item {
                Ok(FeedItem::Alive) => {
                    cache.mark_alive();
                    backoff = Duration::from_millis(50);
                }
                Ok(FeedItem::Change(change)) => {
                    cache.apply(&change);
                    cache.mark_alive();
                    listener.change(&change);
                }
                Ok(FeedItem::Resync) => {
                    tracing::info!("change feed reconnected; dropping cached state");
                    cache.count_feed_reconnect();
                    cache.resync();
                    listener.resync();
                    cache.mark_alive();
                }
                Err(e) => {
                    cache.distrust();
                    tracing::warn!(error = %e, "change feed interrupted; Verify reads the database");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// Sends a heartbeat through the store every `interval`, so every replica's
/// feed proves itself alive even when nothing changes.
pub async fn send_heartbeats(store: Arc<dyn Store>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = store.heartbeat().await {
            tracing::debug!(error = %e, "heartbeat failed");
        }
    }
}
