-- 002-user-roles: roles live in the database, granted and revoked by `mixtape admin`.
--
-- Registering never writes here, so no username can make its registrant an admin. A user's
-- roles are read on every request that needs them, so a revoke takes effect at once.

-- UserStore. One row per granted role; being a plain `user` needs no row.
CREATE TABLE user_roles (
  user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       TEXT    NOT NULL CHECK (role IN ('admin')),
  granted_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, role)
) WITHOUT ROWID;
