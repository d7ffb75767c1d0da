-- Service accounts (issue 11): machine identities that get access tokens with
-- a client id and secret (OAuth2 client credentials). Times are Unix seconds.
CREATE TABLE service_accounts (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    -- Lower-cased name, computed by authd: uniqueness ignores case.
    name_key     TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    -- Space-separated role names.
    roles        TEXT NOT NULL DEFAULT '',
    -- The OAuth2 client id (not a secret).
    client_id    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    CONSTRAINT service_accounts_name_key_unique UNIQUE (name_key),
    CONSTRAINT service_accounts_client_id_unique UNIQUE (client_id)
);

-- An account's client secrets: only their SHA-256 (the secret is 256 random
-- bits, so a fast hash is enough: there is no dictionary to guess from).
-- A rotated-out secret keeps working until `expires_at`; NULL: no end.
CREATE TABLE service_account_secrets (
    secret_hash TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES service_accounts (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);
CREATE INDEX service_account_secrets_account_id ON service_account_secrets (account_id);
