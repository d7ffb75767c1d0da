//! Password hashing with Argon2id, off the async runtime and bounded.
//!
//! This module owns every password hash computation in authd. Hashes it
//! makes are Argon2id PHC strings. Hashes it checks are those, or Django's
//! as `authd import django` stored them ([`django`]: `pbkdf2_sha256`,
//! `pbkdf2_sha1`, `argon2`, `bcrypt_sha256`, `bcrypt`, `scrypt`, salted
//! `md5`, each held to caps before any work), dispatched on the stored
//! hash's format in `verify`; a Django hash that matches asks for a rehash,
//! so the login replaces it with Argon2id.
//! Each hash or verification runs on one of `hash_concurrency` dedicated
//! threads (never on the async runtime) while holding a permit, so at most
//! that many run at once: CPU and memory (permits x `memory_kib`) stay
//! bounded whatever the login rate, and the memory is reused by the same few
//! threads instead of piling up in allocator arenas of many blocking threads.
//!
//! The hashing threads run at the lowest scheduling priority (nice 19): a
//! login storm uses the CPU the request path leaves over, so Verify latency
//! does not suffer. Admission is bounded twice: at most `4 x hash_concurrency`
//! callers wait for a permit (any beyond that get [`Error::ResourceExhausted`]
//! at once), and a waiting caller gives up after `hash_queue_timeout`. A
//! caller that goes away while waiting takes no permit; one that goes away
//! while its hash runs keeps the permit until the hash is done.
//!
//! Unknown users are verified against a dummy hash made at start-up with the
//! configured parameters, so they cost the same time as a wrong password.
//! Stored hashes whose parameters exceed authd's caps are refused before any
//! memory is allocated, and cost a dummy verification like a wrong password.
//! Checking Django's hashes runs on the same threads under the same permits.
//!
//! New passwords (an account's first, a reset, a change) are checked against
//! the [`PasswordPolicy`] ([`policy`]) on the same threads, under the same
//! permit, right before they are hashed ([`PasswordHasher::hash_new`]): the
//! check can take milliseconds, so it is bounded like a hash. Passwords
//! presented at login are never held to it, so a stricter policy never locks
//! anyone out; it applies at their next change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use argon2::PasswordHasher as _;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

mod cost;
pub mod django;
pub mod policy;
pub mod settings;
pub(crate) mod verify;
mod workers;

use cost::argon2_for;
pub use cost::{
    ARGON2_MAX_ITERATIONS, ARGON2_MAX_MEMORY_KIB, ARGON2_MAX_PARALLELISM, Argon2Config,
    OWASP_ARGON2ID, check_argon2,
};
pub use policy::PasswordPolicy;
use workers::{Waiting, Workers};

/// Longest password accepted anywhere, in bytes. Checked before any hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password does not match (or there was no real hash to match).
    Mismatch,
    /// The password matches.
    Match {
        /// The stored hash was made with other parameters than the
        /// configured ones and should be replaced.
        needs_rehash: bool,
    },
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Argon2Config,
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    /// Verified against when the user does not exist, for equal timing.
    dummy_hash: Arc<str>,
    /// Argon2 runs started since start-up; lets tests prove that oversized
    /// input is refused before any hashing.
    runs: Arc<AtomicU64>,
    /// Permits in total, for the `authd_hash_permits*` gauges.
    concurrency: usize,
    /// Callers waiting for a permit right now, bounded by `max_waiting`.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// The hashing threads' job queue.
    workers: Arc<Workers>,
    /// Told how long each caller waited for a permit (the app's queue-wait
    /// histogram); a closure, so this module needs no metrics crate.
    wait_observer: Option<WaitObserver>,
    /// What a new password must meet before [`Self::hash_new`] hashes it.
    policy: PasswordPolicy,
}

/// Receives each caller's wait for a hashing permit.
pub type WaitObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// The answer to a caller that cannot be served now.
#[must_use]
pub fn busy() -> Error {
    Error::ResourceExhausted(
        "authd is busy hashing passwords; retry after a short back-off".to_owned(),
    )
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("available_permits", &self.permits.available_permits())
            .field("queue_timeout", &self.queue_timeout)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Builds a hasher and its dummy hash (one Argon2 run, on the blocking pool).
    ///
    /// # Errors
    /// [`Error::Config`] if the parameters are unusable.
    pub async fn new(
        params: Argon2Config,
        concurrency: usize,
        queue_timeout: Duration,
    ) -> Result<Self> {
        check_argon2(params).map_err(|(key, message)| {
            Error::Config(format!(
                "invalid configuration --{}: {message}",
                key.replace('_', "-")
            ))
        })?;
        argon2_for(params)?;
        let workers = Workers::start(concurrency)?;
        // Made on a hashing thread too, so its memory stays in that thread's
        // allocator arena instead of adding one more.
        let (tx, rx) = tokio::sync::oneshot::channel();
        workers.submit(Box::new(move || {
            policy::warm_up();
            let made = argon2_for(params).and_then(|argon| {
                argon
                    .hash_password(b"authd dummy password: never matches anything")
                    .map(|h| h.to_string())
                    .map_err(|e| Error::internal_msg("computing the dummy password hash", e))
            });
            let _ = tx.send(made);
        }))?;
        let dummy_hash = rx
            .await
            .map_err(|e| Error::internal("computing the dummy password hash", e))??;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            queue_timeout,
            dummy_hash: dummy_hash.into(),
            runs: Arc::new(AtomicU64::new(0)),
            concurrency,
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: concurrency.saturating_mul(4),
            workers: Arc::new(workers),
            wait_observer: None,
            policy: PasswordPolicy::default(),
        })
    }

    /// Holds new passwords to `policy` instead of the default one.
    #[must_use]
    pub fn with_policy(mut self, policy: PasswordPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The policy new passwords are held to.
    #[must_use]
    pub fn policy(&self) -> PasswordPolicy {
        self.policy
    }

    /// Has `observer` told how long each caller waited for a permit
    /// (turned away at once included).
    #[must_use]
    pub fn with_wait_observer(mut self, observer: WaitObserver) -> Self {
        self.wait_observer = Some(observer);
        self
    }

    fn observe_wait(&self, waited: Duration) {
        if let Some(observer) = &self.wait_observer {
            observer(waited);
        }
    }

    /// Hashing permits held right now.
    #[must_use]
    pub fn permits_in_use(&self) -> usize {
        self.concurrency
            .saturating_sub(self.permits.available_permits())
    }

    /// Callers waiting for a permit right now.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Hashing permits in total.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Whether a new caller would be turned away right now (no permit free
    /// and the wait queue full), so work before hashing can be skipped.
    #[must_use]
    pub fn saturated(&self) -> bool {
        self.permits.available_permits() == 0
            && self.waiting.load(Ordering::Acquire) >= self.max_waiting
    }

    /// How long a caller waits for a hashing slot at most.
    #[must_use]
    pub fn queue_timeout(&self) -> Duration {
        self.queue_timeout
    }

    /// How many Argon2 computations have started (after getting a permit).
    #[must_use]
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The configured parameters.
    #[must_use]
    pub fn params(&self) -> Argon2Config {
        self.params
    }

    /// Hashes a password with the configured parameters, holding it to no
    /// policy but [`MAX_PASSWORD_BYTES`]: for a rehash at login, or a new
    /// password already checked by [`Self::check_new`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an oversized password,
    /// [`Error::ResourceExhausted`] if no permit came free in time.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        validate_presented_password(password.expose_secret())?;
        let params = self.params;
        self.run_blocking(move || hash_with(params, &password))
            .await
    }

    /// Checks a new password against the policy (with the account's
    /// `context` words: username, email) and hashes it, in one job on the
    /// hashing threads.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for request field `field`, naming the rule
    /// the password broke; [`Error::ResourceExhausted`] if no permit came free in time.
    pub async fn hash_new(
        &self,
        field: &'static str,
        password: SecretString,
        context: &[&str],
    ) -> Result<String> {
        validate_presented(field, password.expose_secret())?;
        let (params, policy) = (self.params, self.policy);
        let context: Vec<String> = context.iter().map(|&w| w.to_owned()).collect();
        self.run_blocking(move || {
            check_with(policy, field, &password, &context)?;
            hash_with(params, &password)
        })
        .await
    }

    /// Checks a new password against the policy, on the hashing threads,
    /// without hashing it (see [`Self::hash_new`]).
    ///
    /// # Errors
    /// As [`Self::hash_new`].
    pub async fn check_new(
        &self,
        field: &'static str,
        password: &SecretString,
        context: &[&str],
    ) -> Result<()> {
        validate_presented(field, password.expose_secret())?;
        let policy = self.policy;
        let password = password.clone();
        let context: Vec<String> = context.iter().map(|&w| w.to_owned()).collect();
        self.run_blocking(move || check_with(policy, field, &password, &context))
            .await
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no stored hash (unknown user), which always gives
    /// [`Verdict::Mismatch`] after the same amount of work.
    ///
    /// The stored hash is authd's Argon2id or one of Django's
    /// ([`django`]), which matches with `needs_rehash` so the login
    /// replaces it. A stored hash that cannot be parsed, is of no known
    /// format, or exceeds the caps is treated as a mismatch and logged: fail
    /// closed, and never let a tampered row allocate gigabytes or spin for
    /// seconds. Django's unusable password (`!...`) never matches.
    ///
    /// # Errors
    /// [`Error::ResourceExhausted`] if no permit came free in time.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<Verdict> {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.to_string(), false),
        };
        let configured = self.params;
        let dummy = Arc::clone(&self.dummy_hash);
        self.run_blocking(move || verify::check(&password, &hash, real, configured, &dummy))
            .await
    }

    async fn run_blocking<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let queued = std::time::Instant::now();
        let permit = if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            self.observe_wait(queued.elapsed());
            permit
        } else {
            // Join the bounded queue, or be turned away at once.
            if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                self.observe_wait(queued.elapsed());
                return Err(busy());
            }
            let _waiting = Waiting(Arc::clone(&self.waiting));
            let permit = tokio::time::timeout(
                self.queue_timeout,
                Arc::clone(&self.permits).acquire_owned(),
            )
            .await;
            self.observe_wait(queued.elapsed());
            permit
                .map_err(|_| busy())?
                .map_err(|e| Error::internal("acquiring a hashing permit", e))?
        };
        self.runs.fetch_add(1, Ordering::Relaxed);
        let span = tracing::Span::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.workers.submit(Box::new(move || {
            // The permit is held until the hash is done, even if the caller
            // has gone away, so the bound on memory is real; and it is back
            // before the caller hears the result, so a caller's next hash
            // never finds its own permit still taken (this thread runs at
            // the lowest priority and may be preempted right after sending).
            let result = span.in_scope(work);
            drop(permit);
            let _ = tx.send(result);
        }))?;
        rx.await
            .map_err(|e| Error::internal("running a password hash", e))?
    }
}

fn hash_with(params: Argon2Config, password: &SecretString) -> Result<String> {
    argon2_for(params)?
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal_msg("hashing a password", e))
}

fn check_with(
    policy: PasswordPolicy,
    field: &'static str,
    password: &SecretString,
    context: &[String],
) -> Result<()> {
    let context: Vec<&str> = context.iter().map(String::as_str).collect();
    policy
        .check_for(password, &context)
        .map_err(|violation| violation.into_error(field))
}

/// Checks a password presented at login: present and not over
/// [`MAX_PASSWORD_BYTES`], so oversized input is refused before hashing.
///
/// # Errors
/// [`Error::InvalidArgument`].
pub fn validate_presented_password(password: &str) -> Result<()> {
    validate_presented("password", password)
}

/// [`validate_presented_password`] for request field `field`
/// (`current_password`, `new_password`).
///
/// # Errors
/// [`Error::InvalidArgument`] naming `field`.
pub fn validate_presented(field: &'static str, password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn hasher() -> PasswordHasher {
        PasswordHasher::new(Argon2Config::default(), 2, Duration::from_secs(5))
            .await
            .unwrap()
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let h = hasher().await;
        let hash = h.hash(secret("correct horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            h.verify(secret("correct horse"), Some(hash.clone()))
                .await
                .unwrap(),
            Verdict::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            h.verify(secret("Correct horse"), Some(hash)).await.unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn the_wait_observer_hears_every_caller_and_runs_are_counted() {
        let waits = Arc::new(AtomicUsize::new(0));
        let heard = Arc::clone(&waits);
        let h = hasher().await.with_wait_observer(Arc::new(move |_| {
            heard.fetch_add(1, Ordering::Relaxed);
        }));
        let clone = h.clone();
        h.verify(secret("one"), None).await.unwrap();
        clone.verify(secret("two"), None).await.unwrap();
        assert_eq!(
            waits.load(Ordering::Relaxed),
            2,
            "clones share the observer"
        );
        assert_eq!(h.runs(), 2);
    }

    #[tokio::test]
    async fn the_dummy_hash_never_matches() {
        let h = hasher().await;
        assert_eq!(
            h.verify(secret("authd dummy password: never matches anything"), None)
                .await
                .unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn hashes_with_other_parameters_ask_for_a_rehash() {
        let old = PasswordHasher::new(
            Argon2Config {
                memory_kib: 12_288,
                iterations: 3,
                parallelism: 1,
            },
            1,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let hash = old.hash(secret("correct horse")).await.unwrap();
        assert_eq!(
            hasher()
                .await
                .verify(secret("correct horse"), Some(hash))
                .await
                .unwrap(),
            Verdict::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn tampered_hashes_with_huge_costs_are_refused_without_hashing() {
        let h = hasher().await;
        // 4 GiB of memory: must be refused, not attempted.
        let tampered = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
                        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(
            h.verify(secret("whatever1"), Some(tampered.to_owned()))
                .await
                .unwrap(),
            Verdict::Mismatch
        );
        assert_eq!(
            h.verify(secret("whatever1"), Some("not a hash".to_owned()))
                .await
                .unwrap(),
            Verdict::Mismatch
        );
        let bcrypt = "$2b$12$abcdefghijklmnopqrstuuN2pYjzWcZcuY4/1Ff0i0fQm4X3e0uHm";
        assert_eq!(
            h.verify(secret("whatever1"), Some(bcrypt.to_owned()))
                .await
                .unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn callers_beyond_the_queue_bound_are_turned_away_at_once() {
        // One permit, four waiting places, a long wait allowed.
        let h = PasswordHasher::new(Argon2Config::default(), 1, Duration::from_secs(60))
            .await
            .unwrap();
        let held = Arc::clone(&h.permits).acquire_owned().await.unwrap();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.verify(secret("whatever1"), None).await })
            })
            .collect();
        while h.waiting.load(Ordering::Acquire) < 4 {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        let err = h.verify(secret("whatever1"), None).await.unwrap_err();
        assert!(matches!(err, Error::ResourceExhausted(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "turned away without waiting"
        );
        drop(held);
        for waiter in waiters {
            assert!(
                waiter.await.unwrap().is_ok(),
                "the queued callers are served"
            );
        }
        assert_eq!(h.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn hashing_runs_on_the_dedicated_low_priority_threads() {
        let h = hasher().await;
        let name = h
            .run_blocking(|| Ok(std::thread::current().name().map(str::to_owned)))
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(name.starts_with("authd-hash-"), "{name}");
    }

    #[tokio::test]
    async fn a_caller_that_cannot_get_a_permit_is_told_to_back_off() {
        let h = PasswordHasher::new(Argon2Config::default(), 1, Duration::from_millis(1))
            .await
            .unwrap();
        let held = Arc::clone(&h.permits).acquire_owned().await.unwrap();
        let err = h.verify(secret("whatever1"), None).await.unwrap_err();
        assert!(matches!(err, Error::ResourceExhausted(_)), "{err:?}");
        drop(held);
        assert!(h.verify(secret("whatever1"), None).await.is_ok());
    }

    #[tokio::test]
    async fn new_passwords_are_held_to_the_policy_and_rehashes_are_not() {
        let h = hasher().await;
        let err = h
            .hash_new("new_password", secret("password1"), &[])
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid new_password: breaks the common passwords rule"),
            "{err}"
        );
        assert_eq!(h.runs(), 1, "the check ran on the hashing threads");
        assert!(
            h.check_new("password", &secret("alicealice"), &["alice"])
                .await
                .is_err()
        );
        assert!(
            h.hash_new("password", secret("correct horse battery"), &[])
                .await
                .is_ok()
        );
        // A login's rehash keeps whatever password the user has.
        assert!(h.hash(secret("password1")).await.is_ok());
        let strict = hasher().await.with_policy(PasswordPolicy::from_settings(&{
            let mut s = crate::settings::defaults::<settings::PasswordSettings>();
            s.password_min_length = 30;
            s
        }));
        assert_eq!(strict.policy().min_chars(), 30);
        assert!(
            strict
                .check_new("password", &secret("correct horse battery"), &[])
                .await
                .is_err()
        );
    }

    #[test]
    fn presented_password_sizes() {
        assert!(validate_presented_password("").is_err());
        assert!(validate_presented_password(&"x".repeat(1025)).is_err());
        assert!(validate_presented_password("short").is_ok());
    }
}
