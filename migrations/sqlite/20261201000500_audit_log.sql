-- The audit log (issue 5): one row per security-relevant event, append-only.
-- Times are Unix seconds (UTC). Never holds a password, token or hash.
-- user_id has no foreign key on purpose: rows outlive the users they name.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    -- What happened: login, logout, password_changed, key_promoted, ...
    event       TEXT NOT NULL,
    -- The user concerned, when known.
    user_id     TEXT,
    -- Who or what it was about: a username (for failed logins, the name as
    -- presented, truncated) or a signing key id.
    subject     TEXT NOT NULL,
    client_addr TEXT,
    -- success, failure, denied or throttled.
    outcome     TEXT NOT NULL,
    -- A short, non-secret explanation.
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only, enforced by the database itself: rows can be inserted and
-- read, never changed or removed (not even by authd, whose SQL never tries).
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is not allowed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is not allowed');
END;
