-- sqlite-library-store: the statements of SqliteLibraryStore (library/sqlite-library-store.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per store, on first use.
-- Parameters are named (`@userId`) and bound from an object with the same camelCase keys.
-- Timestamps are INTEGER epoch milliseconds.
--
-- A user's usage is their row in `user_usage`: `committed_bytes` (their items' sizes) and
-- `reserved_bytes` (their running jobs' reservations, `jobs.reserved_bytes`; see
-- jobs/sqlite-job-queue.sql). Each changes by a conditional update in the transaction of the
-- change; only the repair statements count rows.

-- name: item
-- Also how `add` finds a track already held: the primary key (user_id, track_id) serves it.
SELECT * FROM library_items WHERE user_id = @userId AND track_id = @trackId;

-- name: insert
-- Fenced when @fenceKey is set: nothing is inserted unless @fenceToken is still the current
-- token of that key (the track's lock) in `fencing_tokens`.
INSERT INTO library_items (user_id, track_id, size_bytes, added_at)
SELECT @userId, @trackId, @sizeBytes, @addedAt
WHERE @fenceKey IS NULL OR EXISTS (SELECT 1 FROM fencing_tokens WHERE key = @fenceKey AND token = @fenceToken);

-- name: remove
DELETE FROM library_items WHERE user_id = @userId AND track_id = @trackId RETURNING size_bytes;

-- name: reservedBy
-- The reservation an add commits: the running job's, for the holder of its lease only.
SELECT reserved_bytes FROM jobs WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: clearReservation
UPDATE jobs SET reserved_bytes = 0 WHERE id = @jobId;

-- name: ensureUsage
INSERT INTO user_usage (user_id) VALUES (@userId) ON CONFLICT (user_id) DO NOTHING;

-- name: usage
SELECT committed_bytes, reserved_bytes FROM user_usage WHERE user_id = @userId;

-- name: commit
-- The quota commit: @sizeBytes become committed and the job's @heldBytes stop being reserved,
-- unless that would pass @limitBytes (0 changes).
UPDATE user_usage SET committed_bytes = committed_bytes + @sizeBytes, reserved_bytes = max(reserved_bytes - @heldBytes, 0)
WHERE user_id = @userId AND committed_bytes + max(reserved_bytes - @heldBytes, 0) + @sizeBytes <= @limitBytes;

-- name: unreserve
UPDATE user_usage SET reserved_bytes = max(reserved_bytes - @heldBytes, 0) WHERE user_id = @userId;

-- name: uncommit
UPDATE user_usage SET committed_bytes = max(committed_bytes - @sizeBytes, 0) WHERE user_id = @userId;

-- name: countForUser
SELECT count(*) FROM library_items WHERE user_id = @userId;

-- name: pageForUser
-- Newest first; items added in the same millisecond are ordered by track id, as the index
-- library_items_user_added is, so a page is read from it without sorting.
SELECT * FROM library_items WHERE user_id = @userId
ORDER BY added_at DESC, track_id
LIMIT @limit OFFSET @offset;

-- name: holderCount
SELECT count(*) FROM library_items WHERE track_id = @trackId;

-- name: clearStrayReservations
-- Repair: a job that is not running holds no reservation.
UPDATE jobs SET reserved_bytes = 0 WHERE reserved_bytes > 0 AND status <> 'running';

-- name: recountUsage
-- Repair: each usage row that disagrees with the rows takes their sums (the user's items, read
-- from the primary key; the user's reserving jobs, from jobs_reserved).
UPDATE user_usage SET
  committed_bytes = (SELECT coalesce(sum(size_bytes), 0) FROM library_items WHERE library_items.user_id = user_usage.user_id),
  reserved_bytes = (SELECT coalesce(sum(reserved_bytes), 0) FROM jobs WHERE jobs.user_id = user_usage.user_id AND reserved_bytes > 0)
WHERE committed_bytes <> (SELECT coalesce(sum(size_bytes), 0) FROM library_items WHERE library_items.user_id = user_usage.user_id)
  OR reserved_bytes <> (SELECT coalesce(sum(reserved_bytes), 0) FROM jobs WHERE jobs.user_id = user_usage.user_id AND reserved_bytes > 0);

-- name: addMissingUsage
-- Repair: a user with items or reservations but no usage row gets one.
INSERT INTO user_usage (user_id, committed_bytes, reserved_bytes)
SELECT user_id, sum(committed), sum(reserved) FROM (
  SELECT user_id, size_bytes AS committed, 0 AS reserved FROM library_items
  UNION ALL
  SELECT user_id, 0, reserved_bytes FROM jobs WHERE reserved_bytes > 0
)
WHERE user_id NOT IN (SELECT user_id FROM user_usage)
GROUP BY user_id;
