//! Conversions between domain types and `auth.v1` messages.

use super::pb;
use crate::token::{Claims, InvalidReason};
use crate::user::User;

pub(super) fn timestamp(unix: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix,
        nanos: 0,
    }
}

pub(super) fn user(user: User) -> pb::User {
    pb::User {
        id: user.id,
        username: user.username,
        email: user.email.unwrap_or_default(),
        active: user.active,
        roles: user.roles,
        created_at: Some(timestamp(user.created_at)),
        last_login_at: user.last_login_at.map(timestamp),
    }
}

pub(super) fn claims(claims: Claims) -> pb::Claims {
    pb::Claims {
        aud: claims.aud.to_vec(),
        sub: claims.sub,
        iat: claims.iat,
        nbf: claims.nbf,
        exp: claims.exp,
        jti: claims.jti,
        iss: claims.iss,
        roles: claims.roles,
    }
}

pub(super) fn reason(reason: InvalidReason) -> pb::InvalidReason {
    match reason {
        InvalidReason::Malformed => pb::InvalidReason::Malformed,
        InvalidReason::BadSignature => pb::InvalidReason::BadSignature,
        InvalidReason::UnknownKey => pb::InvalidReason::UnknownKey,
        InvalidReason::Expired => pb::InvalidReason::Expired,
        InvalidReason::NotYetValid => pb::InvalidReason::NotYetValid,
        InvalidReason::WrongIssuer => pb::InvalidReason::WrongIssuer,
        InvalidReason::WrongAudience => pb::InvalidReason::WrongAudience,
        InvalidReason::UserNotFound => pb::InvalidReason::UserNotFound,
        InvalidReason::UserDisabled => pb::InvalidReason::UserDisabled,
        InvalidReason::AlgorithmMismatch => pb::InvalidReason::AlgorithmMismatch,
    }
}
