-- The id a user has in the system they were imported from (issue 12: for a
-- Django project, the `auth_user` primary key as text), so that system can
-- map authd's users to its own rows. NULL for users created in authd; unique
-- when set (NULLs never collide, in PostgreSQL and SQLite alike).
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_external_id_unique ON users (external_id);
