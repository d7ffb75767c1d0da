//! What the revocation stream reports: the [`Revocation`] events, the
//! items of a subscriber's stream ([`WatchItem`], [`Watch`]) and the token
//! [`Rules`] its hello carries. Plain values; the hub in
//! [`crate::revocations`] makes them.

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

use crate::error::Result;
use crate::store::Session;
use crate::token::InvalidReason;

use super::end_reason_invalid;

/// What happened to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Disabled: every token of the user is invalid while it stays so.
    Disabled,
    /// Active (enabled again, or another change to an active user).
    Enabled,
    /// Deleted.
    Deleted,
    /// The password changed (the sessions it ended come as their own events).
    Password,
    /// The roles changed (likewise).
    Roles,
}

/// What happened to a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// Deleted: its tokens are invalid.
    Deleted,
    /// Its secret was rotated; tokens it holds stay valid.
    SecretRotated,
}

/// One revocation, as the stream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// A session ended; its tokens are invalid with `reason`.
    SessionEnded {
        /// The `sid`.
        session_id: String,
        /// The `sub`.
        user_id: String,
        /// What Verify answers for its tokens.
        reason: InvalidReason,
        /// Unix seconds.
        ended_at: i64,
    },
    /// A user changed.
    UserChanged {
        /// The `sub`.
        user_id: String,
        /// What changed.
        change: UserChange,
        /// Unix seconds, as far as this server knows.
        changed_at: i64,
    },
    /// A service account changed.
    ServiceAccountChanged {
        /// The account's id (its tokens' `sub`).
        service_account_id: String,
        /// What changed.
        change: AccountChange,
        /// Unix seconds, as far as this server knows.
        changed_at: i64,
    },
    /// The signing keys changed.
    KeysChanged {
        /// Kids that no longer verify anything.
        retired_kids: Vec<String>,
    },
}

impl Revocation {
    pub(super) fn session_ended(session: &Session) -> Option<Self> {
        let (ended_at, reason) = session.ended?;
        Some(Self::SessionEnded {
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            reason: end_reason_invalid(reason),
            ended_at,
        })
    }
}

/// What the stream's hello says besides whether it resumed: the token
/// rules, filled in by the service layer from the token service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The audience every token's `aud` must include.
    pub audience: String,
    /// Seconds of clock skew allowed.
    pub leeway_secs: i64,
    /// Longest token parsed at all.
    pub max_token_bytes: i64,
    /// Longest access-token lifetime, seconds.
    pub max_token_lifetime_secs: i64,
}

/// One item of a subscriber's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// The first item.
    Hello {
        /// The token rules.
        rules: Rules,
        /// How often heartbeats come.
        heartbeat_interval: Duration,
        /// Whether the request's cursor resumed the stream.
        resumed: bool,
        /// Why a given cursor did not resume.
        reset_reason: Option<String>,
        /// The resumed position, or `None` (a snapshot follows).
        cursor: Option<String>,
    },
    /// A revocation: from the snapshot (`cursor` `None`: a stream cut off
    /// during its snapshot must start afresh) or live.
    Revocation {
        /// Where to resume after it.
        cursor: Option<String>,
        /// What happened.
        revocation: Revocation,
    },
    /// The snapshot is complete.
    SnapshotEnd {
        /// Where to resume after the snapshot.
        cursor: String,
        /// How many revocations it held.
        events: u64,
    },
    /// Nothing happened.
    Heartbeat {
        /// The stream's current position.
        cursor: String,
    },
}

/// A subscriber's stream of [`WatchItem`]s, ending with an error.
pub type Watch = Pin<Box<dyn Stream<Item = Result<WatchItem>> + Send>>;
