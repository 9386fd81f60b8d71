-- sqlite-user-store: the statements of SqliteUserStore (users/sqlite-user-store.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per store, on first use.
-- Parameters are named (`@userId`) and bound from an object with the same camelCase keys.
-- Timestamps are INTEGER epoch milliseconds. The `users` table is in db/sqlite/001-init.sql,
-- `user_roles` in db/sqlite/002-user-roles.sql.

-- name: insert
-- A taken username (NOCASE) fails with SQLITE_CONSTRAINT_UNIQUE, which the store reports as a
-- conflict: the unique index decides, so two racing registrations cannot both win.
INSERT INTO users (id, username, password_hash, created_at)
VALUES (@id, @username, @passwordHash, @createdAt);

-- name: byUsername
-- Compared with the column's NOCASE collation, so any case finds the account.
SELECT * FROM users WHERE username = @username;

-- name: byId
SELECT * FROM users WHERE id = @id;

-- name: setPasswordHash
UPDATE users SET password_hash = @passwordHash WHERE id = @userId;

-- name: rolesOf
-- Roles live in `user_roles` (db/sqlite/002-user-roles.sql); a plain user has no row.
SELECT role FROM user_roles WHERE user_id = @userId ORDER BY role;

-- name: grantRole
-- Granting twice changes nothing (no row: changes = 0). An unknown user fails the foreign key
-- with SQLITE_CONSTRAINT_FOREIGNKEY, which the store reports as not found.
INSERT INTO user_roles (user_id, role, granted_at) VALUES (@userId, @role, @grantedAt)
ON CONFLICT (user_id, role) DO NOTHING;

-- name: revokeRole
DELETE FROM user_roles WHERE user_id = @userId AND role = @role;
