import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { prepareOnFirstUse, requireStatements, type PreparedStatements, type SqliteStatement } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
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
import type {
  CancelOutcome,
  EnqueueOutcome,
  EnqueueRequest,
  JobLease,
  JobQueue,
  ListJobsQuery,
  ReapOutcome,
  ReleaseOptions,
  ReserveOutcome,
  RetryOutcome,
} from './job-queue.js';
import { checkEnqueueRequest, checkReservedBytes, LEASE_EXPIRED, resolveJobTableOptions, toJob, virtualDueTime, type JobRow, type JobTableOptions } from './job-table.js';
import text from './sqlite-job-queue.sql';

const SQL = requireStatements(text, [
  'clock',
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
  'countsOf',
  'ensureCounts',
  'takeSlot',
  'addActive',
  'setLastDue',
  'freeSlot',
  'head',
  'nextQueued',
  'start',
  'renew',
  'reportProgress',
  'complete',
  'failFinally',
  'leased',
  'failForRetry',
  'release',
  'failSpentLeases',
  'requeueExpiredLeases',
  'ofUser',
  'cancel',
  'retry',
  'countByStatus',
  'purgeFinished',
  'releaseBytes',
  'reservedBy',
  'ensureUsage',
  'usageOf',
  'reserveUsage',
  'setReservation',
  'releaseReservation',
  'clearReservation',
  'releaseExpiredReservations',
  'clearExpiredReservations',
  'holdsLease',
  'recountActive',
  'addMissingCounts',
]);

interface Reservation {
  user_id: string;
  reserved_bytes: number;
}

interface Usage {
  committed_bytes: number;
  reserved_bytes: number;
}

interface Counts {
  active: number;
  last_due: number | null;
}

export type SqliteJobQueueOptions = JobTableOptions;

/**
 * The download queue in the embedded database. Every change runs in an immediate
 * transaction, so that other processes sharing the file (`mixtape worker`) see each step whole:
 * the check for an active job and the insert, the cap and the insert, a claim and its pick.
 * Progress is reset when an attempt starts and kept once the job is final; the last error is
 * kept until the job completes or an admin retries it. Each method is one statement or one
 * transaction (a purge, one per batch), run by `runSqlite`.
 */
export class SqliteJobQueue implements JobQueue {
  private readonly statements: PreparedStatements<keyof typeof SQL>;
  private readonly quantumMs: number;
  private readonly purgeBatchSize: number;

  constructor(
    private readonly db: SqliteDatabase,
    options: SqliteJobQueueOptions = {},
  ) {
    this.statements = prepareOnFirstUse(db, SQL);
    ({ fairnessQuantumMs: this.quantumMs, purgeBatchSize: this.purgeBatchSize } = resolveJobTableOptions(options));
  }

  async enqueue(request: EnqueueRequest): Promise<EnqueueOutcome> {
    checkEnqueueRequest(request);
    const { userId, trackId, maxAttempts, maxActive } = request;
    const { statements } = this;
    return this.write((now): EnqueueOutcome => {
      const existing = statements.activeFor.get({ userId, trackId }) as JobRow | undefined;
      if (existing) return { kind: 'existing', job: toJob(existing) };
      const due = this.dueFor(userId, now);
      if (statements.takeSlot.run({ userId, due, maxActive }).changes === 0) {
        return { kind: 'over-cap', activeJobs: this.counts(userId).active, maxActive };
      }
      const row = statements.insert.get({ jobId: newId(), userId, trackId, maxAttempts, due, now }) as JobRow;
      return { kind: 'enqueued', job: toJob(row) };
    });
  }

  async get(id: string): Promise<Job | null> {
    const row = await runSqlite(this.db, () => this.statements.byId.get({ jobId: id }) as JobRow | undefined);
    return row ? toJob(row) : null;
  }

  async findActive(userId: string, trackId: string): Promise<Job | null> {
    const row = await runSqlite(this.db, () => this.statements.activeFor.get({ userId, trackId }) as JobRow | undefined);
    return row ? toJob(row) : null;
  }

  /** Newest first. */
  async list(query: ListJobsQuery): Promise<Page<Job>> {
    const [count, list] = this.listing(query);
    const params = { userId: query.userId ?? null, status: query.status ?? null, limit: query.limit, offset: query.offset };
    const read = this.db.transaction(() => {
      const total = count.pluck().get(params) as number;
      const rows = list.all(params) as JobRow[];
      return { items: rows.map(toJob), total };
    });
    return runSqlite(this.db, read);
  }

  async claim(workerId: string, leaseMs: number): Promise<JobLease | null> {
    const { statements } = this;
    return this.write((now): JobLease | null => {
      const seq = statements.nextQueued.pluck().get({ now }) as number | undefined;
      if (seq === undefined) return null;
      const token = randomBytes(16).toString('base64url');
      const row = statements.start.get({ seq, workerId, token, leaseMs, now }) as JobRow;
      return { job: toJob(row), token };
    });
  }

  async renew(jobId: string, token: string, leaseMs: number): Promise<boolean> {
    return this.write((now) => this.statements.renew.run({ jobId, token, leaseMs, now }).changes > 0);
  }

  async reportProgress(jobId: string, token: string, progress: JobProgress): Promise<boolean> {
    return this.write(
      (now) =>
        this.statements.reportProgress.run({ jobId, token, bytes: progress.bytes, totalBytes: progress.totalBytes ?? null, now })
          .changes > 0,
    );
  }

  async complete(jobId: string, token: string): Promise<boolean> {
    const { statements } = this;
    return this.write((now) => {
      const done = statements.complete.get({ jobId, token, now }) as { user_id: string } | undefined;
      if (!done) return false;
      statements.freeSlot.run({ userId: done.user_id });
      this.giveBackReservation(jobId);
      return true;
    });
  }

  async fail(jobId: string, token: string, error: JobError, retry: { delayMs: number } | null): Promise<Job | null> {
    const { statements } = this;
    const params = { jobId, token, code: error.code, message: error.message };
    return this.write((now): Job | null => {
      if (retry === null) {
        const failed = statements.failFinally.get({ ...params, now }) as JobRow | undefined;
        if (!failed) return null;
        statements.freeSlot.run({ userId: failed.user_id });
        this.giveBackReservation(jobId);
        return toJob(failed);
      }
      const held = statements.leased.get({ jobId, token }) as { user_id: string } | undefined;
      if (!held) return null;
      // A retry joins the line again behind the user's other jobs, as a new request would.
      const due = this.dueFor(held.user_id, now);
      statements.setLastDue.run({ userId: held.user_id, due });
      const queued = statements.failForRetry.get({ ...params, delayMs: Math.max(0, Math.round(retry.delayMs)), due, now }) as JobRow;
      // The next attempt reserves afresh when its fetch starts.
      this.giveBackReservation(jobId);
      return toJob(queued);
    });
  }

  async release(jobId: string, token: string, options: ReleaseOptions = {}): Promise<boolean> {
    const delayMs = Math.max(0, Math.round(options.delayMs ?? 0));
    return this.write((now) => {
      if (this.statements.release.run({ jobId, token, now, delayMs }).changes === 0) return false;
      this.giveBackReservation(jobId);
      return true;
    });
  }

  async reserve(jobId: string, token: string, bytes: number, limitBytes: number): Promise<ReserveOutcome> {
    checkReservedBytes(bytes);
    const { statements } = this;
    return this.write((): ReserveOutcome => {
      const held = statements.reservedBy.get({ jobId, token }) as Reservation | undefined;
      if (!held) return { kind: 'lease-lost' };
      const userId = held.user_id;
      const delta = bytes - held.reserved_bytes;
      statements.ensureUsage.run({ userId });
      if (statements.reserveUsage.run({ userId, delta, limitBytes }).changes === 0) {
        const usage = statements.usageOf.get({ userId }) as Usage;
        const usedBytes = usage.committed_bytes + usage.reserved_bytes - held.reserved_bytes;
        return { kind: 'over-quota', usedBytes, limitBytes, requestedBytes: bytes };
      }
      statements.setReservation.run({ jobId, token, bytes });
      return { kind: 'reserved' };
    });
  }

  async reapExpired(): Promise<ReapOutcome> {
    const { statements } = this;
    return this.write((now): ReapOutcome => {
      statements.releaseExpiredReservations.run({ now });
      statements.clearExpiredReservations.run({ now });
      const spent = statements.failSpentLeases.all({ ...LEASE_EXPIRED, now }) as { user_id: string }[];
      for (const { user_id: userId } of spent) statements.freeSlot.run({ userId });
      const requeued = statements.requeueExpiredLeases.run({ ...LEASE_EXPIRED, now }).changes;
      return { requeued, failed: spent.length };
    });
  }

  async holdsLease(jobId: string, token: string): Promise<boolean> {
    return runSqlite(this.db, () => this.statements.holdsLease.get({ jobId, token }) !== undefined);
  }

  async cancel(jobId: string, userId: string): Promise<CancelOutcome> {
    const { statements } = this;
    return this.write((now): CancelOutcome => {
      const row = statements.ofUser.get({ jobId, userId }) as JobRow | undefined;
      // Another user's job does not exist as far as this user can tell.
      if (!row) return { kind: 'not-found' };
      const cancelled = statements.cancel.get({ jobId, now }) as JobRow | undefined;
      if (!cancelled) return { kind: 'conflict', job: toJob(row) };
      statements.freeSlot.run({ userId });
      this.giveBackReservation(jobId);
      return { kind: 'cancelled', job: toJob(cancelled) };
    });
  }

  async retry(jobId: string): Promise<RetryOutcome> {
    const { statements } = this;
    return this.write((now): RetryOutcome => {
      const row = statements.byId.get({ jobId }) as JobRow | undefined;
      if (!row) return { kind: 'not-found' };
      if (row.status !== 'failed') return { kind: 'not-failed', job: toJob(row) };
      const active = statements.activeFor.get({ userId: row.user_id, trackId: row.track_id }) as JobRow | undefined;
      if (active) return { kind: 'duplicate', active: toJob(active) };
      const due = this.dueFor(row.user_id, now);
      statements.addActive.run({ userId: row.user_id, due });
      return { kind: 'retried', job: toJob(statements.retry.get({ jobId, due, now }) as JobRow) };
    });
  }

  async countByStatus(): Promise<Record<JobStatus, number>> {
    const rows = await runSqlite(this.db, () => this.statements.countByStatus.all() as { status: JobStatus; n: number }[]);
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async purgeFinished(before: Date): Promise<number> {
    const params = { finalStatuses: JSON.stringify(FINAL_JOB_STATUSES), before: before.getTime(), limit: this.purgeBatchSize };
    const { statements } = this;
    const purgeBatch = this.db.transaction((): number => {
      const rows = statements.purgeFinished.all(params) as Reservation[];
      for (const row of rows) {
        if (row.reserved_bytes > 0) statements.releaseBytes.run({ userId: row.user_id, bytes: row.reserved_bytes });
      }
      return rows.length;
    });
    let purged = 0;
    for (;;) {
      const deleted = await runSqlite(this.db, () => purgeBatch.immediate());
      purged += deleted;
      if (deleted < this.purgeBatchSize) return purged;
      // Between batches the write lock is free, and this process's other work gets a turn.
      await yieldToEventLoop();
    }
  }

  async repairActiveCounts(): Promise<number> {
    const { statements } = this;
    const repair = this.db.transaction(() => statements.recountActive.run().changes + statements.addMissingCounts.run().changes);
    return runSqlite(this.db, () => repair.immediate());
  }

  /** Gives what the job reserved back to its user's usage row. Inside the transition's transaction. */
  private giveBackReservation(jobId: string): void {
    this.statements.releaseReservation.run({ jobId });
    this.statements.clearReservation.run({ jobId });
  }

  /**
   * The virtual due time of the user's next job (and of a retry): the queue's head when the
   * user has nothing queued or running, so a newcomer waits behind no one's backlog; else one
   * quantum after the user's latest job, so a user's own jobs take turns with everyone else's.
   * Call it inside the transaction that stores the result.
   */
  private dueFor(userId: string, now: number): number {
    const head = this.statements.head.pluck().get({ now }) as number;
    return virtualDueTime(head, this.counts(userId), this.quantumMs);
  }

  /** The user's counter row, created on first use. */
  private counts(userId: string): Counts {
    this.statements.ensureCounts.run({ userId });
    return this.statements.countsOf.get({ userId }) as Counts;
  }

  /** Runs `work` in an immediate transaction, with the database's clock read once for it. */
  private write<T>(work: (now: number) => T): Promise<T> {
    const transaction = this.db.transaction(() => work(this.statements.clock.pluck().get() as number));
    return runSqlite(this.db, () => transaction.immediate());
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
}

