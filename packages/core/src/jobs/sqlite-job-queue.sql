-- sqlite-job-queue: the statements of SqliteJobQueue (jobs/sqlite-job-queue.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per queue, on first use.
-- Parameters are named (`@jobId`) and bound from an object with the same camelCase keys.
-- Timestamps are INTEGER epoch milliseconds. `@now` is always the database's clock, read by
-- `clock` at the start of each operation, never the caller's.
--
-- `next_attempt_at` is set only while a job is queued (the real time its attempt may start),
-- `lease_*` only while it is running. `due_at` is its virtual due time, the claim order; `seq`
-- (insertion order) breaks ties.
--
-- A running job is changed only by the holder of its lease: those statements match
-- `id = @jobId AND status = 'running' AND lease_token = @token`, and change nothing when the
-- token is stale.
--
-- `user_job_counts` holds, per user, the queued plus running jobs (`active`) and the due time
-- of the latest one (`last_due`). Every transition into or out of those two statuses changes
-- `active` in the same transaction.
--
-- `jobs.reserved_bytes` is the quota a running job reserved, and `user_usage.reserved_bytes`
-- the sum of those of the user, kept by conditional updates in the transaction of each change:
-- a reservation raises both, and every transition out of `running` (and a purge) gives the
-- job's reservation back (releaseReservation, then clearReservation). SqliteLibraryStore
-- commits a reservation into `committed_bytes` with the library entry.

-- name: clock
SELECT CAST(unixepoch('subsec') * 1000 AS INTEGER);

-- name: insert
INSERT INTO jobs (id, user_id, track_id, status, attempts, max_attempts, next_attempt_at, due_at, created_at, updated_at)
VALUES (@jobId, @userId, @trackId, 'queued', 0, @maxAttempts, @now, @due, @now, @now)
RETURNING *;

-- name: byId
SELECT * FROM jobs WHERE id = @jobId;

-- name: activeFor
-- Served by the unique index jobs_user_track, whose condition this repeats word for word.
SELECT * FROM jobs
WHERE user_id = @userId AND track_id = @trackId AND status IN ('queued', 'running');

-- name: countAll
-- Listings, newest first. Each combination of filters has its own pair of statements, since
-- SQLite plans a statement once: `(@userId IS NULL OR user_id = @userId)` would scan the whole
-- table, where these search jobs_user_created or jobs_status_created.
SELECT count(*) FROM jobs;

-- name: listAll
SELECT * FROM jobs ORDER BY created_at DESC, seq DESC LIMIT @limit OFFSET @offset;

-- name: countOfUser
SELECT count(*) FROM jobs WHERE user_id = @userId;

-- name: listOfUser
SELECT * FROM jobs WHERE user_id = @userId
ORDER BY created_at DESC, seq DESC
LIMIT @limit OFFSET @offset;

-- name: countWithStatus
SELECT count(*) FROM jobs WHERE status = @status;

-- name: listWithStatus
SELECT * FROM jobs WHERE status = @status
ORDER BY created_at DESC, seq DESC
LIMIT @limit OFFSET @offset;

-- name: countOfUserWithStatus
SELECT count(*) FROM jobs WHERE user_id = @userId AND status = @status;

-- name: listOfUserWithStatus
SELECT * FROM jobs WHERE user_id = @userId AND status = @status
ORDER BY created_at DESC, seq DESC
LIMIT @limit OFFSET @offset;

-- name: countsOf
SELECT active, last_due FROM user_job_counts WHERE user_id = @userId;

-- name: ensureCounts
INSERT INTO user_job_counts (user_id, active) VALUES (@userId, 0) ON CONFLICT (user_id) DO NOTHING;

-- name: takeSlot
-- The cap: 0 changes when the user already has @maxActive active jobs.
UPDATE user_job_counts SET active = active + 1, last_due = @due
WHERE user_id = @userId AND active < @maxActive;

-- name: addActive
-- An admin's retry counts towards the cap without being refused by it.
UPDATE user_job_counts SET active = active + 1, last_due = @due WHERE user_id = @userId;

-- name: setLastDue
UPDATE user_job_counts SET last_due = @due WHERE user_id = @userId;

-- name: freeSlot
-- max() keeps a counter that drifted from going negative; a repair task recounts it from rows.
UPDATE user_job_counts SET active = max(active - 1, 0) WHERE user_id = @userId;

-- name: head
-- The queue's virtual time, where a user with nothing active joins the line: the due time of
-- the latest job claimed (the highest of those running), else the first queued one, else now.
-- As in start-time fair queueing, a newcomer goes ahead of every job due after the one in
-- service; and once a user's backlog has been claimed, the head has moved past it, so no debt
-- is held against them.
SELECT coalesce(
  (SELECT max(due_at) FROM jobs WHERE status = 'running'),
  (SELECT min(due_at) FROM jobs WHERE status = 'queued'),
  @now
);

-- name: nextQueued
-- The first queued job in claim order whose attempt may start (served by jobs_queued_due, which
-- also holds next_attempt_at, so a retry still backing off is passed over in the index).
SELECT seq FROM jobs
WHERE status = 'queued' AND next_attempt_at <= @now
ORDER BY due_at, seq
LIMIT 1;

-- name: start
-- An attempt starts with its progress reset; the last error stays until the job completes.
UPDATE jobs SET status = 'running', attempts = attempts + 1, next_attempt_at = NULL,
  lease_worker = @workerId, lease_token = @token, lease_expires_at = @now + @leaseMs,
  progress_bytes = NULL, progress_total = NULL, updated_at = @now
WHERE seq = @seq AND status = 'queued'
RETURNING *;

-- name: renew
UPDATE jobs SET lease_expires_at = @now + @leaseMs
WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: reportProgress
UPDATE jobs SET progress_bytes = @bytes, progress_total = @totalBytes, updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: complete
-- The last error is cleared once the job completes; its progress is kept.
UPDATE jobs SET status = 'completed', lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL,
  error_code = NULL, error_message = NULL, updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_token = @token
RETURNING user_id;

-- name: failFinally
-- Final: the progress of the last attempt is kept.
UPDATE jobs SET status = 'failed', lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL,
  error_code = @code, error_message = @message, updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_token = @token
RETURNING *;

-- name: leased
SELECT user_id FROM jobs WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: failForRetry
UPDATE jobs SET status = 'queued', next_attempt_at = @now + @delayMs, due_at = @due,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL, progress_bytes = NULL, progress_total = NULL,
  error_code = @code, error_message = @message, updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_token = @token
RETURNING *;

-- name: release
-- Handed back unfinished: the attempt is not counted and the job keeps its due time, so it is
-- next in line again once @delayMs (0 at shutdown; a moment while another worker fetches the
-- track) has passed.
UPDATE jobs SET status = 'queued', attempts = attempts - 1, next_attempt_at = @now + @delayMs,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL, progress_bytes = NULL, progress_total = NULL,
  updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: failSpentLeases
-- A lease that ran out on the last attempt ends the job (served by jobs_running_lease).
UPDATE jobs SET status = 'failed', error_code = @code, error_message = @message,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = @now
WHERE status = 'running' AND lease_expires_at <= @now AND attempts >= max_attempts
RETURNING user_id;

-- name: requeueExpiredLeases
-- A lease that ran out with attempts left: queued again at once, keeping its due time, so the
-- job a dead worker held is not sent to the back of the line.
UPDATE jobs SET status = 'queued', next_attempt_at = @now, error_code = @code, error_message = @message,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL, progress_bytes = NULL, progress_total = NULL,
  updated_at = @now
WHERE status = 'running' AND lease_expires_at <= @now AND attempts < max_attempts;

-- name: reservedBy
-- The running job's reservation, for the holder of its lease only.
SELECT user_id, reserved_bytes FROM jobs WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: ensureUsage
INSERT INTO user_usage (user_id) VALUES (@userId) ON CONFLICT (user_id) DO NOTHING;

-- name: usageOf
SELECT committed_bytes, reserved_bytes FROM user_usage WHERE user_id = @userId;

-- name: reserveUsage
-- The quota: 0 changes when the user's committed plus reserved bytes and @delta would pass
-- @limitBytes. A reservation that shrinks (@delta <= 0) always passes.
UPDATE user_usage SET reserved_bytes = max(reserved_bytes + @delta, 0)
WHERE user_id = @userId AND (@delta <= 0 OR committed_bytes + reserved_bytes + @delta <= @limitBytes);

-- name: setReservation
UPDATE jobs SET reserved_bytes = @bytes WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: releaseReservation
-- Gives the job's reservation back to its user's usage row; clearReservation then zeroes the
-- job's own. Run them together, in the transaction of the job's transition.
UPDATE user_usage SET reserved_bytes = max(user_usage.reserved_bytes - jobs.reserved_bytes, 0)
FROM jobs
WHERE jobs.id = @jobId AND jobs.reserved_bytes > 0 AND user_usage.user_id = jobs.user_id;

-- name: clearReservation
UPDATE jobs SET reserved_bytes = 0 WHERE id = @jobId AND reserved_bytes > 0;

-- name: releaseExpiredReservations
-- Before reaping: the reservations of every running job whose lease ran out, given back per
-- user (served by jobs_reserved; the few jobs holding one are summed, never a user's library).
UPDATE user_usage SET reserved_bytes = max(user_usage.reserved_bytes - expired.bytes, 0)
FROM (
  SELECT user_id, sum(reserved_bytes) AS bytes FROM jobs
  WHERE reserved_bytes > 0 AND status = 'running' AND lease_expires_at <= @now
  GROUP BY user_id
) AS expired
WHERE user_usage.user_id = expired.user_id;

-- name: clearExpiredReservations
UPDATE jobs SET reserved_bytes = 0 WHERE reserved_bytes > 0 AND status = 'running' AND lease_expires_at <= @now;

-- name: ofUser
SELECT * FROM jobs WHERE id = @jobId AND user_id = @userId;

-- name: cancel
UPDATE jobs SET status = 'cancelled', next_attempt_at = NULL, updated_at = @now
WHERE id = @jobId AND status = 'queued'
RETURNING *;

-- name: retry
-- Admin: a failed job back to queued and due now, with its attempts and last error reset.
UPDATE jobs SET status = 'queued', attempts = 0, next_attempt_at = @now, due_at = @due,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL,
  progress_bytes = NULL, progress_total = NULL, error_code = NULL, error_message = NULL, updated_at = @now
WHERE id = @jobId AND status = 'failed'
RETURNING *;

-- name: countByStatus
SELECT status, count(*) AS n FROM jobs GROUP BY status;

-- name: purgeFinished
-- One batch of at most @limit rows, so that no single transaction holds the write lock for
-- long. @finalStatuses is a JSON array of the final statuses, so the list lives in one place
-- (the model); the IN list is still served by jobs_status_updated. Returns each purged job's
-- reservation (0 unless a transition failed to give it back) for its usage row.
DELETE FROM jobs WHERE seq IN (
  SELECT seq FROM jobs
  WHERE status IN (SELECT value FROM json_each(@finalStatuses)) AND updated_at < @before
  LIMIT @limit
)
RETURNING user_id, reserved_bytes;

-- name: releaseBytes
UPDATE user_usage SET reserved_bytes = max(reserved_bytes - @bytes, 0) WHERE user_id = @userId;

-- name: holdsLease
-- The lease of an attempt, by the database's clock: one that ran out is no one's any more.
SELECT 1 FROM jobs
WHERE id = @jobId AND status = 'running' AND lease_token = @token
  AND lease_expires_at > CAST(unixepoch('subsec') * 1000 AS INTEGER);

-- name: recountActive
-- Repair: each counter that disagrees with the rows takes their count. The condition repeats
-- jobs_user_track's word for word, so each count is read from that index.
UPDATE user_job_counts SET active = (
  SELECT count(*) FROM jobs WHERE jobs.user_id = user_job_counts.user_id AND status IN ('queued', 'running')
)
WHERE active <> (
  SELECT count(*) FROM jobs WHERE jobs.user_id = user_job_counts.user_id AND status IN ('queued', 'running')
);

-- name: addMissingCounts
-- Repair: a user with active jobs but no counter row gets one.
INSERT INTO user_job_counts (user_id, active, last_due)
SELECT user_id, count(*), max(due_at) FROM jobs
WHERE status IN ('queued', 'running') AND user_id NOT IN (SELECT user_id FROM user_job_counts)
GROUP BY user_id;
