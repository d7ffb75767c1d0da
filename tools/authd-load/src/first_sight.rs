//! First-sight tokens for the `verify-first-sight` scenario: access tokens
//! for seeded sessions that authd has never seen, so each Verify checks the
//! signature and claims and reads the user and the session from the
//! database (the state cache has neither yet).
//!
//! The server runs with `--signing-algorithm HS256` and a secret the tool
//! also holds (`--hs256-secret`, a scratch value of the measurement run), so
//! the tool signs the tokens itself, with the claims and the `kid` authd
//! gives an HS256 token (`src/token/mod.rs`, `Issuer::issue`, and
//! `src/token/keys.rs`, `KeySet::hs256`). Logging the seeded users in
//! instead would make new sessions, which the login puts in the cache.
//!
//! The file is self-contained: the integration suite compiles it too
//! (`tests/api/seed.rs`) and checks a token from it is valid to the server.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::{Connection as _, PgConnection};

/// A seeded session to sign a token for.
#[derive(Debug, Clone)]
pub struct Target {
    pub session_id: String,
    pub user_id: String,
    pub roles: Vec<String>,
}

/// The `kid` authd gives the HS256 key made from `secret`.
#[must_use]
pub fn kid(secret: &[u8]) -> String {
    let hash = digest(&SHA256, &[b"authd hs256 kid\0".as_slice(), secret].concat());
    format!("hs256-{}", URL_SAFE_NO_PAD.encode(&hash.as_ref()[..12]))
}

/// An access token for `target`, as authd would issue it at `now` with
/// lifetime `ttl` seconds (issuer and audience as the server's).
///
/// # Errors
/// A message if signing fails.
pub fn token(
    secret: &[u8],
    issuer: &str,
    audience: &str,
    target: &Target,
    jti: &str,
    now: i64,
    ttl: i64,
) -> Result<String, String> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid(secret));
    let claims = serde_json::json!({
        "iss": issuer,
        "sub": target.user_id,
        "aud": audience,
        "exp": now + ttl,
        "nbf": now,
        "iat": now,
        "jti": jti,
        "sid": target.session_id,
        "roles": target.roles,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(secret)
        .map_err(|e| format!("an unusable HS256 secret: {e}"))?;
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("signing a token: {e}"))
}

/// Up to `count` live sessions of active users, in id order from a point
/// picked by `start` (a UUID; session ids are UUIDv7, so id order is start
/// order and the users come mixed), wrapping to the beginning if needed.
///
/// # Errors
/// A message for a database error.
pub async fn sample(url: &str, count: usize, start: &str, now: i64) -> Result<Vec<Target>, String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    let limit = i64::try_from(count).unwrap_or(i64::MAX);
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for from in [start, ""] {
        let more: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT s.id, s.user_id, u.roles FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id > $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.active \
             ORDER BY s.id LIMIT $3",
        )
        .bind(from)
        .bind(now)
        .bind(limit - i64::try_from(rows.len()).unwrap_or(0))
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("sampling sessions: {e}"))?;
        let seen: std::collections::HashSet<String> = rows.iter().map(|r| r.0.clone()).collect();
        rows.extend(more.into_iter().filter(|r| !seen.contains(&r.0)));
        if rows.len() >= count {
            break;
        }
    }
    conn.close().await.ok();
    Ok(rows
        .into_iter()
        .map(|(session_id, user_id, roles)| Target {
            session_id,
            user_id,
            roles: roles.split_whitespace().map(str::to_owned).collect(),
        })
        .collect())
}
