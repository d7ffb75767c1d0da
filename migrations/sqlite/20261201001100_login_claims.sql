-- Login throttling (issue 15): attempts in flight, counted apart from the
-- failures. A claim raises `pending` before its password is checked and is
-- resolved after it (a failure moves it to `failures`, a right password or a
-- check that never ran only takes it back), so a right password being checked
-- is never counted as a failure, and a claim taken back can never undo
-- anybody else's failure. `pending_since` is the latest claim's time: claims
-- older than the stale horizon (a process that died mid-check) no longer
-- count; see src/throttle.rs.
ALTER TABLE login_failures ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE login_failures ADD COLUMN pending_since INTEGER NOT NULL DEFAULT 0;
