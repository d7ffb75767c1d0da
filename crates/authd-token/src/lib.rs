//! The rules an authd access token must pass, shared by the server and the
//! client libraries that verify tokens in their own process.
//!
//! Verification is strict and fail-closed: the header is parsed first, the
//! key is chosen by `kid` only from keys the caller holds (never from the
//! token), the header's `alg` must be the algorithm pinned to that key, and
//! `exp`, `nbf`, `iat`, `iss`, `aud`, `sub` and `jti` must all be present
//! with the right JSON types. `exp`, `nbf` and `iat` are checked against a
//! `now` passed in by the caller, so expiry is testable without sleeping;
//! nothing here reads the time, the settings or a database.
//!
//! What is *not* here is whether the token is still allowed: its user,
//! session or service account may have ended since it was signed. The
//! server answers that from its state cache, a client from the revocation
//! stream (`WatchRevocations`); both then apply [`principal_kind`]'s shape
//! rules and report one of the same [`InvalidReason`]s.
//!
//! # Layout
//! - this file: the [`Claims`], the [`InvalidReason`]s and the shape rules
//!   of a user's and a service account's token;
//! - [`check`]: [`Rules`] and the [`Checker`] that applies them to a token
//!   with keys from a [`KeyLookup`];
//! - [`verified`]: the bounded cache of tokens whose signature and claims
//!   already checked out;
//! - [`bearer`]: the `Authorization: Bearer` header rules.

use serde::{Deserialize, Serialize};

pub mod bearer;
pub mod check;
pub mod verified;

pub use check::{Checker, KeyLookup, Rules, VerificationKey};
pub use jsonwebtoken::{Algorithm, DecodingKey};
pub use verified::VerifiedTokens;

/// Longest token verified by default; longer input is malformed before any
/// parsing (the server's `--max-token-bytes`).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Default size of the verified-token cache.
pub const DEFAULT_VERIFIED_CACHE_ENTRIES: usize = 100_000;
/// Default longest time a verified token is remembered, in seconds.
pub const DEFAULT_VERIFIED_CACHE_TTL_SECS: i64 = 300;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidReason {
    /// Not a well-formed authd JWT.
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// No `kid`, or one the verifier does not hold.
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
    /// Every reason, in the order of the proto enum.
    pub const ALL: [Self; 15] = [
        Self::Malformed,
        Self::BadSignature,
        Self::UnknownKey,
        Self::Expired,
        Self::NotYetValid,
        Self::WrongIssuer,
        Self::WrongAudience,
        Self::UserNotFound,
        Self::UserDisabled,
        Self::AlgorithmMismatch,
        Self::Revoked,
        Self::SessionEnded,
        Self::PasswordChanged,
        Self::RolesChanged,
        Self::ServiceAccountNotFound,
    ];

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

    /// The proto enum value's name without its `INVALID_REASON_` prefix,
    /// for example `SESSION_ENDED`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Malformed => "MALFORMED",
            Self::BadSignature => "BAD_SIGNATURE",
            Self::UnknownKey => "UNKNOWN_KEY",
            Self::Expired => "EXPIRED",
            Self::NotYetValid => "NOT_YET_VALID",
            Self::WrongIssuer => "WRONG_ISSUER",
            Self::WrongAudience => "WRONG_AUDIENCE",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::UserDisabled => "USER_DISABLED",
            Self::AlgorithmMismatch => "ALGORITHM_MISMATCH",
            Self::Revoked => "REVOKED",
            Self::SessionEnded => "SESSION_ENDED",
            Self::PasswordChanged => "PASSWORD_CHANGED",
            Self::RolesChanged => "ROLES_CHANGED",
            Self::ServiceAccountNotFound => "SERVICE_ACCOUNT_NOT_FOUND",
        }
    }
}

/// Which kind of principal a token whose signature and claims checked out
/// names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user's token: no `ptyp`, and a session (`sid`).
    User,
    /// A service account's token: `ptyp` says so, a `client_id`, no session.
    ServiceAccount,
}

/// The shape rules of the two kinds of token, applied after the
/// [`Checker`]'s: a user's token must name its session; a service
/// account's must say so in `ptyp`, carry its `client_id` and name no
/// session. Anything else (an unknown `ptyp` included) is malformed.
///
/// # Errors
/// [`InvalidReason::Malformed`] when the claims fit neither shape.
pub fn principal_kind(claims: &Claims) -> Result<PrincipalKind, InvalidReason> {
    match claims.ptyp {
        None if claims.sid.is_empty() => Err(InvalidReason::Malformed),
        None => Ok(PrincipalKind::User),
        Some(_) if !claims.is_service_account() || !claims.sid.is_empty() => {
            Err(InvalidReason::Malformed)
        }
        Some(_) if claims.client_id.is_none() => Err(InvalidReason::Malformed),
        Some(_) => Ok(PrincipalKind::ServiceAccount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "authd".into(),
            sub: "u".into(),
            aud: Audience::One("authd".into()),
            exp: 100,
            nbf: 0,
            iat: 0,
            jti: "j".into(),
            sid: "s".into(),
            roles: vec![],
            ptyp: None,
            client_id: None,
            ext: None,
        }
    }

    #[test]
    fn a_users_token_needs_a_session_and_a_service_accounts_a_client_id_and_none() {
        assert_eq!(principal_kind(&claims()), Ok(PrincipalKind::User));
        let no_session = Claims {
            sid: String::new(),
            ..claims()
        };
        assert_eq!(principal_kind(&no_session), Err(InvalidReason::Malformed));
        let machine = Claims {
            sid: String::new(),
            ptyp: Some(SERVICE_ACCOUNT_PTYP.into()),
            client_id: Some("sa-1".into()),
            ..claims()
        };
        assert_eq!(principal_kind(&machine), Ok(PrincipalKind::ServiceAccount));
        for bad in [
            Claims {
                sid: "s".into(),
                ..machine.clone()
            },
            Claims {
                client_id: None,
                ..machine.clone()
            },
            Claims {
                ptyp: Some("robot".into()),
                ..machine.clone()
            },
        ] {
            assert_eq!(
                principal_kind(&bad),
                Err(InvalidReason::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reason_names_are_distinct_and_upper_snake_case() {
        let names: std::collections::HashSet<_> =
            InvalidReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), InvalidReason::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        );
    }
}
