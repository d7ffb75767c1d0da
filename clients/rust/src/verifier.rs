//! The [`Verifier`] and its answers.
//!
//! A verify reads the time twice, takes one read lock, runs the shared
//! token rules (a token seen before is one hash lookup in their verified
//! cache) and three hash lookups of revocation state: no allocation, no
//! I/O. Everything the stream brings is applied through a [`Feed`], which
//! the background task of [`Verifier::connect`] drives, and which
//! [`Verifier::offline`] hands to callers who bring the events themselves.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use authd_token::{
    Algorithm, Checker, Claims, DecodingKey, InvalidReason, PrincipalKind, Rules, principal_kind,
};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::keys::{Key, KeyError, KeySet};
use crate::pb;
use crate::pb::revocation_event::Event;
use crate::state::{Change, Revocations};

/// The default staleness bound: the server's own cache-trust bound.
pub const DEFAULT_STALENESS: Duration = Duration::from_secs(3);

/// `last_heard` before the first snapshot completed.
const NEVER: i64 = i64::MIN;

/// How often, at most, expired entries are pruned (seconds).
const PRUNE_EVERY_SECS: i64 = 60;

/// Checks tokens in process; cheap to clone (every clone shares the state
/// and the stream). The stream's task ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub(crate) shared: Arc<Shared>,
    /// Aborts the stream's task when the last clone goes.
    _task: Option<Arc<TaskGuard>>,
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub(crate) struct TaskGuard(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The answer on a token the verifier could judge.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every check passed.
    Valid(Principal),
    /// The token failed a check: the reason the server's Verify gives.
    Invalid(InvalidReason),
}

impl Verdict {
    /// The principal of a valid token.
    #[must_use]
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Self::Valid(p) => Some(p),
            Self::Invalid(_) => None,
        }
    }

    /// Why an invalid token is invalid.
    #[must_use]
    pub fn reason(&self) -> Option<InvalidReason> {
        match self {
            Self::Valid(_) => None,
            Self::Invalid(r) => Some(*r),
        }
    }
}

/// Whose valid token it is: a user or a service account, and the token's
/// claims. Put in the request extensions by [`crate::AuthLayer`].
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    kind: PrincipalKind,
    claims: Arc<Claims>,
}

impl Principal {
    /// A user or a service account.
    #[must_use]
    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    /// The user's or service account's id (the `sub` claim).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.claims.sub
    }

    /// The user's id, for a user's token.
    #[must_use]
    pub fn user_id(&self) -> Option<&str> {
        (self.kind == PrincipalKind::User).then_some(self.id())
    }

    /// The service account's id, for a service account's token.
    #[must_use]
    pub fn service_account_id(&self) -> Option<&str> {
        (self.kind == PrincipalKind::ServiceAccount).then_some(self.id())
    }

    /// The token's claims.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

/// The verifier cannot vouch for any answer now: it has not completed a
/// snapshot yet, or it has heard nothing from authd for longer than its
/// staleness bound. Treat it as authd being down (HTTP 503, gRPC
/// UNAVAILABLE), or call Verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The first snapshot of the revocation stream is not complete.
    NotSynced,
    /// Nothing was heard for longer than the staleness bound.
    Stale {
        /// How long the stream has been silent.
        silent_for: Duration,
    },
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotSynced => {
                f.write_str("the local verifier has not received authd's revocation snapshot yet")
            }
            Self::Stale { silent_for } => write!(
                f,
                "the local verifier has heard nothing from authd for {} ms, longer than its \
                 staleness bound; it answers again once the revocation stream is back",
                silent_for.as_millis()
            ),
        }
    }
}

impl std::error::Error for Unavailable {}

/// The state every clone of a verifier and its feed share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) clock: Clock,
    pub(crate) staleness: Duration,
    /// Monotonic milliseconds of the last message heard on a stream that
    /// was in sync; [`NEVER`] before the first snapshot completed.
    last_heard: AtomicI64,
    inner: RwLock<Inner>,
    /// Bumped on every change of the state or of availability.
    changes: watch::Sender<u64>,
    cache_entries: usize,
    cache_ttl_secs: i64,
}

#[derive(Debug, Default)]
struct Inner {
    /// The server's token rules, from the last hello.
    checker: Option<Checker>,
    keys: KeySet,
    revocations: Revocations,
}

impl Shared {
    pub(crate) fn new(
        clock: Clock,
        staleness: Duration,
        cache_entries: usize,
        cache_ttl_secs: i64,
    ) -> Self {
        Self {
            clock,
            staleness,
            last_heard: AtomicI64::new(NEVER),
            inner: RwLock::new(Inner::default()),
            changes: watch::Sender::new(0),
            cache_entries,
            cache_ttl_secs,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn availability(&self) -> Result<(), Unavailable> {
        let last = self.last_heard.load(Ordering::Acquire);
        if last == NEVER {
            return Err(Unavailable::NotSynced);
        }
        let silent = self.clock.monotonic_millis().saturating_sub(last);
        let silent_for = Duration::from_millis(u64::try_from(silent).unwrap_or(0));
        if silent_for > self.staleness {
            return Err(Unavailable::Stale { silent_for });
        }
        Ok(())
    }

    fn heard(&self) {
        let was_never = self
            .last_heard
            .swap(self.clock.monotonic_millis(), Ordering::AcqRel)
            == NEVER;
        if was_never {
            self.bump();
        }
    }

    fn bump(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn verify(&self, token: &str) -> Result<Verdict, Unavailable> {
        self.availability()?;
        let now = self.clock.unix_secs();
        let inner = self.read();
        let checker = inner.checker.as_ref().ok_or(Unavailable::NotSynced)?;
        let claims = match checker.verify(token, now, &inner.keys) {
            Ok(claims) => claims,
            Err(reason) => return Ok(Verdict::Invalid(reason)),
        };
        let kind = match principal_kind(&claims) {
            Ok(kind) => kind,
            Err(reason) => return Ok(Verdict::Invalid(reason)),
        };
        if let Err(reason) = inner.revocations.check(kind, &claims) {
            return Ok(Verdict::Invalid(reason));
        }
        Ok(Verdict::Valid(Principal { kind, claims }))
    }
}

impl Verifier {
    pub(crate) fn with_task(shared: Arc<Shared>, task: TaskGuard) -> Self {
        Self {
            shared,
            _task: Some(Arc::new(task)),
        }
    }

    /// A verifier with no server of its own: the caller brings the keys and
    /// the events through the returned [`Feed`] (for benchmarks, tests, or
    /// a process that relays one stream to many verifiers). It fails closed
    /// exactly as a connected one: unavailable until a snapshot completes,
    /// and once `staleness` passes on `clock` without an event.
    #[must_use]
    pub fn offline(clock: Clock, staleness: Duration) -> (Self, Feed) {
        Self::offline_with_cache(
            clock,
            staleness,
            authd_token::DEFAULT_VERIFIED_CACHE_ENTRIES,
            authd_token::DEFAULT_VERIFIED_CACHE_TTL_SECS,
        )
    }

    /// [`Self::offline`] with a verified-token cache of `entries` tokens
    /// (0 turns it off: every verify checks the signature), each kept at
    /// most `ttl_secs`.
    #[must_use]
    pub fn offline_with_cache(
        clock: Clock,
        staleness: Duration,
        entries: usize,
        ttl_secs: i64,
    ) -> (Self, Feed) {
        let shared = Arc::new(Shared::new(clock, staleness, entries, ttl_secs));
        let feed = Feed::new(Arc::clone(&shared));
        (
            Self {
                shared,
                _task: None,
            },
            feed,
        )
    }

    /// Checks `token` now: the server's token rules, then (for a user's
    /// token) deleted user, disabled user, ended session, or (for a service
    /// account's) deleted account, in the order the server's Verify checks
    /// them, with the same reasons.
    ///
    /// # Errors
    /// [`Unavailable`] while the verifier cannot vouch for its state: never
    /// a guess.
    pub fn verify(&self, token: &str) -> Result<Verdict, Unavailable> {
        self.shared.verify(token)
    }

    /// Whether the verifier answers now.
    ///
    /// # Errors
    /// Why it does not.
    pub fn availability(&self) -> Result<(), Unavailable> {
        self.shared.availability()
    }

    /// A receiver that changes whenever the revocation state, the keys or
    /// the availability after a first snapshot changes (staleness itself
    /// arrives with no event: poll [`Self::availability`] for it).
    #[must_use]
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// How many revocations are held (ended sessions, disabled and deleted
    /// users, deleted service accounts).
    #[must_use]
    pub fn revocations_held(&self) -> usize {
        self.shared.read().revocations.len()
    }

    /// How many verification keys are held.
    #[must_use]
    pub fn keys_held(&self) -> usize {
        self.shared.read().keys.len()
    }
}

/// Why an event could not be applied: the stream breaks the protocol, and
/// is dropped and opened again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedError {
    /// The first event of a stream was not a hello.
    NoHello,
    /// The hello's rules are unusable.
    BadHello(&'static str),
    /// An event with no payload.
    Empty,
}

impl std::fmt::Display for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoHello => f.write_str("the revocation stream did not open with a hello"),
            Self::BadHello(why) => write!(f, "the revocation stream's hello is unusable: {why}"),
            Self::Empty => f.write_str("a revocation event carried nothing"),
        }
    }
}

impl std::error::Error for FeedError {}

/// What applying an event asks of the stream's holder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// The signing keys changed: fetch GetJwks and [`Feed::set_keys`].
    pub refetch_keys: bool,
    /// This event completed a snapshot (or resynchronised a resumed stream).
    pub synced: bool,
}

/// Where a stream is.
#[derive(Debug)]
enum Phase {
    /// A new stream; its first event must be the hello.
    Hello,
    /// Receiving a snapshot, staged here and swapped in at `snapshot_end`.
    Snapshot(Revocations),
    /// Live events.
    Live,
}

/// Applies one revocation stream's events to a verifier, in order; one per
/// verifier. Each stream starts with [`Feed::new_stream`] (a new feed is
/// already at the start of one).
///
/// A stream's messages count as "heard" (keep the verifier available) only
/// once the stream is in sync: after `snapshot_end`, or for a resumed
/// stream at once when the verifier was still within its staleness bound
/// (it missed at most that much, which is what the bound allows) and
/// otherwise from its first heartbeat (the server has replayed what was
/// missed).
#[derive(Debug)]
pub struct Feed {
    shared: Arc<Shared>,
    phase: Phase,
    in_sync: bool,
    /// The cursor of the last event applied in sync, for resuming.
    cursor: Option<String>,
    /// Seconds after which an ended session's tokens have all expired: the
    /// hello's longest token lifetime plus leeway.
    horizon_secs: i64,
    /// When expired entries were last pruned (Unix seconds).
    last_prune: i64,
}

impl Feed {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            phase: Phase::Hello,
            in_sync: false,
            cursor: None,
            horizon_secs: 0,
            last_prune: 0,
        }
    }

    /// Starts a new stream (after the last one ended), keeping the state
    /// and the cursor to resume from.
    pub fn new_stream(&mut self) {
        self.phase = Phase::Hello;
        self.in_sync = false;
    }

    /// The cursor to resume from, once there is one.
    #[must_use]
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Forgets the cursor (the server refused it): the next stream starts
    /// with a snapshot.
    pub fn forget_cursor(&mut self) {
        self.cursor = None;
    }

    /// Replaces the keys with a GetJwks answer's: keys no longer published
    /// are dropped. Returns the JWKs skipped as unusable.
    ///
    /// # Errors
    /// An empty set (HS256 servers publish nothing), or no usable key; the
    /// keys held are then left as they were.
    pub fn set_keys(&self, jwks: &pb::GetJwksResponse) -> Result<Vec<KeyError>, KeyError> {
        let (keys, skipped) = KeySet::from_jwks(jwks)?;
        self.shared.write().keys = keys;
        self.shared.bump();
        Ok(skipped)
    }

    /// Replaces the keys with the given ones, each `(kid, algorithm, key)`
    /// (for an offline verifier whose keys come from elsewhere).
    pub fn use_keys(&self, keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>) {
        let keys = KeySet::from_keys(
            keys.into_iter()
                .map(|(kid, alg, key)| (kid, Key::new(alg, key))),
        );
        self.shared.write().keys = keys;
        self.shared.bump();
    }

    /// Applies the next event of the current stream.
    ///
    /// # Errors
    /// [`FeedError`] when the stream breaks the protocol; drop it and
    /// open another ([`Feed::new_stream`]).
    pub fn apply(&mut self, event: pb::RevocationEvent) -> Result<Applied, FeedError> {
        let payload = event.event.ok_or(FeedError::Empty)?;
        let mut applied = Applied::default();
        match (&mut self.phase, payload) {
            (Phase::Hello, Event::Hello(hello)) => {
                self.hello(&hello)?;
                if hello.resumed {
                    self.phase = Phase::Live;
                    // Within the bound, what was missed is at most what the
                    // bound allows and is replayed next; otherwise wait for
                    // the first heartbeat, which follows the replay.
                    self.in_sync = self.shared.availability().is_ok();
                } else {
                    self.phase = Phase::Snapshot(Revocations::default());
                }
            }
            (Phase::Hello, _) | (_, Event::Hello(_)) => return Err(FeedError::NoHello),
            (Phase::Snapshot(staged), Event::SnapshotEnd(_)) => {
                let staged = std::mem::take(staged);
                let old = std::mem::replace(&mut self.shared.write().revocations, staged);
                drop(old);
                self.phase = Phase::Live;
                self.in_sync = true;
                applied.synced = true;
                self.shared.bump();
            }
            (Phase::Live, Event::SnapshotEnd(_)) => {}
            (_, Event::Heartbeat(_)) => {
                if matches!(self.phase, Phase::Live) && !self.in_sync {
                    self.in_sync = true;
                    applied.synced = true;
                }
                self.prune_now_and_then();
            }
            (_, Event::KeysChanged(keys)) => {
                // Retired keys go at once; the rest of the set follows GetJwks.
                self.shared.write().keys.retire(&keys.retired_kids);
                self.shared.bump();
                applied.refetch_keys = true;
            }
            (phase, payload) => {
                let heard_at = self.shared.clock.unix_secs();
                if let Some(change) = Change::from_event(&payload, heard_at) {
                    match phase {
                        Phase::Snapshot(staged) => {
                            // Revocations take effect at once; the staged
                            // copy replaces the state at `snapshot_end`.
                            if change.only_revokes() {
                                self.shared.write().revocations.apply(change.clone());
                            }
                            staged.apply(change);
                        }
                        _ => self.shared.write().revocations.apply(change),
                    }
                    self.shared.bump();
                }
            }
        }
        if self.in_sync {
            if !event.cursor.is_empty() {
                self.cursor = Some(event.cursor);
            }
            self.shared.heard();
        }
        Ok(applied)
    }

    /// Takes the server's rules from a hello: the same checker as before
    /// when they did not change (its verified cache stays warm).
    fn hello(&mut self, hello: &pb::RevocationHello) -> Result<(), FeedError> {
        if hello.issuer.is_empty() || hello.audience.is_empty() {
            return Err(FeedError::BadHello("no issuer or audience"));
        }
        let leeway_secs = hello.leeway_seconds;
        if !(0..=86_400).contains(&leeway_secs) {
            return Err(FeedError::BadHello("the leeway is out of range"));
        }
        let max_token_bytes = usize::try_from(hello.max_token_bytes)
            .ok()
            .filter(|n| *n > 0)
            .ok_or(FeedError::BadHello("max_token_bytes is not positive"))?;
        if hello.max_token_lifetime_seconds <= 0 {
            return Err(FeedError::BadHello(
                "max_token_lifetime_seconds is not positive",
            ));
        }
        if let Some(interval) = hello.heartbeat_interval.as_ref()
            && Duration::try_from(*interval).is_ok_and(|i| i >= self.shared.staleness)
        {
            tracing::warn!(
                staleness_ms = self.shared.staleness.as_millis(),
                "authd's heartbeat interval is not shorter than this verifier's staleness \
                 bound: it will turn unavailable between heartbeats"
            );
        }
        let rules = Rules {
            issuer: hello.issuer.clone(),
            audience: hello.audience.clone(),
            leeway_secs,
            max_token_bytes,
        };
        let mut inner = self.shared.write();
        if inner.checker.as_ref().map(Checker::rules) != Some(&rules) {
            inner.checker = Some(Checker::new(
                rules,
                self.shared.cache_entries,
                self.shared.cache_ttl_secs,
            ));
        }
        self.horizon_secs = hello.max_token_lifetime_seconds.saturating_add(leeway_secs);
        Ok(())
    }

    /// Drops entries whose tokens have all expired, at most once a minute.
    fn prune_now_and_then(&mut self) {
        let now = self.shared.clock.unix_secs();
        if now - self.last_prune < PRUNE_EVERY_SECS || self.horizon_secs <= 0 {
            return;
        }
        self.last_prune = now;
        let horizon = self.horizon_secs.saturating_add(PRUNE_EVERY_SECS);
        self.shared
            .write()
            .revocations
            .prune(now.saturating_sub(horizon));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const NOW: i64 = 1_800_000_000;

    struct Kit {
        verifier: Verifier,
        feed: Feed,
        clock: ManualClock,
        pair: Ed25519KeyPair,
    }

    fn event(cursor: &str, event: Event) -> pb::RevocationEvent {
        pb::RevocationEvent {
            cursor: cursor.into(),
            server_time: None,
            event: Some(event),
        }
    }

    fn hello(resumed: bool) -> pb::RevocationEvent {
        event(
            "",
            Event::Hello(pb::RevocationHello {
                issuer: "authd".into(),
                audience: "authd".into(),
                leeway_seconds: 30,
                max_token_bytes: 8192,
                max_token_lifetime_seconds: 900,
                heartbeat_interval: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
                resumed,
                reset_reason: String::new(),
            }),
        )
    }

    fn heartbeat(cursor: &str) -> pb::RevocationEvent {
        event(cursor, Event::Heartbeat(pb::Heartbeat {}))
    }

    fn snapshot_end(cursor: &str) -> pb::RevocationEvent {
        event(cursor, Event::SnapshotEnd(pb::SnapshotEnd { events: 0 }))
    }

    fn session_ended(cursor: &str, sid: &str, user: &str) -> pb::RevocationEvent {
        event(
            cursor,
            Event::SessionEnded(pb::SessionEnded {
                session_id: sid.into(),
                user_id: user.into(),
                reason: pb::InvalidReason::SessionEnded.into(),
                ended_at: None,
            }),
        )
    }

    fn user_changed(cursor: &str, user: &str, change: pb::UserChange) -> pb::RevocationEvent {
        event(
            cursor,
            Event::UserChanged(pb::UserChanged {
                user_id: user.into(),
                change: change.into(),
                changed_at: None,
            }),
        )
    }

    fn kit() -> Kit {
        let clock = ManualClock::new(NOW);
        let (verifier, feed) = Verifier::offline(clock.clock(), DEFAULT_STALENESS);
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pair =
            Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref())
                .unwrap();
        feed.use_keys([(
            "k1".to_owned(),
            Algorithm::EdDSA,
            DecodingKey::from_ed_der(pair.public_key().as_ref()),
        )]);
        Kit {
            verifier,
            feed,
            clock,
            pair,
        }
    }

    impl Kit {
        fn token(&self, claims: &serde_json::Value) -> String {
            let header = serde_json::json!({"alg": "EdDSA", "kid": "k1"});
            let mut full = serde_json::json!({
                "iss": "authd", "aud": "authd", "exp": NOW + 900, "nbf": NOW, "iat": NOW,
                "jti": "j",
            });
            full.as_object_mut()
                .unwrap()
                .extend(claims.as_object().unwrap().clone());
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(full.to_string())
            );
            let signature = self.pair.sign(message.as_bytes());
            format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        }

        fn user_token(&self, user: &str, sid: &str) -> String {
            self.token(&serde_json::json!({"sub": user, "sid": sid}))
        }

        fn synced(mut self) -> Self {
            self.feed.apply(hello(false)).unwrap();
            self.feed.apply(snapshot_end("c0")).unwrap();
            self
        }

        fn answer(&self, token: &str) -> Result<Option<InvalidReason>, Unavailable> {
            self.verifier.verify(token).map(|v| v.reason())
        }
    }

    #[test]
    fn nothing_is_answered_before_the_first_snapshot_completes() {
        let mut kit = kit();
        let token = kit.user_token("u1", "s1");
        assert_eq!(kit.answer(&token), Err(Unavailable::NotSynced));
        assert_eq!(kit.answer("garbage"), Err(Unavailable::NotSynced));
        kit.feed.apply(hello(false)).unwrap();
        kit.feed.apply(session_ended("", "s0", "u0")).unwrap();
        assert_eq!(kit.answer(&token), Err(Unavailable::NotSynced));
        let applied = kit.feed.apply(snapshot_end("c1")).unwrap();
        assert!(applied.synced);
        assert_eq!(kit.answer(&token), Ok(None));
        let valid = kit.verifier.verify(&token).unwrap();
        let principal = valid.principal().unwrap();
        assert_eq!(principal.user_id(), Some("u1"));
        assert_eq!(principal.kind(), PrincipalKind::User);
        assert_eq!(kit.feed.cursor(), Some("c1"));
    }

    #[test]
    fn silence_longer_than_the_staleness_bound_fails_closed_until_a_heartbeat() {
        let mut kit = kit().synced();
        let token = kit.user_token("u1", "s1");
        kit.clock.advance(Duration::from_millis(3_000));
        assert_eq!(kit.answer(&token), Ok(None), "at the bound: still fine");
        kit.clock.advance(Duration::from_millis(1));
        assert!(matches!(
            kit.answer(&token),
            Err(Unavailable::Stale { silent_for }) if silent_for == Duration::from_millis(3_001)
        ));
        assert!(
            kit.answer("garbage").is_err(),
            "no answer at all when stale"
        );
        kit.feed.apply(heartbeat("c2")).unwrap();
        assert_eq!(kit.answer(&token), Ok(None));
        assert_eq!(kit.feed.cursor(), Some("c2"));
    }

    #[test]
    fn a_new_snapshot_applies_revocations_at_once_and_replaces_the_state_at_its_end() {
        let mut kit = kit().synced();
        kit.feed
            .apply(user_changed("c1", "u1", pb::UserChange::Disabled))
            .unwrap();
        let disabled = kit.user_token("u1", "s1");
        let ending = kit.user_token("u2", "s2");
        assert_eq!(kit.answer(&disabled), Ok(Some(InvalidReason::UserDisabled)));
        // The stream breaks; a new one cannot resume and sends a snapshot
        // in which u1 is enabled again and s2 has ended.
        kit.feed.new_stream();
        kit.feed.apply(hello(false)).unwrap();
        kit.feed.apply(session_ended("x", "s2", "u2")).unwrap();
        assert_eq!(
            kit.answer(&ending),
            Ok(Some(InvalidReason::SessionEnded)),
            "a revocation in the snapshot counts at once"
        );
        assert_eq!(
            kit.answer(&disabled),
            Ok(Some(InvalidReason::UserDisabled)),
            "the old state holds until the snapshot is whole"
        );
        assert_eq!(
            kit.feed.cursor(),
            Some("c1"),
            "no cursor from inside a snapshot"
        );
        kit.feed.apply(snapshot_end("c9")).unwrap();
        assert_eq!(kit.answer(&disabled), Ok(None), "enabled in the new state");
        assert_eq!(kit.answer(&ending), Ok(Some(InvalidReason::SessionEnded)));
        assert_eq!(kit.feed.cursor(), Some("c9"));
        assert_eq!(kit.verifier.revocations_held(), 1);
    }

    #[test]
    fn a_stream_that_ends_mid_snapshot_keeps_the_old_state_and_cursor() {
        let mut kit = kit().synced();
        kit.feed.apply(session_ended("c1", "s1", "u1")).unwrap();
        kit.feed.new_stream();
        kit.feed.apply(hello(false)).unwrap();
        kit.feed.apply(session_ended("", "s2", "u2")).unwrap();
        kit.feed.new_stream();
        assert_eq!(kit.feed.cursor(), Some("c1"));
        let token = kit.user_token("u1", "s1");
        assert_eq!(kit.answer(&token), Ok(Some(InvalidReason::SessionEnded)));
    }

    #[test]
    fn a_resumed_stream_is_in_sync_at_once_only_within_the_bound() {
        let mut kit = kit().synced();
        let token = kit.user_token("u1", "s1");
        // Resumed while still fresh: its events count as heard at once.
        kit.clock.advance(Duration::from_secs(2));
        kit.feed.new_stream();
        kit.feed.apply(hello(true)).unwrap();
        kit.clock.advance(Duration::from_secs(2));
        kit.feed.apply(session_ended("c5", "s9", "u9")).unwrap();
        assert_eq!(kit.answer(&token), Ok(None));
        assert_eq!(kit.feed.cursor(), Some("c5"));
        // Resumed after the bound: replayed events do not make it fresh;
        // the first heartbeat (after the replay) does.
        kit.clock.advance(Duration::from_secs(4));
        kit.feed.new_stream();
        kit.feed.apply(hello(true)).unwrap();
        kit.feed.apply(session_ended("c6", "s1", "u1")).unwrap();
        assert!(matches!(kit.answer(&token), Err(Unavailable::Stale { .. })));
        assert_eq!(kit.feed.cursor(), Some("c5"));
        let applied = kit.feed.apply(heartbeat("c7")).unwrap();
        assert!(applied.synced);
        assert_eq!(kit.answer(&token), Ok(Some(InvalidReason::SessionEnded)));
        assert_eq!(kit.feed.cursor(), Some("c7"));
    }

    #[test]
    fn a_retired_key_makes_its_tokens_unknown_at_once_even_when_seen_before() {
        let mut kit = kit().synced();
        let token = kit.user_token("u1", "s1");
        assert_eq!(kit.answer(&token), Ok(None));
        let applied = kit
            .feed
            .apply(event(
                "c1",
                Event::KeysChanged(pb::KeysChanged {
                    retired_kids: vec!["k1".into()],
                }),
            ))
            .unwrap();
        assert!(applied.refetch_keys);
        assert_eq!(kit.answer(&token), Ok(Some(InvalidReason::UnknownKey)));
        assert_eq!(kit.verifier.keys_held(), 0);
    }

    #[test]
    fn service_account_tokens_are_checked_against_deleted_accounts_only() {
        let mut kit = kit().synced();
        let token = kit.token(&serde_json::json!({
            "sub": "sa1", "ptyp": "service_account", "client_id": "c",
        }));
        let valid = kit.verifier.verify(&token).unwrap();
        assert_eq!(
            valid.principal().and_then(Principal::service_account_id),
            Some("sa1")
        );
        kit.feed
            .apply(user_changed("c1", "sa1", pb::UserChange::Disabled))
            .unwrap();
        assert_eq!(
            kit.answer(&token),
            Ok(None),
            "a user change is not an account's"
        );
        kit.feed
            .apply(event(
                "c2",
                Event::ServiceAccountChanged(pb::ServiceAccountChanged {
                    service_account_id: "sa1".into(),
                    change: pb::ServiceAccountChange::Deleted.into(),
                    changed_at: None,
                }),
            ))
            .unwrap();
        assert_eq!(
            kit.answer(&token),
            Ok(Some(InvalidReason::ServiceAccountNotFound))
        );
        let shapeless = kit.token(&serde_json::json!({"sub": "u1"}));
        assert_eq!(kit.answer(&shapeless), Ok(Some(InvalidReason::Malformed)));
    }

    #[test]
    fn a_stream_must_open_with_a_usable_hello() {
        let mut kit = kit();
        assert_eq!(kit.feed.apply(heartbeat("c")), Err(FeedError::NoHello));
        let mut bad = hello(false);
        if let Some(Event::Hello(h)) = bad.event.as_mut() {
            h.issuer.clear();
        }
        assert!(matches!(kit.feed.apply(bad), Err(FeedError::BadHello(_))));
        kit.feed.apply(hello(false)).unwrap();
        assert_eq!(kit.feed.apply(hello(false)), Err(FeedError::NoHello));
        assert_eq!(
            kit.feed.apply(pb::RevocationEvent::default()),
            Err(FeedError::Empty)
        );
    }

    #[test]
    fn expired_tokens_are_expired_by_the_clock_passed_in() {
        let mut kit = kit().synced();
        let token = kit.user_token("u1", "s1");
        kit.clock.advance(Duration::from_secs(900 + 30));
        kit.feed.apply(heartbeat("c1")).unwrap();
        assert_eq!(kit.answer(&token), Ok(Some(InvalidReason::Expired)));
    }
}
