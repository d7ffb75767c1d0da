//! Access tokens: issuing and verifying JWTs.
//!
//! This module owns the token format and every check a token must pass. It
//! knows nothing of users beyond the claims it writes; whether the user
//! still exists and is active is the service layer's question.
//!
//! Verification is strict and fail-closed: the header is parsed first, the
//! key is chosen by `kid` only from keys authd holds in memory (never from
//! the token), the header's `alg` must be the algorithm pinned to that key,
//! and `exp`, `nbf`, `iat`, `iss`, `aud`, `sub` and `jti` must all be present
//! with the right JSON types. `exp` and `nbf` are checked against a `now`
//! passed in by the caller, so expiry is testable without sleeping. Nothing
//! here reads the time itself (the verified-token cache included): every
//! `now` comes from the app's one [`crate::clock::Clock`], by way of the
//! service.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::user::User;

pub mod bearer;
pub mod client_secret;
pub mod kek;
mod keygen;
pub mod keys;
pub mod refresh;
pub mod rotation;
pub mod settings;
pub mod verified;

#[cfg(test)]
mod proptests;

pub use keys::{KeySet, SigningKey};

/// Longest token Verify looks at by default; longer input is malformed
/// before any parsing (`--max-token-bytes`).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The claims of an authd access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Not before, Unix seconds.
    pub nbf: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// The session the token belongs to; ending the session revokes it.
    /// Empty (and absent from the JWT) in a service account's token, which
    /// has no session.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
    /// The user's roles when the token was issued.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The kind of principal `sub` names: absent for a user (every token
    /// before service accounts), [`SERVICE_ACCOUNT_PTYP`] for a service
    /// account. Anything else is refused as malformed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptyp: Option<String>,
    /// A service account's OAuth2 client id (RFC 9068 `client_id`); absent
    /// in a user's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user's external id (the id they have in the system they were
    /// imported from, e.g. a Django primary key), so that system maps the
    /// token to its own row; absent when the user has none, and in a service
    /// account's token. Informational: no check depends on it, and a token
    /// without it is as valid as one with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
}

/// The `ptyp` claim of a service account's token.
pub const SERVICE_ACCOUNT_PTYP: &str = "service_account";

impl Claims {
    /// Whether the token names a service account (its `ptyp` says so).
    #[must_use]
    pub fn is_service_account(&self) -> bool {
        self.ptyp.as_deref() == Some(SERVICE_ACCOUNT_PTYP)
    }
}

/// The `aud` claim: a string or an array of strings (RFC 7519 allows both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences as a list.
    #[must_use]
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(a) => vec![a.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// Why a token is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// Not a well-formed authd JWT.
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// No `kid`, or one authd does not hold.
    UnknownKey,
    /// `exp` has passed.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iss` is not ours.
    WrongIssuer,
    /// `aud` does not include ours.
    WrongAudience,
    /// The user no longer exists.
    UserNotFound,
    /// The user is disabled.
    UserDisabled,
    /// The header's `alg` is not the key's algorithm (including `none`).
    AlgorithmMismatch,
    /// The session was revoked (by an administrator, or on refresh token reuse).
    Revoked,
    /// The session ended: logout, logout of all sessions, eviction, or its lifetime ran out.
    SessionEnded,
    /// The user's password changed after the token was issued.
    PasswordChanged,
    /// The user's roles changed after the token was issued.
    RolesChanged,
    /// The token's service account has been deleted.
    ServiceAccountNotFound,
}

impl InvalidReason {
    /// A short human-readable description, for messages to callers.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Malformed => "the token is malformed",
            Self::BadSignature => "the token's signature is invalid",
            Self::UnknownKey => "the token was signed by an unknown key",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::WrongIssuer => "the token was issued by someone else",
            Self::WrongAudience => "the token is meant for another audience",
            Self::UserNotFound => "the token's user no longer exists",
            Self::UserDisabled => "the token's user is disabled",
            Self::AlgorithmMismatch => "the token's algorithm is not allowed",
            Self::Revoked => "the token's session was revoked",
            Self::SessionEnded => "the token's session has ended",
            Self::PasswordChanged => "the password changed since the token was issued",
            Self::RolesChanged => "the roles changed since the token was issued",
            Self::ServiceAccountNotFound => "the token's service account no longer exists",
        }
    }
}

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
    leeway: i64,
    max_token_bytes: usize,
    /// Tokens whose signature and claims already checked out.
    verified: Arc<verified::VerifiedTokens>,
    /// Prepared per algorithm once, not per call.
    validations: Arc<HashMap<Algorithm, jsonwebtoken::Validation>>,
}

/// Just enough of the JOSE header to choose a key; parsed before anything
/// else. Duplicate members make it malformed (serde refuses them). Headers
/// that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are ignored: keys come
/// only from authd's own key set.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    /// RFC 7515 §4.1.11: a token naming extensions the recipient must
    /// understand is refused, since authd understands none.
    crit: Option<serde::de::IgnoredAny>,
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
        let issuer_for_validation = issuer.clone();
        let audience_for_validation = audience.clone();
        Self {
            keys,
            issuer,
            audience,
            ttl,
            leeway: i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX),
            max_token_bytes: MAX_TOKEN_BYTES,
            verified: Arc::new(verified::VerifiedTokens::new(
                DEFAULT_VERIFIED_CACHE_ENTRIES,
                DEFAULT_VERIFIED_CACHE_TTL_SECS,
            )),
            validations: Arc::new(
                [
                    Algorithm::EdDSA,
                    Algorithm::ES256,
                    Algorithm::RS256,
                    Algorithm::HS256,
                ]
                .into_iter()
                .map(|alg| {
                    (
                        alg,
                        validation_for(alg, &issuer_for_validation, &audience_for_validation),
                    )
                })
                .collect(),
            ),
        }
    }

    /// Sets the verified-token cache's size (0 turns it off) and TTL.
    #[must_use]
    pub fn with_verified_cache(mut self, max_entries: usize, ttl: Duration) -> Self {
        self.verified = Arc::new(verified::VerifiedTokens::new(
            max_entries,
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ));
        self
    }

    /// The verified-token cache (its counters are observable).
    #[must_use]
    pub fn verified_cache(&self) -> &verified::VerifiedTokens {
        &self.verified
    }

    /// Sets the longest token Verify will parse.
    #[must_use]
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
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

    /// Checks `token` at time `now` and returns its claims.
    ///
    /// # Errors
    /// The first [`InvalidReason`] found.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, InvalidReason> {
        if token.is_empty() || token.len() > self.max_token_bytes {
            return Err(InvalidReason::Malformed);
        }
        if let Some((claims, kid)) = self.verified.get(token, now) {
            // Seen and verified before: only what can change is re-checked.
            if self.keys.get(&kid).is_none() {
                return Err(InvalidReason::UnknownKey);
            }
            self.check_time(&claims, now)?;
            return Ok(Claims::clone(&claims));
        }
        let mut segments = token.split('.');
        let header_b64 = segments.next().unwrap_or_default();
        let payload_b64 = segments.next().unwrap_or_default();
        if segments.count() != 1 {
            return Err(InvalidReason::Malformed);
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| InvalidReason::Malformed)?;
        let payload_json = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| InvalidReason::Malformed)?;
        if !shallow_json(&header_json) || !shallow_json(&payload_json) {
            return Err(InvalidReason::Malformed);
        }
        let header: RawHeader =
            serde_json::from_slice(&header_json).map_err(|_| InvalidReason::Malformed)?;
        if header.crit.is_some() {
            return Err(InvalidReason::Malformed);
        }
        let alg: Algorithm = header
            .alg
            .parse()
            .map_err(|_| InvalidReason::AlgorithmMismatch)?;
        let kid = header.kid.ok_or(InvalidReason::UnknownKey)?;
        let key = self.keys.get(&kid).ok_or(InvalidReason::UnknownKey)?;
        if key.algorithm != alg {
            return Err(InvalidReason::AlgorithmMismatch);
        }

        let validation = self
            .validations
            .get(&key.algorithm)
            .ok_or(InvalidReason::AlgorithmMismatch)?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, validation).map_err(
            |e| match e.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidEddsaKey => InvalidReason::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                    InvalidReason::AlgorithmMismatch
                }
                ErrorKind::InvalidIssuer => InvalidReason::WrongIssuer,
                ErrorKind::InvalidAudience => InvalidReason::WrongAudience,
                _ => InvalidReason::Malformed,
            },
        )?;
        let claims = data.claims;
        self.check_time(&claims, now)?;
        self.verified.put(
            token,
            Arc::new(claims.clone()),
            &kid,
            claims.exp.saturating_add(self.leeway),
            now,
        );
        Ok(claims)
    }

    fn check_time(&self, claims: &Claims, now: i64) -> Result<(), InvalidReason> {
        if now >= claims.exp.saturating_add(self.leeway) {
            return Err(InvalidReason::Expired);
        }
        // A token "issued" in the future is as unusable as one not yet valid.
        if claims.nbf > now.saturating_add(self.leeway)
            || claims.iat > now.saturating_add(self.leeway)
        {
            return Err(InvalidReason::NotYetValid);
        }
        Ok(())
    }
}

/// Default size of the verified-token cache.
pub const DEFAULT_VERIFIED_CACHE_ENTRIES: usize = 100_000;
/// Default longest time a verified token is remembered.
pub const DEFAULT_VERIFIED_CACHE_TTL_SECS: i64 = 300;

/// The jsonwebtoken checks for `alg`: required claims, issuer and audience;
/// time is checked by authd against the caller's `now`.
fn validation_for(alg: Algorithm, issuer: &str, audience: &str) -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation
}

/// Deepest JSON nesting accepted in a token's header or claims (authd's own
/// tokens need 2: the `roles` array inside the claims object).
const MAX_JSON_DEPTH: usize = 8;

/// Whether `json` nests no deeper than [`MAX_JSON_DEPTH`], counting brackets
/// outside strings. Cheap, and bounds the work any JSON parser does later.
fn shallow_json(json: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Builds a [`KeySet`] index; shared with [`keys`].
fn index(keys: Vec<Arc<SigningKey>>) -> HashMap<String, Arc<SigningKey>> {
    keys.into_iter().map(|k| (k.kid.clone(), k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_is_counted_outside_strings_only() {
        assert!(shallow_json(br#"{"roles":["a","b"]}"#));
        assert!(shallow_json(br#"{"x":"[[[[[[[[[[[[[[[["}"#));
        assert!(shallow_json(br#"{"x":"\"[[[[[[[[[[[[[[[[\""}"#));
        assert!(!shallow_json(&[b'['; 9]));
        assert!(shallow_json(&[b'['; 8]));
    }
}
