//! The revocation hub behind `WatchRevocations`: it turns the change feed
//! into numbered revocation events, keeps a bounded history of them for
//! subscribers that resume, reads the snapshot for those that cannot, and
//! runs each subscriber's stream (snapshot, live events, heartbeats).
//!
//! Fed by [`crate::cache::follow_changes`] through [`FeedListener`]: every
//! [`Change`] is read back from the store and becomes zero or more
//! [`Revocation`]s (a duplicate is harmless, clients apply them
//! idempotently; a missing one is not). Every feed resync (changes may
//! have been missed) ends every open stream with `UNAVAILABLE` and forgets
//! the history, so old cursors take a snapshot.
//!
//! Fail-closed rules:
//! - Heartbeats are sent only while the state cache trusts the feed
//!   ([`StateCache::is_trusted`]): a replica cut off from its database goes
//!   silent, and its subscribers' staleness bound turns them unavailable.
//! - A store read that fails while translating a change is treated like a
//!   missed change: a resync.
//! - The hub's intake from the feed is bounded; if it ever overflows, the
//!   hub resyncs instead of dropping a change silently.
//! - Each subscriber has a bounded buffer ([`SUBSCRIBER_BUFFER`]); a full
//!   one ends that subscriber with `RESOURCE_EXHAUSTED` at once, so memory
//!   never grows with a subscriber that does not read.
//!
//! What this module must not do: see transport types (the gRPC adapter maps
//! [`WatchItem`] to the proto), decide who may subscribe (the service layer
//! does), or read the wall clock (it takes the app's [`Clock`]; the
//! heartbeat interval runs on tokio's timer, like other I/O timing).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cache::{FeedListener, StateCache};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::readiness::Readiness;
use crate::store::{Change, DeletedKind, EndReason, Session, Store};
use crate::token::InvalidReason;
use crate::token::keys::KeySet;

mod cursor;
mod stream;
mod types;

pub use cursor::Cursor;
use stream::{Resume, Streaming, Subscription};
pub use types::{AccountChange, Revocation, Rules, UserChange, Watch, WatchItem};

/// Events buffered per subscriber before it counts as too slow and is reset.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// How often a stream gets a heartbeat, idle or not (at most a third of the
/// clients' default staleness bound of 3 s).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Feed signals waiting for the hub's worker; past this the hub resyncs.
const INTAKE: usize = 4096;
/// Most changes read back from the database at once. One at a time, a
/// replica's feed fell behind at a few hundred revocations per second
/// (docs/scaling.md, "Revocation fan-out"); ended sessions, most of a busy
/// feed, are read with one query ([`crate::store::Store::sessions`]).
const READ_BACK_BATCH: usize = crate::store::SESSIONS_PER_READ;
/// Reads of other changes in flight at once: well inside the connection pool.
const READ_BACK_CONCURRENCY: usize = 16;

/// How long a key change waits for this replica's key set to be reloaded
/// before it is announced anyway (so a client's GetJwks sees the new set).
const KEY_RELOAD_WAIT: Duration = Duration::from_secs(2);

/// The one mapping from why a session ended to what Verify answers for its
/// tokens; Verify and the revocation stream both use it.
#[must_use]
pub fn end_reason_invalid(reason: EndReason) -> InvalidReason {
    match reason {
        EndReason::Logout | EndReason::LogoutAll | EndReason::Evicted | EndReason::Idle => {
            InvalidReason::SessionEnded
        }
        EndReason::Admin | EndReason::Reuse => InvalidReason::Revoked,
        EndReason::PasswordChanged => InvalidReason::PasswordChanged,
        EndReason::RolesChanged => InvalidReason::RolesChanged,
        EndReason::UserDisabled => InvalidReason::UserDisabled,
    }
}

/// A live event and its number in this hub's sequence.
#[derive(Debug)]
struct Sequenced {
    seq: u64,
    revocation: Revocation,
}

/// Why the hub ended a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its buffer was full.
    TooSlow,
    /// The feed resynced: changes may have been missed.
    Resync,
}

impl End {
    fn error(self) -> Error {
        match self {
            Self::TooSlow => Error::ResourceExhausted(format!(
                "this subscriber fell too far behind (its buffer of {SUBSCRIBER_BUFFER} events \
                 filled up); resubscribe with your last cursor"
            )),
            Self::Resync => Error::Interrupted(
                "authd's change feed reconnected and changes may have been missed; \
                 resubscribe (your cursor will get a fresh snapshot)"
                    .to_owned(),
            ),
        }
    }
}

/// A subscriber as the hub sees it.
#[derive(Debug)]
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Sequenced>>,
    end: Arc<OnceLock<End>>,
}

/// The hub's numbered history and its subscribers, under one lock so a
/// subscription and a publication never interleave.
#[derive(Debug)]
struct State {
    /// Bumped by every resync; cursors of an older generation do not resume.
    generation: u64,
    /// The number the next event gets (the first is 1).
    next_seq: u64,
    history: VecDeque<Arc<Sequenced>>,
    subscribers: Vec<Subscriber>,
    next_subscriber: u64,
    /// Kids of the verifying keys as last read, to tell which retired.
    kids: HashSet<String>,
}

/// The revocation hub; see the module docs. One per app, shared.
#[derive(Debug)]
pub struct RevocationHub {
    store: Arc<dyn Store>,
    /// Whether the feed is trusted: heartbeats only then.
    cache: Arc<StateCache>,
    /// This replica's live key set: a key change is announced once it shows.
    keys: Arc<KeySet>,
    clock: Clock,
    /// Streams end when this says stopping, so they never hold the drain.
    readiness: Readiness,
    /// How far back a revocation can still matter: the longest access-token
    /// lifetime plus the leeway, seconds.
    window_secs: i64,
    history_capacity: usize,
    /// Random per process: a cursor from another replica or from before a
    /// restart is recognised and does not resume.
    instance: [u8; 16],
    state: Mutex<State>,
    intake: mpsc::Sender<Signal>,
    intake_rx: Mutex<Option<mpsc::Receiver<Signal>>>,
    /// Set when the intake overflowed: the worker resyncs.
    missed: AtomicBool,
    resets_too_slow: AtomicU64,
    resets_resync: AtomicU64,
}

/// What the feed hands the hub.
#[derive(Debug)]
enum Signal {
    Change(Change),
    Resync,
}

impl RevocationHub {
    /// A hub over `store`, keeping `history` events, for tokens whose
    /// revocations matter for `window_secs`.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<StateCache>,
        keys: Arc<KeySet>,
        clock: Clock,
        readiness: Readiness,
        window_secs: i64,
        history: usize,
    ) -> Self {
        let (intake, intake_rx) = mpsc::channel(INTAKE);
        Self {
            store,
            cache,
            keys,
            clock,
            readiness,
            window_secs,
            history_capacity: history.max(1),
            instance: uuid::Uuid::new_v4().into_bytes(),
            state: Mutex::new(State {
                generation: 0,
                next_seq: 1,
                history: VecDeque::new(),
                subscribers: Vec::new(),
                next_subscriber: 0,
                kids: HashSet::new(),
            }),
            intake,
            intake_rx: Mutex::new(Some(intake_rx)),
            missed: AtomicBool::new(false),
            resets_too_slow: AtomicU64::new(0),
            resets_resync: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the state whole before it can panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscribers connected now.
    #[must_use]
    pub fn subscribers(&self) -> usize {
        self.lock().subscribers.len()
    }

    /// Subscribers ended for being too slow, and by feed resyncs, since start-up.
    #[must_use]
    pub fn resets(&self) -> (u64, u64) {
        (
            self.resets_too_slow.load(Ordering::Relaxed),
            self.resets_resync.load(Ordering::Relaxed),
        )
    }

    /// How far back the snapshot reaches, seconds.
    #[must_use]
    pub fn window_secs(&self) -> i64 {
        self.window_secs
    }

    /// Turns feed signals into events, forever (a supervised task).
    pub async fn run(self: Arc<Self>) {
        let taken = self
            .intake_rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut intake) = taken else {
            tracing::warn!("revocation hub started twice; the second stays idle");
            return;
        };
        self.reload_kids().await;
        let mut batch = Vec::with_capacity(READ_BACK_BATCH);
        while intake.recv_many(&mut batch, READ_BACK_BATCH).await > 0 {
            if self.missed.swap(false, Ordering::AcqRel) {
                tracing::warn!("revocation hub fell behind the change feed; resyncing");
                self.resync().await;
            }
            // Changes are read back together (each read is of the current
            // rows, so reading them at once answers what reading them one
            // after another would, or newer) and published in feed order.
            // Resyncs and key changes (which update the kid set) stand alone.
            let mut run = Vec::new();
            for signal in batch.drain(..) {
                match signal {
                    Signal::Change(change) if !matches!(change, Change::Keys) => run.push(change),
                    Signal::Change(change) => {
                        self.read_back(std::mem::take(&mut run)).await;
                        self.read_back(vec![change]).await;
                    }
                    Signal::Resync => {
                        self.read_back(std::mem::take(&mut run)).await;
                        self.resync().await;
                    }
                }
            }
            self.read_back(run).await;
        }
    }

    /// Reads `changes` back (the ended sessions with one query, the rest
    /// concurrently) and publishes their events in order; a failed read
    /// resyncs every stream (their snapshot then covers the rest).
    async fn read_back(&self, changes: Vec<Change>) {
        let ids: Vec<String> = (changes.iter())
            .filter_map(|c| match c {
                Change::Session(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let sessions = match self.store.sessions(&ids).await {
            Ok(sessions) => sessions,
            Err(e) => return self.read_failed(&e).await,
        };
        let by_id: HashMap<&str, &Session> = sessions.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut read = Vec::with_capacity(changes.len());
        for chunk in changes.chunks(READ_BACK_CONCURRENCY) {
            let reads = chunk.iter().map(|change| self.read_one(change, &by_id));
            read.extend(futures_util::future::join_all(reads).await);
        }
        for events in read {
            match events {
                Ok(events) => self.publish(events),
                Err(e) => return self.read_failed(&e).await,
            }
        }
    }

    /// What `change` did: an ended session's from `sessions` (read already).
    async fn read_one(
        &self,
        change: &Change,
        sessions: &HashMap<&str, &Session>,
    ) -> Result<Vec<Revocation>> {
        match change {
            Change::Session(id) => Ok((sessions.get(id.as_str()).copied())
                .and_then(Revocation::session_ended)
                .into_iter()
                .collect()),
            other => self.translate(other).await,
        }
    }

    async fn read_failed(&self, e: &Error) {
        tracing::warn!(error = %e, "cannot read a change back; resyncing revocation streams");
        self.resync().await;
    }

    /// Ends every stream and forgets the history.
    async fn resync(&self) {
        {
            let mut state = self.lock();
            state.generation += 1;
            state.history.clear();
            let ended = state.subscribers.len();
            for sub in state.subscribers.drain(..) {
                let _ = sub.end.set(End::Resync);
            }
            self.resets_resync
                .fetch_add(ended as u64, Ordering::Relaxed);
        }
        self.reload_kids().await;
    }

    async fn reload_kids(&self) {
        match self.store.signing_keys().await {
            Ok(keys) => self.lock().kids = keys.into_iter().map(|k| k.kid).collect(),
            Err(e) => tracing::debug!(error = %e, "cannot read the signing keys"),
        }
    }

    fn publish(&self, events: Vec<Revocation>) {
        if events.is_empty() {
            return;
        }
        let mut state = self.lock();
        for revocation in events {
            let event = Arc::new(Sequenced {
                seq: state.next_seq,
                revocation,
            });
            state.next_seq += 1;
            state.history.push_back(Arc::clone(&event));
            while state.history.len() > self.history_capacity {
                state.history.pop_front();
            }
            state
                .subscribers
                .retain(|sub| match sub.tx.try_send(Arc::clone(&event)) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        let _ = sub.end.set(End::TooSlow);
                        self.resets_too_slow.fetch_add(1, Ordering::Relaxed);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                });
        }
    }

    /// Reads back what `change` did and says which revocations it made.
    async fn translate(&self, change: &Change) -> Result<Vec<Revocation>> {
        let now = self.clock.now_unix();
        let store = self.store.as_ref();
        Ok(match change {
            Change::Session(id) => store
                .session(id)
                .await?
                .and_then(|s| Revocation::session_ended(&s))
                .into_iter()
                .collect(),
            Change::UserSessions(user_id) => {
                let mut out = Vec::new();
                if store.user_by_id(user_id).await?.is_none() {
                    out.push(Revocation::UserChanged {
                        user_id: user_id.clone(),
                        change: UserChange::Deleted,
                        changed_at: now,
                    });
                }
                let since = now - self.window_secs;
                let mut password = None;
                let mut roles = None;
                for session in store.ended_sessions(since, Some(user_id)).await? {
                    let latest = |seen: Option<i64>, at: i64| Some(seen.map_or(at, |l| l.max(at)));
                    match session.ended {
                        Some((at, EndReason::PasswordChanged)) => password = latest(password, at),
                        Some((at, EndReason::RolesChanged)) => roles = latest(roles, at),
                        _ => {}
                    }
                    out.extend(Revocation::session_ended(&session));
                }
                for (change, at) in [(UserChange::Password, password), (UserChange::Roles, roles)] {
                    if let Some(changed_at) = at {
                        out.push(Revocation::UserChanged {
                            user_id: user_id.clone(),
                            change,
                            changed_at,
                        });
                    }
                }
                out
            }
            Change::User(id) => {
                let change = match store.user_by_id(id).await? {
                    None => UserChange::Deleted,
                    Some(user) if !user.active => UserChange::Disabled,
                    Some(_) => UserChange::Enabled,
                };
                vec![Revocation::UserChanged {
                    user_id: id.clone(),
                    change,
                    changed_at: now,
                }]
            }
            Change::ServiceAccount(id) => {
                let change = match store.service_account(id).await? {
                    None => AccountChange::Deleted,
                    Some(_) => AccountChange::SecretRotated,
                };
                vec![Revocation::ServiceAccountChanged {
                    service_account_id: id.clone(),
                    change,
                    changed_at: now,
                }]
            }
            Change::Keys => vec![self.keys_changed().await?],
            Change::Heartbeat => Vec::new(),
        })
    }

    /// The kids that left the verifying set since last read, announced once
    /// this replica's key set has caught up (bounded wait), so a client's
    /// GetJwks here already shows the new set.
    async fn keys_changed(&self) -> Result<Revocation> {
        let now: HashSet<String> = self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .map(|k| k.kid)
            .collect();
        let retired: Vec<String> = {
            let mut state = self.lock();
            let mut retired: Vec<String> = state.kids.difference(&now).cloned().collect();
            retired.sort();
            state.kids.clone_from(&now);
            retired
        };
        let deadline = tokio::time::Instant::now() + KEY_RELOAD_WAIT;
        while tokio::time::Instant::now() < deadline {
            let caught_up = now.iter().all(|kid| self.keys.get(kid).is_some())
                && retired.iter().all(|kid| self.keys.get(kid).is_none());
            if caught_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Revocation::KeysChanged {
            retired_kids: retired,
        })
    }

    /// Every revocation that can still matter: sessions ended, users
    /// disabled, users and service accounts deleted within the window.
    ///
    /// # Errors
    /// Database errors.
    pub async fn snapshot(&self) -> Result<Vec<Revocation>> {
        let since = self.clock.now_unix() - self.window_secs;
        let store = self.store.as_ref();
        let mut out: Vec<Revocation> = store
            .ended_sessions(since, None)
            .await?
            .iter()
            .filter_map(Revocation::session_ended)
            .collect();
        out.extend(store.disabled_users(since).await?.into_iter().map(|u| {
            Revocation::UserChanged {
                user_id: u.id,
                change: UserChange::Disabled,
                changed_at: u.changed_at,
            }
        }));
        out.extend(
            store
                .deletions(since)
                .await?
                .into_iter()
                .map(|d| match d.kind {
                    DeletedKind::User => Revocation::UserChanged {
                        user_id: d.id,
                        change: UserChange::Deleted,
                        changed_at: d.deleted_at,
                    },
                    DeletedKind::ServiceAccount => Revocation::ServiceAccountChanged {
                        service_account_id: d.id,
                        change: AccountChange::Deleted,
                        changed_at: d.deleted_at,
                    },
                }),
        );
        Ok(out)
    }

    /// Opens a subscriber's stream: subscribes to live events first, then
    /// (unless `cursor` resumes) reads the snapshot, so an event made while
    /// the snapshot is read is delivered after it, never lost.
    ///
    /// # Errors
    /// Database errors reading the snapshot.
    pub async fn watch(self: &Arc<Self>, cursor: Option<Cursor>, rules: Rules) -> Result<Watch> {
        let (subscription, resume) = self.subscribe(cursor);
        let (snapshot, reset_reason, resumed) = match resume {
            Resume::Resumed => (None, None, true),
            Resume::Fresh => (Some(self.snapshot().await?), None, false),
            Resume::Reset(reason) => (Some(self.snapshot().await?), Some(reason), false),
        };
        let hello = WatchItem::Hello {
            rules,
            heartbeat_interval: HEARTBEAT_INTERVAL,
            resumed,
            reset_reason,
            cursor: resumed.then(|| subscription.cursor().encode()),
        };
        let mut queue: VecDeque<WatchItem> = VecDeque::new();
        queue.push_back(hello);
        if let Some(snapshot) = snapshot {
            let events = snapshot.len() as u64;
            queue.extend(
                snapshot
                    .into_iter()
                    .map(|revocation| WatchItem::Revocation {
                        cursor: None,
                        revocation,
                    }),
            );
            queue.push_back(WatchItem::SnapshotEnd {
                cursor: subscription.cursor().encode(),
                events,
            });
        }
        let state = Streaming {
            queue,
            subscription,
            stopping: Box::pin(self.readiness.stopping()),
            last_sent: tokio::time::Instant::now(),
            done: false,
        };
        Ok(Box::pin(futures_util::stream::unfold(
            state,
            Streaming::next,
        )))
    }

    /// Subscribes, deciding under the lock whether `cursor` resumes.
    fn subscribe(self: &Arc<Self>, cursor: Option<Cursor>) -> (Subscription, Resume) {
        let mut state = self.lock();
        let oldest = state.history.front().map_or(state.next_seq, |e| e.seq);
        let (resume, backlog) = match cursor {
            None => (Resume::Fresh, Vec::new()),
            Some(c) if c.instance != self.instance => (
                Resume::Reset(
                    "this cursor is from another authd process (another replica, or this one \
                     before a restart)"
                        .to_owned(),
                ),
                Vec::new(),
            ),
            Some(c) if c.generation != state.generation => (
                Resume::Reset(
                    "this server's change feed reconnected since that cursor, so changes may \
                     have been missed"
                        .to_owned(),
                ),
                Vec::new(),
            ),
            Some(c) if c.seq >= state.next_seq => (
                Resume::Reset("this cursor is ahead of this server's history".to_owned()),
                Vec::new(),
            ),
            Some(c) if c.seq.saturating_add(1) < oldest => (
                Resume::Reset("this server no longer has the history after that cursor".to_owned()),
                Vec::new(),
            ),
            Some(c) => (
                Resume::Resumed,
                state
                    .history
                    .iter()
                    .filter(|e| e.seq > c.seq)
                    .cloned()
                    .collect(),
            ),
        };
        let position = match (&resume, cursor) {
            (Resume::Resumed, Some(c)) => c.seq,
            _ => state.next_seq - 1,
        };
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let end = Arc::new(OnceLock::new());
        let id = state.next_subscriber;
        state.next_subscriber += 1;
        state.subscribers.push(Subscriber {
            id,
            tx,
            end: Arc::clone(&end),
        });
        let subscription = Subscription {
            hub: Arc::clone(self),
            id,
            rx,
            end,
            backlog: backlog.into(),
            generation: state.generation,
            position,
        };
        (subscription, resume)
    }

    fn unsubscribe(&self, id: u64) {
        self.lock().subscribers.retain(|s| s.id != id);
    }

    fn cursor(&self, generation: u64, seq: u64) -> Cursor {
        Cursor {
            instance: self.instance,
            generation,
            seq,
        }
    }
}

impl FeedListener for RevocationHub {
    fn change(&self, change: &Change) {
        if matches!(change, Change::Heartbeat) {
            return;
        }
        if self
            .intake
            .try_send(Signal::Change(change.clone()))
            .is_err()
        {
            self.missed.store(true, Ordering::Release);
        }
    }

    fn resync(&self) {
        if self.intake.try_send(Signal::Resync).is_err() {
            self.missed.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_reason_maps_to_the_reason_verify_gives() {
        assert_eq!(
            end_reason_invalid(EndReason::LogoutAll),
            InvalidReason::SessionEnded
        );
        assert_eq!(end_reason_invalid(EndReason::Reuse), InvalidReason::Revoked);
        assert_eq!(
            end_reason_invalid(EndReason::UserDisabled),
            InvalidReason::UserDisabled
        );
    }
}
