-- mysql-job-queue: the statements of MysqlJobQueue (mysql/mysql-job-queue.ts), on the schema of
-- db/mysql/001-init.sql. The same rules as jobs/sqlite-job-queue.sql, in MySQL's dialect
-- (MariaDB >= 10.6, MySQL >= 8.0): no RETURNING, so a transition reads and locks its row first
-- (`... FOR UPDATE`) and the row is read again, or rebuilt, after the change.
--
-- Each statement starts at a `-- name:` line; parameters are named (`@jobId`) and bound by name.
-- Timestamps are BIGINT epoch milliseconds of the database's clock,
-- `CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)`: NOW() is fixed for a whole statement, so
-- the expression written twice in one statement reads one instant. A statement that starts a
-- transaction's work returns it as `now_ms`, and the transaction's later statements take it
-- as `@now`, so that every change of one transition carries one time.
--
-- Sessions run at READ COMMITTED (mysql-database.ts): locking reads and updates take record
-- locks only, never gap locks, so an enqueue's insert is never blocked by a claim's scan.
-- The order locks are taken in, in every transaction: the job's row, then the user's
-- `user_job_counts` row, then their `user_usage` row (the library store follows it too).
-- An enqueue locks the counter row first, but it only inserts a new job row, which waits on
-- no other transaction's job.
--
-- `jobs.reserved_bytes` is what a running job reserved of its user's quota, and
-- `user_usage.reserved_bytes` the sum of them: a transition out of `running` zeroes the job's
-- own in its UPDATE and gives the bytes it read while locking the row back with releaseBytes.

-- name: lockCounts
-- The user's counter row, created on first use and locked either way (ON DUPLICATE KEY UPDATE
-- takes an exclusive lock on the existing row; INSERT IGNORE would take a shared one, and two
-- enqueues upgrading theirs would deadlock). It serializes one user's enqueues and retries.
INSERT INTO user_job_counts (user_id, active) VALUES (@userId, 0)
ON DUPLICATE KEY UPDATE active = active;

-- name: lockedState
-- After lockCounts, in one read: the database's clock; the user's counter; the queue's virtual
-- time, where a user with nothing active joins the line (the due time of the latest job
-- claimed, the highest of those running, else the first queued one, else now; both ends read
-- from jobs_queued_due); and the user's queued or running job for @trackId, if any (its
-- columns, from the unique key jobs_active; all NULL when there is none).
SELECT jobs.*, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS now_ms,
  counts.active AS counts_active, counts.last_due AS counts_last_due,
  COALESCE(
    (SELECT MAX(due_at) FROM jobs WHERE status = 'running'),
    (SELECT MIN(due_at) FROM jobs WHERE status = 'queued'),
    CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)
  ) AS head
FROM user_job_counts AS counts
LEFT JOIN jobs ON jobs.active_user_id = counts.user_id AND jobs.track_id = @trackId
WHERE counts.user_id = @userId;

-- name: activeFor
-- The user's queued or running job for the track, from the unique key jobs_active.
SELECT * FROM jobs WHERE active_user_id = @userId AND track_id = @trackId;

-- name: takeSlot
-- The cap: 0 rows when the user already has @maxActive active jobs.
UPDATE user_job_counts SET active = active + 1, last_due = @due
WHERE user_id = @userId AND active < @maxActive;

-- name: addActive
-- An admin's retry counts towards the cap without being refused by it.
UPDATE user_job_counts SET active = active + 1, last_due = @due WHERE user_id = @userId;

-- name: setLastDue
UPDATE user_job_counts SET last_due = @due WHERE user_id = @userId;

-- name: freeSlots
-- GREATEST keeps a counter that drifted from going negative; repairActiveCounts recounts it.
UPDATE user_job_counts SET active = GREATEST(active - @count, 0) WHERE user_id = @userId;

-- name: insert
-- MysqlJobQueue.enqueue builds the job it returns from exactly these values.
INSERT INTO jobs (id, user_id, track_id, status, attempts, max_attempts, next_attempt_at, due_at, created_at, updated_at)
VALUES (@jobId, @userId, @trackId, 'queued', 0, @maxAttempts, @now, @due, @now, @now);

-- name: byId
SELECT * FROM jobs WHERE id = @jobId;

-- name: bySeq
SELECT * FROM jobs WHERE seq = @seq;

-- name: countAll
-- Listings, newest first; each combination of filters has its own pair, read from
-- jobs_user_created or jobs_status_created (InnoDB appends the primary key, seq, to both).
SELECT COUNT(*) AS n FROM jobs;

-- name: listAll
SELECT * FROM jobs ORDER BY created_at DESC, seq DESC LIMIT @limit OFFSET @offset;

-- name: countOfUser
SELECT COUNT(*) AS n FROM jobs WHERE user_id = @userId;

-- name: listOfUser
SELECT * FROM jobs WHERE user_id = @userId
ORDER BY created_at DESC, seq DESC
LIMIT @limit OFFSET @offset;

-- name: countWithStatus
SELECT COUNT(*) AS n FROM jobs WHERE status = @status;

-- name: listWithStatus
SELECT * FROM jobs WHERE status = @status
ORDER BY created_at DESC, seq DESC
LIMIT @limit OFFSET @offset;

-- name: countOfUserWithStatus
SELECT COUNT(*) AS n FROM jobs WHERE user_id = @userId AND status = @status;

-- name: listOfUserWithStatus
SELECT * FROM jobs WHERE user_id = @userId AND status = @status
ORDER BY created_at DESC, seq DESC
LIMIT @limit OFFSET @offset;

-- name: nextQueued
-- The claim's pick: the first queued job in fair order whose attempt may start, locked, passing
-- over any row another claim holds (SKIP LOCKED), so that concurrent claims take different
-- jobs without waiting for each other. Read in order from jobs_queued_due (status, due_at, seq,
-- next_attempt_at): equality on status, the order of the next two columns, and the due check on
-- the index entry itself, so a retry still backing off is passed over without reading its row.
SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS now_ms, jobs.* FROM jobs
WHERE status = 'queued' AND next_attempt_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)
ORDER BY due_at, seq
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: start
-- An attempt starts with its progress reset; the last error stays until the job completes.
-- MysqlJobQueue.claim rebuilds the row it returns from exactly these assignments.
UPDATE jobs SET status = 'running', attempts = attempts + 1, next_attempt_at = NULL,
  lease_worker = @workerId, lease_token = @token, lease_expires_at = @now + @leaseMs,
  progress_bytes = NULL, progress_total = NULL, updated_at = @now
WHERE seq = @seq AND status = 'queued';

-- name: leased
-- A running job, for the holder of its lease only, locked for the transition that follows.
SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS now_ms, jobs.* FROM jobs
WHERE id = @jobId AND status = 'running' AND lease_token = @token
FOR UPDATE;

-- name: renew
UPDATE jobs SET lease_expires_at = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + @leaseMs
WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: reportProgress
UPDATE jobs SET progress_bytes = @bytes, progress_total = @totalBytes, updated_at = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)
WHERE id = @jobId AND status = 'running' AND lease_token = @token;

-- name: completeUnreserved
-- `complete` in one statement, for the usual job that holds no reservation: the job and its
-- user's counter change together, the job's row locked first (read by jobs_id, a const table,
-- before the join reaches the counter's), the order of every transaction here. Each SET
-- assigns a table from its own columns, so the order MySQL applies them in does not matter.
-- 0 rows when the lease is not held, the job holds a reservation, or its counter row is
-- missing: MysqlJobQueue.complete then takes the transaction's way.
UPDATE jobs JOIN user_job_counts AS counts ON counts.user_id = jobs.user_id
SET jobs.status = 'completed', jobs.lease_worker = NULL, jobs.lease_token = NULL, jobs.lease_expires_at = NULL,
  jobs.error_code = NULL, jobs.error_message = NULL, jobs.updated_at = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED),
  counts.active = GREATEST(counts.active - 1, 0)
WHERE jobs.id = @jobId AND jobs.status = 'running' AND jobs.lease_token = @token AND jobs.reserved_bytes = 0;

-- name: complete
-- The last error is cleared once the job completes; its progress is kept.
UPDATE jobs SET status = 'completed', lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL,
  error_code = NULL, error_message = NULL, reserved_bytes = 0, updated_at = @now
WHERE seq = @seq;

-- name: failFinally
-- Final: the progress of the last attempt is kept.
UPDATE jobs SET status = 'failed', lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL,
  error_code = @code, error_message = @message, reserved_bytes = 0, updated_at = @now
WHERE seq = @seq;

-- name: failForRetry
-- The next attempt reserves afresh when its fetch starts.
UPDATE jobs SET status = 'queued', next_attempt_at = @now + @delayMs, due_at = @due,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL, progress_bytes = NULL, progress_total = NULL,
  error_code = @code, error_message = @message, reserved_bytes = 0, updated_at = @now
WHERE seq = @seq;

-- name: release
-- Handed back unfinished: the attempt is not counted and the job keeps its due time, so it is
-- next in line again once @delayMs has passed.
UPDATE jobs SET status = 'queued', attempts = attempts - 1, next_attempt_at = @now + @delayMs,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL, progress_bytes = NULL, progress_total = NULL,
  reserved_bytes = 0, updated_at = @now
WHERE seq = @seq;

-- name: expiredLeases
-- The reaper's batch: running jobs whose lease ran out by the database's clock, locked (from
-- jobs_running_lease). A job whose holder is finishing it right now is locked by that holder,
-- and left to them (SKIP LOCKED): once they commit, it is no longer running anyway.
SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS now_ms, seq, user_id, attempts, max_attempts, reserved_bytes
FROM jobs
WHERE status = 'running' AND lease_expires_at <= CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)
ORDER BY lease_expires_at
LIMIT @limit
FOR UPDATE SKIP LOCKED;

-- name: failSpentLeases
-- A lease that ran out on the last attempt ends the job.
UPDATE jobs SET status = 'failed', error_code = @code, error_message = @message,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL, reserved_bytes = 0, updated_at = @now
WHERE seq IN (@seqs) AND status = 'running';

-- name: requeueExpiredLeases
-- A lease that ran out with attempts left: queued again at once, keeping its due time, so the
-- job a dead worker held is not sent to the back of the line.
UPDATE jobs SET status = 'queued', next_attempt_at = @now, error_code = @code, error_message = @message,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL, progress_bytes = NULL, progress_total = NULL,
  reserved_bytes = 0, updated_at = @now
WHERE seq IN (@seqs) AND status = 'running';

-- name: ensureUsage
-- The user's usage row, created on first use and locked either way (see lockCounts).
INSERT INTO user_usage (user_id) VALUES (@userId)
ON DUPLICATE KEY UPDATE committed_bytes = committed_bytes;

-- name: usageOf
SELECT committed_bytes, reserved_bytes FROM user_usage WHERE user_id = @userId;

-- name: reserveUsage
-- The quota: 0 rows when the user's committed plus reserved bytes and @delta would pass
-- @limitBytes. A reservation that shrinks (@delta <= 0) always passes.
UPDATE user_usage SET reserved_bytes = GREATEST(reserved_bytes + @delta, 0)
WHERE user_id = @userId AND (@delta <= 0 OR committed_bytes + reserved_bytes + @delta <= @limitBytes);

-- name: setReservation
UPDATE jobs SET reserved_bytes = @bytes WHERE seq = @seq;

-- name: releaseBytes
UPDATE user_usage SET reserved_bytes = GREATEST(reserved_bytes - @bytes, 0) WHERE user_id = @userId;

-- name: ownJob
-- The user's job, locked: another user's does not exist as far as this user can tell.
SELECT * FROM jobs WHERE id = @jobId AND user_id = @userId FOR UPDATE;

-- name: cancel
UPDATE jobs SET status = 'cancelled', next_attempt_at = NULL, reserved_bytes = 0,
  updated_at = CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)
WHERE seq = @seq AND status = 'queued';

-- name: jobForUpdate
SELECT * FROM jobs WHERE id = @jobId FOR UPDATE;

-- name: retry
-- Admin: a failed job back to queued and due now, with its attempts and last error reset.
UPDATE jobs SET status = 'queued', attempts = 0, next_attempt_at = @now, due_at = @due,
  lease_worker = NULL, lease_token = NULL, lease_expires_at = NULL,
  progress_bytes = NULL, progress_total = NULL, error_code = NULL, error_message = NULL, updated_at = @now
WHERE seq = @seq AND status = 'failed';

-- name: countByStatus
SELECT status, COUNT(*) AS n FROM jobs GROUP BY status;

-- name: finishedBefore
-- One purge batch of at most @limit final jobs, locked (from jobs_status_updated), with what
-- each still reserved (0 unless a transition failed to give it back) for its usage row.
SELECT seq, user_id, reserved_bytes FROM jobs
WHERE status IN (@finalStatuses) AND updated_at < @before
LIMIT @limit
FOR UPDATE SKIP LOCKED;

-- name: deleteJobs
DELETE FROM jobs WHERE seq IN (@seqs);

-- name: holdsLease
-- The lease of an attempt, by the database's clock: one that ran out is no one's any more.
SELECT 1 AS held FROM jobs
WHERE id = @jobId AND status = 'running' AND lease_token = @token
  AND lease_expires_at > CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED);

-- name: recountActive
-- Repair: each counter that disagrees with the rows takes their count, read from jobs_active
-- (active_user_id is the user only while a job is queued or running).
UPDATE user_job_counts SET active = (SELECT COUNT(*) FROM jobs WHERE jobs.active_user_id = user_job_counts.user_id)
WHERE active <> (SELECT COUNT(*) FROM jobs WHERE jobs.active_user_id = user_job_counts.user_id);

-- name: addMissingCounts
-- Repair: a user with active jobs but no counter row gets one.
INSERT INTO user_job_counts (user_id, active, last_due)
SELECT active_user_id, COUNT(*), MAX(due_at) FROM jobs
WHERE active_user_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM user_job_counts AS counts WHERE counts.user_id = jobs.active_user_id)
GROUP BY active_user_id;
