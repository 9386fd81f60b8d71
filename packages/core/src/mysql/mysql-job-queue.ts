import { randomBytes } from 'node:crypto';
import { UnavailableError } from '../errors.js';
import { newId } from '../ids.js';
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
} from '../jobs/job-queue.js';
import {
  checkEnqueueRequest,
  checkReservedBytes,
  LEASE_EXPIRED,
  resolveJobTableOptions,
  toJob,
  virtualDueTime,
  type JobRow,
  type JobTableOptions,
} from '../jobs/job-table.js';
import { FINAL_JOB_STATUSES, JOB_STATUSES, type Job, type JobError, type JobProgress, type JobStatus, type Page } from '../model.js';
import type { MysqlDatabase, MysqlQueryable } from './mysql-database.js';
import { isMysqlError, isTransactionConflict } from './mysql-errors.js';
import { mysqlStatements, type MysqlStatement } from './mysql-statements.js';
import text from './mysql-job-queue.sql';

const SQL = mysqlStatements(text, [
  'lockCounts',
  'lockedState',
  'activeFor',
  'takeSlot',
  'addActive',
  'setLastDue',
  'freeSlots',
  'insert',
  'byId',
  'bySeq',
  'countAll',
  'listAll',
  'countOfUser',
  'listOfUser',
  'countWithStatus',
  'listWithStatus',
  'countOfUserWithStatus',
  'listOfUserWithStatus',
  'nextQueued',
  'start',
  'leased',
  'renew',
  'reportProgress',
  'completeUnreserved',
  'complete',
  'failFinally',
  'failForRetry',
  'release',
  'expiredLeases',
  'failSpentLeases',
  'requeueExpiredLeases',
  'ensureUsage',
  'usageOf',
  'reserveUsage',
  'setReservation',
  'releaseBytes',
  'ownJob',
  'cancel',
  'jobForUpdate',
  'retry',
  'countByStatus',
  'finishedBefore',
  'deleteJobs',
  'holdsLease',
  'recountActive',
  'addMissingCounts',
]);

/** The `jobs` row as MySQL returns it: the columns of a Job and the ones only the store reads. */
interface StoredJob extends JobRow {
  seq: number;
  reserved_bytes: number;
}

/** A row read by a statement that also returns the database's clock. */
type Timed<Row> = Row & { now_ms: number };

/**
 * What `lockedState` reads under the user's counter lock: the clock, the counter, the queue's
 * head, and the columns of the user's active job for the track (all null when there is none).
 */
type LockedState = { now_ms: number; counts_active: number; counts_last_due: number | null; head: number } & (JobRow | { id: null });

/** A job a batch (of the reaper, of a purge) locked, with what it reserved. */
interface HeldJob {
  seq: number;
  user_id: string;
  reserved_bytes: number;
}

interface ExpiredLease extends HeldJob {
  attempts: number;
  max_attempts: number;
}

export interface MysqlJobQueueOptions extends JobTableOptions {
  /** Expired leases taken back per transaction when reaping (default 500). */
  reapBatchSize?: number;
  /** Runs of an enqueue that lost the race for the unique key to a job that ended at once (default 3). */
  enqueueAttempts?: number;
}

/**
 * The download queue in MySQL, shared by every process and host (see JobQueue for the rules).
 *
 * - **Claims** are one short transaction at READ COMMITTED: `SELECT … FOR UPDATE SKIP LOCKED`
 *   of the first due job in fair order (read in order from the index jobs_queued_due), then
 *   the lease update. Concurrent claims pass over each other's rows instead of waiting, and
 *   take no gap locks, so enqueues never wait for them.
 * - **Time** is the database's: every lease, due time and timestamp is computed in SQL from
 *   its clock, read once per transaction (see mysql-job-queue.sql).
 * - **One active job per user and track** is the unique key (active_user_id, track_id). An
 *   enqueue holds the user's counter row while it looks for the active job and inserts, so
 *   one user's enqueues take turns; should an insert still meet the key (a row written without
 *   the counter), ER_DUP_ENTRY rolls it back and the job that won is returned.
 * - **Reaping** runs apart from claims, in batches that skip rows a worker is finishing.
 * - **Transitions** lock the job's row first (`leased`, `ownJob`), then the user's counter,
 *   then their usage row, in every transaction, so that they do not deadlock one another;
 *   deadlocks and lock-wait timeouts that happen anyway are run again by MysqlDatabase.
 */
export class MysqlJobQueue implements JobQueue {
  readonly #db: MysqlDatabase;
  readonly #quantumMs: number;
  readonly #purgeBatchSize: number;
  readonly #reapBatchSize: number;
  readonly #enqueueAttempts: number;

  constructor(db: MysqlDatabase, options: MysqlJobQueueOptions = {}) {
    this.#db = db;
    ({ fairnessQuantumMs: this.#quantumMs, purgeBatchSize: this.#purgeBatchSize } = resolveJobTableOptions(options));
    this.#reapBatchSize = resolveJobTableOptions({ purgeBatchSize: options.reapBatchSize }).purgeBatchSize;
    this.#enqueueAttempts = Math.max(1, options.enqueueAttempts ?? 3);
  }

  async enqueue(request: EnqueueRequest): Promise<EnqueueOutcome> {
    checkEnqueueRequest(request);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#db.transaction((tx) => this.#enqueue(tx, request));
      } catch (error) {
        if (!isMysqlError(error, 'ER_DUP_ENTRY') || attempt >= this.#enqueueAttempts) throw error;
      }
      // Another request for the track won the unique key and committed first: its job is the one.
      const existing = await this.findActive(request.userId, request.trackId);
      if (existing) return { kind: 'existing', job: existing };
    }
  }

  async #enqueue(tx: MysqlQueryable, { userId, trackId, maxAttempts, maxActive }: EnqueueRequest): Promise<EnqueueOutcome> {
    // The active job is read under the counter's lock: another enqueue of this user's has
    // committed by now, or has not begun.
    const state = await this.#lockCounts(tx, userId, trackId);
    if (state.id !== null) return { kind: 'existing', job: toJob(state) };
    const due = this.#dueFor(state);
    if ((await tx.run(SQL.takeSlot, { userId, due, maxActive })).affectedRows === 0) {
      return { kind: 'over-cap', activeJobs: state.counts_active, maxActive };
    }
    const now = state.now_ms;
    const job: JobRow = {
      id: newId(),
      user_id: userId,
      track_id: trackId,
      status: 'queued',
      attempts: 0,
      max_attempts: maxAttempts,
      next_attempt_at: now,
      lease_worker: null,
      lease_expires_at: null,
      progress_bytes: null,
      progress_total: null,
      error_code: null,
      error_message: null,
      created_at: now,
      updated_at: now,
    };
    await tx.run(SQL.insert, { jobId: job.id, userId, trackId, maxAttempts, due, now });
    return { kind: 'enqueued', job: toJob(job) };
  }

  async get(id: string): Promise<Job | null> {
    const row = await this.#db.get<JobRow>(SQL.byId, { jobId: id });
    return row ? toJob(row) : null;
  }

  async findActive(userId: string, trackId: string): Promise<Job | null> {
    const row = await this.#db.get<JobRow>(SQL.activeFor, { userId, trackId });
    return row ? toJob(row) : null;
  }

  /** Newest first. */
  async list(query: ListJobsQuery): Promise<Page<Job>> {
    const [count, list] = this.#listing(query);
    const params = { userId: query.userId ?? null, status: query.status ?? null, limit: query.limit, offset: query.offset };
    const [total, rows] = await Promise.all([this.#db.get<{ n: number }>(count, params), this.#db.all<JobRow>(list, params)]);
    return { items: rows.map(toJob), total: total?.n ?? 0 };
  }

  async claim(workerId: string, leaseMs: number): Promise<JobLease | null> {
    const lease = Math.max(0, Math.round(leaseMs));
    return this.#db.transaction(async (tx): Promise<JobLease | null> => {
      const row = await tx.get<Timed<StoredJob>>(SQL.nextQueued);
      if (!row) return null;
      const token = randomBytes(16).toString('base64url');
      const now = row.now_ms;
      const { affectedRows } = await tx.run(SQL.start, { seq: row.seq, workerId, token, leaseMs: lease, now });
      // The pick locked the row, so it is still queued: anything else is a bug, never a second lease.
      if (affectedRows !== 1) throw new Error(`The claim of job ${row.id} found it no longer queued`);
      // The row as `start` left it; the row lock held since the pick means nothing else changed it.
      const started: JobRow = {
        ...row,
        status: 'running',
        attempts: row.attempts + 1,
        next_attempt_at: null,
        lease_worker: workerId,
        lease_expires_at: now + lease,
        progress_bytes: null,
        progress_total: null,
        updated_at: now,
      };
      return { job: toJob(started), token };
    });
  }

  async renew(jobId: string, token: string, leaseMs: number): Promise<boolean> {
    const changed = await this.#db.run(SQL.renew, { jobId, token, leaseMs: Math.max(0, Math.round(leaseMs)) });
    return changed.affectedRows > 0;
  }

  async reportProgress(jobId: string, token: string, progress: JobProgress): Promise<boolean> {
    const changed = await this.#db.run(SQL.reportProgress, { jobId, token, bytes: progress.bytes, totalBytes: progress.totalBytes ?? null });
    return changed.affectedRows > 0;
  }

  async complete(jobId: string, token: string): Promise<boolean> {
    // The usual job in one statement, the hot path of every worker; the rest in a transaction.
    try {
      if ((await this.#db.run(SQL.completeUnreserved, { jobId, token })).affectedRows > 0) return true;
    } catch (error) {
      // A deadlock or lock-wait timeout: the transaction's way runs it again.
      if (!(error instanceof UnavailableError && isTransactionConflict(error.cause))) throw error;
    }
    return this.#db.transaction(async (tx) => {
      const held = await tx.get<Timed<StoredJob>>(SQL.leased, { jobId, token });
      if (!held) return false;
      await tx.run(SQL.complete, { seq: held.seq, now: held.now_ms });
      await this.#endActive(tx, held);
      return true;
    });
  }

  async fail(jobId: string, token: string, error: JobError, retry: { delayMs: number } | null): Promise<Job | null> {
    return this.#db.transaction(async (tx): Promise<Job | null> => {
      const held = await tx.get<Timed<StoredJob>>(SQL.leased, { jobId, token });
      if (!held) return null;
      const params = { seq: held.seq, code: error.code, message: error.message, now: held.now_ms };
      if (retry === null) {
        await tx.run(SQL.failFinally, params);
        await this.#endActive(tx, held);
      } else {
        // A retry joins the line again behind the user's other jobs, as a new request would.
        const due = this.#dueFor(await this.#lockCounts(tx, held.user_id, held.track_id));
        await tx.run(SQL.setLastDue, { userId: held.user_id, due });
        await tx.run(SQL.failForRetry, { ...params, due, delayMs: Math.max(0, Math.round(retry.delayMs)) });
        await this.#giveBack(tx, held.user_id, held.reserved_bytes);
      }
      return toJob((await tx.get<JobRow>(SQL.bySeq, { seq: held.seq }))!);
    });
  }

  async release(jobId: string, token: string, options: ReleaseOptions = {}): Promise<boolean> {
    const delayMs = Math.max(0, Math.round(options.delayMs ?? 0));
    return this.#db.transaction(async (tx) => {
      const held = await tx.get<Timed<StoredJob>>(SQL.leased, { jobId, token });
      if (!held) return false;
      await tx.run(SQL.release, { seq: held.seq, delayMs, now: held.now_ms });
      await this.#giveBack(tx, held.user_id, held.reserved_bytes);
      return true;
    });
  }

  async reserve(jobId: string, token: string, bytes: number, limitBytes: number): Promise<ReserveOutcome> {
    checkReservedBytes(bytes);
    return this.#db.transaction(async (tx): Promise<ReserveOutcome> => {
      const held = await tx.get<Timed<StoredJob>>(SQL.leased, { jobId, token });
      if (!held) return { kind: 'lease-lost' };
      const userId = held.user_id;
      const delta = bytes - held.reserved_bytes;
      await tx.run(SQL.ensureUsage, { userId });
      if ((await tx.run(SQL.reserveUsage, { userId, delta, limitBytes })).affectedRows === 0) {
        const usage = (await tx.get<{ committed_bytes: number; reserved_bytes: number }>(SQL.usageOf, { userId }))!;
        const usedBytes = usage.committed_bytes + usage.reserved_bytes - held.reserved_bytes;
        return { kind: 'over-quota', usedBytes, limitBytes, requestedBytes: bytes };
      }
      await tx.run(SQL.setReservation, { seq: held.seq, bytes });
      return { kind: 'reserved' };
    });
  }

  async reapExpired(): Promise<ReapOutcome> {
    const outcome: ReapOutcome = { requeued: 0, failed: 0 };
    for (;;) {
      const batch = await this.#db.transaction((tx) => this.#reapBatch(tx));
      outcome.requeued += batch.requeued;
      outcome.failed += batch.failed;
      if (batch.requeued + batch.failed < this.#reapBatchSize) return outcome;
    }
  }

  /** One batch of expired leases, taken back in one transaction. */
  async #reapBatch(tx: MysqlQueryable): Promise<ReapOutcome> {
    const expired = await tx.all<Timed<ExpiredLease>>(SQL.expiredLeases, { limit: this.#reapBatchSize });
    if (expired.length === 0) return { requeued: 0, failed: 0 };
    const now = expired[0]!.now_ms;
    const spent = expired.filter((lease) => lease.attempts >= lease.max_attempts);
    const requeued = expired.filter((lease) => lease.attempts < lease.max_attempts);
    if (spent.length > 0) await tx.run(SQL.failSpentLeases, { ...LEASE_EXPIRED, seqs: spent.map((lease) => lease.seq), now });
    if (requeued.length > 0) await tx.run(SQL.requeueExpiredLeases, { ...LEASE_EXPIRED, seqs: requeued.map((lease) => lease.seq), now });
    // Per user, in one order, so that two reapers could not deadlock on the counter rows.
    for (const [userId, count] of tally(spent, () => 1)) await tx.run(SQL.freeSlots, { userId, count });
    for (const [userId, bytes] of tally(expired, (lease) => lease.reserved_bytes)) await this.#giveBack(tx, userId, bytes);
    return { requeued: requeued.length, failed: spent.length };
  }

  async holdsLease(jobId: string, token: string): Promise<boolean> {
    return (await this.#db.get(SQL.holdsLease, { jobId, token })) !== undefined;
  }

  async cancel(jobId: string, userId: string): Promise<CancelOutcome> {
    return this.#db.transaction(async (tx): Promise<CancelOutcome> => {
      const row = await tx.get<StoredJob>(SQL.ownJob, { jobId, userId });
      if (!row) return { kind: 'not-found' };
      if ((await tx.run(SQL.cancel, { seq: row.seq })).affectedRows === 0) return { kind: 'conflict', job: toJob(row) };
      await this.#endActive(tx, row);
      return { kind: 'cancelled', job: toJob((await tx.get<JobRow>(SQL.bySeq, { seq: row.seq }))!) };
    });
  }

  async retry(jobId: string): Promise<RetryOutcome> {
    return this.#db.transaction(async (tx): Promise<RetryOutcome> => {
      const row = await tx.get<StoredJob>(SQL.jobForUpdate, { jobId });
      if (!row) return { kind: 'not-found' };
      if (row.status !== 'failed') return { kind: 'not-failed', job: toJob(row) };
      const state = await this.#lockCounts(tx, row.user_id, row.track_id);
      if (state.id !== null) return { kind: 'duplicate', active: toJob(state) };
      const due = this.#dueFor(state);
      await tx.run(SQL.addActive, { userId: row.user_id, due });
      await tx.run(SQL.retry, { seq: row.seq, due, now: state.now_ms });
      return { kind: 'retried', job: toJob((await tx.get<JobRow>(SQL.bySeq, { seq: row.seq }))!) };
    });
  }

  async countByStatus(): Promise<Record<JobStatus, number>> {
    const rows = await this.#db.all<{ status: JobStatus; n: number }>(SQL.countByStatus);
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }

  async purgeFinished(before: Date): Promise<number> {
    const params = { finalStatuses: [...FINAL_JOB_STATUSES], before: before.getTime(), limit: this.#purgeBatchSize };
    let purged = 0;
    for (;;) {
      // One transaction per batch, so that none holds its locks for long.
      const deleted = await this.#db.transaction(async (tx) => {
        const rows = await tx.all<HeldJob>(SQL.finishedBefore, params);
        if (rows.length === 0) return 0;
        await tx.run(SQL.deleteJobs, { seqs: rows.map((row) => row.seq) });
        for (const [userId, bytes] of tally(rows, (row) => row.reserved_bytes)) await this.#giveBack(tx, userId, bytes);
        return rows.length;
      });
      purged += deleted;
      if (deleted < this.#purgeBatchSize) return purged;
    }
  }

  async repairActiveCounts(): Promise<number> {
    return this.#db.transaction(async (tx) => {
      const recounted = await tx.run(SQL.recountActive);
      const added = await tx.run(SQL.addMissingCounts);
      return recounted.affectedRows + added.affectedRows;
    });
  }

  /**
   * Locks the user's counter row (created on first use) and reads it with the database's
   * clock, the queue's head and the user's active job for the track. Inside the transaction
   * that changes the counter or places a job.
   */
  async #lockCounts(tx: MysqlQueryable, userId: string, trackId: string): Promise<LockedState> {
    await tx.run(SQL.lockCounts, { userId });
    return (await tx.get<LockedState>(SQL.lockedState, { userId, trackId }))!;
  }

  /** The virtual due time of the user's next job, from what `lockedState` read. */
  #dueFor(state: LockedState): number {
    return virtualDueTime(state.head, { active: state.counts_active, last_due: state.counts_last_due }, this.#quantumMs);
  }

  /** A job left queued or running for a final status: its slot and its reservation go back. */
  async #endActive(tx: MysqlQueryable, job: StoredJob): Promise<void> {
    await tx.run(SQL.freeSlots, { userId: job.user_id, count: 1 });
    await this.#giveBack(tx, job.user_id, job.reserved_bytes);
  }

  /** Gives `bytes` a job held (its own column already zeroed) back to the user's usage row. */
  async #giveBack(tx: MysqlQueryable, userId: string, bytes: number): Promise<void> {
    if (bytes > 0) await tx.run(SQL.releaseBytes, { userId, bytes });
  }

  /** The count and page statements for the filters the query sets. */
  #listing(query: ListJobsQuery): [count: MysqlStatement, list: MysqlStatement] {
    if (query.userId !== undefined && query.status !== undefined) return [SQL.countOfUserWithStatus, SQL.listOfUserWithStatus];
    if (query.userId !== undefined) return [SQL.countOfUser, SQL.listOfUser];
    if (query.status !== undefined) return [SQL.countWithStatus, SQL.listWithStatus];
    return [SQL.countAll, SQL.listAll];
  }
}

/** Sums `amount` per user, leaving out zeros, in the order of the user ids. */
function tally<Row extends { user_id: string }>(rows: readonly Row[], amount: (row: Row) => number): [string, number][] {
  const sums = new Map<string, number>();
  for (const row of rows) sums.set(row.user_id, (sums.get(row.user_id) ?? 0) + amount(row));
  return [...sums].filter(([, sum]) => sum > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
