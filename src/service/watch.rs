//! Who may watch the revocation stream, and what its hello says: the
//! decision in front of [`RevocationHub::watch`].

use std::sync::Arc;

use super::AuthCore;
use super::users::is_admin;
use super::verify::Principal;
use crate::error::{Error, Result};
use crate::revocations::{Cursor, RevocationHub, Rules, Watch};

impl AuthCore {
    /// Opens a revocation stream for a caller admitted by `cert_admitted`
    /// (an allowed client certificate, when `--admin-clients` is set) or by
    /// its bearer token: a service account's, or a user's holding the
    /// `admin` role (in the token and as stored now). `cursor` is the
    /// caller's last cursor, empty for a fresh start.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] without a valid token (and no admitted
    /// certificate), [`Error::PermissionDenied`] for a user without the
    /// role, [`Error::InvalidArgument`] on `cursor` for one this service did
    /// not write, [`Error::Unavailable`] when the snapshot cannot be read.
    pub async fn watch_revocations(
        &self,
        bearer: Option<&str>,
        cert_admitted: bool,
        cursor: &str,
        now: i64,
    ) -> Result<Watch> {
        if !cert_admitted {
            match self.authenticate_principal(bearer, now).await? {
                Principal::ServiceAccount { .. } => {}
                Principal::User { user, claims } => {
                    if !is_admin(&user, &claims) {
                        return Err(Error::PermissionDenied(
                            "WatchRevocations needs a service account's token or a user's \
                             with the `admin` role"
                                .to_owned(),
                        ));
                    }
                }
            }
        }
        let cursor = if cursor.is_empty() {
            None
        } else {
            Some(Cursor::decode(cursor)?)
        };
        let hub = self.revocations()?;
        hub.watch(cursor, self.revocation_rules()).await
    }

    /// The token rules a local verifier must apply, for the stream's hello.
    fn revocation_rules(&self) -> Rules {
        let rules = self.tokens.rules();
        Rules {
            issuer: rules.issuer.clone(),
            audience: rules.audience.clone(),
            leeway_secs: rules.leeway_secs,
            max_token_bytes: i64::try_from(rules.max_token_bytes).unwrap_or(i64::MAX),
            max_token_lifetime_secs: i64::try_from(self.tokens.ttl().as_secs()).unwrap_or(i64::MAX),
        }
    }

    fn revocations(&self) -> Result<&Arc<RevocationHub>> {
        self.revocations.as_ref().ok_or_else(|| {
            Error::internal_msg("watching revocations", "this server has no revocation hub")
        })
    }
}
