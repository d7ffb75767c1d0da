//! The authentication logic: login, token verification and user reads.
//!
//! This is where the decisions are made, with no transport types: the gRPC
//! adapters in [`crate::grpc`] and the CLI in [`crate::cli`] both call in
//! here. Time is a parameter (`now`, Unix seconds) wherever it matters.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::password::{self, PasswordHasher, Verdict};
use crate::store::{NewUser, Store};
use crate::token::{Claims, InvalidReason, IssuedToken, TokenService};
use crate::user::{self, ADMIN_ROLE, User};

/// Longest login name looked up; longer ones cannot exist.
const MAX_LOGIN_LEN: usize = 320;

/// The outcome of a successful login.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The signed access token and its claims.
    pub access: IssuedToken,
    /// The user, as stored after the login was recorded.
    pub user: User,
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
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
}

impl Accounts {
    /// Account administration over `store`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, hasher: PasswordHasher) -> Self {
        Self { store, hasher }
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
        self.store
            .create_user(NewUser {
                id: uuid::Uuid::new_v4().to_string(),
                username: account.username,
                email: account.email,
                password_hash: SecretString::from(hash),
                roles,
                created_at: now,
            })
            .await
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
        self.store.set_active(username, active, now).await
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
        self.store
            .set_password_hash(username, SecretString::from(hash), now)
            .await
    }
}

/// The authentication core, shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthCore {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    tokens: TokenService,
    accounts: Accounts,
}

impl AuthCore {
    /// Assembles the core from its parts.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, hasher: PasswordHasher, tokens: TokenService) -> Self {
        Self {
            accounts: Accounts::new(Arc::clone(&store), hasher.clone()),
            store,
            hasher,
            tokens,
        }
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

    /// Checks a username-or-email and password, and issues an access token.
    ///
    /// Unknown users are checked against a dummy hash and disabled users'
    /// passwords are still checked, so all three failures take the same time
    /// and return the same [`Error::InvalidCredentials`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for empty or oversized input (before any
    /// hashing), [`Error::InvalidCredentials`], [`Error::ResourceExhausted`]
    /// when hashing is saturated, database errors.
    pub async fn login(
        &self,
        login: &str,
        password: SecretString,
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

        let found = self.store.find_credentials(login).await?;
        let (user, stored_hash) = match found {
            Some(c) => (
                Some(c.user),
                Some(c.password_hash.expose_secret().to_owned()),
            ),
            None => (None, None),
        };
        let verdict = self.hasher.verify(password.clone(), stored_hash).await?;
        let (user, needs_rehash) = match (user, verdict) {
            (Some(user), Verdict::Match { needs_rehash }) if user.active => (user, needs_rehash),
            _ => return Err(Error::InvalidCredentials),
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
        self.store.record_login(&user.id, now, rehash).await?;
        let user = User {
            last_login_at: Some(now),
            ..user
        };
        let access = self.tokens.issue(&user, now)?;
        Ok(LoginOutcome { access, user })
    }

    /// Verifies an access token at `now`, including that its user still
    /// exists and is active.
    ///
    /// # Errors
    /// Only failures of authd itself (database unreachable); an invalid
    /// token is [`Verification::Invalid`].
    pub async fn verify(&self, token: &str, now: i64) -> Result<Verification> {
        let claims = match self.tokens.verify(token, now) {
            Ok(c) => c,
            Err(reason) => return Ok(Verification::Invalid(reason)),
        };
        match self.store.user_by_id(&claims.sub).await? {
            None => Ok(Verification::Invalid(InvalidReason::UserNotFound)),
            Some(user) if !user.active => Ok(Verification::Invalid(InvalidReason::UserDisabled)),
            Some(user) => Ok(Verification::Valid {
                user,
                claims: Box::new(claims),
            }),
        }
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
        let selector =
            selector.ok_or_else(|| Error::invalid("selector", "set either `id` or `username`"))?;
        let is_self = match &selector {
            UserSelector::Id(id) => *id == caller.id,
            UserSelector::Username(name) => {
                user::username_key(name) == user::username_key(&caller.username)
            }
        };
        if is_self {
            return Ok(caller);
        }
        // Roles come from the token, checked against the stored user too, so
        // a role removed since the token was issued no longer counts.
        let is_admin = claims.roles.iter().any(|r| r == ADMIN_ROLE) && caller.has_role(ADMIN_ROLE);
        if !is_admin {
            return Err(Error::PermissionDenied(
                "reading another user's record needs the `admin` role".to_owned(),
            ));
        }
        let found = match &selector {
            UserSelector::Id(id) if id.is_empty() => {
                return Err(Error::invalid("id", "must not be empty"));
            }
            UserSelector::Username(name) if name.is_empty() => {
                return Err(Error::invalid("username", "must not be empty"));
            }
            UserSelector::Id(id) => self.store.user_by_id(id).await?,
            UserSelector::Username(name) => self.store.user_by_username(name).await?,
        };
        found.ok_or_else(|| Error::NotFound("no such user".to_owned()))
    }
}
