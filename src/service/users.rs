//! Reading user records for authenticated callers, and the admin check.
//!
//! A caller may read themself; anyone else needs the `admin` role, both in
//! the token and on the stored user. Must not say whether a user exists to
//! a caller who may not read it.

use super::{AuthCore, Principal};
use crate::error::{Error, Result};
use crate::token::Claims;
use crate::user::{self, ADMIN_ROLE, User};
use crate::validate;

/// Longest id looked up (ids are UUIDs, 36 bytes).
const MAX_ID_BYTES: usize = 64;

/// What kind of principal a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user who logged in with a password.
    User,
    /// A service account that authenticated with its client secret.
    ServiceAccount,
}

/// The principal of an admin call, as audit rows name it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user's or service account's id.
    pub id: String,
    /// Its username or service-account name.
    pub name: String,
    /// Which of the two it is.
    pub kind: PrincipalKind,
}

impl Actor {
    /// How audit rows name the actor: `user alice (<id>)`.
    #[must_use]
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "service account",
        };
        format!("{kind} {} ({})", self.name, self.id)
    }
}

/// How GetUser names the user to read.
#[derive(Debug, Clone)]
pub enum UserSelector {
    /// By id.
    Id(String),
    /// By username, ignoring case.
    Username(String),
}

impl AuthCore {
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

    /// The principal of an admin call: the bearer token must be valid and
    /// its principal (a user or a service account) must hold the `admin`
    /// role, in the token and as stored now. Nothing else is looked up, so a refusal says nothing about the
    /// records the call names.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] without a valid token,
    /// [`Error::PermissionDenied`] without the role.
    pub async fn authorize_admin(&self, bearer: Option<&str>, now: i64) -> Result<Actor> {
        let denied = || {
            Error::PermissionDenied("the admin API needs a token with the `admin` role".to_owned())
        };
        match self.authenticate_principal(bearer, now).await? {
            Principal::User { user, claims } => {
                if !is_admin(&user, &claims) {
                    return Err(denied());
                }
                Ok(Actor {
                    id: user.id,
                    name: user.username,
                    kind: PrincipalKind::User,
                })
            }
            Principal::ServiceAccount { account, claims } => {
                if !(claims.roles.iter().any(|r| r == ADMIN_ROLE) && account.has_role(ADMIN_ROLE)) {
                    return Err(denied());
                }
                Ok(Actor {
                    id: account.id,
                    name: account.name,
                    kind: PrincipalKind::ServiceAccount,
                })
            }
        }
    }

    /// The user `selector` names, for a caller already allowed to read it.
    pub(super) async fn find_user(&self, selector: Option<UserSelector>) -> Result<User> {
        let found = match selector {
            None => return Err(Error::invalid("selector", "set either `id` or `username`")),
            Some(UserSelector::Id(id)) if id.is_empty() => {
                return Err(Error::invalid("id", "must not be empty"));
            }
            Some(UserSelector::Username(name)) if name.is_empty() => {
                return Err(Error::invalid("username", "must not be empty"));
            }
            // Checked before the query: a NUL used to reach PostgreSQL and
            // come back INTERNAL.
            Some(UserSelector::Id(id)) => {
                validate::text("id", &id, MAX_ID_BYTES)?;
                self.store().user_by_id(&id).await?
            }
            Some(UserSelector::Username(name)) => {
                validate::text("username", &name, user::MAX_USERNAME_LEN)?;
                self.store().user_by_username(&name).await?
            }
        };
        found.ok_or_else(|| Error::NotFound("no such user".to_owned()))
    }
}

/// Roles come from the token, checked against the stored user too, so a
/// role removed since the token was issued no longer counts.
pub(super) fn is_admin(caller: &User, claims: &Claims) -> bool {
    claims.roles.iter().any(|r| r == ADMIN_ROLE) && caller.has_role(ADMIN_ROLE)
}
