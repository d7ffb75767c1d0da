-- Revocation stream (issue 13). A deleted user's or service account's row is
-- gone (and a user's sessions with it), yet its tokens stay unexpired for up
-- to the access-token lifetime: the stream's snapshot must still name it.
-- Each delete writes its tombstone in the same transaction; the session purge
-- drops tombstones once no token from before the deletion can be valid.
-- Times are Unix seconds.
CREATE TABLE deletions (
    -- 'user' or 'service_account'.
    kind       TEXT NOT NULL,
    -- The deleted row's id (the tokens' `sub`).
    id         TEXT NOT NULL,
    deleted_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX deletions_deleted_at ON deletions (deleted_at);

-- The snapshot reads the sessions that ended within the window.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
