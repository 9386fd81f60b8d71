import type { SqliteDatabase } from '../db/sqlite-database.js';
import { MixtapeError, ValidationError } from '../errors.js';
import { newId } from '../ids.js';
import {
  FINAL_JOB_STATUSES,
  JOB_STATUSES,
  type Job,
  type JobError,
  type JobProgress,
  type JobStatus,
  type Page,
} from '../model.js';
import type { CancelOutcome, JobQueue, ListJobsQuery } from './job-queue.js';

interface JobRow {
  id: string;
  user_id: string;
  track_id: string;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  next_attempt_at: number | null;
  lease_worker: string | null;
  lease_expires_at: number | null;
  progress_bytes: number | null;
  progress_total: number | null;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  updated_at: number;
}

interface Candidate {
  id: string;
  due: number;
  created_at: number;
  seq: number;
}

const LEASE_EXPIRED: JobError = {
  code: 'lease-expired',
  message: 'The worker stopped renewing its lease',
};

/** Only the worker holding a running job may change it. */
const HELD_BY = "id = @id AND status = 'running' AND lease_worker = @workerId";

function toJob(row: JobRow): Job {
  const job: Job = {
    id: row.id,
    userId: row.user_id,
    trackId: row.track_id,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
  if (row.status === 'queued' && row.next_attempt_at !== null) job.nextAttemptAt = new Date(row.next_attempt_at);
  if (row.progress_bytes !== null) {
    job.progress = row.progress_total === null
      ? { bytes: row.progress_bytes }
      : { bytes: row.progress_bytes, totalBytes: row.progress_total };
  }
  if (row.error_code !== null) job.error = { code: row.error_code, message: row.error_message ?? '' };
  if (row.status === 'running' && row.lease_worker !== null && row.lease_expires_at !== null) {
    job.lease = { workerId: row.lease_worker, expiresAt: new Date(row.lease_expires_at) };
  }
  return job;
}

function earlier(a: Candidate | undefined, b: Candidate | undefined): Candidate | undefined {
  if (!a || !b) return a ?? b;
  if (a.due !== b.due) return a.due < b.due ? a : b;
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? a : b;
  return a.seq < b.seq ? a : b;
}

/**
 * The download queue in the embedded database. State changes that read before they write run
 * in immediate transactions, so a second process (a separate `mixtape worker`) cannot claim
 * the same job. Progress is reset when an attempt starts and kept once the job is final;
 * the last error is kept until the job completes or an admin retries it.
 */
export class SqliteJobQueue implements JobQueue {
  constructor(private readonly db: SqliteDatabase) {}

  async enqueue(job: { userId: string; trackId: string; maxAttempts: number }): Promise<Job> {
    if (!Number.isInteger(job.maxAttempts) || job.maxAttempts < 1) {
      throw ValidationError.field('maxAttempts', 'must be a whole number of at least 1');
    }
    const now = Date.now();
    const id = newId();
    this.db
      .prepare(
        `INSERT INTO jobs (id, user_id, track_id, status, attempts, max_attempts, next_attempt_at, created_at, updated_at)
         VALUES (?, ?, ?, 'queued', 0, ?, ?, ?, ?)`,
      )
      .run(id, job.userId, job.trackId, job.maxAttempts, now, now, now);
    return this.mustGet(id);
  }

  async get(id: string): Promise<Job | null> {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  async findActive(userId: string, trackId: string): Promise<Job | null> {
    const row = this.db
      .prepare(
        `SELECT * FROM jobs WHERE user_id = ? AND track_id = ? AND status IN ('queued', 'running')
         ORDER BY created_at DESC, seq DESC LIMIT 1`,
      )
      .get(userId, trackId) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  /** Newest first. */
  async list(query: ListJobsQuery): Promise<Page<Job>> {
    const conditions: string[] = [];
    const params: Record<string, string | number> = { limit: query.limit, offset: query.offset };
    if (query.userId !== undefined) {
      conditions.push('user_id = @userId');
      params.userId = query.userId;
    }
    if (query.status !== undefined) {
      conditions.push('status = @status');
      params.status = query.status;
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    return this.db.transaction(() => {
      const total = this.db.prepare(`SELECT count(*) FROM jobs ${where}`).pluck().get(params) as number;
      const rows = this.db
        .prepare(`SELECT * FROM jobs ${where} ORDER BY created_at DESC, seq DESC LIMIT @limit OFFSET @offset`)
        .all(params) as JobRow[];
      return { items: rows.map(toJob), total };
    })();
  }

  async claim(workerId: string, leaseMs: number, now: Date): Promise<Job | null> {
    const at = now.getTime();
    return this.db
      .transaction((): Job | null => {
        // A lease that ran out on the last attempt ends the job rather than retrying it.
        this.db
          .prepare(
            `UPDATE jobs SET status = 'failed', error_code = @code, error_message = @message,
               lease_worker = NULL, lease_expires_at = NULL, updated_at = @at
             WHERE status = 'running' AND lease_expires_at <= @at AND attempts >= max_attempts`,
          )
          .run({ ...LEASE_EXPIRED, at });
        const queued = this.db
          .prepare(
            `SELECT id, next_attempt_at AS due, created_at, seq FROM jobs
             WHERE status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at, seq LIMIT 1`,
          )
          .get(at) as Candidate | undefined;
        const abandoned = this.db
          .prepare(
            `SELECT id, lease_expires_at AS due, created_at, seq FROM jobs
             WHERE status = 'running' AND lease_expires_at <= ? ORDER BY lease_expires_at, created_at, seq LIMIT 1`,
          )
          .get(at) as Candidate | undefined;
        const next = earlier(queued, abandoned);
        if (!next) return null;
        // Taking back an abandoned job records why its last attempt ended.
        const error = next === abandoned ? LEASE_EXPIRED : null;
        this.db
          .prepare(
            `UPDATE jobs SET status = 'running', attempts = attempts + 1, next_attempt_at = NULL,
               lease_worker = @workerId, lease_expires_at = @expiresAt, progress_bytes = NULL, progress_total = NULL,
               error_code = coalesce(@code, error_code), error_message = coalesce(@message, error_message),
               updated_at = @at
             WHERE id = @id`,
          )
          .run({ id: next.id, workerId, expiresAt: at + leaseMs, at, code: error?.code ?? null, message: error?.message ?? null });
        return this.mustGet(next.id);
      })
      .immediate();
  }

  async renew(jobId: string, workerId: string, leaseMs: number, now: Date): Promise<boolean> {
    const result = this.db
      .prepare(`UPDATE jobs SET lease_expires_at = @expiresAt WHERE ${HELD_BY}`)
      .run({ id: jobId, workerId, expiresAt: now.getTime() + leaseMs });
    return result.changes > 0;
  }

  async reportProgress(jobId: string, workerId: string, progress: JobProgress): Promise<void> {
    this.db
      .prepare(`UPDATE jobs SET progress_bytes = @bytes, progress_total = @total, updated_at = @at WHERE ${HELD_BY}`)
      .run({ id: jobId, workerId, bytes: progress.bytes, total: progress.totalBytes ?? null, at: Date.now() });
  }

  async complete(jobId: string, workerId: string): Promise<boolean> {
    const result = this.db
      .prepare(
        `UPDATE jobs SET status = 'completed', lease_worker = NULL, lease_expires_at = NULL,
           error_code = NULL, error_message = NULL, updated_at = @at
         WHERE ${HELD_BY}`,
      )
      .run({ id: jobId, workerId, at: Date.now() });
    return result.changes > 0;
  }

  async fail(jobId: string, workerId: string, error: JobError, retryAt: Date | null): Promise<Job | null> {
    const params = { id: jobId, workerId, code: error.code, message: error.message, at: Date.now() };
    const result =
      retryAt === null
        ? this.db
            .prepare(
              `UPDATE jobs SET status = 'failed', lease_worker = NULL, lease_expires_at = NULL,
                 error_code = @code, error_message = @message, updated_at = @at
               WHERE ${HELD_BY}`,
            )
            .run(params)
        : this.db
            .prepare(
              `UPDATE jobs SET status = 'queued', next_attempt_at = @retryAt, lease_worker = NULL, lease_expires_at = NULL,
                 progress_bytes = NULL, progress_total = NULL, error_code = @code, error_message = @message, updated_at = @at
               WHERE ${HELD_BY}`,
            )
            .run({ ...params, retryAt: retryAt.getTime() });
    return result.changes > 0 ? this.mustGet(jobId) : null;
  }

  async cancel(jobId: string, userId: string): Promise<CancelOutcome> {
    return this.db
      .transaction((): CancelOutcome => {
        const row = this.db.prepare('SELECT * FROM jobs WHERE id = ? AND user_id = ?').get(jobId, userId) as
          | JobRow
          | undefined;
        // Another user's job does not exist as far as this user can tell.
        if (!row) return { kind: 'not-found' };
        if (row.status !== 'queued') return { kind: 'conflict', job: toJob(row) };
        this.db
          .prepare("UPDATE jobs SET status = 'cancelled', next_attempt_at = NULL, updated_at = ? WHERE id = ?")
          .run(Date.now(), jobId);
        return { kind: 'cancelled', job: this.mustGet(jobId) };
      })
      .immediate();
  }

  async retry(jobId: string, now: Date): Promise<Job | null> {
    const result = this.db
      .prepare(
        `UPDATE jobs SET status = 'queued', attempts = 0, next_attempt_at = @at, lease_worker = NULL, lease_expires_at = NULL,
           progress_bytes = NULL, progress_total = NULL, error_code = NULL, error_message = NULL, updated_at = @at
         WHERE id = @id AND status = 'failed'`,
      )
      .run({ id: jobId, at: now.getTime() });
    return result.changes > 0 ? this.mustGet(jobId) : null;
  }

  async countByStatus(): Promise<Record<JobStatus, number>> {
    const rows = this.db.prepare('SELECT status, count(*) AS n FROM jobs GROUP BY status').all() as {
      status: JobStatus;
      n: number;
    }[];
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async purgeFinished(before: Date): Promise<number> {
    const statuses = FINAL_JOB_STATUSES.map((status) => `'${status}'`).join(', ');
    const result = this.db
      .prepare(`DELETE FROM jobs WHERE status IN (${statuses}) AND updated_at < ?`)
      .run(before.getTime());
    return result.changes;
  }

  private mustGet(id: string): Job {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    if (!row) throw new MixtapeError('ERR_INTERNAL', `Job ${id} vanished inside its own transaction`);
    return toJob(row);
  }
}
