-- Secrets every process on this database must share, made once by whichever
-- authd starts first (issue 11): for example `page_tokens`, the HMAC key of
-- the List methods' page tokens. The value is random bytes made by authd.
CREATE TABLE instance_secrets (
    name       TEXT PRIMARY KEY NOT NULL,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
