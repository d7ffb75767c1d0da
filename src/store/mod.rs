//! Storage: the [`Store`] trait and its two implementations.
//!
//! [`postgres::PgStore`] is for production (several authd replicas share one
//! database); [`sqlite::SqliteStore`] is the embedded default. Both run their
//! own embedded migrations (`migrations/postgres`, `migrations/sqlite`) and
//! pass one conformance suite (`tests/api/store.rs`). SQL lives only in this
//! module; callers see domain types and [`crate::Error`].
//!
//! The statements are written once, in `sql/` (one file per domain: users,
//! sessions, keys, throttle, audit, service accounts, revocations), generic over the database; the
//! [`Store`] implementation there serves both stores, and `postgres.rs` and
//! `sqlite.rs` hold only what differs: connecting, migrations, how a change
//! is announced and the change feed.
//!
//! Timestamps are Unix seconds (`BIGINT`/`INTEGER`) in both databases, so
//! the two behave identically and `now` can be passed in by callers.

use secrecy::{SecretBox, SecretString};

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::user::User;

mod connect;
mod imported;
mod pool;
pub mod postgres;
mod service_accounts;
mod sql;
pub mod sqlite;
mod types;
pub mod url;

pub use connect::{check_reachable, connect, open_existing};
pub use imported::ImportedUser;
pub use pool::{PoolSettings, PoolStats, PoolStatus};
pub use service_accounts::{
    NewServiceAccount, SecretRecord, ServiceAccount, ServiceAccountCredentials,
};
pub use types::{
    AttemptClaim, AuditEntry, AuditFilter, Change, Credentials, DeletedKind, Deletion,
    DisabledUser, EndReason, ExportedRows, FeedItem, KeyRetirement, KeyState, LoginFailures,
    LoginSnapshot, NewAuditEntry, NewSession, NewUser, RefreshRecord, Rotation, Session, StoredKey,
    UserFilter,
};
pub use url::{DatabaseUrl, StoreSettings, redact_url};

/// Ids per statement of [`Store::sessions`]: the revocation hub reads up
/// to this many ended sessions back with one query.
pub const SESSIONS_PER_READ: usize = 64;

/// Everything authd keeps in its database.
///
/// Methods that look a user up return `Ok(None)` when there is none; methods
/// that change one by name return [`Error::NotFound`]. Unique violations are
/// [`Error::AlreadyExists`], unreachable databases [`Error::Unavailable`].
#[async_trait::async_trait]
pub trait Store: PoolStatus + Send + Sync + std::fmt::Debug {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;

    /// Inserts a user.
    async fn create_user(&self, user: NewUser) -> Result<User>;

    /// Finds the user whose username or email matches `login` (ignoring case),
    /// with their password hash.
    async fn find_credentials(&self, login: &str) -> Result<Option<Credentials>>;

    /// Finds a user by id.
    async fn user_by_id(&self, id: &str) -> Result<Option<User>>;

    /// Finds a user by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;

    /// Finds the user with this external id, with their password hash.
    async fn credentials_by_external_id(&self, external_id: &str) -> Result<Option<Credentials>>;

    /// Inserts an imported user as `id`, the hash stored verbatim, and
    /// announces it. A taken username, email (ignoring case) or external id
    /// is [`Error::AlreadyExists`] naming which.
    async fn create_imported_user(
        &self,
        id: &str,
        user: &ImportedUser,
        password_hash: &SecretString,
    ) -> Result<User>;

    /// In one transaction, overwrites user `id` with `user` (and the hash,
    /// when given; otherwise it is kept), ends every session of the user
    /// with `end` when given, and announces both. [`Error::NotFound`] when
    /// there is no such user; unique violations as for
    /// [`Self::create_imported_user`].
    async fn update_imported_user(
        &self,
        id: &str,
        user: &ImportedUser,
        password_hash: Option<&SecretString>,
        end: Option<EndReason>,
        now: i64,
    ) -> Result<User>;

    /// All users, ordered by username.
    async fn list_users(&self) -> Result<Vec<User>>;

    /// Enables or disables a user by username. Disabling ends all their
    /// sessions ([`EndReason::UserDisabled`]); enabling does not revive them.
    async fn set_active(&self, username: &str, active: bool, now: i64) -> Result<User>;

    /// Replaces a user's password hash, by username. Ends all their
    /// sessions ([`EndReason::PasswordChanged`]).
    async fn set_password_hash(&self, username: &str, hash: SecretString, now: i64)
    -> Result<User>;

    /// The user's own password change: replaces the password hash of user
    /// `user_id`, provided it is still `expected` (the hash the current
    /// password was just checked against) and the user is active, and ends
    /// every other live session of the user ([`EndReason::PasswordChanged`]),
    /// keeping `keep_session` (the caller's), in one transaction that
    /// announces both. Returns how many sessions ended, or `Ok(None)` (and
    /// writes nothing) when the hash or the user changed meanwhile.
    async fn change_password(
        &self,
        user_id: &str,
        expected: &SecretString,
        hash: SecretString,
        keep_session: &str,
        now: i64,
    ) -> Result<Option<u64>>;

    /// Replaces a user's roles, by username. Ends all their sessions
    /// ([`EndReason::RolesChanged`]): their tokens carry the old roles.
    async fn set_roles(&self, username: &str, roles: &[String], now: i64) -> Result<User>;

    /// Deletes a user, by username, with their sessions.
    async fn delete_user(&self, username: &str) -> Result<User>;

    /// Records a successful login and starts its session with its first
    /// refresh token, in one transaction, provided the user is unchanged
    /// since the password was checked: still active, same password hash, same
    /// roles. Otherwise nothing is written and `Ok(None)` is returned (the
    /// login must fail), so a login racing a password change, role change or
    /// disable can never leave a live session behind. `rehash` replaces the
    /// password hash in the same step. If the user then has more than
    /// `max_per_user` live sessions (0: no limit), the oldest are ended
    /// ([`EndReason::Evicted`]); their ids are returned.
    async fn start_session(
        &self,
        session: NewSession,
        seen: &LoginSnapshot,
        rehash: Option<SecretString>,
        max_per_user: u32,
    ) -> Result<Option<Vec<String>>>;

    /// A session by id, live or ended.
    async fn session(&self, id: &str) -> Result<Option<Session>>;

    /// The sessions with the given ids, ended or not, in no particular
    /// order; unknown ids are left out. One query per [`SESSIONS_PER_READ`] ids.
    async fn sessions(&self, ids: &[String]) -> Result<Vec<Session>>;

    /// A user's sessions that are neither ended nor expired at `now`, oldest first.
    async fn live_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>>;

    /// A refresh token by the hash of its value.
    async fn refresh_token(&self, hash: &str) -> Result<Option<RefreshRecord>>;

    /// Atomically marks the live token `old_hash` rotated (keeping its sealed
    /// successor) and stores `new_hash` as the session's live token, provided
    /// its session is still live at `now` (checked under the session's row
    /// lock, so a concurrent logout wins or loses cleanly). Of concurrent
    /// callers exactly one gets [`Rotation::Rotated`].
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        sealed_successor: &[u8],
        now: i64,
    ) -> Result<Rotation>;

    /// Ends one session; `Ok(false)` if it was already ended or does not exist.
    async fn end_session(&self, id: &str, reason: EndReason, now: i64) -> Result<bool>;

    /// Ends every live session of a user; returns how many.
    async fn end_user_sessions(&self, user_id: &str, reason: EndReason, now: i64) -> Result<u64>;

    /// Deletes sessions that expired by `now` or ended before `ended_before`,
    /// and the tombstones of deletions made before `ended_before`; returns
    /// how many rows went.
    async fn purge_sessions(&self, now: i64, ended_before: i64) -> Result<u64>;

    /// Sessions that ended at or after `since` (of `user_id` only, when
    /// given), ordered by id: what the revocation stream reports.
    async fn ended_sessions(&self, since: i64, user_id: Option<&str>) -> Result<Vec<Session>>;

    /// Disabled users whose row last changed at or after `since` (a user
    /// disabled before that has no unexpired token left), ordered by id.
    async fn disabled_users(&self, since: i64) -> Result<Vec<DisabledUser>>;

    /// Users and service accounts deleted at or after `since`, from the
    /// tombstones each delete writes in its transaction (stamped by the
    /// database's clock), ordered by kind and id.
    async fn deletions(&self, since: i64) -> Result<Vec<Deletion>>;

    /// Opens a feed of the changes made by any process sharing the database.
    async fn change_feed(&self) -> Result<Box<dyn ChangeFeed>>;

    /// Proves the change feed is alive end to end (PostgreSQL: a heartbeat
    /// notification every listener receives; SQLite: nothing to do).
    async fn heartbeat(&self) -> Result<()>;

    /// All signing keys that may verify tokens (every state but retired).
    async fn signing_keys(&self) -> Result<Vec<StoredKey>>;

    /// Inserts a key. Inserting a second `current` key is a no-op (another
    /// replica won the race), reported as `Ok(false)`.
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<bool>;

    /// Closes the pool, waiting for connections to be returned.
    async fn close(&self);

    /// Every signing key, retired ones included, newest first.
    async fn all_signing_keys(&self) -> Result<Vec<StoredKey>>;

    /// In one transaction, makes `current_kid` previous (verifying until
    /// `previous_retires_at`) and `next_kid` current from `now`. `Ok(false)`
    /// when either is no longer in the expected state (another process
    /// rotated first); nothing is changed then.
    async fn promote_signing_key(
        &self,
        current_kid: &str,
        next_kid: &str,
        now: i64,
        previous_retires_at: i64,
    ) -> Result<bool>;

    /// Retires previous keys whose `retires_at` has come, wiping their
    /// private keys; returns their kids.
    async fn retire_signing_keys(&self, now: i64) -> Result<Vec<String>>;

    /// Retires the key `kid` at once (a next or previous key; never the
    /// current one), wiping its private key, announced on the change feed.
    async fn retire_signing_key(&self, kid: &str) -> Result<KeyRetirement>;

    /// Raises the stored overlap of the current and next keys to at least
    /// `overlap_secs`.
    async fn record_key_overlap(&self, overlap_secs: i64) -> Result<()>;

    /// The database's clock, Unix seconds (PostgreSQL's `now()`, SQLite's
    /// `strftime('%s', 'now')`): what key transitions are judged by, so
    /// replicas whose own clocks disagree still agree on them.
    async fn db_now(&self) -> Result<i64>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// The failed-login counts stored under `keys` (see [`crate::throttle`]);
    /// keys without a count are left out. Counts past the window are
    /// returned too: the caller's policy decides what they mean.
    async fn login_failures(&self, keys: &[&str]) -> Result<Vec<LoginFailures>>;

    /// Counts one failed login against every key in `keys`, in one atomic
    /// statement (an upsert, so concurrent failures on several replicas are
    /// all counted): a key whose last failure is after `forget_before` goes
    /// up by one, any other starts again at one; either way its last failure
    /// becomes `now`.
    async fn record_login_failure(&self, keys: &[&str], now: i64, forget_before: i64)
    -> Result<()>;

    /// Counts one login attempt in flight against every key in `keys`
    /// before its password is checked, if `admit` allows it, atomically: in
    /// one transaction the keys' rows are locked (in key order), `admit` is
    /// asked about their counts as they were (keys with neither failures
    /// nor attempts in flight are left out), and only when it says yes does
    /// each key's `pending` go up by one (or start again at one when its
    /// latest claim is at or before `stale_before`), with `now` as its
    /// latest claim. Concurrent claims on a key, on any replica, are judged
    /// one after the other, each seeing the ones before it; a refused claim
    /// writes nothing. An admitted claim must be resolved by
    /// [`Self::fail_login_attempt`] or [`Self::release_login_attempt`].
    async fn claim_login_attempt(
        &self,
        keys: &[&str],
        now: i64,
        stale_before: i64,
        admit: &(dyn for<'c> Fn(&'c [LoginFailures]) -> bool + Sync),
    ) -> Result<AttemptClaim>;

    /// Resolves a claimed attempt as a failure, in one transaction: each
    /// key's attempt in flight becomes a failure (its count goes up by one,
    /// or starts again at one when its last failure is at or before
    /// `forget_before`, and its last failure becomes `now`). A key whose
    /// row was deleted meanwhile starts at one. Returns the keys' counts as
    /// this failure left them.
    async fn fail_login_attempt(
        &self,
        keys: &[&str],
        now: i64,
        forget_before: i64,
    ) -> Result<Vec<LoginFailures>>;

    /// Takes a claimed attempt back (a right password, or a check that did
    /// not run), in one transaction: each key in `keys` has one attempt in
    /// flight less, and each key in `clear` loses the failures given there
    /// (a right password clears those its claim saw; failures counted since
    /// by other attempts stay). A key left with no failures and nothing in
    /// flight is deleted. Never restores an earlier snapshot.
    async fn release_login_attempt(&self, keys: &[&str], clear: &[LoginFailures]) -> Result<()>;

    /// Marks `key` (a `denied:` key, stored with the failed-login counts)
    /// at `now` unless it was marked after `since`, in one atomic
    /// statement; returns whether this call marked it, so of concurrent
    /// callers on any replica exactly one is first.
    async fn note_once(&self, key: &str, now: i64, since: i64) -> Result<bool>;

    /// Deletes the counts of `keys` (a successful login, `authd user
    /// unlock`); returns how many there were.
    async fn clear_login_failures(&self, keys: &[&str]) -> Result<u64>;

    /// Deletes the counts whose last failure is at or before `forget_before`
    /// (they no longer count); returns how many.
    async fn purge_login_failures(&self, forget_before: i64) -> Result<u64>;

    /// Appends one row to the audit log; returns its id. The log is
    /// append-only: there is no method to change or remove a row, and the
    /// database refuses `UPDATE` and `DELETE` on it with a trigger.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64>;

    /// Reads the audit log in id (append) order: with `after_id`, the first
    /// `limit` rows after it (to follow the log); without, the last `limit` rows.
    async fn audit_tail(&self, limit: u32, after_id: Option<i64>) -> Result<Vec<AuditEntry>>;

    /// The first `limit` audit rows older than `before` (Unix seconds) with
    /// an id above `after_id`, in id order: the pages of an export.
    async fn audit_before(
        &self,
        before: i64,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;

    /// The one removal path of the audit log: in one transaction, checks
    /// that the rows older than `before` are exactly `exported` (their count
    /// and their highest id), deletes them under a grant the append-only
    /// triggers honour, and appends `record` (the `audit_purged` row, which
    /// is newer and stays). Returns how many rows were removed.
    /// [`Error::FailedPrecondition`] when the rows do not match the export.
    async fn purge_audit(
        &self,
        before: i64,
        exported: ExportedRows,
        record: &NewAuditEntry,
    ) -> Result<u64>;
    /// Inserts a service account with its first client secret (by hash), in
    /// one transaction. A taken name (ignoring case) or client id is
    /// [`Error::AlreadyExists`].
    async fn create_service_account(
        &self,
        account: &NewServiceAccount,
        secret_hash: &str,
    ) -> Result<ServiceAccount>;

    /// A service account by id.
    async fn service_account(&self, id: &str) -> Result<Option<ServiceAccount>>;

    /// A service account by client id, with the hashes of its secrets
    /// (expired ones too: the caller compares `expires_at` with its `now`).
    async fn service_account_credentials(
        &self,
        client_id: &str,
    ) -> Result<Option<ServiceAccountCredentials>>;

    /// Service accounts in id order: the first `limit` after `after_id`
    /// (keyset paging), or from the start.
    async fn list_service_accounts(
        &self,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ServiceAccount>>;

    /// In one transaction, adds the secret `new_hash` to the account `id`
    /// and makes its other secrets stop at `previous_expires_at` (never
    /// later than they already would); secrets that have stopped by `now`
    /// are deleted. [`Error::NotFound`] when there is no such account.
    async fn rotate_service_account_secret(
        &self,
        id: &str,
        new_hash: &str,
        now: i64,
        previous_expires_at: i64,
    ) -> Result<ServiceAccount>;

    /// Records that the account got a token at `now` (not announced: no
    /// decision depends on it).
    async fn touch_service_account(&self, id: &str, now: i64) -> Result<()>;

    /// Deletes a service account with its secrets and announces
    /// [`Change::ServiceAccount`], so every replica refuses its tokens.
    /// [`Error::NotFound`] when there is no such account.
    async fn delete_service_account(&self, id: &str) -> Result<ServiceAccount>;

    /// How many principals hold the `admin` role, other than the service
    /// account `except_id`: active users and service accounts.
    async fn admin_principals_except(&self, except_id: &str) -> Result<u64>;

    /// A page of users in id order matching `filter`: the first `limit`
    /// whose id is after `after_id` (keyset pagination on the primary key,
    /// so every page costs what the first costs).
    async fn list_users_page(
        &self,
        filter: &UserFilter,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<User>>;

    /// Replaces (or, with `None`, removes) the email of user `id`; announces
    /// the change. Sessions are kept: tokens do not carry the email.
    /// [`Error::AlreadyExists`] if another user has it (ignoring case).
    async fn set_email(&self, id: &str, email: Option<&str>, now: i64) -> Result<User>;

    /// Deletes user `id` with their sessions, unless they are the last
    /// active user holding the `admin` role ([`Error::FailedPrecondition`]);
    /// decided in the deleting transaction, so two admins deleting each
    /// other at once cannot both succeed. [`Error::NotFound`] if there is
    /// no such user.
    async fn delete_user_unless_last_admin(&self, id: &str) -> Result<User>;

    /// A page of the audit log, newest first, matching `filter`: the first
    /// `limit` rows whose id is below `before_id` (keyset on the id).
    async fn audit_page(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;

    /// The instance secret called `name`, shared by every process on this
    /// database: stores `fresh` under `name` unless another process stored
    /// one first (race-safe: `INSERT ... ON CONFLICT DO NOTHING`, then a
    /// read), and returns the stored one. The store never makes secrets
    /// itself: the caller brings `fresh` random bytes.
    async fn instance_secret(
        &self,
        name: &str,
        fresh: &SecretBox<Vec<u8>>,
        now: i64,
    ) -> Result<SecretBox<Vec<u8>>>;
}

/// A stream of [`FeedItem`]s from the database.
#[async_trait::async_trait]
pub trait ChangeFeed: Send {
    /// The next item. An error means the feed is broken for now; calling
    /// again retries, and the first item after a recovery is [`FeedItem::Resync`].
    async fn next(&mut self) -> Result<FeedItem>;
}
