-- The rotation overlap, stored with the key (issue 15): how long after this
-- key stops signing it must keep verifying, in seconds, as the processes
-- that sign with it need (their access-token lifetime plus leeway plus one
-- key-refresh interval). Each signer raises it to its own need; the process
-- that demotes the key uses the stored value, not its own settings. NULL for
-- keys from before (the demoting process's own overlap applies).
ALTER TABLE signing_keys ADD COLUMN overlap_secs INTEGER;
