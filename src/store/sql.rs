//! The SQL shared by both databases, as a macro that implements [`Store`]
//! for a store type.
//!
//! The statements are portable between PostgreSQL and SQLite: placeholders
//! are `$N` (sqlx binds `$N` to the N-th argument on both; they are also
//! kept in order of first use, which is how SQLite itself would number
//! them), and `RETURNING`, `ON CONFLICT DO NOTHING`, `TRUE` and `COALESCE`
//! exist in both. Row locks come from `UPDATE` (PostgreSQL locks the row;
//! SQLite serialises writers), never from `SELECT ... FOR UPDATE`, which
//! SQLite lacks. Each database keeps its
//! own type, connection set-up, migrations and change feed; only these
//! statements are shared, so they cannot drift apart.
//!
//! Every write that other processes must hear about publishes a
//! [`Change`] inside its own transaction, with the database's `$publish`
//! statement (PostgreSQL: `pg_notify`; SQLite: a row in `change_log`), so a
//! change and its announcement commit together or not at all.
//!
//! [`Store`]: super::Store
//! [`Change`]: super::Change

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

/// The columns of a session row.
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, client_addr, user_agent, \
         revoked_at, revoked_reason"
    };
}

/// The columns of an audit-log row.
macro_rules! audit_columns {
    () => {
        "id, at, event, user_id, subject, client_addr, outcome, detail"
    };
}

/// Implements [`super::Store`] for `$store` (which has a `pool` field of a
/// pool for database `$db`), with migrations `$migrator` and the one-argument
/// statement `$publish` that announces a change.
macro_rules! sql_store {
    ($store:ty, $db:ty, $migrator:expr, $publish:literal) => {
        const _: () = {
            use secrecy::{ExposeSecret, SecretBox, SecretString};
            use $crate::error::{Error, Result};
            use $crate::store::{
                AuditEntry, Change, ChangeFeed, Credentials, CredentialsRow, EndReason, KeyRow,
                LoginFailures, LoginSnapshot, NewAuditEntry, NewSession, NewUser, RefreshRecord,
                RefreshRow, Rotation, Session, SessionRow, StoredKey, UserRow, distinct,
                join_roles, no_such_user, placeholders, write_error,
            };
            use $crate::user::{User, email_key, login_key, username_key};

            type Tx<'a> = sqlx::Transaction<'a, $db>;

            impl $store {
                async fn publish(tx: &mut Tx<'_>, change: &Change) -> Result<()> {
                    sqlx::query($publish)
                        .bind(change.encode())
                        .execute(&mut **tx)
                        .await
                        .map(drop)
                        .map_err(|e| Error::database("announcing a change", e))
                }

                async fn begin(&self, context: &'static str) -> Result<Tx<'_>> {
                    self.pool
                        .begin()
                        .await
                        .map_err(|e| Error::database(context, e))
                }

                async fn commit(tx: Tx<'_>, context: &'static str) -> Result<()> {
                    tx.commit().await.map_err(|e| Error::database(context, e))
                }

                /// Ends the live sessions of `user_id` inside `tx` and announces it.
                async fn end_sessions_in(
                    tx: &mut Tx<'_>,
                    user_id: &str,
                    reason: EndReason,
                    now: i64,
                ) -> Result<u64> {
                    let ended = sqlx::query(
                        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
                         WHERE user_id = $3 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(reason.as_str())
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| Error::database("ending sessions", e))?
                    .rows_affected();
                    Self::publish(tx, &Change::UserSessions(user_id.to_owned())).await?;
                    Ok(ended)
                }

                /// Updates one user by username inside `tx`, then announces it.
                async fn update_user_in(
                    tx: &mut Tx<'_>,
                    query: sqlx::query::QueryAs<'_, $db, UserRow, <$db as sqlx::Database>::Arguments>,
                    username: &str,
                    context: &'static str,
                ) -> Result<User> {
                    let user = query
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(|e| write_error(context, e))?
                        .map(User::from)
                        .ok_or_else(|| no_such_user(username))?;
                    Self::publish(tx, &Change::User(user.id.clone())).await?;
                    Ok(user)
                }
            }

            #[async_trait::async_trait]
            impl $crate::store::Store for $store {
                async fn migrate(&self) -> Result<()> {
                    $migrator
                        .run(&self.pool)
                        .await
                        .map_err(|e| match e {
                            // An unreachable database is "try again later"
                            // (start-up retries it); a broken migration is not.
                            sqlx::migrate::MigrateError::Execute(e)
                            | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => {
                                Error::database("migrating the database schema", e)
                            }
                            other => Error::internal("migrating the database schema", other),
                        })
                }

                async fn create_user(&self, user: NewUser) -> Result<User> {
                    sqlx::query_as::<_, UserRow>(concat!(
                        "INSERT INTO users (id, username, username_key, email, email_key, \
                         password_hash, active, roles, created_at, updated_at) \
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
                    let key = login_key(login);
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
                    let mut tx = self.begin("changing a user").await?;
                    let query = sqlx::query_as::<_, UserRow>(concat!(
                        "UPDATE users SET active = $1, updated_at = $2 WHERE username_key = $3 \
                         RETURNING ",
                        user_columns!()
                    ))
                    .bind(active)
                    .bind(now)
                    .bind(username_key(username));
                    let user =
                        Self::update_user_in(&mut tx, query, username, "changing a user").await?;
                    if !active {
                        Self::end_sessions_in(&mut tx, &user.id, EndReason::UserDisabled, now)
                            .await?;
                    }
                    Self::commit(tx, "changing a user").await?;
                    Ok(user)
                }

                async fn set_password_hash(
                    &self,
                    username: &str,
                    hash: SecretString,
                    now: i64,
                ) -> Result<User> {
                    let mut tx = self.begin("changing a password").await?;
                    let query = sqlx::query_as::<_, UserRow>(concat!(
                        "UPDATE users SET password_hash = $1, updated_at = $2 \
                         WHERE username_key = $3 RETURNING ",
                        user_columns!()
                    ))
                    .bind(hash.expose_secret().to_owned())
                    .bind(now)
                    .bind(username_key(username));
                    let user =
                        Self::update_user_in(&mut tx, query, username, "changing a password")
                            .await?;
                    Self::end_sessions_in(&mut tx, &user.id, EndReason::PasswordChanged, now)
                        .await?;
                    Self::commit(tx, "changing a password").await?;
                    Ok(user)
                }

                async fn set_roles(
                    &self,
                    username: &str,
                    roles: &[String],
                    now: i64,
                ) -> Result<User> {
                    let mut tx = self.begin("changing roles").await?;
                    let query = sqlx::query_as::<_, UserRow>(concat!(
                        "UPDATE users SET roles = $1, updated_at = $2 WHERE username_key = $3 \
                         RETURNING ",
                        user_columns!()
                    ))
                    .bind(join_roles(roles))
                    .bind(now)
                    .bind(username_key(username));
                    let user =
                        Self::update_user_in(&mut tx, query, username, "changing roles").await?;
                    Self::end_sessions_in(&mut tx, &user.id, EndReason::RolesChanged, now)
                        .await?;
                    Self::commit(tx, "changing roles").await?;
                    Ok(user)
                }

                async fn delete_user(&self, username: &str) -> Result<User> {
                    let mut tx = self.begin("deleting a user").await?;
                    let query = sqlx::query_as::<_, UserRow>(concat!(
                        "DELETE FROM users WHERE username_key = $1 RETURNING ",
                        user_columns!()
                    ))
                    .bind(username_key(username));
                    let user =
                        Self::update_user_in(&mut tx, query, username, "deleting a user").await?;
                    // Sessions went with the user (ON DELETE CASCADE).
                    Self::publish(&mut tx, &Change::UserSessions(user.id.clone())).await?;
                    Self::commit(tx, "deleting a user").await?;
                    Ok(user)
                }

                async fn start_session(
                    &self,
                    session: NewSession,
                    seen: &LoginSnapshot,
                    rehash: Option<SecretString>,
                    max_per_user: u32,
                ) -> Result<Option<Vec<String>>> {
                    let mut tx = self.begin("starting a session").await?;
                    // Locks the user row (PostgreSQL) and re-checks it: a
                    // password, role or active change since the password
                    // check makes this login fail instead of outliving it.
                    let unchanged = sqlx::query(
                        "UPDATE users SET last_login_at = $1, \
                         password_hash = COALESCE($2, password_hash) \
                         WHERE id = $3 AND active = TRUE AND password_hash = $4 AND roles = $5",
                    )
                    .bind(session.created_at)
                    .bind(rehash.as_ref().map(|h| h.expose_secret().to_owned()))
                    .bind(&session.user_id)
                    .bind(seen.password_hash.expose_secret().to_owned())
                    .bind(join_roles(&seen.roles))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::database("recording a login", e))?
                    .rows_affected()
                        == 1;
                    if !unchanged {
                        tx.rollback()
                            .await
                            .map_err(|e| Error::database("starting a session", e))?;
                        return Ok(None);
                    }
                    sqlx::query(
                        "INSERT INTO sessions (id, user_id, created_at, last_used_at, \
                         expires_at, client_addr, user_agent) \
                         VALUES ($1, $2, $3, $3, $4, $5, $6)",
                    )
                    .bind(&session.id)
                    .bind(&session.user_id)
                    .bind(session.created_at)
                    .bind(session.expires_at)
                    .bind(session.client_addr.as_deref())
                    .bind(session.user_agent.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::database("starting a session", e))?;
                    sqlx::query(
                        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(&session.refresh_hash)
                    .bind(&session.id)
                    .bind(session.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::database("storing a refresh token", e))?;

                    let mut evicted = Vec::new();
                    if max_per_user > 0 {
                        // Session ids are time-ordered (UUIDv7): newest first.
                        // The user row lock above serialises a user's logins,
                        // so concurrent logins cannot overshoot the limit.
                        let live: Vec<(String,)> = sqlx::query_as(
                            "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
                             AND expires_at > $2 ORDER BY id DESC",
                        )
                        .bind(&session.user_id)
                        .bind(session.created_at)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(|e| Error::database("counting sessions", e))?;
                        let keep = usize::try_from(max_per_user).unwrap_or(usize::MAX);
                        for (id,) in live.into_iter().skip(keep) {
                            sqlx::query(
                                "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
                                 WHERE id = $3",
                            )
                            .bind(session.created_at)
                            .bind(EndReason::Evicted.as_str())
                            .bind(&id)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| Error::database("evicting a session", e))?;
                            Self::publish(&mut tx, &Change::Session(id.clone())).await?;
                            evicted.push(id);
                        }
                    }
                    Self::commit(tx, "starting a session").await?;
                    Ok(Some(evicted))
                }

                async fn session(&self, id: &str) -> Result<Option<Session>> {
                    sqlx::query_as::<_, SessionRow>(concat!(
                        "SELECT ",
                        session_columns!(),
                        " FROM sessions WHERE id = $1"
                    ))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map(|row| row.map(Session::from))
                    .map_err(|e| Error::database("reading a session", e))
                }

                async fn live_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>> {
                    sqlx::query_as::<_, SessionRow>(concat!(
                        "SELECT ",
                        session_columns!(),
                        " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
                         AND expires_at > $2 ORDER BY id"
                    ))
                    .bind(user_id)
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await
                    .map(|rows| rows.into_iter().map(Session::from).collect())
                    .map_err(|e| Error::database("listing sessions", e))
                }

                async fn refresh_token(&self, hash: &str) -> Result<Option<RefreshRecord>> {
                    sqlx::query_as::<_, RefreshRow>(
                        "SELECT session_id, rotated_at, successor_sealed FROM refresh_tokens \
                         WHERE token_hash = $1",
                    )
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map(|row| row.map(RefreshRecord::from))
                    .map_err(|e| Error::database("reading a refresh token", e))
                }

                async fn rotate_refresh_token(
                    &self,
                    old_hash: &str,
                    new_hash: &str,
                    sealed_successor: &[u8],
                    now: i64,
                ) -> Result<Rotation> {
                    let mut tx = self.begin("rotating a refresh token").await?;
                    // First the session: locks its row and checks it is live,
                    // so a logout committing meanwhile either waits for this
                    // rotation (and then ends the session) or wins outright.
                    let live = sqlx::query(
                        "UPDATE sessions SET last_used_at = $1 WHERE id = \
                         (SELECT session_id FROM refresh_tokens WHERE token_hash = $2) \
                         AND revoked_at IS NULL AND expires_at > $1",
                    )
                    .bind(now)
                    .bind(old_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::database("rotating a refresh token", e))?
                    .rows_affected()
                        == 1;
                    if !live {
                        tx.rollback()
                            .await
                            .map_err(|e| Error::database("rotating a refresh token", e))?;
                        return Ok(Rotation::SessionEnded);
                    }
                    // Only one caller can move a token from live to rotated.
                    let won = sqlx::query(
                        "UPDATE refresh_tokens SET rotated_at = $1, successor_sealed = $2 \
                         WHERE token_hash = $3 AND rotated_at IS NULL",
                    )
                    .bind(now)
                    .bind(sealed_successor)
                    .bind(old_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::database("rotating a refresh token", e))?
                    .rows_affected()
                        == 1;
                    if !won {
                        tx.rollback()
                            .await
                            .map_err(|e| Error::database("rotating a refresh token", e))?;
                        return Ok(Rotation::AlreadyRotated);
                    }
                    sqlx::query(
                        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) \
                         SELECT $1, session_id, $2 FROM refresh_tokens WHERE token_hash = $3",
                    )
                    .bind(new_hash)
                    .bind(now)
                    .bind(old_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::database("storing a refresh token", e))?;
                    Self::commit(tx, "rotating a refresh token").await?;
                    Ok(Rotation::Rotated)
                }

                async fn end_session(&self, id: &str, reason: EndReason, now: i64) -> Result<bool> {
                    let mut tx = self.begin("ending a session").await?;
                    let ended = sqlx::query(
                        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
                         WHERE id = $3 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(reason.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::database("ending a session", e))?
                    .rows_affected()
                        == 1;
                    if ended {
                        Self::publish(&mut tx, &Change::Session(id.to_owned())).await?;
                    }
                    Self::commit(tx, "ending a session").await?;
                    Ok(ended)
                }

                async fn end_user_sessions(
                    &self,
                    user_id: &str,
                    reason: EndReason,
                    now: i64,
                ) -> Result<u64> {
                    let mut tx = self.begin("ending sessions").await?;
                    let ended = Self::end_sessions_in(&mut tx, user_id, reason, now).await?;
                    Self::commit(tx, "ending sessions").await?;
                    Ok(ended)
                }

                async fn purge_sessions(&self, now: i64, ended_before: i64) -> Result<u64> {
                    sqlx::query(
                        "DELETE FROM sessions WHERE expires_at <= $1 \
                         OR (revoked_at IS NOT NULL AND revoked_at <= $2)",
                    )
                    .bind(now)
                    .bind(ended_before)
                    .execute(&self.pool)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(|e| Error::database("purging sessions", e))
                }

                async fn change_feed(&self) -> Result<Box<dyn ChangeFeed>> {
                    self.open_change_feed().await
                }

                async fn heartbeat(&self) -> Result<()> {
                    self.send_heartbeat().await
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
                    let mut tx = self.begin("storing a signing key").await?;
                    let inserted = sqlx::query(
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
                    .execute(&mut *tx)
                    .await
                    .map(|done| done.rows_affected() == 1)
                    .map_err(|e| Error::database("storing a signing key", e))?;
                    if inserted {
                        Self::publish(&mut tx, &Change::Keys).await?;
                    }
                    Self::commit(tx, "storing a signing key").await?;
                    Ok(inserted)
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
                    let mut tx = self.begin("rotating signing keys").await?;
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
                        Self::publish(&mut tx, &Change::Keys).await?;
                        Self::commit(tx, "rotating signing keys").await?;
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
                    let mut tx = self.begin("retiring signing keys").await?;
                    let retired = sqlx::query_scalar::<_, String>(
                        "UPDATE signing_keys SET state = 'retired', private_key = $1 \
                         WHERE state = 'previous' AND retires_at <= $2 RETURNING kid",
                    )
                    .bind(empty)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| Error::database("retiring signing keys", e))?;
                    if !retired.is_empty() {
                        Self::publish(&mut tx, &Change::Keys).await?;
                    }
                    Self::commit(tx, "retiring signing keys").await?;
                    Ok(retired)
                }

                async fn ping(&self) -> Result<()> {
                    sqlx::query("SELECT 1")
                        .execute(&self.pool)
                        .await
                        .map(drop)
                        .map_err(|e| Error::database("checking the database", e))
                }

                async fn close(&self) {
                    self.pool.close().await;
                }

                async fn login_failures(&self, keys: &[&str]) -> Result<Vec<LoginFailures>> {
                    let keys = distinct(keys);
                    if keys.is_empty() {
                        return Ok(Vec::new());
                    }
                    // Only placeholders are spliced in; the keys are bound.
                    let sql = format!(
                        "SELECT throttle_key, failures, last_failure_at FROM login_failures \
                         WHERE throttle_key IN ({})",
                        placeholders(1, keys.len())
                    );
                    let mut query = sqlx::query_as::<_, LoginFailures>(sqlx::AssertSqlSafe(sql));
                    for key in keys {
                        query = query.bind(key);
                    }
                    query
                        .fetch_all(&self.pool)
                        .await
                        .map_err(|e| Error::database("reading failed-login counts", e))
                }

                async fn record_login_failure(
                    &self,
                    keys: &[&str],
                    now: i64,
                    forget_before: i64,
                ) -> Result<()> {
                    let keys = distinct(keys);
                    if keys.is_empty() {
                        return Ok(());
                    }
                    // Placeholders in order of first use: the first key $1,
                    // now $2, further keys $3.., forget_before last.
                    let rows = (0..keys.len())
                        .map(|i| {
                            let key = if i == 0 { 1 } else { i + 2 };
                            format!("(${key}, 1, $2)")
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    let forget = keys.len() + 2;
                    let sql = format!(
                        "INSERT INTO login_failures (throttle_key, failures, last_failure_at) \
                         VALUES {rows} ON CONFLICT (throttle_key) DO UPDATE SET \
                         failures = CASE WHEN login_failures.last_failure_at > ${forget} \
                         THEN login_failures.failures + 1 ELSE 1 END, \
                         last_failure_at = excluded.last_failure_at"
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(keys[0]).bind(now);
                    for key in &keys[1..] {
                        query = query.bind(*key);
                    }
                    query
                        .bind(forget_before)
                        .execute(&self.pool)
                        .await
                        .map(drop)
                        .map_err(|e| Error::database("counting a failed login", e))
                }

                async fn clear_login_failures(&self, keys: &[&str]) -> Result<u64> {
                    let keys = distinct(keys);
                    if keys.is_empty() {
                        return Ok(0);
                    }
                    let sql = format!(
                        "DELETE FROM login_failures WHERE throttle_key IN ({})",
                        placeholders(1, keys.len())
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for key in keys {
                        query = query.bind(key);
                    }
                    query
                        .execute(&self.pool)
                        .await
                        .map(|r| r.rows_affected())
                        .map_err(|e| Error::database("clearing failed-login counts", e))
                }

                async fn purge_login_failures(&self, forget_before: i64) -> Result<u64> {
                    sqlx::query("DELETE FROM login_failures WHERE last_failure_at <= $1")
                        .bind(forget_before)
                        .execute(&self.pool)
                        .await
                        .map(|r| r.rows_affected())
                        .map_err(|e| Error::database("purging failed-login counts", e))
                }

                async fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64> {
                    sqlx::query_scalar::<_, i64>(
                        "INSERT INTO audit_log (at, event, user_id, subject, client_addr, \
                         outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    )
                    .bind(entry.at)
                    .bind(&entry.event)
                    .bind(entry.user_id.as_deref())
                    .bind(&entry.subject)
                    .bind(entry.client_addr.as_deref())
                    .bind(&entry.outcome)
                    .bind(&entry.detail)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| Error::database("writing the audit log", e))
                }

                async fn audit_tail(
                    &self,
                    limit: u32,
                    after_id: Option<i64>,
                ) -> Result<Vec<AuditEntry>> {
                    let limit = i64::from(limit);
                    let rows = match after_id {
                        Some(after) => sqlx::query_as::<_, AuditEntry>(concat!(
                            "SELECT ",
                            audit_columns!(),
                            " FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
                        ))
                        .bind(after)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await,
                        None => sqlx::query_as::<_, AuditEntry>(concat!(
                            "SELECT ",
                            audit_columns!(),
                            " FROM audit_log ORDER BY id DESC LIMIT $1"
                        ))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await
                        .map(|mut rows| {
                            rows.reverse();
                            rows
                        }),
                    };
                    rows.map_err(|e| Error::database("reading the audit log", e))
                }
            }
        };
    };
}
