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
use crate::audit::{AuditEvent, AuditRecord, Outcome};
use crate::error::{Error, Result};
use crate::password::django::{DjangoAlgorithm, Inspected};
use crate::password::{self, Verdict};
use crate::store::{Change, LoginSnapshot, NewSession};
use crate::throttle::{AttemptKeys, Blocked};
use crate::token::{IssuedToken, refresh};
use crate::user::User;

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
    Failed,
    /// Logged in; `had_failures` if the account name had a failure count to clear.
    Succeeded {
        outcome: Box<LoginOutcome>,
        had_failures: bool,
    },
}

impl AuthCore {
    /// Checks a username-or-email and password, starts a session and issues
    /// an access token and a refresh token.
    ///
    /// Unknown users are checked against a dummy hash and disabled users'
    /// passwords are still checked, so all three failures take the same time
    /// and return the same [`Error::InvalidCredentials`].
    ///
    /// Failed logins are counted per login name and per client address
    /// ([`crate::throttle`]); past the policy's allowance, attempts are
    /// refused with [`Error::Throttled`] before any database lookup of the
    /// user or any hashing, alike for existing and unknown names. A success
    /// clears the login name's count (not the address's).
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

        let keys = AttemptKeys::new(login, client.addr.as_deref());
        let addr = client.addr.clone();
        let attempt = self
            .attempt_login(login, password, client, &keys, now)
            .await?;
        // The one place where a login's outcome is decided and recorded:
        // success, failure or throttled (an audit trail belongs here).
        match attempt {
            Attempt::Throttled(blocked) => {
                // The key kind, never the login name or the password.
                tracing::info!(
                    key = blocked.kind.as_str(),
                    retry_after_secs = blocked.retry_after_secs,
                    "login throttled"
                );
                self.audit_login_throttled(login, addr.as_deref(), &blocked, now)
                    .await;
                Err(Error::Throttled {
                    retry_after_secs: blocked.retry_after_secs,
                })
            }
            Attempt::Failed => {
                self.count_failure(&keys, now).await?;
                Err(Error::InvalidCredentials)
            }
            Attempt::Succeeded {
                outcome,
                had_failures,
            } => {
                if had_failures {
                    self.clear_account_failures(&keys).await;
                }
                Ok(*outcome)
            }
        }
    }

    /// The throttle's verdict on a password check with `keys` at `now`,
    /// before any lookup of the user or hashing: `Err` with the block, or
    /// `Ok(had_failures)`, whether the account key has a count to clear
    /// after a right password. Login and ChangePassword share it, and so
    /// share their counts.
    pub(super) async fn throttle_gate(
        &self,
        keys: &AttemptKeys,
        now: i64,
    ) -> Result<std::result::Result<bool, Blocked>> {
        let counts = self.store().login_failures(&keys.all()).await?;
        if let Some(blocked) = self.throttle.check(keys, &counts, now) {
            return Ok(Err(blocked));
        }
        Ok(Ok(counts.iter().any(|c| c.key == keys.account)))
    }

    /// Counts a wrong password against both keys (one write).
    pub(super) async fn count_failure(&self, keys: &AttemptKeys, now: i64) -> Result<()> {
        self.store()
            .record_login_failure(&keys.all(), now, self.throttle.forget_before(now))
            .await
    }

    /// Clears the account key's count after a right password.
    pub(super) async fn clear_account_failures(&self, keys: &AttemptKeys) {
        if let Err(e) = self.store().clear_login_failures(&[&keys.account]).await {
            // What the right password allowed is done; a stale count is
            // forgotten after the window anyway.
            tracing::warn!(error = %e, "could not clear the failed-login count");
        }
    }

    /// Checks the throttle, then the password, and on success starts the session.
    async fn attempt_login(
        &self,
        login: &str,
        password: SecretString,
        client: ClientInfo,
        keys: &AttemptKeys,
        now: i64,
    ) -> Result<Attempt> {
        let had_failures = match self.throttle_gate(keys, now).await? {
            Ok(had_failures) => had_failures,
            Err(blocked) => return Ok(Attempt::Throttled(blocked)),
        };

        let found = self.store().find_credentials(login).await?;
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
                return Ok(Attempt::Failed);
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
            return Ok(Attempt::Failed);
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
            had_failures,
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
    /// `user` the account it named, if any.
    async fn audit_login_failure(
        &self,
        login: &str,
        user: Option<&User>,
        client_addr: Option<&str>,
        why: &str,
        now: i64,
    ) {
        let mut record = AuditRecord::new(AuditEvent::Login, Outcome::Failure, now)
            .subject(login)
            .client_addr(client_addr)
            .detail(why);
        if let Some(user) = user {
            record = record.user_id(&user.id);
        }
        self.ctx().audit(record).await;
    }

    /// Records a login refused by throttling: `login` is the name as
    /// presented; the detail names the key kind, never the name or password.
    async fn audit_login_throttled(
        &self,
        login: &str,
        client_addr: Option<&str>,
        blocked: &Blocked,
        now: i64,
    ) {
        let detail = format!(
            "{} blocked for {} s",
            blocked.kind.as_str(),
            blocked.retry_after_secs
        );
        let record = AuditRecord::new(AuditEvent::LoginThrottled, Outcome::Throttled, now)
            .subject(login)
            .client_addr(client_addr)
            .detail(&detail);
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
