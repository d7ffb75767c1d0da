-- The audit log (issue 5): one row per security-relevant event, append-only.
-- Times are Unix seconds (UTC). Never holds a password, token or hash.
-- user_id has no foreign key on purpose: rows outlive the users they name.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
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
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
