//! The authentication logic: login, token verification and user reads.
//!
//! This is where the decisions are made, with no transport types: the gRPC
//! adapters in [`crate::grpc`] and the CLI in [`crate::cli`] both call in
//! here. Time is a parameter (`now`, Unix seconds) wherever it matters.

use std::fmt::Write as _;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::audit::{self, AuditEvent, AuditRecord, Outcome};
use crate::cache::StateCache;
use crate::error::{Error, Result};
use crate::password::{self, PasswordHasher, Verdict};
use crate::store::{
    Change, EndReason, LoginSnapshot, NewSession, NewUser, Rotation, Session, Store,
};
use crate::throttle::{AttemptKeys, Blocked, ThrottlePolicy, account_key, address_key};
use crate::token::{Claims, InvalidReason, IssuedToken, TokenService, refresh};
use crate::user::{self, ADMIN_ROLE, User};

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

/// The outcome of a successful refresh.
#[derive(Debug)]
pub struct RefreshOutcome {
    /// A new access token for the same session.
    pub access: IssuedToken,
    /// The refresh token to use next time (the old one is spent).
    pub refresh_token: SecretString,
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

/// A session as shown to its user.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The stored session.
    pub session: Session,
    /// Whether it is the session of the token that asked.
    pub current: bool,
}

/// Session settings.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Absolute lifetime, seconds.
    pub lifetime_secs: i64,
    /// Refresh retry grace, seconds.
    pub grace_secs: i64,
    /// Live sessions per user (0: unlimited).
    pub max_per_user: u32,
}

/// The one answer to every refresh failure a client cannot fix but by logging in again.
fn refresh_refused(detail: &str) -> Error {
    Error::Unauthenticated(format!(
        "the refresh token is not valid: {detail}; log in again"
    ))
}

/// Verify's answer: a valid token's user and claims, or why it is invalid.
#[derive(Debug)]
pub enum Verification {
    /// Every check passed.
    Valid {
        /// The user as stored now.
        user: User,
        /// The token's claims.
        claims: Box<Claims>,
    },
    /// The token failed a check.
    Invalid(InvalidReason),
}

/// How GetUser names the user to read.
#[derive(Debug, Clone)]
pub enum UserSelector {
    /// By id.
    Id(String),
    /// By username, ignoring case.
    Username(String),
}

/// A new account, as requested by an administrator.
#[derive(Debug)]
pub struct NewAccount {
    /// Username (validated here).
    pub username: String,
    /// Optional email (validated here).
    pub email: Option<String>,
    /// Roles (validated here).
    pub roles: Vec<String>,
    /// Initial password (length policy checked here).
    pub password: SecretString,
}

/// Account administration: needs the store and the hasher, not the keys,
/// so the CLI can use it without touching signing keys.
///
/// Changes that revoke tokens (disable, password, roles, delete) are
/// announced by the store to every process; when a local cache is attached
/// it is also updated at once, so this replica never answers from stale state.
///
/// Every change is recorded in the audit log, with the actor when one was
/// named ([`Self::with_actor`]).
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    cache: Option<Arc<StateCache>>,
    /// Who is making changes (e.g. the CLI and its OS user), for the audit log.
    actor: Option<String>,
}

impl Accounts {
    /// Account administration over `store`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, hasher: PasswordHasher) -> Self {
        Self {
            store,
            hasher,
            cache: None,
            actor: None,
        }
    }

    /// The same, naming `actor` (no secrets: e.g. `cli, os user root`) in
    /// the audit log as the one who made each change.
    #[must_use]
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Records an account change about `user` in the audit log.
    async fn audit(&self, event: AuditEvent, user: &User, detail: &str, now: i64) {
        let detail = match (&self.actor, detail.is_empty()) {
            (Some(actor), true) => format!("by {actor}"),
            (Some(actor), false) => format!("{detail}; by {actor}"),
            (None, _) => detail.to_owned(),
        };
        audit::record(
            self.store.as_ref(),
            AuditRecord::new(event, Outcome::Success, now)
                .user(user)
                .detail(&detail),
        )
        .await;
    }

    /// The same, also dropping `cache` entries on every change.
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<StateCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    fn forget_user(&self, user: &User) {
        if let Some(cache) = &self.cache {
            cache.apply(&Change::User(user.id.clone()));
            cache.apply(&Change::UserSessions(user.id.clone()));
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Creates an account.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad field, [`Error::AlreadyExists`]
    /// if the username or email is taken (ignoring case).
    pub async fn create_user(&self, account: NewAccount, now: i64) -> Result<User> {
        user::validate_username(&account.username)?;
        if let Some(email) = &account.email {
            user::validate_email(email)?;
        }
        let roles = user::normalize_roles(&account.roles)?;
        let hash = self.hasher.hash(account.password).await?;
        let user = self
            .store
            .create_user(NewUser {
                id: uuid::Uuid::new_v4().to_string(),
                username: account.username,
                email: account.email,
                password_hash: SecretString::from(hash),
                roles,
                created_at: now,
            })
            .await?;
        let detail = format!("roles: {}", roles_text(&user.roles));
        self.audit(AuditEvent::UserCreated, &user, &detail, now)
            .await;
        Ok(user)
    }

    /// Lists all users.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        self.store.list_users().await
    }

    /// Enables or disables a user by username.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn set_active(&self, username: &str, active: bool, now: i64) -> Result<User> {
        let user = self.store.set_active(username, active, now).await?;
        self.forget_user(&user);
        let (event, detail) = if active {
            (AuditEvent::UserEnabled, "")
        } else {
            (AuditEvent::UserDisabled, "sessions ended")
        };
        self.audit(event, &user, detail, now).await;
        Ok(user)
    }

    /// Replaces a user's roles; their sessions end (tokens carry the old roles).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad role, [`Error::NotFound`].
    pub async fn set_roles(&self, username: &str, roles: &[String], now: i64) -> Result<User> {
        let roles = user::normalize_roles(roles)?;
        let user = self.store.set_roles(username, &roles, now).await?;
        self.forget_user(&user);
        let detail = format!("roles: {}; sessions ended", roles_text(&user.roles));
        self.audit(AuditEvent::RolesChanged, &user, &detail, now)
            .await;
        Ok(user)
    }

    /// Deletes a user and their sessions. The audit row is stamped with the
    /// wall clock (this method takes no `now`).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn delete_user(&self, username: &str) -> Result<User> {
        let user = self.store.delete_user(username).await?;
        self.forget_user(&user);
        self.audit(
            AuditEvent::UserDeleted,
            &user,
            "sessions ended",
            crate::token::now_unix(),
        )
        .await;
        Ok(user)
    }

    /// Sets a new password for a user by username.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a password outside the policy,
    /// [`Error::NotFound`] for an unknown username.
    pub async fn set_password(
        &self,
        username: &str,
        password: SecretString,
        now: i64,
    ) -> Result<User> {
        if self.store.user_by_username(username).await?.is_none() {
            return Err(Error::NotFound(format!("no user named {username:?}")));
        }
        let hash = self.hasher.hash(password).await?;
        let user = self
            .store
            .set_password_hash(username, SecretString::from(hash), now)
            .await?;
        self.forget_user(&user);
        self.audit(AuditEvent::PasswordChanged, &user, "sessions ended", now)
            .await;
        Ok(user)
    }

    /// Clears the failed-login counts of a login name, so its next login is
    /// checked at once: the name as given and, for an existing user, their
    /// username and email (a login may use either). With `address`, that
    /// client address's count too. Returns how many counts were cleared.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name or an `address` that is
    /// not an IP address; database errors.
    pub async fn unlock(&self, login: &str, address: Option<&str>) -> Result<u64> {
        if login.is_empty() {
            return Err(Error::invalid("username", "must not be empty"));
        }
        let mut keys = vec![account_key(login)];
        if let Some(user) = self.store.user_by_username(login).await? {
            keys.push(account_key(&user.username));
            keys.extend(user.email.as_deref().map(account_key));
        }
        if let Some(address) = address {
            if address.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::invalid(
                    "address",
                    format!(
                        "`{}` is not an IP address; use e.g. 192.0.2.7 or 2001:db8::7",
                        address.escape_debug()
                    ),
                ));
            }
            keys.push(address_key(address));
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let cleared = self.store.clear_login_failures(&keys).await?;
        let mut detail = format!("{cleared} failed-login counts cleared");
        if let Some(actor) = &self.actor {
            detail = format!("{detail}; by {actor}");
        }
        audit::record(
            self.store.as_ref(),
            AuditRecord::new(
                AuditEvent::LoginUnlocked,
                Outcome::Success,
                crate::token::now_unix(),
            )
            .subject(login)
            .client_addr(address)
            .detail(&detail),
        )
        .await;
        Ok(cleared)
    }
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

/// The authentication core, shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthCore {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    tokens: TokenService,
    accounts: Accounts,
    cache: Arc<StateCache>,
    sessions: SessionPolicy,
    throttle: ThrottlePolicy,
}

impl AuthCore {
    /// Assembles the core from its parts.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        tokens: TokenService,
        cache: Arc<StateCache>,
        sessions: SessionPolicy,
    ) -> Self {
        Self {
            accounts: Accounts::new(Arc::clone(&store), hasher.clone())
                .with_cache(Arc::clone(&cache)),
            store,
            hasher,
            tokens,
            cache,
            sessions,
            throttle: ThrottlePolicy::default(),
        }
    }

    /// The same, throttling failed logins by `policy` instead of the default.
    #[must_use]
    pub fn with_throttle(mut self, policy: ThrottlePolicy) -> Self {
        self.throttle = policy;
        self
    }

    /// The login throttling policy.
    #[must_use]
    pub fn throttle(&self) -> &ThrottlePolicy {
        &self.throttle
    }

    /// Account administration.
    #[must_use]
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The password hasher.
    #[must_use]
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The token service (tests use it to mint tokens at chosen times).
    #[must_use]
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// The state cache behind Verify (its counters are observable).
    #[must_use]
    pub fn cache(&self) -> &Arc<StateCache> {
        &self.cache
    }

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
        password::validate_presented_password(password.expose_secret())?;
        // Shed a login flood before it costs a database query.
        if self.hasher.saturated() {
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
                let detail = format!(
                    "{} blocked for {} s",
                    blocked.kind.as_str(),
                    blocked.retry_after_secs
                );
                audit::login_throttled(self.store.as_ref(), login, addr.as_deref(), &detail, now)
                    .await;
                Err(Error::Throttled {
                    retry_after_secs: blocked.retry_after_secs,
                })
            }
            Attempt::Failed => {
                // One write per failed login, counting both keys at once.
                self.store
                    .record_login_failure(&keys.all(), now, self.throttle.forget_before(now))
                    .await?;
                Err(Error::InvalidCredentials)
            }
            Attempt::Succeeded {
                outcome,
                had_failures,
            } => {
                if had_failures
                    && let Err(e) = self.store.clear_login_failures(&[&keys.account]).await
                {
                    // The session exists; a stale count is forgotten after the window anyway.
                    tracing::warn!(error = %e, "could not clear the failed-login count");
                }
                Ok(*outcome)
            }
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
        let counts = self.store.login_failures(&keys.all()).await?;
        if let Some(blocked) = self.throttle.check(keys, &counts, now) {
            return Ok(Attempt::Throttled(blocked));
        }
        let had_failures = counts.iter().any(|c| c.key == keys.account);

        let found = self.store.find_credentials(login).await?;
        let (user, stored_hash) = match found {
            Some(c) => (Some(c.user), Some(c.password_hash)),
            None => (None, None),
        };
        let verdict = self
            .hasher
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
            match self.hasher.hash(password).await {
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
        // Fails (as a wrong password would) if the user changed since the check.
        let Some(evicted) = self
            .store
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
        audit::record(self.store.as_ref(), record).await;
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
        audit::record(self.store.as_ref(), record).await;
    }

    /// Exchanges a refresh token for a new access token and the next refresh
    /// token. The presented token is spent; presenting it again within the
    /// grace window returns the same successor (a retried request), after it
    /// revokes the whole session (reuse of a stolen token).
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] for any token that cannot be used, saying
    /// what to do; database errors.
    pub async fn refresh(&self, token: &SecretString, now: i64) -> Result<RefreshOutcome> {
        let token = token.expose_secret();
        if !refresh::looks_valid(token) {
            return Err(refresh_refused("it is not a refresh token"));
        }
        let hash = refresh::hash(token);
        let mut record = self
            .store
            .refresh_token(&hash)
            .await?
            .ok_or_else(|| refresh_refused("unknown token"))?;
        let session = self
            .store
            .session(&record.session_id)
            .await?
            .ok_or_else(|| refresh_refused("the session has ended"))?;
        if session.ended.is_some() {
            return Err(refresh_refused("the session has ended"));
        }
        if session.expires_at <= now {
            return Err(refresh_refused("the session has expired"));
        }
        let user = match self.store.user_by_id(&session.user_id).await? {
            Some(user) if user.active => user,
            _ => return Err(refresh_refused("the user is disabled or gone")),
        };

        if record.rotated_at.is_none() {
            let successor = refresh::generate()?;
            let sealed = refresh::seal(token, &successor)?;
            let successor_hash = refresh::hash(successor.expose_secret());
            match self
                .store
                .rotate_refresh_token(&hash, &successor_hash, &sealed, now)
                .await?
            {
                Rotation::Rotated => {
                    let access = self
                        .tokens
                        .issue(&user, &session.id, session.expires_at, now)?;
                    return Ok(RefreshOutcome {
                        access,
                        refresh_token: successor,
                    });
                }
                Rotation::SessionEnded => return Err(refresh_refused("the session has ended")),
                Rotation::AlreadyRotated => {
                    // A concurrent refresh of the same token won; answer as a retry.
                    record = self
                        .store
                        .refresh_token(&hash)
                        .await?
                        .ok_or_else(|| refresh_refused("unknown token"))?;
                }
            }
        }

        let rotated_at = record.rotated_at.unwrap_or(now);
        let within_grace = now < rotated_at.saturating_add(self.sessions.grace_secs);
        let successor = record
            .successor_sealed
            .as_deref()
            .and_then(|sealed| refresh::open(token, sealed));
        match successor {
            Some(successor) if within_grace => {
                let access = self
                    .tokens
                    .issue(&user, &session.id, session.expires_at, now)?;
                Ok(RefreshOutcome {
                    access,
                    refresh_token: successor,
                })
            }
            _ => {
                self.store
                    .end_session(&session.id, EndReason::Reuse, now)
                    .await?;
                self.cache.apply(&Change::Session(session.id.clone()));
                audit::record(
                    self.store.as_ref(),
                    AuditRecord::new(AuditEvent::RefreshReuse, Outcome::Denied, now)
                        .user(&user)
                        .detail(&format!(
                            "a spent refresh token was presented again; session {} revoked",
                            session.id
                        )),
                )
                .await;
                tracing::warn!(
                    session_id = %session.id,
                    user_id = %session.user_id,
                    "refresh token reuse detected; session revoked"
                );
                Err(Error::Unauthenticated(
                    "this refresh token was already used; the session has been revoked for \
                     safety, log in again"
                        .to_owned(),
                ))
            }
        }
    }

    /// Ends a session, named by a refresh token or else by the caller's
    /// bearer token. An unknown or malformed refresh token gets the same
    /// answer as a real one.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] when neither identifies a session.
    pub async fn logout(
        &self,
        bearer: Option<&str>,
        refresh_token: Option<&SecretString>,
        now: i64,
    ) -> Result<()> {
        if let Some(token) = refresh_token {
            let token = token.expose_secret();
            if refresh::looks_valid(token)
                && let Some(record) = self.store.refresh_token(&refresh::hash(token)).await?
            {
                let ended = self
                    .end_session(&record.session_id, EndReason::Logout, now)
                    .await?;
                // The session names its user; the refresh token alone does not.
                let user_id = self
                    .store
                    .session(&record.session_id)
                    .await
                    .ok()
                    .flatten()
                    .map(|s| s.user_id);
                let user = match &user_id {
                    Some(id) => self.store.user_by_id(id).await.ok().flatten(),
                    None => None,
                };
                self.audit_logout(
                    user.as_ref(),
                    user_id.as_deref(),
                    &record.session_id,
                    ended,
                    now,
                )
                .await;
            }
            return Ok(());
        }
        let (user, claims) = self.authenticate(bearer, now).await?;
        let ended = self
            .end_session(&claims.sid, EndReason::Logout, now)
            .await?;
        self.audit_logout(Some(&user), Some(&user.id), &claims.sid, ended, now)
            .await;
        Ok(())
    }

    async fn audit_logout(
        &self,
        user: Option<&User>,
        user_id: Option<&str>,
        sid: &str,
        ended: bool,
        now: i64,
    ) {
        let mut record =
            AuditRecord::new(AuditEvent::Logout, Outcome::Success, now).detail(&if ended {
                format!("session {sid} ended")
            } else {
                format!("session {sid} had already ended")
            });
        if let Some(user) = user {
            record = record.user(user);
        } else if let Some(id) = user_id {
            record = record.user_id(id);
        }
        audit::record(self.store.as_ref(), record).await;
    }

    /// Ends one session; `Ok(false)` if it had already ended.
    async fn end_session(&self, sid: &str, reason: EndReason, now: i64) -> Result<bool> {
        let ended = self.store.end_session(sid, reason, now).await?;
        self.cache.apply(&Change::Session(sid.to_owned()));
        Ok(ended)
    }

    /// Ends every session of the calling user; returns how many were live.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] without a valid bearer token.
    pub async fn logout_all(&self, bearer: Option<&str>, now: i64) -> Result<u64> {
        let (user, _) = self.authenticate(bearer, now).await?;
        let ended = self
            .end_user_sessions(&user.id, EndReason::LogoutAll, now)
            .await?;
        audit::record(
            self.store.as_ref(),
            AuditRecord::new(AuditEvent::LogoutAll, Outcome::Success, now)
                .user(&user)
                .detail(&format!("{ended} sessions ended")),
        )
        .await;
        Ok(ended)
    }

    async fn end_user_sessions(&self, user_id: &str, reason: EndReason, now: i64) -> Result<u64> {
        let ended = self.store.end_user_sessions(user_id, reason, now).await?;
        self.cache.apply(&Change::UserSessions(user_id.to_owned()));
        Ok(ended)
    }

    /// The calling user's live sessions.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] without a valid bearer token.
    pub async fn list_sessions(&self, bearer: Option<&str>, now: i64) -> Result<Vec<SessionInfo>> {
        let (user, claims) = self.authenticate(bearer, now).await?;
        Ok(self
            .store
            .live_sessions(&user.id, now)
            .await?
            .into_iter()
            .map(|session| SessionInfo {
                current: session.id == claims.sid,
                session,
            })
            .collect())
    }

    /// Ends every session of another user; needs the `admin` role.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`], [`Error::PermissionDenied`],
    /// [`Error::NotFound`], [`Error::InvalidArgument`] for an empty selector.
    pub async fn revoke_sessions(
        &self,
        bearer: Option<&str>,
        selector: Option<UserSelector>,
        now: i64,
    ) -> Result<u64> {
        let (caller, claims) = self.authenticate(bearer, now).await?;
        if !is_admin(&caller, &claims) {
            audit::record(
                self.store.as_ref(),
                AuditRecord::new(AuditEvent::SessionsRevoked, Outcome::Denied, now)
                    .user(&caller)
                    .detail("the caller lacks the admin role"),
            )
            .await;
            return Err(Error::PermissionDenied(
                "revoking sessions needs the `admin` role".to_owned(),
            ));
        }
        let target = self.find_user(selector).await?;
        let ended = self
            .end_user_sessions(&target.id, EndReason::Admin, now)
            .await?;
        let detail = format!(
            "{ended} sessions ended; by admin {} ({})",
            caller.username, caller.id
        );
        audit::record(
            self.store.as_ref(),
            AuditRecord::new(AuditEvent::SessionsRevoked, Outcome::Success, now)
                .user(&target)
                .detail(&detail),
        )
        .await;
        Ok(ended)
    }

    /// Verifies an access token at `now`: signature and claims, that its
    /// user still exists and is active, and that its session is live.
    ///
    /// In steady state this reads no database: user and session state come
    /// from [`StateCache`].
    ///
    /// # Errors
    /// Only failures of authd itself (database unreachable while the cache
    /// is not trusted); an invalid token is [`Verification::Invalid`].
    pub async fn verify(&self, token: &str, now: i64) -> Result<Verification> {
        let claims = match self.tokens.verify(token, now) {
            Ok(c) => c,
            Err(reason) => return Ok(Verification::Invalid(reason)),
        };
        let user = match self.user_state(&claims.sub).await? {
            None => return Ok(Verification::Invalid(InvalidReason::UserNotFound)),
            Some(user) if !user.active => {
                return Ok(Verification::Invalid(InvalidReason::UserDisabled));
            }
            Some(user) => user,
        };
        let Some(session) = self.session_state(&claims.sid).await? else {
            return Ok(Verification::Invalid(InvalidReason::SessionEnded));
        };
        if session.user_id != claims.sub {
            return Ok(Verification::Invalid(InvalidReason::Revoked));
        }
        if let Some((_, reason)) = session.ended {
            return Ok(Verification::Invalid(match reason {
                EndReason::Logout | EndReason::LogoutAll | EndReason::Evicted => {
                    InvalidReason::SessionEnded
                }
                EndReason::Admin | EndReason::Reuse => InvalidReason::Revoked,
                EndReason::PasswordChanged => InvalidReason::PasswordChanged,
                EndReason::RolesChanged => InvalidReason::RolesChanged,
                EndReason::UserDisabled => InvalidReason::UserDisabled,
            }));
        }
        if session.expires_at <= now {
            return Ok(Verification::Invalid(InvalidReason::SessionEnded));
        }
        Ok(Verification::Valid {
            user,
            claims: Box::new(claims),
        })
    }

    async fn user_state(&self, id: &str) -> Result<Option<User>> {
        if let Some(hit) = self.cache.user(id) {
            return Ok(hit);
        }
        let epoch = self.cache.epoch();
        self.cache.count_db_read();
        let user = self.store.user_by_id(id).await?;
        self.cache.put_user(id, user.clone(), epoch);
        Ok(user)
    }

    async fn session_state(&self, id: &str) -> Result<Option<Session>> {
        if let Some(hit) = self.cache.session(id) {
            return Ok(hit);
        }
        let epoch = self.cache.epoch();
        self.cache.count_db_read();
        let session = self.store.session(id).await?;
        self.cache.put_session(id, session.clone(), epoch);
        Ok(session)
    }

    /// Authenticates a caller by their bearer token.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] saying what is wrong with the token.
    pub async fn authenticate(&self, bearer: Option<&str>, now: i64) -> Result<(User, Claims)> {
        let token = bearer.ok_or_else(|| {
            Error::Unauthenticated(
                "this call needs the metadata `authorization: Bearer <access token>`".to_owned(),
            )
        })?;
        match self.verify(token, now).await? {
            Verification::Valid { user, claims } => Ok((user, *claims)),
            Verification::Invalid(reason) => Err(Error::Unauthenticated(format!(
                "invalid access token: {}",
                reason.describe()
            ))),
        }
    }

    /// Reads a user for an authenticated caller: themself, or anyone if the
    /// caller's token carries the `admin` role.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`], [`Error::PermissionDenied`],
    /// [`Error::NotFound`], [`Error::InvalidArgument`] for an empty selector.
    pub async fn get_user(
        &self,
        bearer: Option<&str>,
        selector: Option<UserSelector>,
        now: i64,
    ) -> Result<User> {
        let (caller, claims) = self.authenticate(bearer, now).await?;
        let is_self = match &selector {
            Some(UserSelector::Id(id)) => *id == caller.id,
            Some(UserSelector::Username(name)) => {
                user::username_key(name) == user::username_key(&caller.username)
            }
            None => false,
        };
        if is_self {
            return Ok(caller);
        }
        if selector.is_some() && !is_admin(&caller, &claims) {
            return Err(Error::PermissionDenied(
                "reading another user's record needs the `admin` role".to_owned(),
            ));
        }
        self.find_user(selector).await
    }

    async fn find_user(&self, selector: Option<UserSelector>) -> Result<User> {
        let found = match selector {
            None => return Err(Error::invalid("selector", "set either `id` or `username`")),
            Some(UserSelector::Id(id)) if id.is_empty() => {
                return Err(Error::invalid("id", "must not be empty"));
            }
            Some(UserSelector::Username(name)) if name.is_empty() => {
                return Err(Error::invalid("username", "must not be empty"));
            }
            Some(UserSelector::Id(id)) => self.store.user_by_id(&id).await?,
            Some(UserSelector::Username(name)) => self.store.user_by_username(&name).await?,
        };
        found.ok_or_else(|| Error::NotFound("no such user".to_owned()))
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

/// Roles for the audit log: comma-separated, `(none)` when empty.
fn roles_text(roles: &[String]) -> String {
    if roles.is_empty() {
        "(none)".to_owned()
    } else {
        roles.join(",")
    }
}

/// Roles come from the token, checked against the stored user too, so a
/// role removed since the token was issued no longer counts.
fn is_admin(caller: &User, claims: &Claims) -> bool {
    claims.roles.iter().any(|r| r == ADMIN_ROLE) && caller.has_role(ADMIN_ROLE)
}
