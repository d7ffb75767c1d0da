//! Access tokens: issuing and verifying JWTs.
//!
//! This module owns the token format and every check a token must pass. It
//! knows nothing of users beyond the claims it writes; whether the user
//! still exists and is active is the service layer's question.
//!
//! Verification is strict and fail-closed, and its rules are not written
//! here: they live in the `authd-token` crate (`crates/authd-token`), which
//! the client libraries that verify tokens in their own process use too, so
//! a token cannot be valid to one and invalid to the other. This module
//! gives those rules authd's keys ([`KeySet`] is their
//! [`authd_token::KeyLookup`]) and issues the tokens. Nothing here reads the
//! time itself (the verified-token cache included): every `now` comes from
//! the app's one [`crate::clock::Clock`], by way of the service.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use authd_token::{Checker, Rules};
use jsonwebtoken::Header;

use crate::error::{Error, Result};
use crate::user::User;

/// The `Authorization: Bearer` rules ext_authz and forward-auth share (and
/// the Rust client's layer: they live in the shared crate).
pub use authd_token::bearer;
pub mod client_secret;
pub mod kek;
mod keygen;
pub mod keys;
pub mod refresh;
pub mod rotation;
pub mod settings;

#[cfg(test)]
mod proptests;

pub use keys::{KeySet, SigningKey};

// The token rules shared with the client libraries (`crates/authd-token`),
// re-exported so the rest of the server names them as before.
pub use authd_token::{
    Audience, Claims, DEFAULT_VERIFIED_CACHE_ENTRIES, DEFAULT_VERIFIED_CACHE_TTL_SECS,
    InvalidReason, MAX_TOKEN_BYTES, PrincipalKind, SERVICE_ACCOUNT_PTYP, principal_kind, verified,
};

/// A freshly signed token and its claims (`Debug` shows the claims only).
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// What it says.
    pub claims: Claims,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("claims", &self.claims)
            .finish()
    }
}

/// Issues and verifies access tokens with one key set.
#[derive(Debug, Clone)]
pub struct TokenService {
    keys: Arc<KeySet>,
    issuer: String,
    audience: String,
    ttl: Duration,
    /// The shared rules (`authd_token`), with the verified-token cache.
    checker: Arc<Checker>,
}

impl TokenService {
    /// A token service over `keys`.
    #[must_use]
    pub fn new(
        keys: Arc<KeySet>,
        issuer: String,
        audience: String,
        ttl: Duration,
        leeway: Duration,
    ) -> Self {
        let leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        let checker = Checker::new(
            Rules::new(issuer.clone(), audience.clone(), leeway),
            DEFAULT_VERIFIED_CACHE_ENTRIES,
            DEFAULT_VERIFIED_CACHE_TTL_SECS,
        );
        Self {
            keys,
            issuer,
            audience,
            ttl,
            checker: Arc::new(checker),
        }
    }

    /// Sets the verified-token cache's size (0 turns it off) and TTL.
    #[must_use]
    pub fn with_verified_cache(mut self, max_entries: usize, ttl: Duration) -> Self {
        self.checker = Arc::new(Checker::new(
            self.checker.rules().clone(),
            max_entries,
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ));
        self
    }

    /// The verified-token cache (its counters are observable).
    #[must_use]
    pub fn verified_cache(&self) -> &verified::VerifiedTokens {
        self.checker.verified_cache()
    }

    /// Sets the longest token Verify will parse.
    #[must_use]
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        let cache = self.checker.verified_cache();
        let rules = Rules {
            max_token_bytes: max,
            ..self.checker.rules().clone()
        };
        self.checker = Arc::new(Checker::new(rules, cache.max_entries(), cache.ttl_secs()));
        self
    }

    /// The rules tokens are checked with (what the revocation stream's
    /// hello tells local verifiers).
    #[must_use]
    pub fn rules(&self) -> &Rules {
        self.checker.rules()
    }

    /// The live key set (for JWKS endpoints).
    #[must_use]
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// The access token lifetime.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `user` in session `sid`, valid from `now` for the
    /// configured lifetime but never past `not_after` (the session's end).
    ///
    /// # Errors
    /// [`Error::Internal`] if signing fails (a broken key).
    pub fn issue(&self, user: &User, sid: &str, not_after: i64, now: i64) -> Result<IssuedToken> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user.id.clone(),
            aud: Audience::One(self.audience.clone()),
            exp: now.saturating_add(ttl).min(not_after),
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: sid.to_owned(),
            roles: user.roles.clone(),
            ptyp: None,
            client_id: None,
            ext: user.external_id.clone(),
        };
        self.sign(claims)
    }

    /// The audience tokens are issued for and checked against.
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs a token for the service account `account`, valid from `now`
    /// for the configured lifetime: no session, its roles, `ptyp` and
    /// `client_id` saying it is a machine's.
    ///
    /// # Errors
    /// [`Error::Internal`] if signing fails (a broken key).
    pub fn issue_service(
        &self,
        account: &crate::store::ServiceAccount,
        now: i64,
    ) -> Result<IssuedToken> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        self.sign(Claims {
            iss: self.issuer.clone(),
            sub: account.id.clone(),
            aud: Audience::One(self.audience.clone()),
            exp: now.saturating_add(ttl),
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: String::new(),
            roles: account.roles.clone(),
            ptyp: Some(SERVICE_ACCOUNT_PTYP.to_owned()),
            client_id: Some(account.client_id.clone()),
            ext: None,
        })
    }

    fn sign(&self, claims: Claims) -> Result<IssuedToken> {
        let key = self.keys.signing()?;
        let mut header = Header::new(key.algorithm);
        header.kid = Some(key.kid.clone());
        let encoding = key
            .encoding
            .as_ref()
            .ok_or_else(|| Error::internal_msg("signing a token", "the key cannot sign"))?;
        let token = jsonwebtoken::encode(&header, &claims, encoding)
            .map_err(|e| Error::internal("signing a token", e))?;
        Ok(IssuedToken { token, claims })
    }

    /// Checks `token` at time `now` and returns its claims: the shared
    /// rules of [`authd_token::Checker`] with this service's keys.
    ///
    /// # Errors
    /// The first [`InvalidReason`] found.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, InvalidReason> {
        self.checker
            .verify(token, now, &*self.keys)
            .map(|claims| Claims::clone(&claims))
    }
}

/// Builds a [`KeySet`] index; shared with [`keys`].
fn index(keys: Vec<Arc<SigningKey>>) -> HashMap<String, Arc<SigningKey>> {
    keys.into_iter().map(|k| (k.kid.clone(), k)).collect()
}
