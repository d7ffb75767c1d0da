//! Conversions between domain types and `auth.v1` messages.
//!
//! Adapter only: plain field-by-field mapping, no checks and no I/O. Public
//! so the micro-benchmarks (`benches/verify.rs`) can measure what every
//! Verify answer costs to build.

use super::pb;
use crate::revocations::{AccountChange, Revocation, UserChange, WatchItem};
use crate::service::SessionInfo;
use crate::store::ServiceAccount;
use crate::token::{Claims, InvalidReason, KeySet};
use crate::user::User;

/// A Unix time in seconds as a protobuf `Timestamp`.
#[must_use]
pub fn timestamp(unix: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix,
        nanos: 0,
    }
}

/// A user as the `auth.v1.User` message (a missing email or external id becomes `""`).
#[must_use]
pub fn user(user: User) -> pb::User {
    pb::User {
        id: user.id,
        username: user.username,
        email: user.email.unwrap_or_default(),
        active: user.active,
        roles: user.roles,
        created_at: Some(timestamp(user.created_at)),
        last_login_at: user.last_login_at.map(timestamp),
        external_id: user.external_id.unwrap_or_default(),
    }
}

/// Verified claims as the `auth.v1.Claims` message.
#[must_use]
pub fn claims(claims: Claims) -> pb::Claims {
    let principal_type = if claims.is_service_account() {
        pb::PrincipalType::ServiceAccount
    } else {
        pb::PrincipalType::User
    };
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
        principal_type: principal_type.into(),
        client_id: claims.client_id.unwrap_or_default(),
        external_id: claims.ext.unwrap_or_default(),
    }
}

/// A service account as the `auth.v1.ServiceAccount` message (never a secret).
#[must_use]
pub fn service_account(account: ServiceAccount) -> pb::ServiceAccount {
    pb::ServiceAccount {
        id: account.id,
        name: account.name,
        description: account.description,
        roles: account.roles,
        client_id: account.client_id,
        created_at: Some(timestamp(account.created_at)),
        last_used_at: account.last_used_at.map(timestamp),
    }
}

/// Why a token is invalid, as the `auth.v1.InvalidReason` enum.
#[must_use]
pub fn reason(reason: InvalidReason) -> pb::InvalidReason {
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
        InvalidReason::ServiceAccountNotFound => pb::InvalidReason::ServiceAccountNotFound,
    }
}

/// A session (and whether it is the caller's) as the `auth.v1.Session` message.
#[must_use]
pub fn session(info: SessionInfo) -> pb::Session {
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

/// The published keys of `keys` as a `GetJwks` answer.
#[must_use]
pub fn jwks(keys: &KeySet) -> pb::GetJwksResponse {
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

/// One item of a revocation stream as the `auth.v1.RevocationEvent`
/// message, stamped with the server's time `now` (Unix seconds).
#[must_use]
pub fn revocation_event(item: WatchItem, now: i64) -> pb::RevocationEvent {
    use pb::revocation_event::Event;
    let (cursor, event) = match item {
        WatchItem::Hello {
            rules,
            heartbeat_interval,
            resumed,
            reset_reason,
            cursor,
        } => (
            cursor.unwrap_or_default(),
            Event::Hello(pb::RevocationHello {
                issuer: rules.issuer,
                audience: rules.audience,
                leeway_seconds: rules.leeway_secs,
                max_token_bytes: rules.max_token_bytes,
                max_token_lifetime_seconds: rules.max_token_lifetime_secs,
                heartbeat_interval: prost_types::Duration::try_from(heartbeat_interval).ok(),
                resumed,
                reset_reason: reset_reason.unwrap_or_default(),
            }),
        ),
        WatchItem::SnapshotEnd { cursor, events } => (
            cursor,
            Event::SnapshotEnd(pb::SnapshotEnd {
                events: i64::try_from(events).unwrap_or(i64::MAX),
            }),
        ),
        WatchItem::Heartbeat { cursor } => (cursor, Event::Heartbeat(pb::Heartbeat {})),
        WatchItem::Revocation { cursor, revocation } => {
            (cursor.unwrap_or_default(), revocation_kind(revocation))
        }
    };
    pb::RevocationEvent {
        cursor,
        server_time: Some(timestamp(now)),
        event: Some(event),
    }
}

fn revocation_kind(revocation: Revocation) -> pb::revocation_event::Event {
    use pb::revocation_event::Event;
    match revocation {
        Revocation::SessionEnded {
            session_id,
            user_id,
            reason: why,
            ended_at,
        } => Event::SessionEnded(pb::SessionEnded {
            session_id,
            user_id,
            reason: reason(why).into(),
            ended_at: Some(timestamp(ended_at)),
        }),
        Revocation::UserChanged {
            user_id,
            change,
            changed_at,
        } => Event::UserChanged(pb::UserChanged {
            user_id,
            change: match change {
                UserChange::Disabled => pb::UserChange::Disabled,
                UserChange::Enabled => pb::UserChange::Enabled,
                UserChange::Deleted => pb::UserChange::Deleted,
                UserChange::Password => pb::UserChange::Password,
                UserChange::Roles => pb::UserChange::Roles,
            }
            .into(),
            changed_at: Some(timestamp(changed_at)),
        }),
        Revocation::ServiceAccountChanged {
            service_account_id,
            change,
            changed_at,
        } => Event::ServiceAccountChanged(pb::ServiceAccountChanged {
            service_account_id,
            change: match change {
                AccountChange::Deleted => pb::ServiceAccountChange::Deleted,
                AccountChange::SecretRotated => pb::ServiceAccountChange::SecretRotated,
            }
            .into(),
            changed_at: Some(timestamp(changed_at)),
        }),
        Revocation::KeysChanged { retired_kids } => {
            Event::KeysChanged(pb::KeysChanged { retired_kids })
        }
    }
}
