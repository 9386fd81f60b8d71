-- sqlite-job-queue: the statements of SqliteJobQueue (jobs/sqlite-job-queue.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once per queue, on first use.
-- Parameters are named (`@jobId`) and bound from an object with the same camelCase keys.
-- Timestamps are INTEGER epoch milliseconds. `next_attempt_at` is set only while a job is
-- queued, `lease_*` only while it is running. `seq` (insertion order) breaks the last ties.
--
-- A running job is changed only by the worker holding its lease: those statements match
-- `id = @jobId AND status = 'running' AND lease_worker = @workerId`, and report 0 changes
-- when the lease was lost.

-- name: insert
INSERT INTO jobs (id, user_id, track_id, status, attempts, max_attempts, next_attempt_at, created_at, updated_at)
VALUES (@jobId, @userId, @trackId, 'queued', 0, @maxAttempts, @now, @now, @now);

-- name: byId
SELECT * FROM jobs WHERE id = @jobId;

-- name: activeFor
SELECT * FROM jobs
WHERE user_id = @userId AND track_id = @trackId AND status IN ('queued', 'running')
ORDER BY created_at DESC, seq DESC
LIMIT 1;

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

-- name: failSpentLeases
-- A lease that ran out on the last attempt ends the job rather than retrying it.
UPDATE jobs SET status = 'failed', error_code = @code, error_message = @message,
  lease_worker = NULL, lease_expires_at = NULL, updated_at = @now
WHERE status = 'running' AND lease_expires_at <= @now AND attempts >= max_attempts;

-- name: nextQueued
-- The oldest due queued job, in claim order (served by jobs_queued_due).
SELECT id, next_attempt_at AS due, created_at, seq FROM jobs
WHERE status = 'queued' AND next_attempt_at <= @now
ORDER BY next_attempt_at, created_at, seq
LIMIT 1;

-- name: nextAbandoned
-- The running job whose lease ran out first (served by jobs_running_lease).
SELECT id, lease_expires_at AS due, created_at, seq FROM jobs
WHERE status = 'running' AND lease_expires_at <= @now
ORDER BY lease_expires_at, created_at, seq
LIMIT 1;

-- name: start
-- An attempt starts with its progress reset. @code and @message are null unless the job is
-- taken back from an abandoned lease, which records why its last attempt ended.
UPDATE jobs SET status = 'running', attempts = attempts + 1, next_attempt_at = NULL,
  lease_worker = @workerId, lease_expires_at = @expiresAt, progress_bytes = NULL, progress_total = NULL,
  error_code = coalesce(@code, error_code), error_message = coalesce(@message, error_message),
  updated_at = @now
WHERE id = @jobId;

-- name: renew
UPDATE jobs SET lease_expires_at = @expiresAt
WHERE id = @jobId AND status = 'running' AND lease_worker = @workerId;

-- name: reportProgress
UPDATE jobs SET progress_bytes = @bytes, progress_total = @totalBytes, updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_worker = @workerId;

-- name: complete
-- The last error is cleared once the job completes; its progress is kept.
UPDATE jobs SET status = 'completed', lease_worker = NULL, lease_expires_at = NULL,
  error_code = NULL, error_message = NULL, updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_worker = @workerId;

-- name: failFinally
-- Final: the progress of the last attempt is kept.
UPDATE jobs SET status = 'failed', lease_worker = NULL, lease_expires_at = NULL,
  error_code = @code, error_message = @message, updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_worker = @workerId;

-- name: failForRetry
UPDATE jobs SET status = 'queued', next_attempt_at = @retryAt, lease_worker = NULL, lease_expires_at = NULL,
  progress_bytes = NULL, progress_total = NULL, error_code = @code, error_message = @message, updated_at = @now
WHERE id = @jobId AND status = 'running' AND lease_worker = @workerId;

-- name: ofUser
SELECT * FROM jobs WHERE id = @jobId AND user_id = @userId;

-- name: cancel
UPDATE jobs SET status = 'cancelled', next_attempt_at = NULL, updated_at = @now WHERE id = @jobId;

-- name: retry
-- Admin: a failed job back to queued and due now, with its attempts and last error reset.
UPDATE jobs SET status = 'queued', attempts = 0, next_attempt_at = @now, lease_worker = NULL, lease_expires_at = NULL,
  progress_bytes = NULL, progress_total = NULL, error_code = NULL, error_message = NULL, updated_at = @now
WHERE id = @jobId AND status = 'failed';

-- name: countByStatus
SELECT status, count(*) AS n FROM jobs GROUP BY status;

-- name: purgeFinished
-- @finalStatuses is a JSON array of the final statuses, so the list lives in one place (the
-- model); the IN list is still served by jobs_status_updated.
DELETE FROM jobs WHERE status IN (SELECT value FROM json_each(@finalStatuses)) AND updated_at < @before;
