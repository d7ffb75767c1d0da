-- Sessions (one per Login) and their refresh tokens. Times are Unix seconds.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    -- Absolute end of the session; refreshing does not move it.
    expires_at     INTEGER NOT NULL,
    client_addr    TEXT,
    user_agent     TEXT,
    revoked_at     INTEGER,
    -- Why it ended: logout, logout_all, admin, reuse, password_changed,
    -- roles_changed, user_disabled, evicted.
    revoked_reason TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token (base64url); the token itself is never stored.
    token_hash       TEXT PRIMARY KEY NOT NULL,
    session_id       TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    -- Set when the token was exchanged for its successor.
    rotated_at       INTEGER,
    -- The successor, sealed with a key derived from this token, so only a
    -- holder of this token can recover it (for the retry grace window).
    successor_sealed BLOB
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- Changes other processes must hear about (SQLite has no LISTEN/NOTIFY):
-- each write appends an event in its transaction; servers poll for new rows.
CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
