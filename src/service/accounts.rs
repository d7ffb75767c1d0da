//! Account administration: create, list, enable and disable, roles,
//! delete, password and unlock, each recorded in the audit log.
//!
//! Needs the store and the hasher, not the keys, so the CLI can use it
//! without touching signing keys. Must not issue or check tokens.

use std::fmt::Write as _;
use std::sync::Arc;

use secrecy::SecretString;

use super::Context;
use crate::audit::{AuditEvent, AuditRecord, Outcome};
use crate::cache::StateCache;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::password::PasswordHasher;
use crate::store::{Change, NewUser, Store};
use crate::throttle::{account_key, address_key};
use crate::user::{self, User};

/// A new account, as requested by an administrator.
#[derive(Debug)]
pub struct NewAccount {
    /// Username (validated here).
    pub username: String,
    /// Optional email (validated here).
    pub email: Option<String>,
    /// Roles (validated here).
    pub roles: Vec<String>,
    /// Initial password (held to the password policy here).
    pub password: SecretString,
}

/// Account administration; cheap to clone.
///
/// Changes that revoke tokens (disable, password, roles, delete) are
/// announced by the store to every process; when a local cache is attached
/// it is also updated at once, so this replica never answers from stale state.
///
/// Every change is recorded in the audit log, with the actor when one was
/// named ([`Self::with_actor`]).
#[derive(Debug, Clone)]
pub struct Accounts {
    ctx: Context,
    /// Who is making changes (e.g. the CLI and its OS user), for the audit log.
    actor: Option<String>,
    /// Where the change came from (an admin call's client address), for
    /// the audit log; `None` for the CLI.
    client_addr: Option<String>,
}

impl Accounts {
    /// Account administration over `store`, stamping changes by `clock`
    /// where the caller passes no `now`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, hasher: PasswordHasher, clock: Clock) -> Self {
        Self {
            ctx: Context {
                store,
                hasher,
                clock,
                cache: None,
            },
            actor: None,
            client_addr: None,
        }
    }

    /// The same, naming `actor` (no secrets: e.g. `cli, os user root`) in
    /// the audit log as the one who made each change.
    #[must_use]
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The same, naming `addr` (the caller's client address) in the audit
    /// log as where each change came from.
    #[must_use]
    pub fn with_client_addr(mut self, addr: Option<String>) -> Self {
        self.client_addr = addr;
        self
    }

    /// The same, also dropping `cache` entries on every change.
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<StateCache>) -> Self {
        self.ctx.cache = Some(cache);
        self
    }

    pub(super) fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.ctx.store
    }

    /// Records an account change about `user` in the audit log, naming the actor.
    async fn audit(&self, event: AuditEvent, user: &User, detail: &str, now: i64) {
        let detail = self.by_actor(detail);
        self.ctx
            .audit(
                AuditRecord::new(event, Outcome::Success, now)
                    .user(user)
                    .client_addr(self.client_addr.as_deref())
                    .detail(&detail),
            )
            .await;
    }

    /// `detail`, followed by who made the change when that is known.
    pub(super) fn by_actor(&self, detail: &str) -> String {
        match (&self.actor, detail.is_empty()) {
            (Some(actor), true) => format!("by {actor}"),
            (Some(actor), false) => format!("{detail}; by {actor}"),
            (None, _) => detail.to_owned(),
        }
    }

    fn forget_user(&self, user: &User) {
        self.ctx.forget(&Change::User(user.id.clone()));
        self.ctx.forget(&Change::UserSessions(user.id.clone()));
    }

    /// Creates an account; its password is held to the hasher's
    /// [`crate::password::PasswordPolicy`], with the username and email as
    /// words it must not be built from.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad field (a password's names the
    /// policy rule it broke), [`Error::AlreadyExists`]
    /// if the username or email is taken (ignoring case).
    pub async fn create_user(&self, account: NewAccount, now: i64) -> Result<User> {
        user::validate_username(&account.username)?;
        if let Some(email) = &account.email {
            user::validate_email(email)?;
        }
        let roles = user::normalize_roles(&account.roles)?;
        let mut context = vec![account.username.as_str()];
        context.extend(account.email.as_deref());
        let hash = self
            .ctx
            .hasher
            .hash_new("password", account.password, &context)
            .await?;
        let user = self
            .ctx
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
        self.ctx.store.list_users().await
    }

    /// Enables or disables a user by username.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn set_active(&self, username: &str, active: bool, now: i64) -> Result<User> {
        let user = self.ctx.store.set_active(username, active, now).await?;
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
        let user = self.ctx.store.set_roles(username, &roles, now).await?;
        self.forget_user(&user);
        let detail = format!("roles: {}; sessions ended", roles_text(&user.roles));
        self.audit(AuditEvent::RolesChanged, &user, &detail, now)
            .await;
        Ok(user)
    }

    /// Deletes a user and their sessions. The audit row is stamped by the
    /// clock (this method takes no `now`).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn delete_user(&self, username: &str) -> Result<User> {
        let user = self.ctx.store.delete_user(username).await?;
        self.forget_user(&user);
        let now = self.ctx.clock.now_unix();
        self.audit(AuditEvent::UserDeleted, &user, "sessions ended", now)
            .await;
        Ok(user)
    }

    /// Sets a new password for a user by username, held to the password
    /// policy as in [`Self::create_user`]; every session of the user ends.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a password outside the policy (naming
    /// the rule), [`Error::NotFound`] for an unknown username.
    pub async fn set_password(
        &self,
        username: &str,
        password: SecretString,
        now: i64,
    ) -> Result<User> {
        let Some(found) = self.ctx.store.user_by_username(username).await? else {
            return Err(Error::NotFound(format!("no user named {username:?}")));
        };
        let mut context = vec![found.username.as_str()];
        context.extend(found.email.as_deref());
        let hash = self
            .ctx
            .hasher
            .hash_new("password", password, &context)
            .await?;
        let user = self
            .ctx
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
    /// The audit row is stamped by the clock.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name or an `address` that is
    /// not an IP address; database errors.
    pub async fn unlock(&self, login: &str, address: Option<&str>) -> Result<u64> {
        if login.is_empty() {
            return Err(Error::invalid("username", "must not be empty"));
        }
        let mut keys = vec![account_key(login)];
        if let Some(user) = self.ctx.store.user_by_username(login).await? {
            keys.push(account_key(&user.username));
            keys.extend(user.email.as_deref().map(account_key));
            keys.push(crate::throttle::account_id_key(&user.id));
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
        let cleared = self.ctx.store.clear_login_failures(&keys).await?;
        let mut detail = format!("{cleared} failed-login counts cleared");
        // An admin call's row names where the call came from; the address
        // whose count was cleared is then named in the detail.
        if self.client_addr.is_some()
            && let Some(address) = address
        {
            let _ = write!(detail, " (login name and address {address})");
        }
        let detail = self.by_actor(&detail);
        self.ctx
            .audit(
                AuditRecord::new(
                    AuditEvent::LoginUnlocked,
                    Outcome::Success,
                    self.ctx.clock.now_unix(),
                )
                .subject(login)
                .client_addr(self.client_addr.as_deref().or(address))
                .detail(&detail),
            )
            .await;
        Ok(cleared)
    }
}

/// Changes by user id, for the admin API: the same store calls, cache drops
/// and audit rows as the changes by username the CLI makes.
impl Accounts {
    /// The user with this id.
    ///
    /// # Errors
    /// [`Error::NotFound`], database errors.
    pub async fn user_by_id(&self, id: &str) -> Result<User> {
        self.ctx
            .store
            .user_by_id(id)
            .await?
            .ok_or_else(|| Error::NotFound("no such user".to_owned()))
    }

    /// Replaces (or with `None` removes) a user's email. Sessions are
    /// kept: tokens do not carry the email.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad email, [`Error::AlreadyExists`]
    /// if another user has it (ignoring case), [`Error::NotFound`].
    pub async fn set_email(&self, id: &str, email: Option<&str>, now: i64) -> Result<User> {
        if let Some(email) = email {
            user::validate_email(email)?;
        }
        let user = self.ctx.store.set_email(id, email, now).await?;
        self.forget_user(&user);
        let detail = if email.is_some() {
            "email replaced"
        } else {
            "email removed"
        };
        self.audit(AuditEvent::EmailChanged, &user, detail, now)
            .await;
        Ok(user)
    }

    /// Sets a new password for the user with this id, through
    /// [`Self::set_password`] (so the same policy applies), and returns how
    /// many live sessions that ended: those live just before the change (a
    /// login racing it is ended too, but not counted).
    ///
    /// # Errors
    /// As [`Self::set_password`].
    pub async fn set_password_by_id(
        &self,
        id: &str,
        password: SecretString,
        now: i64,
    ) -> Result<u64> {
        let user = self.user_by_id(id).await?;
        let live = self.ctx.store.live_sessions(&user.id, now).await?.len();
        // Usernames never change, so the username names the same user.
        self.set_password(&user.username, password, now).await?;
        Ok(u64::try_from(live).unwrap_or(u64::MAX))
    }

    /// Deletes the user with this id and their sessions, unless they are
    /// the last active user with the `admin` role (decided in the store's
    /// deleting transaction). Stamped by the clock, as [`Self::delete_user`].
    ///
    /// # Errors
    /// [`Error::FailedPrecondition`] for the last admin, [`Error::NotFound`].
    pub async fn delete_user_by_id(&self, id: &str) -> Result<User> {
        let user = self.ctx.store.delete_user_unless_last_admin(id).await?;
        self.forget_user(&user);
        let now = self.ctx.clock.now_unix();
        self.audit(AuditEvent::UserDeleted, &user, "sessions ended", now)
            .await;
        Ok(user)
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
