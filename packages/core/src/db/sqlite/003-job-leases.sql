-- 003-job-leases: leased jobs with tokens, one active job per user and track, a per-user cap
-- of active jobs, and a fair claim order.
--
-- `lease_token` is set only while a job runs: a new random value for each claim, which every
-- change by the worker must present. `due_at` is the job's place in the claim order, a virtual
-- time decided at enqueue (see jobs/sqlite-job-queue.ts); `next_attempt_at` stays the real
-- time from which an attempt may start.

ALTER TABLE jobs ADD COLUMN lease_token TEXT;
ALTER TABLE jobs ADD COLUMN due_at INTEGER;
UPDATE jobs SET due_at = coalesce(next_attempt_at, created_at);

-- Before the unique key can exist, duplicates made by racing requests end: per user and track,
-- the running job (else the oldest) stays, and the others are cancelled.
UPDATE jobs
SET status = 'cancelled', next_attempt_at = NULL, lease_worker = NULL, lease_expires_at = NULL,
  updated_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE status IN ('queued', 'running')
  AND seq <> (
    SELECT keep.seq FROM jobs AS keep
    WHERE keep.user_id = jobs.user_id AND keep.track_id = jobs.track_id AND keep.status IN ('queued', 'running')
    ORDER BY keep.status = 'running' DESC, keep.seq
    LIMIT 1
  );

-- One active job per user and track; it also serves the look-up of that job.
DROP INDEX jobs_user_track;
CREATE UNIQUE INDEX jobs_user_track ON jobs (user_id, track_id) WHERE status IN ('queued', 'running');

-- The claim order: queued jobs by virtual due time, then insertion. `next_attempt_at` rides
-- along so that a retry still backing off is skipped without reading its row.
DROP INDEX jobs_queued_due;
CREATE INDEX jobs_queued_due ON jobs (status, due_at, seq, next_attempt_at);

-- Per user: queued plus running jobs, and the virtual due time of the latest one.
CREATE TABLE user_job_counts (
  user_id  TEXT    NOT NULL PRIMARY KEY,
  active   INTEGER NOT NULL DEFAULT 0 CHECK (active >= 0),
  last_due INTEGER
) WITHOUT ROWID;

INSERT INTO user_job_counts (user_id, active, last_due)
SELECT user_id, count(*), max(due_at) FROM jobs WHERE status IN ('queued', 'running') GROUP BY user_id;
