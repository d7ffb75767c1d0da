//! Storage: the [`Store`] trait and its two implementations.
//!
//! [`postgres::PgStore`] is for production (several authd replicas share one
//! database); [`sqlite::SqliteStore`] is the embedded default. Both run their
//! own embedded migrations (`migrations/postgres`, `migrations/sqlite`) and
//! pass one conformance suite (`tests/api/store.rs`). SQL lives only in this
//! module; callers see domain types and [`crate::Error`].
//!
//! Timestamps are Unix seconds (`BIGINT`/`INTEGER`) in both databases, so
//! the two behave identically and `now` can be passed in by callers.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::error::{Error, Result};
use crate::user::User;

/// The columns of a user row, for SELECT lists (a macro so it can be `concat!`ed).
macro_rules! user_columns {
    () => {
        "id, username, email, active, roles, created_at, last_login_at"
    };
}

/// The columns of a signing key row, for SELECT lists.
macro_rules! key_columns {
    () => {
        "kid, algorithm, state, private_key, public_key, created_at, activates_at, retires_at"
    };
}

/// The [`Store`] implementation shared by both databases.
///
/// The SQL below is portable between PostgreSQL and SQLite: placeholders are
/// `$N` numbered in order of first use (SQLite treats them as named
/// parameters, numbered by first appearance), `RETURNING`, `ON CONFLICT DO
/// NOTHING` and `TRUE` exist in both. Each database keeps its own type,
/// connection set-up and migrations; only these statements are shared, so
/// they cannot drift apart.
macro_rules! sql_store {
    ($store:ty, $migrator:expr) => {
        const _: () = {
        use secrecy::{ExposeSecret, SecretBox, SecretString};
        use $crate::error::{Error, Result};
        use $crate::store::{
            Credentials, CredentialsRow, KeyRow, NewUser, StoredKey, UserRow, join_roles,
            no_such_user, write_error,
        };
        use $crate::user::{User, email_key, username_key};

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn migrate(&self) -> Result<()> {
                $migrator
                    .run(&self.pool)
                    .await
                    .map_err(|e| Error::internal("migrating the database schema", e))
            }

            async fn create_user(&self, user: NewUser) -> Result<User> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "INSERT INTO users (id, username, username_key, email, email_key, password_hash, \
                     active, roles, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $8, $8) RETURNING ",
                    user_columns!()
                ))
                .bind(&user.id)
                .bind(&user.username)
                .bind(username_key(&user.username))
                .bind(user.email.as_deref())
                .bind(user.email.as_deref().map(email_key))
                .bind(user.password_hash.expose_secret())
                .bind(join_roles(&user.roles))
                .bind(user.created_at)
                .fetch_one(&self.pool)
                .await
                .map(User::from)
                .map_err(|e| write_error("creating a user", e))
            }

            async fn find_credentials(&self, login: &str) -> Result<Option<Credentials>> {
                let key = login.to_lowercase();
                sqlx::query_as::<_, CredentialsRow>(concat!(
                    "SELECT password_hash, ",
                    user_columns!(),
                    " FROM users WHERE username_key = $1 OR email_key = $1 LIMIT 1"
                ))
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map(|row| row.map(Credentials::from))
                .map_err(|e| Error::database("looking up credentials", e))
            }

            async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map(|row| row.map(User::from))
                .map_err(|e| Error::database("reading a user", e))
            }

            async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE username_key = $1"
                ))
                .bind(username_key(username))
                .fetch_optional(&self.pool)
                .await
                .map(|row| row.map(User::from))
                .map_err(|e| Error::database("reading a user", e))
            }

            async fn list_users(&self) -> Result<Vec<User>> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users ORDER BY username_key"
                ))
                .fetch_all(&self.pool)
                .await
                .map(|rows| rows.into_iter().map(User::from).collect())
                .map_err(|e| Error::database("listing users", e))
            }

            async fn set_active(&self, username: &str, active: bool, now: i64) -> Result<User> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "UPDATE users SET active = $1, updated_at = $2 WHERE username_key = $3 RETURNING ",
                    user_columns!()
                ))
                .bind(active)
                .bind(now)
                .bind(username_key(username))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| write_error("changing a user", e))?
                .map(User::from)
                .ok_or_else(|| no_such_user(username))
            }

            async fn set_password_hash(
                &self,
                username: &str,
                hash: SecretString,
                now: i64,
            ) -> Result<User> {
                sqlx::query_as::<_, UserRow>(concat!(
                    "UPDATE users SET password_hash = $1, updated_at = $2 WHERE username_key = $3 \
                     RETURNING ",
                    user_columns!()
                ))
                .bind(hash.expose_secret())
                .bind(now)
                .bind(username_key(username))
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| write_error("changing a password", e))?
                .map(User::from)
                .ok_or_else(|| no_such_user(username))
            }

            async fn record_login(
                &self,
                user_id: &str,
                now: i64,
                rehash: Option<SecretString>,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE users SET last_login_at = $1, \
                     password_hash = COALESCE($2, password_hash) WHERE id = $3",
                )
                .bind(now)
                .bind(rehash.as_ref().map(ExposeSecret::expose_secret))
                .bind(user_id)
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(|e| Error::database("recording a login", e))
            }

            async fn signing_keys(&self) -> Result<Vec<StoredKey>> {
                let rows = sqlx::query_as::<_, KeyRow>(concat!(
                    "SELECT ",
                    key_columns!(),
                    " FROM signing_keys WHERE state <> 'retired' ORDER BY created_at DESC, kid"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| Error::database("reading signing keys", e))?;
                rows.into_iter().map(StoredKey::try_from).collect()
            }

            async fn insert_signing_key(&self, key: &StoredKey) -> Result<bool> {
                let private: &SecretBox<Vec<u8>> = &key.private_key;
                sqlx::query(
                    "INSERT INTO signing_keys (kid, algorithm, state, private_key, public_key, \
                     created_at, activates_at, retires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(key.state.as_str())
                .bind(private.expose_secret().as_slice())
                .bind(key.public_key.as_slice())
                .bind(key.created_at)
                .bind(key.activates_at)
                .bind(key.retires_at)
                .execute(&self.pool)
                .await
                .map(|done| done.rows_affected() == 1)
                .map_err(|e| Error::database("storing a signing key", e))
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn all_signing_keys(&self) -> Result<Vec<StoredKey>> {
                let rows = sqlx::query_as::<_, KeyRow>(concat!(
                    "SELECT ",
                    key_columns!(),
                    " FROM signing_keys ORDER BY created_at DESC, kid"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| Error::database("reading signing keys", e))?;
                rows.into_iter().map(StoredKey::try_from).collect()
            }

            async fn promote_signing_key(
                &self,
                current_kid: &str,
                next_kid: &str,
                now: i64,
                previous_retires_at: i64,
            ) -> Result<bool> {
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(|e| Error::database("rotating signing keys", e))?;
                // Demote first: the unique index allows one current key at a time.
                let demoted = sqlx::query(
                    "UPDATE signing_keys SET state = 'previous', retires_at = $1 \
                     WHERE kid = $2 AND state = 'current'",
                )
                .bind(previous_retires_at)
                .bind(current_kid)
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::database("rotating signing keys", e))?
                .rows_affected();
                let promoted = sqlx::query(
                    "UPDATE signing_keys SET state = 'current', activates_at = $1 \
                     WHERE kid = $2 AND state = 'next'",
                )
                .bind(now)
                .bind(next_kid)
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::database("rotating signing keys", e))?
                .rows_affected();
                if demoted == 1 && promoted == 1 {
                    tx.commit()
                        .await
                        .map_err(|e| Error::database("rotating signing keys", e))?;
                    Ok(true)
                } else {
                    // Another process rotated first; its result stands.
                    tx.rollback()
                        .await
                        .map_err(|e| Error::database("rotating signing keys", e))?;
                    Ok(false)
                }
            }

            async fn retire_signing_keys(&self, now: i64) -> Result<Vec<String>> {
                // The private key is wiped: a retired key can never sign again.
                let empty: &[u8] = &[];
                sqlx::query_scalar::<_, String>(
                    "UPDATE signing_keys SET state = 'retired', private_key = $1 \
                     WHERE state = 'previous' AND retires_at <= $2 RETURNING kid",
                )
                .bind(empty)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| Error::database("retiring signing keys", e))
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map(drop)
                    .map_err(|e| Error::database("checking the database", e))
            }
        }
        };
    };
}

pub mod postgres;
pub mod sqlite;

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

    fn parse(s: &str) -> Result<Self> {
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
}

/// Everything authd keeps in its database.
///
/// Methods that look a user up return `Ok(None)` when there is none; methods
/// that change one by name return [`Error::NotFound`]. Unique violations are
/// [`Error::AlreadyExists`], unreachable databases [`Error::Unavailable`].
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
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

    /// All users, ordered by username.
    async fn list_users(&self) -> Result<Vec<User>>;

    /// Enables or disables a user by username.
    async fn set_active(&self, username: &str, active: bool, now: i64) -> Result<User>;

    /// Replaces a user's password hash, by username.
    async fn set_password_hash(&self, username: &str, hash: SecretString, now: i64)
    -> Result<User>;

    /// Records a successful login, replacing the hash if it was rehashed.
    async fn record_login(
        &self,
        user_id: &str,
        now: i64,
        rehash: Option<SecretString>,
    ) -> Result<()>;

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

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;
}

/// Pool settings common to both databases.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections.
    pub max_connections: u32,
    /// Bound on waiting for a connection.
    pub acquire_timeout: Duration,
}

/// Opens the store named by `url` (`sqlite:` or `postgres:`), without migrating.
///
/// # Errors
/// [`Error::Unavailable`] if the database cannot be reached, naming the URL
/// with its password redacted; [`Error::Config`] for an unsupported scheme.
pub async fn connect(url: &SecretString, pool: PoolSettings) -> Result<Arc<dyn Store>> {
    let raw = url.expose_secret();
    if raw.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(raw, pool).await?))
    } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(raw, pool).await?))
    } else {
        Err(Error::Config(
            "unsupported database URL: use sqlite://PATH or postgres://USER@HOST/DB".to_owned(),
        ))
    }
}

/// A row of the `users` table, shared by both implementations.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    active: bool,
    roles: String,
    created_at: i64,
    last_login_at: Option<i64>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            email: row.email,
            active: row.active,
            roles: split_roles(&row.roles),
            created_at: row.created_at,
            last_login_at: row.last_login_at,
        }
    }
}

/// A `users` row with its password hash.
#[derive(sqlx::FromRow)]
struct CredentialsRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

impl From<CredentialsRow> for Credentials {
    fn from(row: CredentialsRow) -> Self {
        Credentials {
            user: row.user.into(),
            password_hash: SecretString::from(row.password_hash),
        }
    }
}

/// A `signing_keys` row.
#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    algorithm: String,
    state: String,
    private_key: Vec<u8>,
    public_key: Vec<u8>,
    created_at: i64,
    activates_at: Option<i64>,
    retires_at: Option<i64>,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = Error;

    fn try_from(row: KeyRow) -> Result<Self> {
        Ok(StoredKey {
            kid: row.kid,
            algorithm: row.algorithm,
            state: KeyState::parse(&row.state)?,
            private_key: SecretBox::new(Box::new(row.private_key)),
            public_key: row.public_key,
            created_at: row.created_at,
            activates_at: row.activates_at.unwrap_or(row.created_at),
            retires_at: row.retires_at,
        })
    }
}

/// Roles are stored as one space-separated column (role names contain no spaces).
fn join_roles(roles: &[String]) -> String {
    roles.join(" ")
}

fn split_roles(roles: &str) -> Vec<String> {
    roles.split_whitespace().map(str::to_owned).collect()
}

/// Maps an insert/update error, turning unique violations into
/// [`Error::AlreadyExists`] with a message naming the taken field.
fn write_error(context: &'static str, err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        let what = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
        return if what.contains("email") {
            Error::AlreadyExists("a user with this email already exists".to_owned())
        } else {
            Error::AlreadyExists(
                "a user with this username already exists (usernames ignore case)".to_owned(),
            )
        };
    }
    Error::database(context, err)
}

/// The error for a write by username that matched no row.
fn no_such_user(username: &str) -> Error {
    Error::NotFound(format!("no user named {username:?}"))
}
