//! Verify and authenticate: is this access token valid now, and whose is it?
//!
//! The token's signature and claims are [`crate::token`]'s checks; the
//! user's and session's state come through the [`crate::cache::StateCache`]
//! read-through, so a warm Verify reads no database. Must not answer
//! "valid" when that state cannot be read: a database failure while the
//! cache is not trusted is an error, never a guess.

use super::AuthCore;
use crate::error::{Error, Result};
use crate::revocations::end_reason_invalid;
use crate::store::ServiceAccount;
use crate::token::{Claims, InvalidReason, PrincipalKind, principal_kind};
use crate::user::User;

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
    /// Every check passed, and the token is a service account's.
    ValidServiceAccount {
        /// The service account as stored now.
        account: ServiceAccount,
        /// The token's claims.
        claims: Box<Claims>,
    },
    /// The token failed a check.
    Invalid(InvalidReason),
}

/// Whose valid token a call carries.
#[derive(Debug)]
pub enum Principal {
    /// A user's.
    User {
        /// The user as stored now.
        user: User,
        /// The token's claims.
        claims: Box<Claims>,
    },
    /// A service account's.
    ServiceAccount {
        /// The account as stored now.
        account: ServiceAccount,
        /// The token's claims.
        claims: Box<Claims>,
    },
}

impl AuthCore {
    /// Verifies an access token at `now`: signature and claims, that its
    /// user still exists and is active, and that its session is live; for
    /// a service account's token (its `ptyp` claim), that the account
    /// still exists.
    ///
    /// In steady state this reads no database: user and session state come
    /// from [`crate::cache::StateCache`].
    ///
    /// # Errors
    /// Only failures of authd itself (database unreachable while the cache
    /// is not trusted); an invalid token is [`Verification::Invalid`].
    pub async fn verify(&self, token: &str, now: i64) -> Result<Verification> {
        let claims = match self.tokens.verify(token, now) {
            Ok(c) => c,
            Err(reason) => return Ok(Verification::Invalid(reason)),
        };
        // The shape rules are the shared crate's, as a local verifier's are.
        match principal_kind(&claims) {
            Err(reason) => return Ok(Verification::Invalid(reason)),
            Ok(PrincipalKind::ServiceAccount) => return self.verify_service_account(claims).await,
            Ok(PrincipalKind::User) => {}
        }
        let user = match self.cache.user_or_load(self.store(), &claims.sub).await? {
            None => return Ok(Verification::Invalid(InvalidReason::UserNotFound)),
            Some(user) if !user.active => {
                return Ok(Verification::Invalid(InvalidReason::UserDisabled));
            }
            Some(user) => user,
        };
        let Some(session) = self
            .cache
            .session_or_load(self.store(), &claims.sid)
            .await?
        else {
            return Ok(Verification::Invalid(InvalidReason::SessionEnded));
        };
        if session.user_id != claims.sub {
            return Ok(Verification::Invalid(InvalidReason::Revoked));
        }
        if let Some((_, reason)) = session.ended {
            // The one mapping, shared with the revocation stream.
            return Ok(Verification::Invalid(end_reason_invalid(reason)));
        }
        if session.expires_at <= now {
            return Ok(Verification::Invalid(InvalidReason::SessionEnded));
        }
        Ok(Verification::Valid {
            user,
            claims: Box::new(claims),
        })
    }

    /// The rest of [`Self::verify`] for a service account's token (its
    /// shape already checked by [`principal_kind`]): the account must still
    /// exist (read through the cache, which a deletion on any replica
    /// clears).
    async fn verify_service_account(&self, claims: Claims) -> Result<Verification> {
        let Some(client_id) = claims.client_id.as_deref() else {
            return Ok(Verification::Invalid(InvalidReason::Malformed));
        };
        let Some(account) = self
            .cache
            .service_account_or_load(self.store(), &claims.sub)
            .await?
        else {
            return Ok(Verification::Invalid(InvalidReason::ServiceAccountNotFound));
        };
        if account.client_id != client_id {
            return Ok(Verification::Invalid(InvalidReason::Revoked));
        }
        Ok(Verification::ValidServiceAccount {
            account,
            claims: Box::new(claims),
        })
    }

    /// Authenticates a caller by their bearer token, which must be a
    /// user's: the calls that need one (GetUser, Logout, LogoutAll,
    /// ListSessions, ChangePassword, RevokeSessions) act on the caller's
    /// own sessions or record, which a service account does not have.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] saying what is wrong with the token,
    /// [`Error::PermissionDenied`] for a service account's token.
    pub async fn authenticate(&self, bearer: Option<&str>, now: i64) -> Result<(User, Claims)> {
        match self.authenticate_principal(bearer, now).await? {
            Principal::User { user, claims } => Ok((user, *claims)),
            Principal::ServiceAccount { .. } => Err(Error::PermissionDenied(
                "this call acts on a user's own account or sessions and needs a user's \
                 access token; a service account's token cannot use it"
                    .to_owned(),
            )),
        }
    }

    /// Authenticates a caller by their bearer token, a user's or a service
    /// account's.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] saying what is wrong with the token.
    pub async fn authenticate_principal(
        &self,
        bearer: Option<&str>,
        now: i64,
    ) -> Result<Principal> {
        let token = bearer.ok_or_else(|| {
            Error::Unauthenticated(
                "this call needs the metadata `authorization: Bearer <access token>`".to_owned(),
            )
        })?;
        match self.verify(token, now).await? {
            Verification::Valid { user, claims } => Ok(Principal::User { user, claims }),
            Verification::ValidServiceAccount { account, claims } => {
                Ok(Principal::ServiceAccount { account, claims })
            }
            Verification::Invalid(reason) => Err(Error::Unauthenticated(format!(
                "invalid access token: {}",
                reason.describe()
            ))),
        }
    }
}
