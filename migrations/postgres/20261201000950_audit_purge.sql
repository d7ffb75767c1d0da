-- Retention for the append-only audit log (issue 15): the one way rows are
-- ever removed is `authd audit purge`, which proves they were exported,
-- and which records itself as an `audit_purged` row. It inserts a grant
-- here, deletes the rows older than the grant's `before`, and removes the
-- grant, all in one transaction (no other transaction ever sees a grant).
-- Every other UPDATE, DELETE or TRUNCATE is still refused by the triggers.
CREATE TABLE audit_purge_grant (
    before BIGINT NOT NULL
);

CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM audit_purge_grant g WHERE OLD.at < g.before) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
