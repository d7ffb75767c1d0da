//! Key rotation: moving signing keys through *next* → *current* →
//! *previous* → *retired*, and keeping each replica's [`KeySet`] in step with
//! the database.
//!
//! Every transition is a conditional write in the shared database, so any
//! process may apply one (a server's refresher, or `authd keys rotate`) and
//! replicas racing to apply the same one agree: exactly one wins, the others
//! see that nothing is left to do. Each transition is announced on the
//! change feed in its own transaction ([`crate::store::Change::Keys`]), and
//! each replica reloads the stored keys when it hears one, and every
//! refresh interval in case it missed one. A token naming a key a replica
//! does not hold is simply invalid: caller input never causes a reload, so
//! garbage kids cost no database query.
//!
//! Timing, all decided against a `now` passed in by the caller, which is
//! the **database's clock** ([`Store::db_now`], read once per pass by
//! [`KeyManager::refresh`], at start-up and by the `keys` commands), not the
//! process's [`Clock`]: every time in a key's row (`activates_at`,
//! `retires_at`) is written and compared in the one clock all replicas
//! share, so a replica whose own clock runs hours ahead neither promotes a
//! pre-published key early nor retires a demoted one while other replicas'
//! tokens still need it, and one running behind does not keep signing with
//! a key the others have replaced. The process's clock still times the
//! refresher's waits and everything outside key transitions (token `iat`
//! and `exp`, sessions).
//! - `keys rotate` (or the schedule) stores a *next* key that activates after
//!   the pre-publish period; it is in the JWKS from then on.
//! - When its time comes, the first process to notice makes it *current* and
//!   the old key *previous*, to verify until `now + overlap` where the
//!   overlap is the token lifetime plus leeway plus one refresh interval
//!   (replicas that have not reloaded yet may still sign with the old key).
//! - Then the old key is *retired*: dropped from the JWKS, its private key
//!   wiped from the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::ExposeSecret as _;
use tokio::sync::Notify;

use super::kek::KeyEncryptionKey;
use super::keys::{self, KeySet, alg_name, stored_algorithm};
use super::settings::{LifetimeSettings, SigningSettings};
use crate::audit::{self, AuditEvent, AuditRecord, Outcome};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::{KeyRetirement, KeyState, Store, StoredKey};

/// Shortest gap between two reloads caused by key announcements.
const ANNOUNCED_RELOAD_GAP: Duration = Duration::from_millis(200);

/// How access tokens are signed.
#[derive(Debug, Clone)]
pub enum Signing {
    /// Ed25519 with a key pair generated on first start and kept in the database.
    EdDsa,
    /// ECDSA P-256 with SHA-256, key pairs kept in the database.
    Es256,
    /// RSA (2048-bit) PKCS#1 v1.5 with SHA-256, key pairs kept in the database.
    Rs256,
    /// HMAC-SHA256 with a shared secret; anyone holding it can mint tokens.
    Hs256 {
        /// The shared secret (at least 32 bytes).
        secret: std::sync::Arc<secrecy::SecretBox<Vec<u8>>>,
    },
}

/// How keys are made and moved along.
#[derive(Debug)]
pub struct KeyPolicy {
    /// The configured signing mode; its algorithm is used for new keys.
    pub signing: Signing,
    /// Encrypts private keys at rest, when configured.
    pub kek: Option<KeyEncryptionKey>,
    /// How long a new key is published before it signs.
    pub prepublish: Duration,
    /// Automatic rotation period, if any.
    pub rotation_interval: Option<Duration>,
    /// How often the refresher runs.
    pub refresh_interval: Duration,
    /// How long a key keeps verifying after it stops signing.
    pub overlap: Duration,
}

impl KeyPolicy {
    /// The policy of `signing` and `lifetimes`: a replaced key verifies for
    /// a token lifetime plus leeway plus one refresh interval.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad secret, [`Error::Internal`] if the
    /// key-encryption key cannot be derived.
    pub fn new(
        signing: &SigningSettings,
        lifetimes: &LifetimeSettings,
        rotation_interval: Option<Duration>,
    ) -> Result<Self> {
        // Callers have run `check` (and attributed its failure); this is the fallback.
        let config =
            |i: crate::settings::Invalid| Error::Config(format!("{}: {}", i.key, i.message));
        let kek = match signing.key_encryption_secret().map_err(config)? {
            Some(secret) => Some(KeyEncryptionKey::from_secret(secret.expose_secret())?),
            None => None,
        };
        Ok(Self {
            signing: signing.signing().map_err(config)?,
            kek,
            prepublish: signing.key_prepublish,
            rotation_interval,
            refresh_interval: lifetimes.key_refresh_interval,
            overlap: lifetimes.access_token_ttl + lifetimes.leeway + lifetimes.key_refresh_interval,
        })
    }
}

/// Applies the key lifecycle and keeps a [`KeySet`] current; cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyManager {
    store: Arc<dyn Store>,
    keys: Arc<KeySet>,
    policy: Arc<KeyPolicy>,
    /// Times the refresher's waits (its passes are judged by the
    /// database's clock); the app's one clock, so tests drive the refresher
    /// by moving it.
    clock: Clock,
    /// How many times the stored keys were read, for tests and metrics.
    reloads: Arc<AtomicU64>,
    /// Lifecycle events applied by this manager, read by the metrics.
    events: Arc<EventCounters>,
}

#[derive(Debug, Default)]
struct EventCounters {
    published: AtomicU64,
    promoted: AtomicU64,
    retired: AtomicU64,
}

/// Key lifecycle events this process applied since start-up ([`KeyManager::events`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyEvents {
    /// Next keys published.
    pub published: u64,
    /// Next keys promoted to current.
    pub promoted: u64,
    /// Previous keys retired.
    pub retired: u64,
}

/// What `rotate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new key's id.
    pub kid: String,
    /// Its algorithm.
    pub algorithm: String,
    /// When it signs (or started signing, if already current).
    pub activates_at: i64,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl KeyManager {
    /// Loads the keys (creating the first one if there is none) and applies
    /// any transition that is due by the database's clock; for one-shot
    /// commands, which run no refresher (the manager keeps the system clock).
    ///
    /// # Errors
    /// Database errors; [`Error::Config`] for keys encrypted with another secret.
    pub async fn load(store: Arc<dyn Store>, policy: KeyPolicy) -> Result<Self> {
        let manager = Self::unloaded(store, policy, Clock::system());
        manager.start().await?;
        Ok(manager)
    }

    /// A manager whose [`KeySet`] holds no keys yet, for a server that must
    /// come up while its database is unreachable; [`Self::start`] fills it.
    /// Its refresher waits and reads the time by `clock`.
    #[must_use]
    pub fn unloaded(store: Arc<dyn Store>, policy: KeyPolicy, clock: Clock) -> Self {
        Self {
            store,
            keys: Arc::new(KeySet::unloaded()),
            policy: Arc::new(policy),
            clock,
            reloads: Arc::new(AtomicU64::new(0)),
            events: Arc::default(),
        }
    }

    /// The clock the refresher runs by.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Loads the stored keys into the shared set (creating the first key if
    /// there is none) and applies any transition due by the database's
    /// clock. Safe to call again after a failure.
    ///
    /// # Errors
    /// Database errors; [`Error::Config`] for keys encrypted with another secret.
    pub async fn start(&self) -> Result<()> {
        let now = self.store.db_now().await?;
        let loaded = KeySet::load_or_create_with(
            self.store.as_ref(),
            &self.policy.signing,
            self.policy.kek.as_ref(),
            now,
        )
        .await?;
        self.keys.replace_with(&loaded);
        self.maintain(now).await
    }

    /// The live key set, shared with the token service.
    #[must_use]
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// How many times [`Self::maintain`] has read the stored keys.
    #[must_use]
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Key lifecycle events this manager (and its clones) applied.
    #[must_use]
    pub fn events(&self) -> KeyEvents {
        KeyEvents {
            published: self.events.published.load(Ordering::Relaxed),
            promoted: self.events.promoted.load(Ordering::Relaxed),
            retired: self.events.retired.load(Ordering::Relaxed),
        }
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// Stores a new *next* key that starts signing after the pre-publish
    /// period (at once when it is zero), then applies due transitions.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] with HS256 (nothing to rotate: change the
    /// secret); [`Error::AlreadyExists`] when a next key is already waiting.
    pub async fn rotate(&self, now: i64) -> Result<Rotation> {
        let Some(algorithm) = stored_algorithm(&self.policy.signing) else {
            return Err(Error::invalid(
                "signing-algorithm",
                "HS256 uses the configured shared secret; there are no stored keys to rotate",
            ));
        };
        if let Some(waiting) = self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .find(|k| k.state == KeyState::Next)
        {
            return Err(Error::AlreadyExists(format!(
                "key {} is already waiting to sign (at Unix time {}); rotate again after that",
                waiting.kid, waiting.activates_at
            )));
        }
        let rotation = self
            .publish_next(
                algorithm,
                now,
                now + secs(self.policy.prepublish),
                "requested rotation",
            )
            .await?;
        self.maintain(now).await?;
        Ok(rotation)
    }

    /// The emergency rotation (`authd keys rotate --now`): a new key signs
    /// at once, and the key that signed until now, with any key that was
    /// waiting to sign, is retired at once, so every token it signed fails
    /// (`UNKNOWN_KEY`) on every replica as soon as the announcement reaches
    /// it. Keys that had already stopped signing keep their schedule.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] with HS256; [`Error::FailedPrecondition`]
    /// when no key signs, or another process rotated at the same moment.
    pub async fn rotate_now(&self, now: i64) -> Result<EmergencyRotation> {
        let Some(algorithm) = stored_algorithm(&self.policy.signing) else {
            return Err(Error::invalid(
                "signing-algorithm",
                "HS256 uses the configured shared secret; change the secret instead",
            ));
        };
        let stored = self.store.signing_keys().await?;
        let Some(current) = stored.iter().find(|k| k.state == KeyState::Current) else {
            return Err(Error::FailedPrecondition(
                "no key is signing; start authd once to create one".to_owned(),
            ));
        };
        let mut retired = Vec::new();
        for waiting in stored.iter().filter(|k| k.state == KeyState::Next) {
            if self.store.retire_signing_key(&waiting.kid).await? == KeyRetirement::Retired {
                self.record_retired(&waiting.kid, "emergency rotation", now)
                    .await;
                retired.push(waiting.kid.clone());
            }
        }
        let rotation = self
            .publish_next(algorithm, now, now, "emergency rotation")
            .await?;
        // The announcement of the new key may reach a server that promotes
        // it first (it is due at once), with the ordinary overlap; the old
        // key is retired below either way.
        // Demoted with an ordinary retirement time, and retired explicitly
        // below: a replica's maintenance never races this command to the
        // retirement (and its audit row).
        let promoted_here = self
            .store
            .promote_signing_key(
                &current.kid,
                &rotation.kid,
                now,
                now + secs(self.policy.overlap),
            )
            .await?;
        let promoted = promoted_here
            || self
                .store
                .signing_keys()
                .await?
                .iter()
                .any(|k| k.kid == rotation.kid && k.state == KeyState::Current);
        if !promoted {
            return Err(Error::FailedPrecondition(
                "another process rotated the keys at the same moment; run `authd keys list` \
                 and retry if the old key still signs"
                    .to_owned(),
            ));
        }
        if promoted_here {
            self.events.promoted.fetch_add(1, Ordering::Relaxed);
            audit::record(
                self.store.as_ref(),
                AuditRecord::new(AuditEvent::KeyPromoted, Outcome::Success, now)
                    .subject(&rotation.kid)
                    .detail(&format!(
                        "now signing (emergency rotation); previous key {} retired at once",
                        current.kid
                    )),
            )
            .await;
        }
        match self.store.retire_signing_key(&current.kid).await? {
            KeyRetirement::Retired => {
                self.record_retired(&current.kid, "emergency rotation", now)
                    .await;
                retired.push(current.kid.clone());
            }
            KeyRetirement::AlreadyRetired => retired.push(current.kid.clone()),
            KeyRetirement::Current | KeyRetirement::NotFound => {
                return Err(Error::FailedPrecondition(format!(
                    "the new key {} signs, but the old key {} could not be retired; \
                     run `authd keys retire {}`",
                    rotation.kid, current.kid, current.kid
                )));
            }
        }
        tracing::warn!(kid = %rotation.kid, previous = %current.kid,
            "emergency key rotation: the previous key's tokens no longer verify");
        self.maintain(now).await?;
        Ok(EmergencyRotation { rotation, retired })
    }

    async fn record_retired(&self, kid: &str, why: &str, now: i64) {
        self.events.retired.fetch_add(1, Ordering::Relaxed);
        audit_retired(self.store.as_ref(), kid, why, now).await;
    }

    async fn publish_next(
        &self,
        algorithm: jsonwebtoken::Algorithm,
        now: i64,
        activates_at: i64,
        why: &str,
    ) -> Result<Rotation> {
        let mut key = keys::generate(algorithm, KeyState::Next, now)?;
        key.activates_at = activates_at;
        key.overlap_secs = Some(secs(self.policy.overlap));
        let rotation = Rotation {
            kid: key.kid.clone(),
            algorithm: alg_name(algorithm).to_owned(),
            activates_at,
        };
        if !self
            .store
            .insert_signing_key(&keys::seal(key, self.policy.kek.as_ref())?)
            .await?
        {
            return Err(Error::AlreadyExists(
                "another process published a next key at the same time".to_owned(),
            ));
        }
        self.events.published.fetch_add(1, Ordering::Relaxed);
        tracing::info!(kid = %rotation.kid, activates_at, "published a new signing key");
        audit::record(
            self.store.as_ref(),
            AuditRecord::new(AuditEvent::KeyPublished, Outcome::Success, now)
                .subject(&rotation.kid)
                .detail(&format!(
                    "{} key; signs from {}; {why}",
                    rotation.algorithm,
                    audit::rfc3339(activates_at)
                )),
        )
        .await;
        Ok(rotation)
    }

    /// [`Self::maintain`] at the database's time: one maintenance pass as
    /// the refresher runs it.
    ///
    /// # Errors
    /// As [`Self::maintain`].
    pub async fn refresh(&self) -> Result<()> {
        self.maintain(self.store.db_now().await?).await
    }

    /// Applies what is due at `now` (promotion of a next key, retirement of
    /// previous keys, a scheduled rotation) and reloads the key set. `now`
    /// is the database's time (see the module doc); tests pass their own.
    ///
    /// # Errors
    /// Database errors, or unusable stored keys (the old set stays in use).
    pub async fn maintain(&self, now: i64) -> Result<()> {
        let Some(algorithm) = stored_algorithm(&self.policy.signing) else {
            return Ok(());
        };
        self.reloads.fetch_add(1, Ordering::Relaxed);
        let stored = self.store.signing_keys().await?;
        let own_overlap = secs(self.policy.overlap);
        // Each signer records what it needs, so whoever demotes the key
        // (another replica, `keys rotate` with other settings) keeps it
        // verifying long enough for this process's tokens.
        if stored.iter().any(|k| {
            matches!(k.state, KeyState::Current | KeyState::Next)
                && k.overlap_secs.is_none_or(|o| o < own_overlap)
        }) {
            self.store.record_key_overlap(own_overlap).await?;
        }
        let current = stored.iter().find(|k| k.state == KeyState::Current);
        let next = stored.iter().find(|k| k.state == KeyState::Next);
        let overlap = current
            .and_then(|k| k.overlap_secs)
            .map_or(own_overlap, |stored| stored.max(own_overlap));
        if let (Some(current), Some(next)) = (current, next)
            && next.activates_at <= now
            && self.usable(next)
            && self
                .store
                .promote_signing_key(&current.kid, &next.kid, now, now + overlap)
                .await?
        {
            self.events.promoted.fetch_add(1, Ordering::Relaxed);
            tracing::info!(kid = %next.kid, previous = %current.kid, "signing key rotated");
            audit::record(
                self.store.as_ref(),
                AuditRecord::new(AuditEvent::KeyPromoted, Outcome::Success, now)
                    .subject(&next.kid)
                    .detail(&format!(
                        "now signing; previous key {} verifies until {}",
                        current.kid,
                        audit::rfc3339(now + overlap)
                    )),
            )
            .await;
        }
        for kid in self.store.retire_signing_keys(now).await? {
            self.record_retired(&kid, "its overlap ended", now).await;
        }
        let mut stored = self.store.signing_keys().await?;
        if let Some(interval) = self.policy.rotation_interval
            && let Some(due) = scheduled_activation(&stored, interval, self.policy.prepublish, now)
        {
            match self
                .publish_next(algorithm, now, due, "scheduled rotation")
                .await
            {
                Ok(_) | Err(Error::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
            stored = self.store.signing_keys().await?;
        }
        let fresh = KeySet::from_stored_with(&stored, self.policy.kek.as_ref())?;
        self.keys.replace_with(&fresh);
        Ok(())
    }

    /// Whether this process could sign with `key`. A key it cannot open
    /// (sealed with another key-encryption secret, say, during a roll-out
    /// of a new secret) is not promoted by this process: promoting it would
    /// leave this replica signing with the old key after it retires.
    fn usable(&self, key: &StoredKey) -> bool {
        match KeySet::check_can_sign(key, self.policy.kek.as_ref()) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(kid = %key.kid, error = %e,
                    "not promoting the next signing key: this process cannot sign with it");
                false
            }
        }
    }

    /// Every stored key, retired ones included, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list(&self) -> Result<Vec<StoredKey>> {
        self.store.all_signing_keys().await
    }

    /// Runs [`Self::refresh`] every refresh interval, and soon after
    /// `keys_changed` is signalled (a rotation announced on the change
    /// feed, or a feed reconnect), until `stop` resolves (the app passes
    /// [`crate::readiness::Readiness::stopping`]). A token naming
    /// an unknown `kid` triggers nothing: reloads follow announcements,
    /// never caller input. Failures are logged; the last good key set stays.
    /// Every wait is by the manager's clock; every pass is judged by the
    /// database's.
    pub async fn run_refresher(
        self,
        keys_changed: Arc<Notify>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        // Polled again only until it first resolves: both arms break.
        let mut stop = std::pin::pin!(stop);
        let mut last = self.clock.now();
        loop {
            let nudged = tokio::select! {
                () = self.clock.sleep(self.policy.refresh_interval) => false,
                () = keys_changed.notified() => true,
                () = &mut stop => break,
            };
            if nudged {
                // A burst of announcements (one per write) becomes one reload.
                let earliest = last + ANNOUNCED_RELOAD_GAP;
                tokio::select! {
                    () = self.clock.sleep_until(earliest) => {}
                    () = &mut stop => break,
                }
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "could not refresh signing keys; keeping the loaded ones");
            }
            last = self.clock.now();
        }
        tracing::debug!("key refresher stopped");
    }
}

/// Retires the key `kid` at once (`authd keys retire KID`): its tokens
/// fail (`UNKNOWN_KEY`) on every replica as soon as the announcement
/// reaches it (each reloads its keys when it hears one). Retiring a retired
/// key again changes nothing. Needs no key material.
///
/// # Errors
/// [`Error::NotFound`] for an unknown id; [`Error::FailedPrecondition`] for
/// the key that signs now (rotate first: `keys rotate --now`).
pub async fn retire_key(store: &dyn Store, kid: &str, now: i64) -> Result<KeyRetirement> {
    let outcome = store.retire_signing_key(kid).await?;
    match outcome {
        KeyRetirement::Retired => {
            audit_retired(store, kid, "retired on request (keys retire)", now).await;
        }
        KeyRetirement::AlreadyRetired => {}
        KeyRetirement::NotFound => {
            return Err(Error::NotFound(format!(
                "no signing key has the id {kid:?}; `authd keys list` shows them"
            )));
        }
        KeyRetirement::Current => {
            return Err(Error::FailedPrecondition(format!(
                "key {kid} signs now and cannot be retired before another key signs; \
                 `authd keys rotate --now` replaces it and retires it at once"
            )));
        }
    }
    Ok(outcome)
}

/// Logs and audits the retirement of `kid`.
async fn audit_retired(store: &dyn Store, kid: &str, why: &str, now: i64) {
    tracing::info!(%kid, why, "signing key retired");
    audit::record(
        store,
        AuditRecord::new(AuditEvent::KeyRetired, Outcome::Success, now)
            .subject(kid)
            .detail(&format!("no longer verifies; private key wiped; {why}")),
    )
    .await;
}

/// What [`KeyManager::rotate_now`] did.
#[derive(Debug, Clone)]
pub struct EmergencyRotation {
    /// The key that signs now.
    pub rotation: Rotation,
    /// The keys retired at once: the one that signed until now, and any
    /// that was waiting to sign.
    pub retired: Vec<String>,
}

/// When the schedule wants a new key to start signing, if it is time to
/// publish one: no next key yet, and the current key's period ends within
/// the pre-publish period. Never earlier than `now + prepublish`.
fn scheduled_activation(
    stored: &[StoredKey],
    interval: Duration,
    prepublish: Duration,
    now: i64,
) -> Option<i64> {
    if stored.iter().any(|k| k.state == KeyState::Next) {
        return None;
    }
    let current = stored.iter().find(|k| k.state == KeyState::Current)?;
    let period_end = current.activates_at.saturating_add(secs(interval));
    let earliest = now.saturating_add(secs(prepublish));
    (period_end <= earliest).then_some(earliest.max(period_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(state: KeyState, activates_at: i64) -> StoredKey {
        let mut key = keys::generate(jsonwebtoken::Algorithm::EdDSA, state, 0).unwrap();
        key.activates_at = activates_at;
        key
    }

    #[test]
    fn the_schedule_publishes_a_key_one_prepublish_period_before_it_is_due() {
        let hour = Duration::from_secs(3600);
        let day = Duration::from_secs(24 * 3600);
        let stored = [key(KeyState::Current, 0)];
        assert_eq!(scheduled_activation(&stored, day, hour, 0), None);
        assert_eq!(scheduled_activation(&stored, day, hour, 82_799), None);
        assert_eq!(
            scheduled_activation(&stored, day, hour, 82_800),
            Some(86_400)
        );
        // Overdue (nobody was running): still published ahead of signing.
        assert_eq!(
            scheduled_activation(&stored, day, hour, 200_000),
            Some(203_600)
        );
        let waiting = [key(KeyState::Current, 0), key(KeyState::Next, 86_400)];
        assert_eq!(scheduled_activation(&waiting, day, hour, 90_000), None);
    }
}
