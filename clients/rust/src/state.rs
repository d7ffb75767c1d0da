//! The revocation state a verifier checks tokens against, and how each
//! WatchRevocations event changes it.
//!
//! Only what can still matter is held: ended sessions, disabled and deleted
//! users, deleted service accounts. Entries whose tokens have all expired
//! (older than the longest token lifetime plus leeway) are pruned, so the
//! state stays as small as the server's snapshot.

use std::collections::{HashMap, HashSet};

use authd_token::{Claims, InvalidReason, PrincipalKind};

use crate::pb;
use crate::pb::revocation_event::Event;

/// A session that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ended {
    /// Its user; empty when the server did not say.
    user_id: Box<str>,
    /// What Verify answers for its tokens.
    reason: InvalidReason,
    /// When it ended (Unix seconds), for pruning.
    at: i64,
}

/// Everything revoked that a token may still name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Revocations {
    ended_sessions: HashMap<Box<str>, Ended>,
    disabled_users: HashSet<Box<str>>,
    /// Deleted user → when (Unix seconds).
    deleted_users: HashMap<Box<str>, i64>,
    /// Deleted service account → when (Unix seconds).
    deleted_service_accounts: HashMap<Box<str>, i64>,
}

/// One event as a change of [`Revocations`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A session ended.
    SessionEnded {
        session_id: Box<str>,
        user_id: Box<str>,
        reason: InvalidReason,
        at: i64,
    },
    /// A user was disabled.
    UserDisabled(Box<str>),
    /// A user was enabled again (the only change that revokes nothing).
    UserEnabled(Box<str>),
    /// A user was deleted.
    UserDeleted { user_id: Box<str>, at: i64 },
    /// A service account was deleted.
    ServiceAccountDeleted { id: Box<str>, at: i64 },
    /// Nothing for the state: a password or roles change (the sessions it
    /// ended come as their own events) or a rotated secret (tokens stay
    /// valid until `exp`).
    Nothing,
}

/// The reason a `SessionEnded` carries, as the shared crate names it;
/// unset or unknown values still end the session (fail closed).
fn session_reason(value: i32) -> InvalidReason {
    usize::try_from(value)
        .ok()
        .and_then(|v| v.checked_sub(1))
        .and_then(|i| InvalidReason::ALL.get(i).copied())
        .unwrap_or(InvalidReason::SessionEnded)
}

fn seconds(time: Option<&prost_types::Timestamp>, fallback: i64) -> i64 {
    time.map_or(fallback, |t| t.seconds)
}

impl Change {
    /// The change an event's payload makes; `heard_at` (Unix seconds)
    /// stands in for a missing timestamp. `None` for the stream's own
    /// events (hello, snapshot end, heartbeat, keys).
    pub(crate) fn from_event(event: &Event, heard_at: i64) -> Option<Self> {
        Some(match event {
            Event::SessionEnded(e) => Self::SessionEnded {
                session_id: e.session_id.as_str().into(),
                user_id: e.user_id.as_str().into(),
                reason: session_reason(e.reason),
                at: seconds(e.ended_at.as_ref(), heard_at),
            },
            Event::UserChanged(e) => {
                let id: Box<str> = e.user_id.as_str().into();
                match pb::UserChange::try_from(e.change) {
                    // An unknown change of a user: disabling is the safe reading.
                    Ok(pb::UserChange::Disabled | pb::UserChange::Unspecified) | Err(_) => {
                        Self::UserDisabled(id)
                    }
                    Ok(pb::UserChange::Enabled) => Self::UserEnabled(id),
                    Ok(pb::UserChange::Deleted) => Self::UserDeleted {
                        user_id: id,
                        at: seconds(e.changed_at.as_ref(), heard_at),
                    },
                    Ok(pb::UserChange::Password | pb::UserChange::Roles) => Self::Nothing,
                }
            }
            Event::ServiceAccountChanged(e) => {
                match pb::ServiceAccountChange::try_from(e.change) {
                    Ok(pb::ServiceAccountChange::SecretRotated) => Self::Nothing,
                    // Deleted, or a change this client does not know: refuse its tokens.
                    _ => Self::ServiceAccountDeleted {
                        id: e.service_account_id.as_str().into(),
                        at: seconds(e.changed_at.as_ref(), heard_at),
                    },
                }
            }
            Event::Hello(_)
            | Event::SnapshotEnd(_)
            | Event::Heartbeat(_)
            | Event::KeysChanged(_) => {
                return None;
            }
        })
    }

    /// Whether applying the change can only make tokens invalid (everything
    /// but enabling a user): such changes may be applied to a state the
    /// snapshot has not replaced yet.
    pub(crate) fn only_revokes(&self) -> bool {
        !matches!(self, Self::UserEnabled(_))
    }
}

impl Revocations {
    /// Whether a token whose signature and claims checked out, naming a
    /// principal of `kind`, is still allowed; the server's order: for a
    /// user, deleted, then disabled, then the session; for a service
    /// account, deleted.
    pub(crate) fn check(&self, kind: PrincipalKind, claims: &Claims) -> Result<(), InvalidReason> {
        match kind {
            PrincipalKind::User => {
                if self.deleted_users.contains_key(claims.sub.as_str()) {
                    return Err(InvalidReason::UserNotFound);
                }
                if self.disabled_users.contains(claims.sub.as_str()) {
                    return Err(InvalidReason::UserDisabled);
                }
                if let Some(ended) = self.ended_sessions.get(claims.sid.as_str()) {
                    // The server answers a session of another user as revoked
                    // before looking at how it ended.
                    if !ended.user_id.is_empty() && *ended.user_id != *claims.sub {
                        return Err(InvalidReason::Revoked);
                    }
                    return Err(ended.reason);
                }
                Ok(())
            }
            PrincipalKind::ServiceAccount => {
                if self
                    .deleted_service_accounts
                    .contains_key(claims.sub.as_str())
                {
                    return Err(InvalidReason::ServiceAccountNotFound);
                }
                Ok(())
            }
        }
    }

    /// Applies one change (idempotent: a repeated event changes nothing).
    pub(crate) fn apply(&mut self, change: Change) {
        match change {
            Change::SessionEnded {
                session_id,
                user_id,
                reason,
                at,
            } => {
                self.ended_sessions.insert(
                    session_id,
                    Ended {
                        user_id,
                        reason,
                        at,
                    },
                );
            }
            Change::UserDisabled(id) => {
                self.disabled_users.insert(id);
            }
            Change::UserEnabled(id) => {
                self.disabled_users.remove(&id);
            }
            Change::UserDeleted { user_id, at } => {
                self.disabled_users.remove(&user_id);
                self.deleted_users.insert(user_id, at);
            }
            Change::ServiceAccountDeleted { id, at } => {
                self.deleted_service_accounts.insert(id, at);
            }
            Change::Nothing => {}
        }
    }

    /// Forgets what ended before `before` (Unix seconds): every token it
    /// could concern has expired. Disabled users stay until enabled.
    pub(crate) fn prune(&mut self, before: i64) {
        self.ended_sessions.retain(|_, e| e.at >= before);
        self.deleted_users.retain(|_, at| *at >= before);
        self.deleted_service_accounts.retain(|_, at| *at >= before);
    }

    /// How many entries are held.
    pub(crate) fn len(&self) -> usize {
        self.ended_sessions.len()
            + self.disabled_users.len()
            + self.deleted_users.len()
            + self.deleted_service_accounts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authd_token::Audience;

    fn claims(sub: &str, sid: &str) -> Claims {
        Claims {
            iss: "authd".into(),
            sub: sub.into(),
            aud: Audience::One("authd".into()),
            exp: 100,
            nbf: 0,
            iat: 0,
            jti: "j".into(),
            sid: sid.into(),
            roles: vec![],
            ptyp: None,
            client_id: None,
            ext: None,
        }
    }

    fn ended(sid: &str, user: &str, reason: pb::InvalidReason, at: i64) -> Change {
        Change::from_event(
            &Event::SessionEnded(pb::SessionEnded {
                session_id: sid.into(),
                user_id: user.into(),
                reason: reason.into(),
                ended_at: Some(prost_types::Timestamp {
                    seconds: at,
                    nanos: 0,
                }),
            }),
            0,
        )
        .unwrap()
    }

    fn user(id: &str, change: pb::UserChange) -> Change {
        Change::from_event(
            &Event::UserChanged(pb::UserChanged {
                user_id: id.into(),
                change: change.into(),
                changed_at: None,
            }),
            50,
        )
        .unwrap()
    }

    #[test]
    fn user_checks_come_in_the_servers_order() {
        let mut state = Revocations::default();
        let token = claims("u1", "s1");
        assert_eq!(state.check(PrincipalKind::User, &token), Ok(()));
        state.apply(ended("s1", "u1", pb::InvalidReason::SessionEnded, 10));
        assert_eq!(
            state.check(PrincipalKind::User, &token),
            Err(InvalidReason::SessionEnded)
        );
        state.apply(user("u1", pb::UserChange::Disabled));
        assert_eq!(
            state.check(PrincipalKind::User, &token),
            Err(InvalidReason::UserDisabled),
            "disabled before the session"
        );
        state.apply(user("u1", pb::UserChange::Enabled));
        assert_eq!(
            state.check(PrincipalKind::User, &token),
            Err(InvalidReason::SessionEnded),
            "enabling again does not revive an ended session"
        );
        state.apply(user("u1", pb::UserChange::Deleted));
        assert_eq!(
            state.check(PrincipalKind::User, &token),
            Err(InvalidReason::UserNotFound),
            "deleted before everything"
        );
        assert_eq!(
            state.check(PrincipalKind::User, &claims("u2", "s1")),
            Err(InvalidReason::Revoked),
            "a session of another user"
        );
        assert_eq!(
            state.check(PrincipalKind::User, &claims("u2", "s2")),
            Ok(())
        );
    }

    #[test]
    fn each_session_keeps_its_own_reason_and_repeats_change_nothing() {
        let mut state = Revocations::default();
        for (sid, reason) in [
            ("a", pb::InvalidReason::Revoked),
            ("b", pb::InvalidReason::PasswordChanged),
            ("c", pb::InvalidReason::RolesChanged),
            ("d", pb::InvalidReason::UserDisabled),
            ("e", pb::InvalidReason::Unspecified),
        ] {
            state.apply(ended(sid, "u", reason, 1));
            state.apply(ended(sid, "u", reason, 1));
        }
        let reason = |sid| state.check(PrincipalKind::User, &claims("u", sid));
        assert_eq!(reason("a"), Err(InvalidReason::Revoked));
        assert_eq!(reason("b"), Err(InvalidReason::PasswordChanged));
        assert_eq!(reason("c"), Err(InvalidReason::RolesChanged));
        assert_eq!(reason("d"), Err(InvalidReason::UserDisabled));
        assert_eq!(
            reason("e"),
            Err(InvalidReason::SessionEnded),
            "an unset reason still ends the session"
        );
        assert_eq!(state.len(), 5);
    }

    #[test]
    fn a_deleted_service_account_is_not_found_and_a_rotated_secret_changes_nothing() {
        let mut state = Revocations::default();
        let token = Claims {
            sid: String::new(),
            ptyp: Some(authd_token::SERVICE_ACCOUNT_PTYP.into()),
            client_id: Some("c".into()),
            ..claims("sa1", "")
        };
        let change = |change: pb::ServiceAccountChange| {
            Change::from_event(
                &Event::ServiceAccountChanged(pb::ServiceAccountChanged {
                    service_account_id: "sa1".into(),
                    change: change.into(),
                    changed_at: None,
                }),
                0,
            )
            .unwrap()
        };
        state.apply(change(pb::ServiceAccountChange::SecretRotated));
        assert_eq!(state.check(PrincipalKind::ServiceAccount, &token), Ok(()));
        state.apply(change(pb::ServiceAccountChange::Deleted));
        assert_eq!(
            state.check(PrincipalKind::ServiceAccount, &token),
            Err(InvalidReason::ServiceAccountNotFound)
        );
    }

    #[test]
    fn pruning_forgets_only_what_ended_before_the_horizon() {
        let mut state = Revocations::default();
        state.apply(ended("old", "u", pb::InvalidReason::SessionEnded, 10));
        state.apply(ended("new", "u", pb::InvalidReason::SessionEnded, 20));
        state.apply(user("gone", pb::UserChange::Deleted)); // at 50 (heard_at)
        state.apply(user("off", pb::UserChange::Disabled));
        state.prune(15);
        assert_eq!(
            state.check(PrincipalKind::User, &claims("u", "old")),
            Ok(())
        );
        assert!(
            state
                .check(PrincipalKind::User, &claims("u", "new"))
                .is_err()
        );
        state.prune(1_000);
        assert_eq!(state.len(), 1, "a disabled user stays until enabled");
    }

    #[test]
    fn only_enabling_a_user_is_not_a_revocation() {
        assert!(!user("u", pb::UserChange::Enabled).only_revokes());
        assert!(user("u", pb::UserChange::Disabled).only_revokes());
        assert!(ended("s", "u", pb::InvalidReason::SessionEnded, 0).only_revokes());
    }
}
