-- sqlite-task-leases: the statements of SqliteTaskLeases (housekeeping/sqlite-task-leases.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once, on first use. Parameters
-- are named and bound from an object with the same camelCase keys. Times are the database's
-- clock in epoch milliseconds (read once per statement: SQLite's 'now' is fixed within one),
-- so that every process agrees on when a lease ran out. Each statement is its own transaction.

-- name: take
-- A new lease, or one whose time ran out, for @owner; a lease still held changes nothing.
INSERT INTO task_leases (name, owner, expires_at)
VALUES (@name, @owner, CAST(unixepoch('subsec') * 1000 AS INTEGER) + @ttlMs)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE task_leases.expires_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER);

-- name: remaining
-- How long a lease someone holds has left; no row when it was let go meanwhile.
SELECT max(expires_at - CAST(unixepoch('subsec') * 1000 AS INTEGER), 0) FROM task_leases WHERE name = @name;

-- name: extend
-- Renewal, and a release that rests the lease: only while @owner still holds it. A lease that
-- ran out but was not taken over is still its owner's: no one else acted on it meanwhile.
UPDATE task_leases SET expires_at = CAST(unixepoch('subsec') * 1000 AS INTEGER) + @ms
WHERE name = @name AND owner = @owner;

-- name: drop
DELETE FROM task_leases WHERE name = @name AND owner = @owner;
