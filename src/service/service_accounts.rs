//! Service accounts: machine identities with OAuth2 client credentials.
//!
//! SKELETON: the interface the HTTP `/oauth2/token` endpoint and
//! `AuthService.IssueServiceToken` call; implemented on the
//! service-accounts branch.

use secrecy::SecretString;

use super::{AuthCore, ClientInfo};
use crate::error::{Error, Result};
use crate::token::IssuedToken;

impl AuthCore {
    /// Checks a service account's client id and secret (throttled per
    /// client id and per address, like passwords) and issues it an access
    /// token for `audience` (`None`: the configured one).
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`]-like `UNAUTHENTICATED` for an unknown
    /// client id or a wrong secret (the same answer), [`Error::Throttled`]
    /// after too many failures, [`Error::InvalidArgument`] for a malformed
    /// field or an audience other than the configured one.
    pub async fn issue_service_token(
        &self,
        client_id: &str,
        client_secret: SecretString,
        audience: Option<&str>,
        client: ClientInfo,
        now: i64,
    ) -> Result<IssuedToken> {
        let _ = (client_id, client_secret, audience, client, now);
        tokio::task::yield_now().await;
        Err(Error::FailedPrecondition(
            "service accounts are not implemented yet".to_owned(),
        ))
    }
}
