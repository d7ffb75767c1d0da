//! What an authenticated OAuth2 client (a service account) may learn about,
//! or do to, a token it holds: token introspection (RFC 7662) and token
//! revocation (RFC 7009), behind `POST /oauth2/introspect` and
//! `POST /oauth2/revoke`.
//!
//! Both first authenticate the client exactly as the token endpoint does
//! ([`AuthCore::authenticate_client`]: the same throttle, the same one
//! answer for an unknown client and a wrong secret). Any service account
//! may introspect or revoke any authd token: holding a token already lets
//! its holder Verify it and end its session (Logout), so this gives the
//! client no power it did not have.
//!
//! - **Introspection** is Verify: the same checks (signature, claims,
//!   disabled or deleted user, ended or revoked session, deleted service
//!   account), read through the same cache. Only an active access token is
//!   described; a refresh token is never active here (authd's refresh
//!   tokens are for the Refresh call, and a resource server has no business
//!   holding one), nor is anything else.
//! - **Revocation** ends the session the token belongs to: a refresh token's
//!   (even when its access tokens have expired) or a valid user access
//!   token's, audited as a Logout saying which client asked. The two kinds
//!   are told apart by their shape, so the `token_type_hint` changes
//!   nothing (§2.1 lets the server ignore it). A token that is unknown,
//!   malformed or already invalid ends nothing and is not audited (§2.2:
//!   the answer is the same 200, and no one grows the audit log for free).
//!   A service account's access token belongs to no session and cannot be
//!   revoked: it stays valid until its `exp` (minutes); the answer says so
//!   ([`Revocation::Unsupported`], §2.2.1's `unsupported_token_type`)
//!   instead of a 200 that would make the client believe it was revoked.
//!   Deleting the service account stops all its tokens at once.
//!
//! Must not: say why a token is inactive (RFC 7662 §2.2 answers just
//! `{"active": false}`), log or audit a token.

use secrecy::{ExposeSecret as _, SecretString};

use super::{AuthCore, ClientInfo, Principal, Verification};
use crate::error::Result;
use crate::store::{EndReason, ServiceAccount};
use crate::token::refresh;

/// An OAuth2 client's credentials as presented (RFC 6749 §2.3.1), and where
/// it called from (its failures are throttled per address). `Debug` hides
/// the secret.
#[derive(Debug)]
pub struct ClientCredentials {
    /// The client id (a service account's).
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
    /// The caller's address and user agent.
    pub client: ClientInfo,
}

/// What a revocation request did (RFC 7009 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The token's session ended now.
    Ended,
    /// Nothing to end: the token is unknown, malformed, or already invalid
    /// (its session ended, its user disabled ...). Still a success (§2.2).
    NothingToEnd,
    /// A valid service account's access token: it has no session, and
    /// authd keeps no list of revoked tokens, so it stays valid until it
    /// expires (§2.2.1 `unsupported_token_type`).
    Unsupported,
}

impl AuthCore {
    /// The client's service account, if its credentials are right.
    async fn oauth_client(
        &self,
        credentials: &ClientCredentials,
        now: i64,
    ) -> Result<ServiceAccount> {
        let account = self
            .authenticate_client(
                &credentials.client_id,
                &credentials.client_secret,
                &credentials.client,
                now,
            )
            .await?;
        tracing::Span::current().record("user_id", account.id.as_str());
        Ok(account)
    }

    /// Introspects `token` for an authenticated client (RFC 7662): whose
    /// active access token it is, or `None` for anything that is not one
    /// (invalid for any reason, or a refresh token).
    ///
    /// # Errors
    /// The client's authentication failing (as
    /// [`Self::authenticate_client`]); authd unable to read the state it
    /// needs (never answered as inactive, which would be a guess).
    pub async fn introspect(
        &self,
        credentials: &ClientCredentials,
        token: &SecretString,
        now: i64,
    ) -> Result<Option<Principal>> {
        self.oauth_client(credentials, now).await?;
        Ok(match self.verify(token.expose_secret(), now).await? {
            Verification::Valid { user, claims } => Some(Principal::User { user, claims }),
            Verification::ValidServiceAccount { account, claims } => {
                Some(Principal::ServiceAccount { account, claims })
            }
            Verification::Invalid(_) => None,
        })
    }

    /// Revokes `token` for an authenticated client (RFC 7009): ends the
    /// session of a refresh token or of a valid user's access token, and
    /// audits it as a Logout naming the client.
    ///
    /// # Errors
    /// The client's authentication failing (as
    /// [`Self::authenticate_client`]); database errors.
    pub async fn revoke(
        &self,
        credentials: &ClientCredentials,
        token: &SecretString,
        now: i64,
    ) -> Result<Revocation> {
        let client = self.oauth_client(credentials, now).await?;
        let by = format!(
            "revoked by OAuth2 client {} (service account {})",
            client.client_id, client.name
        );
        let token = token.expose_secret();
        if refresh::looks_valid(token) {
            let ended = self
                .end_refresh_token_session(
                    token,
                    Some(&by),
                    credentials.client.addr.as_deref(),
                    now,
                )
                .await?;
            return Ok(if ended {
                Revocation::Ended
            } else {
                Revocation::NothingToEnd
            });
        }
        match self.verify(token, now).await? {
            Verification::Valid { user, claims } => {
                if !self
                    .end_session(&claims.sid, EndReason::Logout, now)
                    .await?
                {
                    // A concurrent call ended it first.
                    return Ok(Revocation::NothingToEnd);
                }
                self.audit_session_end(
                    Some(&user),
                    Some(&user.id),
                    &claims.sid,
                    Some(&by),
                    credentials.client.addr.as_deref(),
                    now,
                )
                .await;
                Ok(Revocation::Ended)
            }
            Verification::ValidServiceAccount { .. } => Ok(Revocation::Unsupported),
            Verification::Invalid(_) => Ok(Revocation::NothingToEnd),
        }
    }
}
