import { prepareOnFirstUse, requireStatements, type PreparedStatements, type SqliteStatement } from '../db/named-statements.js';
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
import text from './sqlite-job-queue.sql';

const SQL = requireStatements(text, [
  'insert',
  'byId',
  'activeFor',
  'countAll',
  'listAll',
  'countOfUser',
  'listOfUser',
  'countWithStatus',
  'listWithStatus',
  'countOfUserWithStatus',
  'listOfUserWithStatus',
  'failSpentLeases',
  'nextQueued',
  'nextAbandoned',
  'start',
  'renew',
  'reportProgress',
  'complete',
  'failFinally',
  'failForRetry',
  'ofUser',
  'cancel',
  'retry',
  'countByStatus',
  'purgeFinished',
]);

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
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async enqueue(job: { userId: string; trackId: string; maxAttempts: number }): Promise<Job> {
    if (!Number.isInteger(job.maxAttempts) || job.maxAttempts < 1) {
      throw ValidationError.field('maxAttempts', 'must be a whole number of at least 1');
    }
    const jobId = newId();
    this.statements.insert.run({
      jobId,
      userId: job.userId,
      trackId: job.trackId,
      maxAttempts: job.maxAttempts,
      now: Date.now(),
    });
    return this.mustGet(jobId);
  }

  async get(id: string): Promise<Job | null> {
    const row = this.statements.byId.get({ jobId: id }) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  async findActive(userId: string, trackId: string): Promise<Job | null> {
    const row = this.statements.activeFor.get({ userId, trackId }) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  /** Newest first. */
  async list(query: ListJobsQuery): Promise<Page<Job>> {
    const [count, list] = this.listing(query);
    const params = { userId: query.userId ?? null, status: query.status ?? null, limit: query.limit, offset: query.offset };
    return this.db.transaction(() => {
      const total = count.pluck().get(params) as number;
      const rows = list.all(params) as JobRow[];
      return { items: rows.map(toJob), total };
    })();
  }

  async claim(workerId: string, leaseMs: number, now: Date): Promise<Job | null> {
    const at = now.getTime();
    return this.db
      .transaction((): Job | null => {
        this.statements.failSpentLeases.run({ ...LEASE_EXPIRED, now: at });
        const queued = this.statements.nextQueued.get({ now: at }) as Candidate | undefined;
        const abandoned = this.statements.nextAbandoned.get({ now: at }) as Candidate | undefined;
        const next = earlier(queued, abandoned);
        if (!next) return null;
        // Taking back an abandoned job records why its last attempt ended.
        const error = next === abandoned ? LEASE_EXPIRED : null;
        this.statements.start.run({
          jobId: next.id,
          workerId,
          expiresAt: at + leaseMs,
          code: error?.code ?? null,
          message: error?.message ?? null,
          now: at,
        });
        return this.mustGet(next.id);
      })
      .immediate();
  }

  async renew(jobId: string, workerId: string, leaseMs: number, now: Date): Promise<boolean> {
    const result = this.statements.renew.run({ jobId, workerId, expiresAt: now.getTime() + leaseMs });
    return result.changes > 0;
  }

  async reportProgress(jobId: string, workerId: string, progress: JobProgress): Promise<void> {
    this.statements.reportProgress.run({
      jobId,
      workerId,
      bytes: progress.bytes,
      totalBytes: progress.totalBytes ?? null,
      now: Date.now(),
    });
  }

  async complete(jobId: string, workerId: string): Promise<boolean> {
    return this.statements.complete.run({ jobId, workerId, now: Date.now() }).changes > 0;
  }

  async fail(jobId: string, workerId: string, error: JobError, retryAt: Date | null): Promise<Job | null> {
    const params = { jobId, workerId, code: error.code, message: error.message, now: Date.now() };
    const result =
      retryAt === null
        ? this.statements.failFinally.run(params)
        : this.statements.failForRetry.run({ ...params, retryAt: retryAt.getTime() });
    return result.changes > 0 ? this.mustGet(jobId) : null;
  }

  async cancel(jobId: string, userId: string): Promise<CancelOutcome> {
    return this.db
      .transaction((): CancelOutcome => {
        const row = this.statements.ofUser.get({ jobId, userId }) as JobRow | undefined;
        // Another user's job does not exist as far as this user can tell.
        if (!row) return { kind: 'not-found' };
        if (row.status !== 'queued') return { kind: 'conflict', job: toJob(row) };
        this.statements.cancel.run({ jobId, now: Date.now() });
        return { kind: 'cancelled', job: this.mustGet(jobId) };
      })
      .immediate();
  }

  async retry(jobId: string, now: Date): Promise<Job | null> {
    const result = this.statements.retry.run({ jobId, now: now.getTime() });
    return result.changes > 0 ? this.mustGet(jobId) : null;
  }

  async countByStatus(): Promise<Record<JobStatus, number>> {
    const rows = this.statements.countByStatus.all() as { status: JobStatus; n: number }[];
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async purgeFinished(before: Date): Promise<number> {
    const finalStatuses = JSON.stringify(FINAL_JOB_STATUSES);
    return this.statements.purgeFinished.run({ finalStatuses, before: before.getTime() }).changes;
  }

  /** The count and page statements for the filters the query sets. */
  private listing(query: ListJobsQuery): [count: SqliteStatement, list: SqliteStatement] {
    const { statements } = this;
    if (query.userId !== undefined && query.status !== undefined) {
      return [statements.countOfUserWithStatus, statements.listOfUserWithStatus];
    }
    if (query.userId !== undefined) return [statements.countOfUser, statements.listOfUser];
    if (query.status !== undefined) return [statements.countWithStatus, statements.listWithStatus];
    return [statements.countAll, statements.listAll];
  }

  private mustGet(id: string): Job {
    const row = this.statements.byId.get({ jobId: id }) as JobRow | undefined;
    if (!row) throw new MixtapeError('ERR_INTERNAL', `Job ${id} vanished inside its own transaction`);
    return toJob(row);
  }
}
