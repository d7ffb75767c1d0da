//! The values the [`Store`] trait takes and returns: rows
//! (users, keys, sessions, audit entries, ...), their filters and states,
//! and the change feed's [`Change`]s and [`FeedItem`]s. No SQL; all are
//! re-exported from [`crate::store`].

use secrecy::{SecretBox, SecretString};

use crate::error::{Error, Result};
use crate::user::User;

#[cfg(doc)]
use super::Store;

/// A new account to insert.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Fresh UUID.
    pub id: String,
    /// Validated username.
    pub username: String,
    /// Validated email, if any.
    pub email: Option<String>,
    /// PHC string of the password; never logged.
    pub password_hash: SecretString,
    /// Normalised roles.
    pub roles: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A user together with their password hash, for login only.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub user: User,
    /// PHC string of the password.
    pub password_hash: SecretString,
}

/// Where a signing key is in its life: next, current, previous, retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens and verifies.
    Current,
    /// Verifies only.
    Previous,
    /// Published (and verifies) but does not sign yet.
    Next,
    /// Neither signs nor verifies; the private key has been wiped.
    Retired,
}

impl KeyState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous",
            Self::Next => "next",
            Self::Retired => "retired",
        }
    }

    pub(super) fn parse(s: &str) -> Result<Self> {
        match s {
            "current" => Ok(Self::Current),
            "previous" => Ok(Self::Previous),
            "next" => Ok(Self::Next),
            "retired" => Ok(Self::Retired),
            other => Err(Error::internal_msg(
                "reading signing keys",
                format!("unknown key state {other:?}"),
            )),
        }
    }
}

/// A signing key as stored.
#[derive(Debug)]
pub struct StoredKey {
    /// Key id, the `kid` header of tokens it signs.
    pub kid: String,
    /// JWA name, e.g. `EdDSA`.
    pub algorithm: String,
    /// Lifecycle state.
    pub state: KeyState,
    /// Private key (PKCS#8 DER); redacted from `Debug`.
    pub private_key: SecretBox<Vec<u8>>,
    /// Public key bytes.
    pub public_key: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// When the key started signing (current) or will start (next), Unix seconds.
    pub activates_at: i64,
    /// When a previous key stops verifying, Unix seconds.
    pub retires_at: Option<i64>,
    /// How long after it stops signing the key must keep verifying, in
    /// seconds, as the processes that sign with it need; `None` for keys
    /// stored before this was recorded.
    pub overlap_secs: Option<i64>,
}

/// The outcome of [`Store::retire_signing_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRetirement {
    /// The key was next or previous and is retired now.
    Retired,
    /// No key has that id.
    NotFound,
    /// It was retired already.
    AlreadyRetired,
    /// It is the current key, which is never retired before another signs.
    Current,
}

/// Which users [`Store::list_users_page`] returns; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// A prefix of the username or of the email, ignoring case (matched
    /// against the stored case-folded keys).
    pub prefix: Option<String>,
    /// A role the user holds.
    pub role: Option<String>,
    /// Only active (`true`) or only disabled (`false`) users.
    pub active: Option<bool>,
}

/// What an audit export held: how many rows, and the highest id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportedRows {
    /// Rows in the export.
    pub count: u64,
    /// The highest id among them (0 when there were none).
    pub last_id: i64,
}

/// Which rows [`Store::audit_page`] returns; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The subject ignoring case, or the target's user id.
    pub subject: Option<String>,
    /// The event's stored name, e.g. `login`.
    pub event: Option<String>,
    /// Only rows at or after this time, Unix seconds.
    pub since: Option<i64>,
}

/// The failed logins counted under one throttle key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailures {
    /// The key, e.g. `account:alice` or `address:192.0.2.7`.
    pub key: String,
    /// Failures since the count last started.
    pub failures: i64,
    /// The latest failure, Unix seconds.
    pub last_failure_at: i64,
    /// Attempts claimed and not yet resolved (their passwords are being
    /// checked), counted apart from the failures.
    pub pending: i64,
    /// The latest claim, Unix seconds (0: none).
    pub pending_since: i64,
}

/// What [`Store::claim_login_attempt`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptClaim {
    /// Whether the attempt was admitted (and counted).
    pub admitted: bool,
    /// The keys' counts as they were before this attempt (keys without one left out).
    pub before: Vec<LoginFailures>,
}

/// An audit-log row to append; see [`crate::audit`] for what goes in it.
/// It must never hold a password, token or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When, Unix seconds (UTC).
    pub at: i64,
    /// What happened, e.g. `login`.
    pub event: String,
    /// The user concerned, when known.
    pub user_id: Option<String>,
    /// Who or what it was about: a username or a key id.
    pub subject: String,
    /// The client's address, if known.
    pub client_addr: Option<String>,
    /// `success`, `failure`, `denied` or `throttled`.
    pub outcome: String,
    /// A short, non-secret explanation.
    pub detail: String,
}

/// An audit-log row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log; increases with every append.
    pub id: i64,
    /// When, Unix seconds (UTC).
    pub at: i64,
    /// What happened.
    pub event: String,
    /// The user concerned, when known.
    pub user_id: Option<String>,
    /// Who or what it was about.
    pub subject: String,
    /// The client's address, if known.
    pub client_addr: Option<String>,
    /// The outcome.
    pub outcome: String,
    /// A short explanation.
    pub detail: String,
}

/// A session to start, with the hash of its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Time-ordered id (UUIDv7), the `sid` claim.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Absolute end, Unix seconds.
    pub expires_at: i64,
    /// The client's address, if known.
    pub client_addr: Option<String>,
    /// The client's `user-agent`, if sent.
    pub user_agent: Option<String>,
    /// Hash of the first refresh token.
    pub refresh_hash: String,
}

/// What a login saw of the user when it checked the password.
#[derive(Debug, Clone)]
pub struct LoginSnapshot {
    /// The password hash that was checked.
    pub password_hash: SecretString,
    /// The roles the tokens will carry.
    pub roles: Vec<String>,
}

/// The outcome of [`Store::rotate_refresh_token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// This call rotated the token.
    Rotated,
    /// The token had already been rotated (by this call's competitor or earlier).
    AlreadyRotated,
    /// The session has ended or expired; nothing was written.
    SessionEnded,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id, the `sid` claim.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Last refresh, Unix seconds.
    pub last_used_at: i64,
    /// Absolute end, Unix seconds.
    pub expires_at: i64,
    /// The client's address at login.
    pub client_addr: Option<String>,
    /// The client's `user-agent` at login.
    pub user_agent: Option<String>,
    /// When it was ended, if it was.
    pub ended: Option<(i64, EndReason)>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The user logged out of this session.
    Logout,
    /// The user logged out of all sessions.
    LogoutAll,
    /// An administrator revoked it.
    Admin,
    /// A rotated refresh token was presented again (RFC 9700 reuse detection).
    Reuse,
    /// The password changed.
    PasswordChanged,
    /// The roles changed.
    RolesChanged,
    /// The user was disabled.
    UserDisabled,
    /// Too many sessions: the oldest made way.
    Evicted,
    /// Its refresh token went unused for longer than `--refresh-idle-timeout`.
    Idle,
}

impl EndReason {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::Admin => "admin",
            Self::Reuse => "reuse",
            Self::PasswordChanged => "password_changed",
            Self::RolesChanged => "roles_changed",
            Self::UserDisabled => "user_disabled",
            Self::Evicted => "evicted",
            Self::Idle => "idle",
        }
    }

    /// Parses a stored name; unknown names (a newer authd) count as revoked.
    #[must_use]
    pub fn parse(s: &str) -> Self {
        match s {
            "logout" => Self::Logout,
            "logout_all" => Self::LogoutAll,
            "reuse" => Self::Reuse,
            "password_changed" => Self::PasswordChanged,
            "roles_changed" => Self::RolesChanged,
            "user_disabled" => Self::UserDisabled,
            "evicted" => Self::Evicted,
            "idle" => Self::Idle,
            _ => Self::Admin,
        }
    }
}

/// A disabled user, for the revocation stream's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledUser {
    /// The user's id.
    pub id: String,
    /// When the row last changed (the disable, or a later edit), Unix seconds.
    pub changed_at: i64,
}

/// What a tombstone is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedKind {
    /// A user (their sessions went with them).
    User,
    /// A service account.
    ServiceAccount,
}

impl DeletedKind {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ServiceAccount => "service_account",
        }
    }

    /// Parses a stored name; `None` for one a newer authd wrote.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "service_account" => Some(Self::ServiceAccount),
            _ => None,
        }
    }
}

/// A deleted user or service account, remembered for the revocation
/// stream's snapshot while its tokens may still be unexpired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// What was deleted.
    pub kind: DeletedKind,
    /// Its id (its tokens' `sub`).
    pub id: String,
    /// When, Unix seconds by the database's clock.
    pub deleted_at: i64,
}

/// A refresh token as stored (its value is never stored).
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    /// Its session.
    pub session_id: String,
    /// When it was exchanged for a successor, if it was.
    pub rotated_at: Option<i64>,
    /// The successor, sealed with a key derived from this token.
    pub successor_sealed: Option<Vec<u8>>,
}

/// A change other processes must hear about, so they drop cached state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A user row changed (or was deleted).
    User(String),
    /// One session changed.
    Session(String),
    /// Every session of a user changed.
    UserSessions(String),
    /// A service account changed (or was deleted).
    ServiceAccount(String),
    /// Signing keys were added, rotated or retired: reload them.
    Keys,
    /// Nothing changed: proof that the feed is alive.
    Heartbeat,
}

impl Change {
    /// The wire form, as sent through `pg_notify` or `change_log`.
    #[must_use]
    pub fn encode(&self) -> String {
        match self {
            Self::User(id) => format!("u:{id}"),
            Self::Session(id) => format!("s:{id}"),
            Self::UserSessions(id) => format!("us:{id}"),
            Self::ServiceAccount(id) => format!("sa:{id}"),
            Self::Keys => "k".to_owned(),
            Self::Heartbeat => "hb".to_owned(),
        }
    }

    /// Parses the wire form; `None` for anything unknown.
    #[must_use]
    pub fn decode(s: &str) -> Option<Self> {
        match s {
            "hb" => return Some(Self::Heartbeat),
            "k" => return Some(Self::Keys),
            _ => {}
        }
        let (kind, id) = s.split_once(':')?;
        let id = id.to_owned();
        match kind {
            "u" => Some(Self::User(id)),
            "s" => Some(Self::Session(id)),
            "us" => Some(Self::UserSessions(id)),
            "sa" => Some(Self::ServiceAccount(id)),
            _ => None,
        }
    }
}

/// What a change feed reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// Something changed.
    Change(Change),
    /// The feed is connected and delivering (a heartbeat or a successful poll).
    Alive,
    /// The feed was interrupted and is back: changes may have been missed,
    /// so everything cached must be dropped.
    Resync,
}
