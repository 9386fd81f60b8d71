-- sqlite-lock-manager: the statements of SqliteLockManager (locks/sqlite-lock-manager.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once, on first use. Parameters
-- are named and bound from an object with the same camelCase keys. @keys is a JSON array of
-- lock keys; @owner names one acquisition. Times are the database's clock, in epoch
-- milliseconds, so that processes agree on when a lock ran out.
--
-- Every statement here is the whole of its transaction, or one of the few of an acquisition:
-- transactions stay tiny, because another process waits (by polling) for each of them.

-- name: heldByOthers
-- Any key of the set still held: a row whose time has not run out. An expired row is free.
SELECT key FROM locks
WHERE key IN (SELECT value FROM json_each(@keys)) AND expires_at > CAST(unixepoch('subsec') * 1000 AS INTEGER)
LIMIT 1;

-- name: take
-- Every key of the set, at once, for this acquisition; an expired row is taken over.
INSERT INTO locks (key, owner, token, expires_at)
SELECT value, @owner, @token, CAST(unixepoch('subsec') * 1000 AS INTEGER) + @ttlMs FROM json_each(@keys) WHERE true
ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at;

-- name: renew
-- Returns how many keys this acquisition still holds: fewer than it took means one was taken over.
UPDATE locks SET expires_at = CAST(unixepoch('subsec') * 1000 AS INTEGER) + @ttlMs
WHERE key IN (SELECT value FROM json_each(@keys)) AND owner = @owner;

-- name: release
DELETE FROM locks WHERE key IN (SELECT value FROM json_each(@keys)) AND owner = @owner;
