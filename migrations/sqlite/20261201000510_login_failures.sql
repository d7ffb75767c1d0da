-- Login throttling (issue 5): failed logins counted per key, shared by every
-- replica. A key is `account:<login name folded to lower case>` (existing or
-- not) or `address:<client IP, IPv6 by /64>`. A count whose last failure is
-- older than the window starts again from one (and is purged); see src/throttle.rs.
CREATE TABLE login_failures (
    throttle_key    TEXT PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL
);
CREATE INDEX login_failures_last_failure_at ON login_failures (last_failure_at);
