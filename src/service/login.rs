//! Login: credentials in, a session and its first tokens out, with failed
//! attempts throttled per login name and per client address.
//!
//! [`AuthCore::login`] is the one place where a login's outcome is decided
//! and recorded (success, failure or throttled), with the audit wording for
//! each. Must not tell the caller which of unknown user, wrong password or
//! disabled user it was.

use std::fmt::Write as _;

use secrecy::{ExposeSecret, SecretString};

use super::AuthCore;
use crate::audit::{AuditEvent, AuditRecord, NameDigests, Outcome};
use crate::error::{Error, Result};
use crate::password::django::{DjangoAlgorithm, Inspected};
use crate::password::{self, Verdict};
use tokio::sync::Notify;

use crate::store::{Change, LoginFailures, LoginSnapshot, NewSession, Store};
use crate::throttle::{AttemptKeys, Blocked, Judgement, KeyKind};
use crate::token::{IssuedToken, refresh};
use crate::user::User;

/// How long identical denials are collapsed into one audit row, seconds.
pub const DENIAL_WINDOW_SECS: i64 = 600;

/// How much longer than the hashing queue's timeout an attempt waits for
/// room among the attempts in flight ([`AuthCore::throttle_claim`]): about
/// the time one check takes once it has its thread.
pub const CLAIM_WAIT_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Attempts that may wait for room among the attempts in flight at once, per
/// process ([`AuthCore::throttle_claim`]); more are shed as busy.
pub const MAX_CLAIM_WAITERS: usize = 32;

/// Longest login name looked up; longer ones cannot exist.
const MAX_LOGIN_LEN: usize = 320;

/// The outcome of a successful login.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The signed access token and its claims.
    pub access: IssuedToken,
    /// The session's first refresh token.
    pub refresh_token: SecretString,
    /// The user, as stored after the login was recorded.
    pub user: User,
}

/// Where a call came from, recorded on the session it starts.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's IP address: the peer, or the last `x-forwarded-for` hop
    /// when the peer is a trusted proxy. Login failures are counted under it.
    pub addr: Option<String>,
    /// The `user-agent` the client sent.
    pub user_agent: Option<String>,
}

/// How one login attempt ended, decided in one place ([`AuthCore::login`]).
enum Attempt {
    /// Refused before any password check: too many recent failures.
    Throttled(Blocked),
    /// Unknown user, wrong password or disabled user: one answer for all.
    Failed(Counted),
    /// Logged in; its counted attempt is still to be taken back.
    Succeeded {
        outcome: Box<LoginOutcome>,
        counted: Counted,
    },
}

/// An attempt the throttle admitted before its password was checked
/// ([`AuthCore::throttle_claim`]): its keys, their counts as the claim saw
/// them, and what resolves it. It is resolved exactly once: as a failure
/// ([`AuthCore::note_failure`]) or taken back ([`AuthCore::take_back`]);
/// dropped unresolved (the check never ran: a busy hashing pool, a database
/// error, the caller gone), it takes itself back, so an attempt in flight
/// never outlives its check.
pub(super) struct Counted {
    pub(super) keys: AttemptKeys,
    pub(super) before: Vec<LoginFailures>,
    store: std::sync::Arc<dyn Store>,
    /// Woken when a claim of this process is resolved, so attempts waiting
    /// for room try again at once ([`AuthCore::throttle_claim`]).
    resolved_claims: std::sync::Arc<Notify>,
    resolved: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.resolved {
            return;
        }
        let (store, woken) = (
            std::sync::Arc::clone(&self.store),
            std::sync::Arc::clone(&self.resolved_claims),
        );
        let keys: Vec<String> = self.keys.all().into_iter().map(str::to_owned).collect();
        // One statement that ends with itself, not a background task: the
        // claim must not wait for the stale horizon because its caller went
        // away. Outside a runtime (never in the server) the horizon does it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                if let Err(e) = store.release_login_attempt(&keys, &[]).await {
                    tracing::warn!(error = %e, "could not take back an unchecked login attempt");
                }
                woken.notify_waiters();
            });
        }
    }
}

impl AuthCore {
    /// Checks a username-or-email and password, starts a session and issues
    /// an access token and a refresh token.
    ///
    /// Unknown users are checked against a dummy hash and disabled users'
    /// passwords are still checked, so all three failures take the same time
    /// and return the same [`Error::InvalidCredentials`].
    ///
    /// Attempts are counted per login name, per account id (when the name
    /// names one) and per client address ([`crate::throttle`]), before the
    /// password is checked; past the policy's allowance, attempts are
    /// refused with [`Error::Throttled`] after the user lookup but before
    /// any hashing, alike for existing and unknown names. A success takes
    /// its attempt back: it clears the account's failures its claim saw and
    /// leaves the address's as they were ([`Self::take_back`]).
    ///
    /// A right password against an imported Django hash
    /// ([`crate::password::django`]) replaces the hash with Argon2id at the
    /// configured parameters, in the transaction that starts the session,
    /// and records a `password_upgraded` audit row naming the old hasher.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for empty or oversized input (before any
    /// hashing), [`Error::InvalidCredentials`], [`Error::Throttled`],
    /// [`Error::ResourceExhausted`] when hashing is saturated, database errors.
    pub async fn login(
        &self,
        login: &str,
        password: SecretString,
        client: ClientInfo,
        now: i64,
    ) -> Result<LoginOutcome> {
        if login.is_empty() {
            return Err(Error::invalid("username", "must not be empty"));
        }
        if login.len() > MAX_LOGIN_LEN {
            return Err(Error::invalid(
                "username",
                format!("must be at most {MAX_LOGIN_LEN} bytes"),
            ));
        }
        // A NUL can be neither stored nor looked up (PostgreSQL refuses it
        // with an error that used to come back as INTERNAL), so it is
        // refused before any query. Other control and format characters
        // are not: such a login fails like an unknown name and is counted
        // and audited (cleaned), a signal of an attack worth keeping.
        if login.contains('\0') {
            return Err(Error::invalid(
                "username",
                "contains a NUL character (U+0000)",
            ));
        }
        password::validate_presented_password(password.expose_secret())?;
        // Shed a login flood before it costs a database query.
        if self.hasher().saturated() {
            return Err(password::busy());
        }

        let addr = client.addr.clone();
        let attempt = self.attempt_login(login, password, client, now).await?;
        // The one place where a login's outcome is decided and recorded:
        // success, failure or throttled (an audit trail belongs here).
        match attempt {
            Attempt::Throttled(blocked) => {
                // The key kind, never the login name or the password. No
                // audit row: the block was recorded when it started
                // (`note_failure`), and a refused attempt is free
                // for its sender, so a row each would let anyone grow the
                // append-only log without limit.
                tracing::info!(
                    key = blocked.kind.as_str(),
                    retry_after_secs = blocked.retry_after_secs,
                    "login throttled"
                );
                Err(Error::Throttled {
                    retry_after_secs: blocked.retry_after_secs,
                })
            }
            Attempt::Failed(counted) => {
                let subject = self
                    .login_subject(login, counted.keys.user.is_some(), now)
                    .await;
                self.note_failure(
                    counted,
                    AuditEvent::LoginThrottled,
                    &subject,
                    addr.as_deref(),
                    now,
                )
                .await;
                Err(Error::InvalidCredentials)
            }
            Attempt::Succeeded { outcome, counted } => {
                self.take_back(counted, now).await;
                Ok(*outcome)
            }
        }
    }

    /// Claims an attempt with `keys` at `now` before its password is
    /// checked, unless the throttle refuses it: the counts are read, judged
    /// and the claim recorded in one transaction
    /// ([`crate::store::Store::claim_login_attempt`]), so parallel guesses
    /// are judged one after the other. While a key's free allowance is
    /// filled by failures and attempts in flight, the attempt waits (polling
    /// the store, woken early when a claim of this process is resolved) and
    /// is judged again, for at most the hashing queue's timeout and
    /// [`CLAIM_WAIT_MARGIN`]; still no room then, it is refused for a
    /// second. At most [`MAX_CLAIM_WAITERS`] wait at once in a process; one
    /// more is shed as busy (`RESOURCE_EXHAUSTED`, as a saturated hashing
    /// pool sheds), so a flood costs no more claims. So a burst gets at most the free failures checked, and
    /// parallel right passwords wait their turn instead of being refused.
    /// `Err` is the block that refused it (nothing is counted then). Login,
    /// ChangePassword and the client-secret check share it, and so share
    /// their counts where their keys agree.
    pub(super) async fn throttle_claim(
        &self,
        keys: AttemptKeys,
        now: i64,
    ) -> Result<std::result::Result<Counted, Blocked>> {
        let policy = self.throttle;
        let admit = |counts: &[LoginFailures]| policy.judge(&keys, counts, now) == Judgement::Admit;
        let deadline =
            tokio::time::Instant::now() + self.hasher().queue_timeout() + CLAIM_WAIT_MARGIN;
        let mut pause = std::time::Duration::from_millis(5);
        // Held while waiting: a flood of attempts for one key must not turn
        // into a flood of claims, so only so many wait at once.
        let mut waiting: Option<tokio::sync::SemaphorePermit<'_>> = None;
        loop {
            // Registered before the claim, so a resolution between the
            // claim and the wait is not missed.
            let woken = self.resolved_claims.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let claim = self
                .store()
                .claim_login_attempt(&keys.all(), now, policy.stale_before(now), &admit)
                .await?;
            if claim.admitted {
                return Ok(Ok(Counted {
                    keys,
                    before: claim.before,
                    store: std::sync::Arc::clone(&self.ctx().store),
                    resolved_claims: std::sync::Arc::clone(&self.resolved_claims),
                    resolved: false,
                }));
            }
            // The same counts that refused it say why.
            let kind = match policy.judge(&keys, &claim.before, now) {
                Judgement::Refuse(blocked) => return Ok(Err(blocked)),
                Judgement::Wait(kind) => kind,
                Judgement::Admit => KeyKind::Account,
            };
            if tokio::time::Instant::now() >= deadline {
                return Ok(Err(Blocked {
                    kind,
                    retry_after_secs: 1,
                }));
            }
            if waiting.is_none() {
                waiting = Some(
                    self.claim_waiters
                        .try_acquire()
                        .map_err(|_| password::busy())?,
                );
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(std::time::Duration::from_millis(100));
        }
    }

    /// Takes a claimed attempt back after a right password: its claim on
    /// every key goes, and the account's failures (name and id) that the
    /// claim saw are cleared, as a success always cleared them; failures
    /// counted meanwhile by other attempts stay, and the address's count is
    /// untouched, so a success never counts against a shared address nor
    /// erases a concurrent guess.
    pub(super) async fn take_back(&self, mut counted: Counted, now: i64) {
        let forget_before = self.throttle.forget_before(now);
        let account = counted.keys.account_keys();
        let clear: Vec<LoginFailures> = counted
            .before
            .iter()
            .filter(|c| account.contains(&c.key.as_str()) && c.last_failure_at > forget_before)
            .cloned()
            .collect();
        match self
            .store()
            .release_login_attempt(&counted.keys.all(), &clear)
            .await
        {
            Ok(()) => counted.resolved = true,
            // What the right password allowed is done; the drop tries once
            // more to take the claim back, and the stale horizon ends it.
            Err(e) => tracing::warn!(error = %e, "could not take back a counted login attempt"),
        }
        drop(counted);
        self.resolved_claims.notify_waiters();
    }

    /// After a wrong password: turns the claim into a failure on every key,
    /// then records each block this failure starts, one `event` row
    /// (outcome `throttled`) per key kind and block, and nothing for the
    /// attempts the block then refuses. `subject` names the account key's
    /// row (the address's names the address).
    pub(super) async fn note_failure(
        &self,
        mut counted: Counted,
        event: AuditEvent,
        subject: &str,
        client_addr: Option<&str>,
        now: i64,
    ) {
        let after = self
            .store()
            .fail_login_attempt(&counted.keys.all(), now, self.throttle.forget_before(now))
            .await;
        let after = match after {
            Ok(after) => {
                counted.resolved = true;
                after
            }
            Err(e) => {
                // Not counted: the drop takes the claim back instead.
                tracing::warn!(error = %e, "could not count a failed login attempt");
                Vec::new()
            }
        };
        let starts = self.throttle.blocks_started(&counted.keys, &after, now);
        drop(counted);
        self.resolved_claims.notify_waiters();
        for start in starts {
            let detail = format!(
                "{} blocked for {} s after {} failures; attempts until then are refused \
                 unchecked and not recorded one by one",
                start.kind.as_str(),
                start.secs,
                start.failures
            );
            let subject = match start.kind {
                KeyKind::Address => client_addr.unwrap_or(""),
                KeyKind::Account => subject,
            };
            let mut record = AuditRecord::new(event, Outcome::Throttled, now)
                .subject(subject)
                .client_addr(client_addr)
                .detail(&detail);
            if let Some(id) = start.key.strip_prefix("user:") {
                record = record.user_id(id);
            }
            self.ctx().audit(record).await;
        }
    }

    /// Records a denial (`record`, with `detail`) unless an identical one
    /// (the same `what`: event and caller) was recorded within the last
    /// [`DENIAL_WINDOW_SECS`], so a caller repeating a refused call cannot
    /// grow the append-only log one row per call. Whether one was is kept
    /// under the key `denied:<what>` with the failed-login counts (one
    /// atomic statement, [`crate::store::Store::note_once`], shared by every replica; purged with them). If the
    /// store cannot say, the row is written: a denial is never lost.
    pub(super) async fn audit_denial_once(
        &self,
        record: AuditRecord,
        detail: &str,
        what: &str,
        now: i64,
    ) {
        let key = format!("denied:{what}");
        let since = now.saturating_sub(DENIAL_WINDOW_SECS);
        let write = self
            .store()
            .note_once(&key, now, since)
            .await
            .unwrap_or(true);
        if write {
            let detail = format!(
                "{detail}; identical denials in the next {} minutes are not recorded",
                DENIAL_WINDOW_SECS / 60
            );
            self.ctx().audit(record.detail(&detail)).await;
        }
    }

    /// What an audit row names a login attempt by: the name as presented
    /// when it names an account, else its keyed digest
    /// ([`crate::audit::NameDigests`]), so a password typed into the
    /// username field never reaches the log. Without the digest key (the
    /// database did not answer) a fixed stand-in: never the name.
    pub(super) async fn login_subject(
        &self,
        login: &str,
        names_an_account: bool,
        now: i64,
    ) -> String {
        if names_an_account {
            return login.to_owned();
        }
        let store = self.store();
        match self
            .unknown_names
            .get_or_try_init(|| NameDigests::shared(store, now))
            .await
        {
            Ok(digests) => digests.subject(login),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the audit name key");
                format!("{}unavailable", NameDigests::PREFIX)
            }
        }
    }

    /// Looks the user up, counts the attempt (or is refused), checks the
    /// password, and on success starts the session.
    async fn attempt_login(
        &self,
        login: &str,
        password: SecretString,
        client: ClientInfo,
        now: i64,
    ) -> Result<Attempt> {
        // The lookup comes first so that an account's id is a throttle key
        // too (its username and email share one allowance). An unknown name
        // costs the same lookup and claim (one key fewer), and is counted
        // under its name, so the two are refused alike.
        let found = self.store().find_credentials(login).await?;
        let mut keys = AttemptKeys::new(login, client.addr.as_deref());
        if let Some(c) = &found {
            keys = keys.with_user(&c.user.id);
        }
        let counted = match self.throttle_claim(keys, now).await? {
            Ok(counted) => counted,
            Err(blocked) => return Ok(Attempt::Throttled(blocked)),
        };

        let (user, stored_hash) = match found {
            Some(c) => (Some(c.user), Some(c.password_hash)),
            None => (None, None),
        };
        let verdict = self
            .hasher()
            .verify(
                password.clone(),
                stored_hash.as_ref().map(|h| h.expose_secret().to_owned()),
            )
            .await?;
        let (user, seen, needs_rehash) = match (user, stored_hash, verdict) {
            (Some(user), Some(hash), Verdict::Match { needs_rehash }) if user.active => {
                let seen = LoginSnapshot {
                    password_hash: hash,
                    roles: user.roles.clone(),
                };
                (user, seen, needs_rehash)
            }
            (user, _, verdict) => {
                let why = failure_reason(user.as_ref(), verdict);
                self.audit_login_failure(login, user.as_ref(), client.addr.as_deref(), why, now)
                    .await;
                return Ok(Attempt::Failed(counted));
            }
        };
        let rehash = if needs_rehash {
            match self.hasher().hash(password).await {
                Ok(h) => Some(SecretString::from(h)),
                Err(e) => {
                    // The login itself succeeded; upgrading the hash can wait for the next one.
                    tracing::warn!(error = %e, "could not rehash a password on login");
                    None
                }
            }
        } else {
            None
        };

        let refresh_token = refresh::generate()?;
        let session = NewSession {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now.saturating_add(self.sessions.lifetime_secs),
            client_addr: client.addr,
            user_agent: client.user_agent.map(|ua| ua.chars().take(256).collect()),
            refresh_hash: refresh::hash(refresh_token.expose_secret()),
        };
        let (sid, not_after) = (session.id.clone(), session.expires_at);
        let client_addr = session.client_addr.clone();
        // An imported hash replaced by this login is worth its own audit row.
        let upgraded_from = rehash
            .as_ref()
            .and_then(|_| imported_hasher(&seen.password_hash));
        // Fails (as a wrong password would) if the user changed since the check.
        let Some(evicted) = self
            .store()
            .start_session(session, &seen, rehash, self.sessions.max_per_user)
            .await?
        else {
            self.audit_login_failure(
                login,
                Some(&user),
                client_addr.as_deref(),
                "the user changed during the login",
                now,
            )
            .await;
            return Ok(Attempt::Failed(counted));
        };
        self.audit_login_success(&user, client_addr.as_deref(), &sid, evicted.len(), now)
            .await;
        if let Some(hasher) = upgraded_from {
            self.audit_password_upgraded(&user, client_addr.as_deref(), hasher, now)
                .await;
        }
        for id in evicted {
            self.cache.apply(&Change::Session(id));
        }

        let user = User {
            last_login_at: Some(now),
            ..user
        };
        let access = self.tokens.issue(&user, &sid, not_after, now)?;
        Ok(Attempt::Succeeded {
            outcome: Box::new(LoginOutcome {
                access,
                refresh_token,
                user,
            }),
            counted,
        })
    }

    /// Records a successful login that started session `sid`, evicting `evicted` older ones.
    async fn audit_login_success(
        &self,
        user: &User,
        client_addr: Option<&str>,
        sid: &str,
        evicted: usize,
        now: i64,
    ) {
        let mut detail = format!("session {sid}");
        if evicted > 0 {
            let _ = write!(detail, "; {evicted} oldest sessions evicted");
        }
        let record = AuditRecord::new(AuditEvent::Login, Outcome::Success, now)
            .user(user)
            .client_addr(client_addr)
            .detail(&detail);
        self.ctx().audit(record).await;
    }

    /// Records that `user`'s imported hash, made by Django's `hasher`, was
    /// replaced by Argon2id at the configured parameters.
    async fn audit_password_upgraded(
        &self,
        user: &User,
        client_addr: Option<&str>,
        hasher: DjangoAlgorithm,
        now: i64,
    ) {
        let params = self.hasher().params();
        let detail = format!(
            "Django {} hash replaced by Argon2id (m={}, t={}, p={}) at login",
            hasher.name(),
            params.memory_kib,
            params.iterations,
            params.parallelism
        );
        let record = AuditRecord::new(AuditEvent::PasswordUpgraded, Outcome::Success, now)
            .user(user)
            .client_addr(client_addr)
            .detail(&detail);
        self.ctx().audit(record).await;
    }

    /// Records a failed login: `login` is the name as presented (truncated),
    /// or its digest when `user`, the account it named, is `None`.
    async fn audit_login_failure(
        &self,
        login: &str,
        user: Option<&User>,
        client_addr: Option<&str>,
        why: &str,
        now: i64,
    ) {
        let subject = self.login_subject(login, user.is_some(), now).await;
        let mut record = AuditRecord::new(AuditEvent::Login, Outcome::Failure, now)
            .subject(&subject)
            .client_addr(client_addr)
            .detail(why);
        if let Some(user) = user {
            record = record.user_id(&user.id);
        }
        self.ctx().audit(record).await;
    }
}

/// The Django hasher that made `hash`, when it is an imported one.
fn imported_hasher(hash: &SecretString) -> Option<DjangoAlgorithm> {
    match password::django::inspect(hash.expose_secret()) {
        Ok(Inspected::Usable(hasher)) => Some(hasher),
        Ok(Inspected::Unusable) | Err(_) => None,
    }
}

/// Why a login failed, for the audit log only: the caller always gets the
/// same [`Error::InvalidCredentials`] and learns nothing of which it was.
fn failure_reason(user: Option<&User>, verdict: Verdict) -> &'static str {
    match (user, verdict) {
        (None, _) => "no such user",
        (Some(u), Verdict::Match { .. }) if !u.active => "user disabled",
        (Some(u), _) if !u.active => "wrong password; user disabled",
        _ => "wrong password",
    }
}
