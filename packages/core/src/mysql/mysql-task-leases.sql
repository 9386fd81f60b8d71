-- mysql-task-leases: the statements of MysqlTaskLeases (mysql/mysql-task-leases.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named and bound by name. Times are the database's clock in epoch
-- milliseconds, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) (the session's time zone is
-- UTC; NOW(3) is fixed for the whole of a statement), so that every process agrees on when a
-- lease ran out. Each statement is its own transaction. The table is in db/mysql/001-init.sql.

-- name: take
-- A new lease, or one whose time ran out, for @owner; a lease still held changes nothing.
-- One statement, so two processes cannot both take a lease: the second waits for the row lock
-- of the first and then sees its lease. It says which happened through the insert id, since
-- the count of rows cannot (a row set to its own values still counts as matched): a new row
-- reports 0, as the table has no AUTO_INCREMENT column; an existing row reports the value
-- given to LAST_INSERT_ID() below, which is the time its lease has left, 0 when it had run out
-- (and is taken now). Assignments run left to right; each reads only `expires_at` as it was.
INSERT INTO task_leases (name, owner, expires_at)
VALUES (@name, @owner, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ttlMs)
ON DUPLICATE KEY UPDATE
  owner = IF(LAST_INSERT_ID(GREATEST(expires_at - CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED), 0)) = 0, @owner, owner),
  expires_at = IF(expires_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED), CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ttlMs, expires_at);

-- name: extend
-- Renewal, and a release that rests the lease: only while @owner still holds it. A lease that
-- ran out but was not taken over is still its owner's: no one else acted on it meanwhile. The
-- count is of rows matched (CLIENT_FOUND_ROWS).
UPDATE task_leases SET expires_at = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @ms
WHERE name = @name AND owner = @owner;

-- name: drop
DELETE FROM task_leases WHERE name = @name AND owner = @owner;
