-- Retention for the append-only audit log (issue 15): the one way rows are
-- ever removed is `authd audit purge`, which proves they were exported,
-- and which records itself as an `audit_purged` row. It inserts a grant
-- here, deletes the rows older than the grant's `before`, and removes the
-- grant, all in one transaction. Every other UPDATE or DELETE is still
-- refused by the triggers.
CREATE TABLE audit_purge_grant (
    before INTEGER NOT NULL
);

DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_grant g WHERE OLD.at < g.before)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is not allowed');
END;
