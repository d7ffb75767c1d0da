-- Sessions (one per Login) and their refresh tokens. Times are Unix seconds.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    -- Absolute end of the session; refreshing does not move it.
    expires_at     BIGINT NOT NULL,
    client_addr    TEXT,
    user_agent     TEXT,
    revoked_at     BIGINT,
    -- Why it ended: logout, logout_all, admin, reuse, password_changed,
    -- roles_changed, user_disabled, evicted.
    revoked_reason TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token (base64url); the token itself is never stored.
    token_hash       TEXT PRIMARY KEY,
    session_id       TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    -- Set when the token was exchanged for its successor.
    rotated_at       BIGINT,
    -- The successor, sealed with a key derived from this token, so only a
    -- holder of this token can recover it (for the retry grace window).
    successor_sealed BYTEA
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
