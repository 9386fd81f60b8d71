-- mysql-library-store: the statements of MysqlLibraryStore (mysql/mysql-library-store.ts), on
-- the schema of db/mysql/001-init.sql; the same rules as library/sqlite-library-store.sql.
--
-- Each statement starts at a `-- name:` line; parameters are named (`@userId`) and bound by name.
-- Timestamps are BIGINT epoch milliseconds of the database's clock.
--
-- A user's usage is their row in `user_usage`: `committed_bytes` (their items' sizes) and
-- `reserved_bytes` (their running jobs' reservations, `jobs.reserved_bytes`; see
-- mysql-job-queue.sql). Each changes by a conditional update in the transaction of the change;
-- only the repair statements count rows. Every add and removal locks the usage row before it
-- reads the user's items, so one user's library changes take turns, and after the job's row
-- when an add commits a reservation: the lock order of mysql-job-queue.sql. A fenced add
-- checks its token with holdsFence (mysql-fencing-tokens.sql) before it inserts.

-- name: item
SELECT * FROM library_items WHERE user_id = @userId AND track_id = @trackId;

-- name: reservedBy
-- The reservation an add commits: the running job's, for the holder of its lease only, locked.
SELECT reserved_bytes FROM jobs WHERE id = @jobId AND status = 'running' AND lease_token = @token FOR UPDATE;

-- name: clearReservation
UPDATE jobs SET reserved_bytes = 0 WHERE id = @jobId;

-- name: ensureUsage
-- The user's usage row, created on first use and locked either way: ON DUPLICATE KEY UPDATE
-- takes an exclusive lock on an existing row (INSERT IGNORE a shared one, which two adds
-- would both hold and then deadlock upgrading).
INSERT INTO user_usage (user_id) VALUES (@userId)
ON DUPLICATE KEY UPDATE committed_bytes = committed_bytes;

-- name: lockUsage
SELECT committed_bytes FROM user_usage WHERE user_id = @userId FOR UPDATE;

-- name: usage
SELECT committed_bytes, reserved_bytes FROM user_usage WHERE user_id = @userId;

-- name: commit
-- The quota commit: @sizeBytes become committed and the job's @heldBytes stop being reserved,
-- unless that would pass @limitBytes (0 rows).
UPDATE user_usage SET committed_bytes = committed_bytes + @sizeBytes, reserved_bytes = GREATEST(reserved_bytes - @heldBytes, 0)
WHERE user_id = @userId AND committed_bytes + GREATEST(reserved_bytes - @heldBytes, 0) + @sizeBytes <= @limitBytes;

-- name: insert
INSERT INTO library_items (user_id, track_id, size_bytes, added_at)
VALUES (@userId, @trackId, @sizeBytes, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED));

-- name: unreserve
UPDATE user_usage SET reserved_bytes = GREATEST(reserved_bytes - @heldBytes, 0) WHERE user_id = @userId;

-- name: itemForUpdate
SELECT size_bytes FROM library_items WHERE user_id = @userId AND track_id = @trackId FOR UPDATE;

-- name: remove
DELETE FROM library_items WHERE user_id = @userId AND track_id = @trackId;

-- name: uncommit
UPDATE user_usage SET committed_bytes = GREATEST(committed_bytes - @sizeBytes, 0) WHERE user_id = @userId;

-- name: countForUser
SELECT COUNT(*) AS n FROM library_items WHERE user_id = @userId;

-- name: pageForUser
-- Newest first; items added in the same millisecond are ordered by track id. The mixed
-- directions cannot be read straight from library_items_user_added, so the user's items (found
-- by that index) are sorted: a sort of one library, never of the table.
SELECT * FROM library_items WHERE user_id = @userId
ORDER BY added_at DESC, track_id
LIMIT @limit OFFSET @offset;

-- name: holderCount
SELECT COUNT(*) AS n FROM library_items WHERE track_id = @trackId;

-- name: clearStrayReservations
-- Repair: a job that is not running holds no reservation (jobs_reserved finds the few that do).
UPDATE jobs SET reserved_bytes = 0 WHERE reserved_bytes > 0 AND status <> 'running';

-- name: recountUsage
-- Repair: each usage row that disagrees with the rows takes their sums (the user's items, read
-- from the primary key; the user's reserving jobs, from jobs_reserved).
UPDATE user_usage SET
  committed_bytes = (SELECT COALESCE(SUM(size_bytes), 0) FROM library_items WHERE library_items.user_id = user_usage.user_id),
  reserved_bytes = (SELECT COALESCE(SUM(reserved_bytes), 0) FROM jobs WHERE jobs.user_id = user_usage.user_id AND jobs.reserved_bytes > 0)
WHERE committed_bytes <> (SELECT COALESCE(SUM(size_bytes), 0) FROM library_items WHERE library_items.user_id = user_usage.user_id)
  OR reserved_bytes <> (SELECT COALESCE(SUM(reserved_bytes), 0) FROM jobs WHERE jobs.user_id = user_usage.user_id AND jobs.reserved_bytes > 0);

-- name: addMissingUsage
-- Repair: a user with items or reservations but no usage row gets one.
INSERT INTO user_usage (user_id, committed_bytes, reserved_bytes)
SELECT held.user_id, SUM(held.committed), SUM(held.reserved) FROM (
  SELECT user_id, size_bytes AS committed, 0 AS reserved FROM library_items
  UNION ALL
  SELECT user_id, 0, reserved_bytes FROM jobs WHERE reserved_bytes > 0
) AS held
WHERE NOT EXISTS (SELECT 1 FROM user_usage AS usage_row WHERE usage_row.user_id = held.user_id)
GROUP BY held.user_id;
