//! `authd-load seed`: writes N users and M sessions straight into an authd
//! database (already migrated: `main.rs` runs `authd migrate` first), for
//! the scale measurements of docs/scaling.md.
//!
//! Rows are written as authd writes them (`src/store/sql/users.rs` and
//! `sessions.rs`): UUIDv4 user ids, UUIDv7 session ids whose time is the
//! session's start (so `ORDER BY id` is start order, as eviction assumes),
//! lower-cased `username_key` and `email_key`, Unix-second timestamps, one
//! refresh-token row per session whose `token_hash` is the base64url form
//! of 32 random bytes (the shape of a SHA-256; no token maps to it, so no
//! seeded refresh token can be used), and sessions whose start is spread
//! uniformly over the last session lifetime, so their `expires_at` is spread
//! over the next one. About 5% of the sessions ended (a logout) in the last
//! ten minutes, as the purge would leave them.
//!
//! **Passwords.** Argon2id (authd's defaults: 19456 KiB, 2 passes, 1 lane)
//! is computed for the first `known` users only, `user-0` .. `user-{known-1}`,
//! each with the password [`KNOWN_PASSWORD`]; every other user shares one
//! hash of a random password made and forgotten in this run, so nobody can
//! log in as them. `user-0` holds the `admin` role.
//!
//! **Spread.** Most users have 0–2 sessions and a few have many: a light
//! user's count is geometric (mean 1, or the overall mean when that is
//! below 1: P(0) = 1/2, P(≤ 2) = 7/8), a heavy user's uniform between a
//! fifth of `max_per_user` and `max_per_user` (authd's live-session limit);
//! the share of heavy users makes the mean M/N, and a last pass adds or
//! removes single sessions at random heavy users until the total is
//! exactly M.
//! Everything comes from one seeded generator (`seed`): the same flags give
//! the same rows, except the Argon2 salts.
//!
//! **Writing.** PostgreSQL: one transaction, `COPY ... FROM STDIN` (text
//! format) into `users`, `sessions`, `refresh_tokens`, then `ANALYZE`; as a
//! superuser without the per-row foreign-key checks (the rows are
//! consistent by construction).
//! SQLite: multi-row `INSERT`s of [`SQLITE_ROWS_PER_INSERT`] rows, committed
//! every [`SQLITE_ROWS_PER_TX`] rows. Both refuse a database that already
//! has users (the generated names would collide).
//!
//! The file is self-contained (sqlx, uuid, argon2, base64): the integration
//! suite compiles it too (`tests/api/seed.rs`), to seed a database and log
//! in to the real server with a seeded user.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "counts become f64 for the spread's shares and rates, far below 2^52"
)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::{Connection as _, PgConnection, SqliteConnection};

/// The password of the users with a real Argon2id hash (`user-0` ..).
pub const KNOWN_PASSWORD: &str = "seeded user password 1";
/// Rows per multi-row `INSERT` on SQLite (11 columns: 5,500 parameters,
/// below SQLite's 32,766).
pub const SQLITE_ROWS_PER_INSERT: usize = 500;
/// Rows per transaction on SQLite.
pub const SQLITE_ROWS_PER_TX: usize = 50_000;
/// Bytes of COPY text buffered before each send.
const COPY_CHUNK: usize = 1 << 20;
/// Users are created between this long and the session lifetime before now.
const USER_AGE_SECS: i64 = 365 * 86_400;
/// Share of sessions that ended (a logout) within [`ENDED_WINDOW_SECS`].
const ENDED_PER_MILLE: u64 = 50;
const ENDED_WINDOW_SECS: i64 = 600;

/// What to write.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Users to write.
    pub users: u64,
    /// Sessions to write (one refresh-token row each).
    pub sessions: u64,
    /// Users with a real Argon2id hash of [`KNOWN_PASSWORD`].
    pub known: u64,
    /// The generator's seed.
    pub seed: u64,
    /// Most sessions one user gets (authd's `--max-sessions-per-user`).
    pub max_per_user: u32,
    /// Session lifetime in seconds (authd's `--session-lifetime`).
    pub session_lifetime: i64,
    /// "Now", Unix seconds: sessions start before it and expire after it.
    pub now: i64,
}

impl Plan {
    /// # Errors
    /// A message when the plan cannot be met.
    pub fn check(&self) -> Result<(), String> {
        if self.users == 0 {
            return Err("--users must be at least 1".into());
        }
        if self.known > self.users {
            return Err("--known-users must not exceed --users".into());
        }
        if self.max_per_user == 0 {
            return Err("--max-per-user must be at least 1".into());
        }
        if self.sessions > self.users * u64::from(self.max_per_user) {
            return Err(format!(
                "--sessions {} is more than --users x --max-per-user ({} x {})",
                self.sessions, self.users, self.max_per_user
            ));
        }
        if self.session_lifetime < 60 {
            return Err("--session-lifetime must be at least 60 seconds".into());
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub users: u64,
    pub sessions: u64,
    /// Refresh-token rows (one per session).
    pub refresh_tokens: u64,
    /// Argon2id hashing time (the known users and the shared hash).
    pub hashing: Duration,
    /// Writing time, from the first row to the commit (and ANALYZE).
    pub writing: Duration,
}

impl Report {
    /// Rows (users, sessions and refresh tokens) per second of writing.
    #[must_use]
    pub fn rows_per_second(&self) -> f64 {
        (self.users + self.sessions + self.refresh_tokens) as f64
            / self.writing.as_secs_f64().max(1e-9)
    }
}

/// Seeds the (migrated, user-less) authd database at `url`
/// (`postgres://...` or `sqlite:...`).
///
/// # Errors
/// A message for a bad plan, a database with users, or a database error.
pub async fn seed(url: &str, plan: &Plan) -> Result<Report, String> {
    plan.check()?;
    let started = Instant::now();
    let hashes = Hashes::make(plan.known)?;
    let hashing = started.elapsed();
    let counts = session_counts(plan);
    let started = Instant::now();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        write_postgres(url, plan, &hashes, &counts).await?;
    } else if url.starts_with("sqlite:") {
        write_sqlite(url, plan, &hashes, &counts).await?;
    } else {
        return Err(format!("{url:?} is neither postgres:// nor sqlite:"));
    }
    Ok(Report {
        users: plan.users,
        sessions: plan.sessions,
        refresh_tokens: plan.sessions,
        hashing,
        writing: started.elapsed(),
    })
}

/// The password hashes: one per known user, one shared by the rest.
struct Hashes {
    known: Vec<String>,
    shared: String,
}

impl Hashes {
    fn make(known: u64) -> Result<Self, String> {
        use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
        let params = Params::new(19_456, 2, 1, None).map_err(|e| e.to_string())?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let hash = |password: &[u8]| {
            argon
                .hash_password(password)
                .map(|h| h.to_string())
                .map_err(|e| format!("argon2: {e}"))
        };
        let known = (0..known)
            .map(|_| hash(KNOWN_PASSWORD.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        // A password nobody knows: made from the clock's nanoseconds and the
        // process id, hashed, and dropped.
        let secret = format!("{:?}-{}", std::time::SystemTime::now(), std::process::id());
        Ok(Self {
            known,
            shared: hash(secret.as_bytes())?,
        })
    }

    fn of(&self, user: u64) -> &str {
        usize::try_from(user)
            .ok()
            .and_then(|i| self.known.get(i))
            .map_or(&self.shared, String::as_str)
    }
}

/// splitmix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    /// A generator for one purpose (`stream`) of one item (`index`).
    fn new(seed: u64, stream: u64, index: u64) -> Self {
        let mut rng = Self(seed ^ stream.wrapping_mul(0xa076_1d64_78bd_642f));
        rng.0 ^= index.wrapping_mul(0xe703_7ed1_a0b4_28db);
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `0.0..1.0`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        out
    }

    /// Uniform in `0..n` seconds, as i64 (`n` > 0).
    fn secs(&mut self, n: i64) -> i64 {
        i64::try_from(self.below(u64::try_from(n.max(1)).unwrap_or(1))).unwrap_or(0)
    }
}

const COUNTS: u64 = 1;
const USERS: u64 = 2;
const SESSIONS: u64 = 3;

/// Each user's session count: light (geometric) or heavy (uniform, up to
/// the limit), then single-session corrections until the sum is exactly M.
fn session_counts(plan: &Plan) -> Vec<u32> {
    let n = usize::try_from(plan.users).unwrap_or(usize::MAX);
    let cap = plan.max_per_user;
    let mean = plan.sessions as f64 / plan.users as f64;
    let light_mean = mean.min(1.0);
    let (heavy_low, heavy_high) = ((cap / 5).max(1), cap);
    let heavy_mean = f64::from(heavy_low + heavy_high) / 2.0;
    let heavy_share = if heavy_mean > light_mean {
        ((mean - light_mean) / (heavy_mean - light_mean)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Geometric on 0, 1, 2, ...: one more while a coin with P(more) falls.
    let more = light_mean / (1.0 + light_mean);
    let mut rng = Rng::new(plan.seed, COUNTS, 0);
    let mut counts: Vec<u32> = (0..n)
        .map(|_| {
            if rng.unit() < heavy_share {
                heavy_low
                    + u32::try_from(rng.below(u64::from(heavy_high - heavy_low + 1))).unwrap_or(0)
            } else {
                let mut k = 0;
                while k < cap && rng.unit() < more {
                    k += 1;
                }
                k
            }
        })
        .collect();
    let mut total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    // Random single steps first (bounded), then a sweep that always ends:
    // the plan's check guarantees M <= N x cap.
    // The steps go to heavy users (when there are any), so the light ones
    // keep their 0-2.
    let floor = if heavy_share > 0.0 { heavy_low } else { 0 };
    let mut tries = 40 * total.abs_diff(plan.sessions) + 1000;
    while total != plan.sessions && tries > 0 {
        tries -= 1;
        let i = usize::try_from(rng.below(plan.users)).unwrap_or(0);
        if counts[i] < floor {
            continue;
        }
        if total < plan.sessions && counts[i] < cap {
            counts[i] += 1;
            total += 1;
        } else if total > plan.sessions && counts[i] > floor {
            counts[i] -= 1;
            total -= 1;
        }
    }
    for count in &mut counts {
        if total < plan.sessions {
            let add = (cap - *count).min(u32::try_from(plan.sessions - total).unwrap_or(u32::MAX));
            *count += add;
            total += u64::from(add);
        } else if total > plan.sessions {
            let take = (*count).min(u32::try_from(total - plan.sessions).unwrap_or(u32::MAX));
            *count -= take;
            total -= u64::from(take);
        }
    }
    counts
}

/// A `users` row.
struct UserRow {
    id: String,
    username: String,
    email: String,
    roles: &'static str,
    created_at: i64,
    last_login_at: Option<i64>,
}

/// A `sessions` row and its refresh-token row.
struct SessionRow {
    id: String,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
    client_addr: String,
    user_agent: &'static str,
    ended_at: Option<i64>,
    token_hash: String,
}

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0",
    "okhttp/4.12.0",
];

/// User `i`'s id (UUIDv4 from the generator).
fn user_id(plan: &Plan, i: u64) -> String {
    let mut rng = Rng::new(plan.seed, USERS, i);
    uuid::Builder::from_random_bytes(rng.bytes())
        .into_uuid()
        .to_string()
}

/// User `i`'s sessions.
fn sessions_of(plan: &Plan, i: u64, count: u32) -> Vec<SessionRow> {
    let mut rng = Rng::new(plan.seed, SESSIONS, i);
    (0..count)
        .map(|_| {
            let created_at = plan.now - 1 - rng.secs(plan.session_lifetime - 1);
            let last_used_at = created_at + rng.secs(plan.now - created_at);
            let millis = u64::try_from(created_at).unwrap_or(0) * 1000 + rng.below(1000);
            let id = uuid::Builder::from_unix_timestamp_millis(millis, &rng.bytes())
                .into_uuid()
                .to_string();
            let ended_at = (rng.below(1000) < ENDED_PER_MILLE)
                .then(|| (plan.now - rng.secs(ENDED_WINDOW_SECS)).max(last_used_at));
            let addr: [u8; 3] = rng.bytes();
            SessionRow {
                id,
                created_at,
                last_used_at,
                expires_at: created_at + plan.session_lifetime,
                client_addr: format!("10.{}.{}.{}", addr[0], addr[1], addr[2]),
                user_agent: USER_AGENTS[usize::try_from(rng.below(4)).unwrap_or(0)],
                ended_at,
                token_hash: URL_SAFE_NO_PAD.encode(rng.bytes::<32>()),
            }
        })
        .collect()
}

/// User `i`'s row; its last login is its newest session's start.
fn user_row(plan: &Plan, i: u64, sessions: &[SessionRow]) -> UserRow {
    let mut rng = Rng::new(plan.seed, USERS, i);
    let _id_bytes: [u8; 16] = rng.bytes();
    let created_at = plan.now - plan.session_lifetime - rng.secs(USER_AGE_SECS);
    UserRow {
        id: user_id(plan, i),
        username: format!("user-{i}"),
        email: format!("user-{i}@example.test"),
        roles: if i == 0 { "admin" } else { "" },
        created_at,
        last_login_at: sessions.iter().map(|s| s.created_at).max(),
    }
}

fn opt(value: Option<i64>) -> String {
    value.map_or_else(|| "\\N".to_owned(), |v| v.to_string())
}

/// Streams lines into a COPY, a chunk at a time.
async fn copy_lines(
    conn: &mut PgConnection,
    statement: &str,
    plan: &Plan,
    counts: &[u32],
    mut line: impl FnMut(u64, &mut String, &[u32]),
) -> Result<(), String> {
    let mut copy = conn
        .copy_in_raw(statement)
        .await
        .map_err(|e| format!("{statement}: {e}"))?;
    let mut buffer = String::with_capacity(COPY_CHUNK + 4096);
    for i in 0..plan.users {
        line(i, &mut buffer, counts);
        if buffer.len() >= COPY_CHUNK {
            copy.send(buffer.as_bytes())
                .await
                .map_err(|e| format!("{statement}: {e}"))?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_bytes())
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
    }
    copy.finish()
        .await
        .map_err(|e| format!("{statement}: {e}"))?;
    Ok(())
}

fn count_of(counts: &[u32], i: u64) -> u32 {
    usize::try_from(i)
        .ok()
        .and_then(|i| counts.get(i))
        .copied()
        .unwrap_or(0)
}

async fn write_postgres(
    url: &str,
    plan: &Plan,
    hashes: &Hashes,
    counts: &[u32],
) -> Result<(), String> {
    use std::fmt::Write as _;
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    refuse(sqlx::query_as(ANY_USER).fetch_optional(&mut conn).await)?;
    // The foreign keys hold by construction (users, then their sessions,
    // then those sessions' refresh tokens), so a superuser skips their
    // per-row checks (`session_replication_role = replica`, which holds for
    // this connection only); anyone else seeds with the checks on.
    let unchecked = sqlx::raw_sql("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .is_ok();
    if !unchecked {
        eprintln!("authd-load seed: not a superuser, so foreign keys are checked row by row");
    }
    // Seeding is one transaction: a failure leaves the database as it was.
    sqlx::raw_sql("SET synchronous_commit = off; BEGIN")
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    copy_lines(
        &mut conn,
        "COPY users (id, username, username_key, email, email_key, password_hash, active, \
         roles, created_at, updated_at, last_login_at) FROM STDIN",
        plan,
        counts,
        |i, out, counts| {
            let sessions = sessions_of(plan, i, count_of(counts, i));
            let u = user_row(plan, i, &sessions);
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\tt\t{}\t{}\t{}\t{}",
                u.id,
                u.username,
                u.username.to_lowercase(),
                u.email,
                u.email.to_lowercase(),
                hashes.of(i),
                u.roles,
                u.created_at,
                u.created_at,
                opt(u.last_login_at)
            );
        },
    )
    .await?;
    copy_lines(
        &mut conn,
        "COPY sessions (id, user_id, created_at, last_used_at, expires_at, client_addr, \
         user_agent, revoked_at, revoked_reason) FROM STDIN",
        plan,
        counts,
        |i, out, counts| {
            let user = user_id(plan, i);
            for s in sessions_of(plan, i, count_of(counts, i)) {
                let _ = writeln!(
                    out,
                    "{}\t{user}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    s.id,
                    s.created_at,
                    s.last_used_at,
                    s.expires_at,
                    s.client_addr,
                    s.user_agent,
                    opt(s.ended_at),
                    if s.ended_at.is_some() {
                        "logout"
                    } else {
                        "\\N"
                    }
                );
            }
        },
    )
    .await?;
    copy_lines(
        &mut conn,
        "COPY refresh_tokens (token_hash, session_id, created_at) FROM STDIN",
        plan,
        counts,
        |i, out, counts| {
            for s in sessions_of(plan, i, count_of(counts, i)) {
                let _ = writeln!(out, "{}\t{}\t{}", s.token_hash, s.id, s.last_used_at);
            }
        },
    )
    .await?;
    sqlx::raw_sql("COMMIT; ANALYZE users; ANALYZE sessions; ANALYZE refresh_tokens")
        .execute(&mut conn)
        .await
        .map_err(|e| format!("committing: {e}"))?;
    conn.close().await.map_err(|e| e.to_string())
}

/// The refusal of a database that already has users.
fn refuse(any: Result<Option<(String,)>, sqlx::Error>) -> Result<(), String> {
    match any {
        Err(e) => Err(format!("reading users (was the database migrated?): {e}")),
        Ok(Some(_)) => {
            Err("the database already has users; seed an empty (migrated) database".into())
        }
        Ok(None) => Ok(()),
    }
}

const ANY_USER: &str = "SELECT id FROM users LIMIT 1";

/// One multi-row INSERT of `rows` (each a list of values) into `head`.
async fn insert_rows(
    conn: &mut SqliteConnection,
    head: &str,
    rows: &[Vec<Value>],
) -> Result<(), String> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new(head);
    builder.push_values(rows, |mut b, row| {
        for value in row {
            match value {
                Value::Text(t) => b.push_bind(t.clone()),
                Value::Int(v) => b.push_bind(*v),
                Value::Null => b.push_bind(None::<i64>),
                Value::Bool(v) => b.push_bind(*v),
            };
        }
    });
    builder
        .build()
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| format!("{head}: {e}"))
}

/// A bound value of a SQLite row.
enum Value {
    Text(String),
    Int(i64),
    Null,
    Bool(bool),
}

fn opt_int(value: Option<i64>) -> Value {
    value.map_or(Value::Null, Value::Int)
}

/// Buffers rows and writes them in multi-row INSERTs, committing every
/// [`SQLITE_ROWS_PER_TX`] rows.
struct SqliteBatch<'a> {
    conn: &'a mut SqliteConnection,
    head: &'static str,
    rows: Vec<Vec<Value>>,
    in_tx: usize,
}

impl SqliteBatch<'_> {
    async fn push(&mut self, row: Vec<Value>) -> Result<(), String> {
        self.rows.push(row);
        if self.rows.len() >= SQLITE_ROWS_PER_INSERT {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), String> {
        if self.in_tx == 0 {
            sqlx::raw_sql("BEGIN")
                .execute(&mut *self.conn)
                .await
                .map_err(|e| e.to_string())?;
        }
        insert_rows(self.conn, self.head, &self.rows).await?;
        self.in_tx += self.rows.len();
        self.rows.clear();
        if self.in_tx >= SQLITE_ROWS_PER_TX {
            self.commit().await?;
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), String> {
        if self.in_tx > 0 {
            sqlx::raw_sql("COMMIT")
                .execute(&mut *self.conn)
                .await
                .map_err(|e| e.to_string())?;
            self.in_tx = 0;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(), String> {
        if !self.rows.is_empty() {
            self.flush().await?;
        }
        self.commit().await
    }
}

async fn write_sqlite(
    url: &str,
    plan: &Plan,
    hashes: &Hashes,
    counts: &[u32],
) -> Result<(), String> {
    let mut conn = SqliteConnection::connect(url)
        .await
        .map_err(|e| format!("cannot open {url}: {e}"))?;
    refuse(sqlx::query_as(ANY_USER).fetch_optional(&mut conn).await)?;
    let mut users = SqliteBatch {
        conn: &mut conn,
        head: "INSERT INTO users (id, username, username_key, email, email_key, password_hash, \
               active, roles, created_at, updated_at, last_login_at) ",
        rows: Vec::new(),
        in_tx: 0,
    };
    for i in 0..plan.users {
        let sessions = sessions_of(plan, i, count_of(counts, i));
        let u = user_row(plan, i, &sessions);
        users
            .push(vec![
                Value::Text(u.id),
                Value::Text(u.username.clone()),
                Value::Text(u.username.to_lowercase()),
                Value::Text(u.email.clone()),
                Value::Text(u.email.to_lowercase()),
                Value::Text(hashes.of(i).to_owned()),
                Value::Bool(true),
                Value::Text(u.roles.to_owned()),
                Value::Int(u.created_at),
                Value::Int(u.created_at),
                opt_int(u.last_login_at),
            ])
            .await?;
    }
    users.finish().await?;
    let mut sessions = SqliteBatch {
        conn: &mut conn,
        head: "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, \
               client_addr, user_agent, revoked_at, revoked_reason) ",
        rows: Vec::new(),
        in_tx: 0,
    };
    for i in 0..plan.users {
        let user = user_id(plan, i);
        for s in sessions_of(plan, i, count_of(counts, i)) {
            sessions
                .push(vec![
                    Value::Text(s.id),
                    Value::Text(user.clone()),
                    Value::Int(s.created_at),
                    Value::Int(s.last_used_at),
                    Value::Int(s.expires_at),
                    Value::Text(s.client_addr),
                    Value::Text(s.user_agent.to_owned()),
                    opt_int(s.ended_at),
                    if s.ended_at.is_some() {
                        Value::Text("logout".to_owned())
                    } else {
                        Value::Null
                    },
                ])
                .await?;
        }
    }
    sessions.finish().await?;
    let mut tokens = SqliteBatch {
        conn: &mut conn,
        head: "INSERT INTO refresh_tokens (token_hash, session_id, created_at) ",
        rows: Vec::new(),
        in_tx: 0,
    };
    for i in 0..plan.users {
        for s in sessions_of(plan, i, count_of(counts, i)) {
            tokens
                .push(vec![
                    Value::Text(s.token_hash),
                    Value::Text(s.id),
                    Value::Int(s.last_used_at),
                ])
                .await?;
        }
    }
    tokens.finish().await?;
    sqlx::raw_sql("ANALYZE")
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(users: u64, sessions: u64) -> Plan {
        Plan {
            users,
            sessions,
            known: 0,
            seed: 7,
            max_per_user: 100,
            session_lifetime: 7 * 86_400,
            now: 1_800_000_000,
        }
    }

    #[test]
    fn the_counts_add_up_to_the_sessions_asked_for_and_most_users_have_at_most_two() {
        for (users, sessions) in [(1_000, 10_000), (1_000, 500), (10, 1_000), (7, 0)] {
            let counts = session_counts(&plan(users, sessions));
            assert_eq!(counts.iter().map(|&c| u64::from(c)).sum::<u64>(), sessions);
            assert!(counts.iter().all(|&c| c <= 100));
            if sessions == 10_000 {
                let light = counts.iter().filter(|&&c| c <= 2).count();
                assert!(light * 2 > counts.len(), "{light} of {}", counts.len());
                assert!(counts.iter().any(|&c| c >= 20), "some users have many");
            }
        }
    }

    #[test]
    fn the_same_plan_gives_the_same_rows() {
        let p = plan(50, 400);
        assert_eq!(session_counts(&p), session_counts(&p));
        let a = sessions_of(&p, 3, 5);
        let b = sessions_of(&p, 3, 5);
        assert_eq!(
            a.iter().map(|s| &s.id).collect::<Vec<_>>(),
            b.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
        assert_eq!(user_id(&p, 3), user_id(&p, 3));
        assert_ne!(user_id(&p, 3), user_id(&p, 4));
    }

    #[test]
    fn sessions_start_within_the_lifetime_and_expire_after_now() {
        let p = plan(1, 100);
        for s in sessions_of(&p, 0, 100) {
            assert!(s.created_at < p.now && s.created_at > p.now - p.session_lifetime);
            assert!(s.expires_at > p.now);
            assert!(s.last_used_at >= s.created_at && s.last_used_at <= p.now);
            assert!(s.ended_at.is_none_or(|e| e >= s.last_used_at && e <= p.now));
            let id = uuid::Uuid::parse_str(&s.id).expect("a uuid");
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(s.token_hash.len(), 43);
        }
    }

    #[test]
    fn a_plan_beyond_the_session_limit_is_refused() {
        assert!(plan(10, 1_001).check().is_err());
        assert!(plan(10, 1_000).check().is_ok());
        assert!(plan(0, 0).check().is_err());
    }
}
