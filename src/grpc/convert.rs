//! Conversions between domain types and `auth.v1` messages.

use super::pb;
use crate::service::SessionInfo;
use crate::token::{Claims, InvalidReason, KeySet};
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
        sid: claims.sid,
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
        InvalidReason::Revoked => pb::InvalidReason::Revoked,
        InvalidReason::SessionEnded => pb::InvalidReason::SessionEnded,
        InvalidReason::PasswordChanged => pb::InvalidReason::PasswordChanged,
        InvalidReason::RolesChanged => pb::InvalidReason::RolesChanged,
    }
}

pub(super) fn session(info: SessionInfo) -> pb::Session {
    let s = info.session;
    pb::Session {
        id: s.id,
        created_at: Some(timestamp(s.created_at)),
        last_used_at: Some(timestamp(s.last_used_at)),
        expires_at: Some(timestamp(s.expires_at)),
        client_address: s.client_addr.unwrap_or_default(),
        user_agent: s.user_agent.unwrap_or_default(),
        current: info.current,
    }
}

pub(super) fn jwks(keys: &KeySet) -> pb::GetJwksResponse {
    let published = keys.published();
    pb::GetJwksResponse {
        keys: published
            .iter()
            .filter_map(|key| {
                let jwk = key.jwk.as_ref()?;
                Some(pb::Jwk {
                    kty: jwk.kty.to_owned(),
                    kid: jwk.kid.clone(),
                    alg: jwk.alg.to_owned(),
                    r#use: jwk.use_.to_owned(),
                    crv: jwk.crv.unwrap_or_default().to_owned(),
                    x: jwk.x.clone().unwrap_or_default(),
                    y: jwk.y.clone().unwrap_or_default(),
                    n: jwk.n.clone().unwrap_or_default(),
                    e: jwk.e.clone().unwrap_or_default(),
                    status: key.state.as_str().to_owned(),
                })
            })
            .collect(),
        // From the same snapshot as `keys`, even if a reload happens meanwhile.
        jwks_json: crate::token::keys::jwks_document(&published),
    }
}
