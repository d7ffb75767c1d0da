//! The in-process cache of user, session and service-account state that
//! keeps Verify off the database, and the task that keeps it current.
//!
//! Verify needs to know that a token's user exists and is active and that
//! its session has not ended. Those answers are cached here per replica and
//! dropped the moment a change is announced: by this process directly (the
//! replica that made the change), or through the store's change feed
//! (PostgreSQL `LISTEN/NOTIFY` from other replicas and the CLI; the
//! `change_log` poll on SQLite).
//!
//! Fail-closed rules:
//! - The cache is only *trusted* while the feed has proved itself alive
//!   within the last `bound` (heartbeats, changes or polls). Untrusted, every
//!   lookup goes to the database; if that fails, the caller gets an error,
//!   never a cached "valid".
//! - A feed interruption drops everything cached: changes may have been missed.
//! - Every announced change bumps an epoch; a database read that started
//!   before a change is not cached, so a slow read can never re-insert state
//!   the change invalidated.
//! - Entries also expire after `entry_ttl` and the maps are bounded.
//!
//! The read-through protocol (answer from here, else read the store and keep
//! the answer unless the epoch moved) is written once, behind
//! [`StateCache::user_or_load`] and [`StateCache::session_or_load`]; callers
//! do not take epochs themselves. The trust bound and entry ages are
//! measured by the injected [`Clock`], never by reading the time directly.
//! What this module must not do: answer from the cache when untrusted, or
//! turn a database error into a cached answer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::error::Result;
use crate::store::{Change, ServiceAccount, Session, Store};
use crate::user::User;

mod feed;

pub use feed::{FeedListener, follow_changes, send_heartbeats};

/// A cached answer (`None`: known not to exist) and when it was stored.
type Slot<T> = (Option<T>, Instant);

/// Cached answers, each with the instant it was stored.
#[derive(Debug, Default)]
struct Entries {
    users: HashMap<String, Slot<User>>,
    sessions: HashMap<String, Slot<Session>>,
    /// Service accounts, for their tokens; dropped by [`Change::ServiceAccount`].
    service_accounts: HashMap<String, Slot<ServiceAccount>>,
}

/// What the cache holds: each kind knows its own map, so the lookup, the
/// insert and the read-through protocol are written once for both.
trait Cached: Clone {
    fn map(entries: &Entries) -> &HashMap<String, Slot<Self>>;
    fn map_mut(entries: &mut Entries) -> &mut HashMap<String, Slot<Self>>;
    /// The hit and miss counters of this kind.
    fn counters(stats: &Stats) -> (&AtomicU64, &AtomicU64);
}

impl Cached for User {
    fn map(entries: &Entries) -> &HashMap<String, Slot<Self>> {
        &entries.users
    }
    fn map_mut(entries: &mut Entries) -> &mut HashMap<String, Slot<Self>> {
        &mut entries.users
    }
    fn counters(stats: &Stats) -> (&AtomicU64, &AtomicU64) {
        (&stats.user_hits, &stats.user_misses)
    }
}

impl Cached for Session {
    fn map(entries: &Entries) -> &HashMap<String, Slot<Self>> {
        &entries.sessions
    }
    fn map_mut(entries: &mut Entries) -> &mut HashMap<String, Slot<Self>> {
        &mut entries.sessions
    }
    fn counters(stats: &Stats) -> (&AtomicU64, &AtomicU64) {
        (&stats.session_hits, &stats.session_misses)
    }
}

impl Cached for ServiceAccount {
    fn map(entries: &Entries) -> &HashMap<String, Slot<Self>> {
        &entries.service_accounts
    }
    fn map_mut(entries: &mut Entries) -> &mut HashMap<String, Slot<Self>> {
        &mut entries.service_accounts
    }
    fn counters(stats: &Stats) -> (&AtomicU64, &AtomicU64) {
        (&stats.service_account_hits, &stats.service_account_misses)
    }
}

/// User and session state for Verify; see the module docs.
#[derive(Debug)]
pub struct StateCache {
    entries: RwLock<Entries>,
    epoch: AtomicU64,
    /// Measures the trust bound and entry ages; the one clock of the app,
    /// so tests move it instead of sleeping.
    clock: Clock,
    base: Instant,
    /// Nanoseconds after `base` until which the cache may be used.
    trusted_until: AtomicU64,
    bound: Duration,
    entry_ttl: Duration,
    max_entries: usize,
    /// Lookup outcomes and feed health, read by the metrics at scrape time.
    stats: Stats,
    alive: Notify,
    /// Signalled when signing keys change (announced, or possibly missed
    /// while the feed was down), so the key refresher reloads them. Key
    /// reloads follow these announcements, never the `kid` of a token a
    /// caller sent: a garbage `kid` costs no database query.
    keys_changed: Arc<Notify>,
}

impl StateCache {
    /// An empty, untrusted cache whose bound and TTL are measured by `clock`.
    #[must_use]
    pub fn new(bound: Duration, entry_ttl: Duration, max_entries: usize, clock: Clock) -> Self {
        Self {
            entries: RwLock::new(Entries::default()),
            epoch: AtomicU64::new(0),
            base: clock.now(),
            clock,
            trusted_until: AtomicU64::new(0),
            bound,
            entry_ttl,
            max_entries: max_entries.max(1),
            stats: Stats::default(),
            alive: Notify::new(),
            keys_changed: Arc::new(Notify::new()),
        }
    }

    fn elapsed_nanos(&self) -> u64 {
        let elapsed = self.clock.now().saturating_duration_since(self.base);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether cached answers may be used now.
    #[must_use]
    pub fn is_trusted(&self) -> bool {
        self.elapsed_nanos() < self.trusted_until.load(Ordering::Acquire)
    }

    /// The feed proved itself alive: trust the cache for `bound` from now.
    pub fn mark_alive(&self) {
        let now = self.elapsed_nanos();
        self.stats.last_heard.fetch_max(now, Ordering::Relaxed);
        let until = now.saturating_add(u64::try_from(self.bound.as_nanos()).unwrap_or(u64::MAX));
        self.trusted_until.fetch_max(until, Ordering::AcqRel);
        self.alive.notify_waiters();
    }

    /// The feed (re)connected after a gap in which changes may have been
    /// missed: forget every cached answer and have the keys reloaded.
    pub fn resync(&self) {
        self.clear();
        self.keys_changed.notify_one();
    }

    /// The feed broke: stop trusting and forget everything.
    pub fn distrust(&self) {
        self.trusted_until.store(0, Ordering::Release);
        self.clear();
    }

    /// Forgets everything (changes may have been missed).
    pub fn clear(&self) {
        let mut entries = self.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.users.clear();
        entries.sessions.clear();
        entries.service_accounts.clear();
    }

    /// Drops whatever `change` makes stale.
    pub fn apply(&self, change: &Change) {
        let mut entries = self.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match change {
            Change::User(id) => {
                entries.users.remove(id);
            }
            Change::Session(id) => {
                entries.sessions.remove(id);
            }
            Change::UserSessions(user_id) => {
                entries.users.remove(user_id);
                entries.sessions.retain(|_, (session, _)| {
                    session.as_ref().is_none_or(|s| &s.user_id != user_id)
                });
            }
            Change::ServiceAccount(id) => {
                entries.service_accounts.remove(id);
            }
            Change::Keys => self.keys_changed.notify_one(),
            Change::Heartbeat => {}
        }
    }

    /// Signalled whenever the signing keys may have changed.
    #[must_use]
    pub fn keys_changed(&self) -> Arc<Notify> {
        Arc::clone(&self.keys_changed)
    }

    /// The current epoch, to be taken before a database read that may be cached.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The user with `id`: from the cache when trusted and fresh, else read
    /// from `store` (and cached, unless a change came during the read).
    ///
    /// # Errors
    /// Database errors; a cached answer is never used in their place.
    pub async fn user_or_load(&self, store: &dyn Store, id: &str) -> Result<Option<User>> {
        self.read_through(id, || store.user_by_id(id)).await
    }

    /// The session with `id`, like [`Self::user_or_load`].
    ///
    /// # Errors
    /// Database errors; a cached answer is never used in their place.
    pub async fn session_or_load(&self, store: &dyn Store, id: &str) -> Result<Option<Session>> {
        self.read_through(id, || store.session(id)).await
    }

    /// The service account with `id`, like [`Self::user_or_load`]: a
    /// deleted account's tokens stop verifying when its
    /// [`Change::ServiceAccount`] arrives.
    ///
    /// # Errors
    /// Database errors; a cached answer is never used in their place.
    pub async fn service_account_or_load(
        &self,
        store: &dyn Store,
        id: &str,
    ) -> Result<Option<ServiceAccount>> {
        self.read_through(id, || store.service_account(id)).await
    }

    /// The read-through protocol, written once: a trusted, fresh entry
    /// answers; otherwise the epoch is taken *before* `load` runs, so a
    /// change announced while the read is in flight keeps its (possibly
    /// stale) answer out of the cache.
    async fn read_through<T, F, Fut>(&self, id: &str, load: F) -> Result<Option<T>>
    where
        T: Cached,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        if let Some(hit) = self.get::<T>(id) {
            return Ok(hit);
        }
        let epoch = self.epoch();
        let loaded = load().await?;
        self.put(id, loaded.clone(), epoch);
        Ok(loaded)
    }

    /// A cached user lookup (`Some(None)`: known not to exist), if trusted and fresh.
    #[must_use]
    pub fn user(&self, id: &str) -> Option<Option<User>> {
        self.get(id)
    }

    /// A cached session lookup, if trusted and fresh; counted as a hit or a miss.
    #[must_use]
    pub fn session(&self, id: &str) -> Option<Option<Session>> {
        self.get(id)
    }

    /// Caches a user read that began at `epoch`, unless a change came since
    /// or the cache is not trusted (nothing is kept while the feed is down).
    pub fn put_user(&self, id: &str, user: Option<User>, epoch: u64) {
        self.put(id, user, epoch);
    }

    /// Caches a session read that began at `epoch`, unless a change came
    /// since or the cache is not trusted.
    pub fn put_session(&self, id: &str, session: Option<Session>, epoch: u64) {
        self.put(id, session, epoch);
    }

    // The outer `None` is a miss, the inner one a known absence: the shape
    // of the public `user`/`session` lookups.
    #[allow(clippy::option_option)]
    /// A trusted, fresh entry, counted as a hit or a miss.
    fn get<T: Cached>(&self, id: &str) -> Option<Option<T>> {
        let (hits, misses) = T::counters(&self.stats);
        let found = self.fresh::<T>(id);
        let counter = if found.is_some() { hits } else { misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    #[allow(clippy::option_option)] // `Some(None)`: known not to exist
    fn fresh<T: Cached>(&self, id: &str) -> Option<Option<T>> {
        if !self.is_trusted() {
            return None;
        }
        let now = self.clock.now();
        let entries = self.read();
        let (value, at) = T::map(&entries).get(id)?;
        (now.saturating_duration_since(*at) < self.entry_ttl).then(|| value.clone())
    }

    fn put<T: Cached>(&self, id: &str, value: Option<T>, epoch: u64) {
        if !self.is_trusted() {
            return;
        }
        let now = self.clock.now();
        let mut entries = self.write();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        let map = T::map_mut(&mut entries);
        if map.len() >= self.max_entries {
            map.clear();
        }
        map.insert(id.to_owned(), (value, now));
    }

    /// Lookups answered from the cache and missed since start-up.
    #[must_use]
    pub fn lookups(&self) -> Lookups {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Lookups {
            user_hits: read(&self.stats.user_hits),
            user_misses: read(&self.stats.user_misses),
            session_hits: read(&self.stats.session_hits),
            session_misses: read(&self.stats.session_misses),
        }
    }

    /// Users and sessions held now.
    #[must_use]
    pub fn entries(&self) -> Held {
        let entries = self.read();
        Held {
            users: entries.users.len(),
            sessions: entries.sessions.len(),
        }
    }

    /// Counts a reopened or reconnected change feed.
    pub fn count_feed_reconnect(&self) {
        self.stats.feed_reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Times the change feed was reopened or reconnected since start-up.
    #[must_use]
    pub fn feed_reconnects(&self) -> u64 {
        self.stats.feed_reconnects.load(Ordering::Relaxed)
    }

    /// How long since the feed last proved itself alive (since the cache
    /// was made, if it never did).
    #[must_use]
    pub fn feed_silence(&self) -> Duration {
        let last = self.stats.last_heard.load(Ordering::Relaxed);
        Duration::from_nanos(self.elapsed_nanos().saturating_sub(last))
    }

    /// Waits until the cache is trusted, at most `limit`; returns whether it is.
    pub async fn wait_until_trusted(&self, limit: Duration) -> bool {
        // `limit` bounds a wait for I/O (the feed connecting), so it runs on
        // tokio's timer, not the clock: a manual clock must not hang start-up.
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.alive.notified();
            if self.is_trusted() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_trusted();
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // in a way that matters: at worst an entry is missing.
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Counters the metrics read; plain atomics, so this module needs no
/// metrics crate.
#[derive(Debug, Default)]
struct Stats {
    user_hits: AtomicU64,
    user_misses: AtomicU64,
    session_hits: AtomicU64,
    session_misses: AtomicU64,
    service_account_hits: AtomicU64,
    service_account_misses: AtomicU64,
    feed_reconnects: AtomicU64,
    /// Nanoseconds after `base` when the feed last proved itself alive.
    last_heard: AtomicU64,
}

/// State cache lookups since start-up ([`StateCache::lookups`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lookups {
    /// User lookups answered from the cache.
    pub user_hits: u64,
    /// User lookups that had to read the database.
    pub user_misses: u64,
    /// Session lookups answered from the cache.
    pub session_hits: u64,
    /// Session lookups that had to read the database.
    pub session_misses: u64,
}

/// How much the cache holds ([`StateCache::entries`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Cached users (and known-missing user ids).
    pub users: usize,
    /// Cached sessions (and known-missing session ids).
    pub sessions: usize,
}

#[cfg(test)]
mod tests;
