//! Verify and authenticate: is this access token valid now, and whose is it?
//!
//! The token's signature and claims are [`crate::token`]'s checks; the
//! user's and session's state come through the [`crate::cache::StateCache`]
//! read-through, so a warm Verify reads no database. Must not answer
//! "valid" when that state cannot be read: a database failure while the
//! cache is not trusted is an error, never a guess.

use super::AuthCore;
use crate::error::{Error, Result};
use crate::store::EndReason;
use crate::token::{Claims, InvalidReason};
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
    /// The token failed a check.
    Invalid(InvalidReason),
}

impl AuthCore {
    /// Verifies an access token at `now`: signature and claims, that its
    /// user still exists and is active, and that its session is live.
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
}
