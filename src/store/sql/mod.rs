//! The SQL shared by both databases, split by domain: [`users`],
//! [`sessions`] (with their refresh tokens), [`keys`], [`throttle`] (failed
//! logins), [`audit`], [`service_accounts`], [`secrets`] (instance secrets) and
//! [`revocations`] (what the revocation stream's snapshot reads, and tombstones); this file holds what they share and the one
//! [`Store`] implementation that calls them.
//!
//! It owns the statements and the transaction boundaries. It must not hold
//! anything the two databases do differently: that lives in `postgres.rs`
//! and `sqlite.rs`, behind [`SqlDb`] (the database: how a change is
//! announced) and [`SqlStore`] (the store: its pool, migrations and change
//! feed).
//!
//! The statements are portable between PostgreSQL and SQLite: placeholders
//! are `$N` (sqlx binds `$N` to the N-th argument on both; they are also
//! kept in order of first use, which is how SQLite itself would number
//! them), and `RETURNING`, `ON CONFLICT DO NOTHING`, `TRUE` and `COALESCE`
//! exist in both. Row locks come from `UPDATE` (PostgreSQL locks the row;
//! SQLite serialises writers), never from `SELECT ... FOR UPDATE`, which
//! SQLite lacks.
//!
//! Every write that other processes must hear about publishes a [`Change`]
//! inside its own transaction, with the database's [`SqlDb::PUBLISH`]
//! statement (PostgreSQL: `pg_notify`; SQLite: a row in `change_log`), so a
//! change and its announcement commit together or not at all.
//!
//! # Generic over the database
//!
//! Every function here is generic over `DB: SqlDb`, and that one bound is
//! all it needs. Rust implies a trait's supertraits and the bounds on its
//! associated types wherever the trait is used, but not its other `where`
//! clauses (rust-lang/rust#20671), so `i64: Encode<'_, DB>` and its kind
//! cannot simply be listed once. They are turned around instead: "`DB` can
//! bind an `i64`" is the supertrait [`Bind<i64>`](Bind) of `DB`, bound
//! with [`Params::param`] (sqlx's `bind`, under another name because the
//! inherent `bind` would win and ask for the encoder itself); "`DB`'s rows
//! hold an `i64`" is [`Get<i64>`](Get) on `DB::Row`, which the row types
//! decode with by hand. The executors, whose bound is on `&mut
//! DB::Connection`, are handed out by [`SqlDb::pool`] and [`SqlDb::tx`].
//! Optional text is bound owned (`Option<String>`): sqlx encodes an
//! `Option<T>` only for a `T` that outlives the query, which a bound for
//! every lifetime cannot promise of a borrowed `&str`.
//!
//! [`Store`] is implemented once, for every [`SqlStore`], rather than once
//! per database: the two cannot drift, and neither file repeats the
//! delegation of every method.

use async_trait::async_trait;
use sqlx::query::{Query, QueryAs};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{
    AttemptClaim, AuditEntry, AuditFilter, Change, ChangeFeed, Credentials, Deletion, DisabledUser,
    EndReason, ImportedUser, LoginFailures, LoginSnapshot, NewAuditEntry, NewSession, NewUser,
    RefreshRecord, Rotation, Session, Store, StoredKey, UserFilter,
};
use super::{
    ExportedRows, KeyRetirement, NewServiceAccount, ServiceAccount, ServiceAccountCredentials,
};
use crate::error::{Error, Result};
use crate::user::User;

mod audit;
mod keys;
mod revocations;
mod secrets;
mod service_accounts;
mod sessions;
mod throttle;
mod users;

/// What the shared SQL needs of a database; implemented by `sqlx::Postgres`
/// and `sqlx::Sqlite`.
pub trait SqlDb:
    Database<Arguments: IntoArguments<Self>, Row: Columns, QueryResult: RowsAffected>
    + Bind<i64>
    + Bind<Option<i64>>
    + Bind<bool>
    + Bind<String>
    + Bind<Option<String>>
    + for<'a> Bind<&'a str>
    + for<'a> Bind<&'a [u8]>
{
    /// The statement that announces a change, its encoded form bound as `$1`.
    const PUBLISH: &'static str;

    /// The statement that writes a deletion's tombstone (kind `$1`, id
    /// `$2`), stamped with the database's own clock: the deletes take no
    /// `now` (see `sql/revocations.rs`).
    const TOMBSTONE: &'static str;

    /// The statement that reads the database's clock: Unix seconds, as
    /// the column `now`.
    const SELECT_NOW: &'static str;

    /// The pool as an executor, for statements outside a transaction.
    fn pool(pool: &Pool<Self>) -> impl Executor<'_, Database = Self>;

    /// A transaction's connection as an executor.
    fn tx(conn: &mut Self::Connection) -> impl Executor<'_, Database = Self>;
}

/// A store on an [`SqlDb`]: what each database does its own way. Every type
/// implementing it is a [`Store`], through the shared SQL.
#[async_trait]
pub trait SqlStore: Send + Sync + std::fmt::Debug {
    /// The database.
    type Db: SqlDb;

    /// The connection pool.
    fn pool(&self) -> &Pool<Self::Db>;

    /// Applies this database's pending migrations ([`Store::migrate`]).
    async fn run_migrations(&self) -> Result<()>;

    /// Opens a change feed ([`Store::change_feed`]).
    async fn open_change_feed(&self) -> Result<Box<dyn ChangeFeed>>;

    /// Proves the change feed alive ([`Store::heartbeat`]).
    async fn send_heartbeat(&self) -> Result<()>;
}

/// `T` can be bound as a parameter of `Self`'s statements.
pub trait Bind<T>: Database {
    /// Binds `value` as the next parameter of `query`.
    fn bind_to<'q, Q: Params<'q, Self>>(query: Q, value: T) -> Q
    where
        T: 'q;
}

impl<DB: Database, T> Bind<T> for DB
where
    T: for<'e> Encode<'e, DB> + Type<DB>,
{
    fn bind_to<'q, Q: Params<'q, DB>>(query: Q, value: T) -> Q
    where
        T: 'q,
    {
        query.bind_value(value)
    }
}

/// A statement that takes parameters: sqlx's [`Query`] and [`QueryAs`].
pub trait Params<'q, DB: Database>: Sized {
    /// sqlx's own `bind`, for a type whose encoder is known.
    fn bind_value<T: 'q + for<'e> Encode<'e, DB> + Type<DB>>(self, value: T) -> Self;

    /// Binds the next parameter, of any type the database [binds](Bind).
    #[must_use]
    fn param<T: 'q>(self, value: T) -> Self
    where
        DB: Bind<T>,
    {
        DB::bind_to(self, value)
    }
}

impl<'q, DB: Database> Params<'q, DB> for Query<'q, DB, DB::Arguments> {
    fn bind_value<T: 'q + for<'e> Encode<'e, DB> + Type<DB>>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, DB: Database, O> Params<'q, DB> for QueryAs<'q, DB, O, DB::Arguments> {
    fn bind_value<T: 'q + for<'e> Encode<'e, DB> + Type<DB>>(self, value: T) -> Self {
        self.bind(value)
    }
}

/// A row holding a column of type `T`.
pub trait Get<T>: Row {
    /// The column called `name`.
    ///
    /// # Errors
    /// A missing column or one that does not decode as `T`.
    fn field(&self, name: &str) -> sqlx::Result<T>;
}

impl<R: Row, T> Get<T> for R
where
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    for<'n> &'n str: ColumnIndex<R>,
{
    fn field(&self, name: &str) -> sqlx::Result<T> {
        self.try_get(name)
    }
}

/// A row of either database, with every column type the store reads.
pub trait Columns:
    Get<i64>
    + Get<Option<i64>>
    + Get<bool>
    + Get<String>
    + Get<Option<String>>
    + Get<Vec<u8>>
    + Get<Option<Vec<u8>>>
{
}

impl<R> Columns for R where
    R: Get<i64>
        + Get<Option<i64>>
        + Get<bool>
        + Get<String>
        + Get<Option<String>>
        + Get<Vec<u8>>
        + Get<Option<Vec<u8>>>
{
}

/// The rows a statement changed (an inherent method of each database's
/// result type, named by a trait so generic code can call it).
pub trait RowsAffected {
    /// How many rows the statement changed.
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A transaction on `DB`.
type Tx<DB> = sqlx::Transaction<'static, DB>;

/// A statement put together from fixed fragments (for the lists whose
/// filters are optional), each `?` in a fragment numbered as the next
/// `$N`, so the values are bound in the order the fragments were added.
/// Only fixed text goes in: never a value.
struct Statement {
    sql: String,
    params: usize,
}

impl Statement {
    fn new(head: &'static str) -> Self {
        Self {
            sql: head.to_owned(),
            params: 0,
        }
    }

    fn push(&mut self, fragment: &'static str) {
        use std::fmt::Write as _;
        for c in fragment.chars() {
            if c == '?' {
                self.params += 1;
                let _ = write!(self.sql, "${}", self.params);
            } else {
                self.sql.push(c);
            }
        }
    }

    /// The SQL, safe to run: only fixed fragments and placeholders.
    fn sql(self) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(self.sql)
    }
}

async fn begin<DB: SqlDb>(pool: &Pool<DB>, context: &'static str) -> Result<Tx<DB>> {
    pool.begin().await.map_err(|e| Error::database(context, e))
}

async fn commit<DB: SqlDb>(tx: Tx<DB>, context: &'static str) -> Result<()> {
    tx.commit().await.map_err(|e| Error::database(context, e))
}

async fn rollback<DB: SqlDb>(tx: Tx<DB>, context: &'static str) -> Result<()> {
    tx.rollback().await.map_err(|e| Error::database(context, e))
}

/// Announces `change` inside `tx`: it is heard if and only if `tx` commits.
async fn publish<DB: SqlDb>(tx: &mut Tx<DB>, change: &Change) -> Result<()> {
    sqlx::query(DB::PUBLISH)
        .param(change.encode())
        .execute(DB::tx(tx))
        .await
        .map(drop)
        .map_err(|e| Error::database("announcing a change", e))
}

/// Maps a migration error: an unreachable database is "try again later"
/// (start-up retries it); a broken migration is not.
pub fn migrate_error(err: sqlx::migrate::MigrateError) -> Error {
    match err {
        sqlx::migrate::MigrateError::Execute(e)
        | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => {
            Error::database("migrating the database schema", e)
        }
        other => Error::internal("migrating the database schema", other),
    }
}

async fn ping<DB: SqlDb>(pool: &Pool<DB>) -> Result<()> {
    sqlx::query("SELECT 1")
        .execute(DB::pool(pool))
        .await
        .map(drop)
        .map_err(|e| Error::database("checking the database", e))
}

impl<S: SqlStore> super::PoolStatus for S {
    fn pool_stats(&self) -> super::PoolStats {
        let pool = self.pool();
        super::PoolStats {
            size: pool.size(),
            idle: pool.num_idle(),
            max: pool.options().get_max_connections(),
        }
    }
}

#[async_trait]
impl<S: SqlStore> Store for S {
    async fn migrate(&self) -> Result<()> {
        self.run_migrations().await
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        users::create(self.pool(), user).await
    }

    async fn find_credentials(&self, login: &str) -> Result<Option<Credentials>> {
        users::credentials(self.pool(), login).await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        users::by_id(self.pool(), id).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        users::by_username(self.pool(), username).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        users::list(self.pool()).await
    }

    async fn credentials_by_external_id(&self, external_id: &str) -> Result<Option<Credentials>> {
        users::credentials_by_external_id(self.pool(), external_id).await
    }

    async fn create_imported_user(
        &self,
        id: &str,
        user: &ImportedUser,
        password_hash: &secrecy::SecretString,
    ) -> Result<User> {
        users::create_imported(self.pool(), id, user, password_hash).await
    }

    async fn update_imported_user(
        &self,
        id: &str,
        user: &ImportedUser,
        password_hash: Option<&secrecy::SecretString>,
        end: Option<EndReason>,
        now: i64,
    ) -> Result<User> {
        users::update_imported(self.pool(), id, user, password_hash, end, now).await
    }

    async fn set_active(&self, username: &str, active: bool, now: i64) -> Result<User> {
        users::set_active(self.pool(), username, active, now).await
    }

    async fn set_password_hash(
        &self,
        username: &str,
        hash: secrecy::SecretString,
        now: i64,
    ) -> Result<User> {
        users::set_password_hash(self.pool(), username, hash, now).await
    }

    async fn change_password(
        &self,
        user_id: &str,
        expected: &secrecy::SecretString,
        hash: secrecy::SecretString,
        keep_session: &str,
        now: i64,
    ) -> Result<Option<u64>> {
        users::change_password(self.pool(), user_id, expected, hash, keep_session, now).await
    }

    async fn set_roles(&self, username: &str, roles: &[String], now: i64) -> Result<User> {
        users::set_roles(self.pool(), username, roles, now).await
    }

    async fn delete_user(&self, username: &str) -> Result<User> {
        users::delete(self.pool(), username).await
    }

    async fn start_session(
        &self,
        session: NewSession,
        seen: &LoginSnapshot,
        rehash: Option<secrecy::SecretString>,
        max_per_user: u32,
    ) -> Result<Option<Vec<String>>> {
        sessions::start(self.pool(), session, seen, rehash, max_per_user).await
    }

    async fn session(&self, id: &str) -> Result<Option<Session>> {
        sessions::by_id(self.pool(), id).await
    }

    async fn sessions(&self, ids: &[String]) -> Result<Vec<Session>> {
        sessions::by_ids(self.pool(), ids).await
    }

    async fn live_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>> {
        sessions::live(self.pool(), user_id, now).await
    }

    async fn refresh_token(&self, hash: &str) -> Result<Option<RefreshRecord>> {
        sessions::refresh_token(self.pool(), hash).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        sealed_successor: &[u8],
        now: i64,
    ) -> Result<Rotation> {
        sessions::rotate_refresh_token(self.pool(), old_hash, new_hash, sealed_successor, now).await
    }

    async fn end_session(&self, id: &str, reason: EndReason, now: i64) -> Result<bool> {
        sessions::end(self.pool(), id, reason, now).await
    }

    async fn end_user_sessions(&self, user_id: &str, reason: EndReason, now: i64) -> Result<u64> {
        sessions::end_all(self.pool(), user_id, reason, now).await
    }

    async fn purge_sessions(&self, now: i64, ended_before: i64) -> Result<u64> {
        let sessions = sessions::purge(self.pool(), now, ended_before).await?;
        let tombstones = revocations::purge_tombstones(self.pool(), ended_before).await?;
        Ok(sessions + tombstones)
    }

    async fn ended_sessions(&self, since: i64, user_id: Option<&str>) -> Result<Vec<Session>> {
        sessions::ended_since(self.pool(), since, user_id).await
    }

    async fn disabled_users(&self, since: i64) -> Result<Vec<DisabledUser>> {
        revocations::disabled_users(self.pool(), since).await
    }

    async fn deletions(&self, since: i64) -> Result<Vec<Deletion>> {
        revocations::deletions(self.pool(), since).await
    }

    async fn change_feed(&self) -> Result<Box<dyn ChangeFeed>> {
        self.open_change_feed().await
    }

    async fn heartbeat(&self) -> Result<()> {
        self.send_heartbeat().await
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>> {
        keys::verifying(self.pool()).await
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<bool> {
        keys::insert(self.pool(), key).await
    }

    async fn close(&self) {
        self.pool().close().await;
    }

    async fn all_signing_keys(&self) -> Result<Vec<StoredKey>> {
        keys::all(self.pool()).await
    }

    async fn promote_signing_key(
        &self,
        current_kid: &str,
        next_kid: &str,
        now: i64,
        previous_retires_at: i64,
    ) -> Result<bool> {
        keys::promote(self.pool(), current_kid, next_kid, now, previous_retires_at).await
    }

    async fn retire_signing_keys(&self, now: i64) -> Result<Vec<String>> {
        keys::retire(self.pool(), now).await
    }

    async fn retire_signing_key(&self, kid: &str) -> Result<KeyRetirement> {
        keys::retire_one(self.pool(), kid).await
    }

    async fn record_key_overlap(&self, overlap_secs: i64) -> Result<()> {
        keys::record_overlap(self.pool(), overlap_secs).await
    }

    async fn db_now(&self) -> Result<i64> {
        keys::db_now(self.pool()).await
    }

    async fn ping(&self) -> Result<()> {
        ping(self.pool()).await
    }

    async fn login_failures(&self, keys: &[&str]) -> Result<Vec<LoginFailures>> {
        throttle::failures(self.pool(), keys).await
    }

    async fn record_login_failure(
        &self,
        keys: &[&str],
        now: i64,
        forget_before: i64,
    ) -> Result<()> {
        throttle::record_failure(self.pool(), keys, now, forget_before).await
    }

    async fn claim_login_attempt(
        &self,
        keys: &[&str],
        now: i64,
        stale_before: i64,
        admit: &(dyn for<'c> Fn(&'c [LoginFailures]) -> bool + Sync),
    ) -> Result<AttemptClaim> {
        throttle::claim(self.pool(), keys, now, stale_before, admit).await
    }

    async fn fail_login_attempt(
        &self,
        keys: &[&str],
        now: i64,
        forget_before: i64,
    ) -> Result<Vec<LoginFailures>> {
        throttle::fail(self.pool(), keys, now, forget_before).await
    }

    async fn release_login_attempt(&self, keys: &[&str], clear: &[LoginFailures]) -> Result<()> {
        throttle::release(self.pool(), keys, clear).await
    }

    async fn note_once(&self, key: &str, now: i64, since: i64) -> Result<bool> {
        throttle::note_once(self.pool(), key, now, since).await
    }

    async fn clear_login_failures(&self, keys: &[&str]) -> Result<u64> {
        throttle::clear(self.pool(), keys).await
    }

    async fn purge_login_failures(&self, forget_before: i64) -> Result<u64> {
        throttle::purge(self.pool(), forget_before).await
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64> {
        audit::append(self.pool(), entry).await
    }

    async fn audit_tail(&self, limit: u32, after_id: Option<i64>) -> Result<Vec<AuditEntry>> {
        audit::tail(self.pool(), limit, after_id).await
    }

    async fn audit_before(
        &self,
        before: i64,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        audit::before(self.pool(), before, after_id, limit).await
    }

    async fn purge_audit(
        &self,
        before: i64,
        exported: ExportedRows,
        record: &NewAuditEntry,
    ) -> Result<u64> {
        audit::purge(self.pool(), before, exported, record).await
    }

    async fn create_service_account(
        &self,
        account: &NewServiceAccount,
        secret_hash: &str,
    ) -> Result<ServiceAccount> {
        service_accounts::create(self.pool(), account, secret_hash).await
    }

    async fn service_account(&self, id: &str) -> Result<Option<ServiceAccount>> {
        service_accounts::by_id(self.pool(), id).await
    }

    async fn service_account_credentials(
        &self,
        client_id: &str,
    ) -> Result<Option<ServiceAccountCredentials>> {
        service_accounts::credentials(self.pool(), client_id).await
    }

    async fn list_service_accounts(
        &self,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ServiceAccount>> {
        service_accounts::list(self.pool(), after_id, limit).await
    }

    async fn rotate_service_account_secret(
        &self,
        id: &str,
        new_hash: &str,
        now: i64,
        previous_expires_at: i64,
    ) -> Result<ServiceAccount> {
        service_accounts::rotate_secret(self.pool(), id, new_hash, now, previous_expires_at).await
    }

    async fn touch_service_account(&self, id: &str, now: i64) -> Result<()> {
        service_accounts::touch(self.pool(), id, now).await
    }

    async fn delete_service_account(&self, id: &str) -> Result<ServiceAccount> {
        service_accounts::delete(self.pool(), id).await
    }

    async fn admin_principals_except(&self, except_id: &str) -> Result<u64> {
        service_accounts::admin_principals_except(self.pool(), except_id).await
    }

    async fn list_users_page(
        &self,
        filter: &UserFilter,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<User>> {
        users::list_page(self.pool(), filter, after_id, limit).await
    }

    async fn set_email(&self, id: &str, email: Option<&str>, now: i64) -> Result<User> {
        users::set_email(self.pool(), id, email, now).await
    }

    async fn delete_user_unless_last_admin(&self, id: &str) -> Result<User> {
        users::delete_unless_last_admin(self.pool(), id).await
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        audit::page(self.pool(), filter, before_id, limit).await
    }

    async fn instance_secret(
        &self,
        name: &str,
        fresh: &secrecy::SecretBox<Vec<u8>>,
        now: i64,
    ) -> Result<secrecy::SecretBox<Vec<u8>>> {
        secrets::get_or_create(self.pool(), name, fresh, now).await
    }
}
