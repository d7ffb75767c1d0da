-- Signing-key lifecycle (issue 4): 'next' (published, not signing yet),
-- 'current' (signs), 'previous' (verifies only), 'retired' (private key wiped).
-- activates_at: when a key started (current) or starts (next) signing.
-- retires_at: when a previous key stops verifying (every token it signed has expired).
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER;
ALTER TABLE signing_keys ADD COLUMN retires_at INTEGER;
UPDATE signing_keys SET activates_at = created_at WHERE activates_at IS NULL;

-- At most one key waiting to sign, even when replicas rotate on a schedule together.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';
