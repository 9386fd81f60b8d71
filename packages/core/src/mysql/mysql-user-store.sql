-- mysql-user-store: the statements of MysqlUserStore (mysql/mysql-user-store.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named (`@userId`) and bound by name. Timestamps are BIGINT epoch
-- milliseconds. The tables `users` and `user_roles` are in db/mysql/001-init.sql.
--
-- `users.username` has the table's collation, utf8mb4_unicode_520_ci: its unique key and every
-- comparison ignore case (and accents), which is what makes usernames unique regardless of case.

-- name: insert
-- A taken username fails with ER_DUP_ENTRY on users_username, reported as a conflict: the
-- unique key decides, so two racing registrations cannot both win.
INSERT INTO users (id, username, password_hash, created_at)
VALUES (@id, @username, @passwordHash, @createdAt);

-- name: byUsername
-- Compared with the column's collation, so any case finds the account (served by users_username).
SELECT id, username, password_hash, created_at FROM users WHERE username = @username;

-- name: byId
SELECT id, username, password_hash, created_at FROM users WHERE id = @id;

-- name: setPasswordHash
-- The count is of rows matched (CLIENT_FOUND_ROWS), so setting the same hash again still says 1.
UPDATE users SET password_hash = @passwordHash WHERE id = @userId;

-- name: rolesOf
-- A plain user has no row.
SELECT role FROM user_roles WHERE user_id = @userId ORDER BY role;

-- name: grantRole
-- A plain INSERT, not INSERT IGNORE (which would also turn the foreign key's refusal into a
-- warning): a role granted already fails with ER_DUP_ENTRY, an unknown user with
-- ER_NO_REFERENCED_ROW_2, and the store tells the two apart.
INSERT INTO user_roles (user_id, role, granted_at) VALUES (@userId, @role, @grantedAt);

-- name: revokeRole
DELETE FROM user_roles WHERE user_id = @userId AND role = @role;
