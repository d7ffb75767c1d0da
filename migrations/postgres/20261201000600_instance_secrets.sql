-- Secrets every replica must share, made once by whichever authd starts
-- first (issue 11): for example `page_tokens`, the HMAC key of the List
-- methods' page tokens, so a page token from one replica opens on another.
-- The value is random bytes made by authd, never derived from anything.
CREATE TABLE instance_secrets (
    name       TEXT PRIMARY KEY,
    secret     BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
