import type { Job, JobError, JobProgress, JobStatus, Page, PageRequest } from '../model.js';

export interface ListJobsQuery extends PageRequest {
  userId?: string;
  status?: JobStatus;
}

export interface EnqueueRequest {
  userId: string;
  trackId: string;
  maxAttempts: number;
  /** How many queued and running jobs the user may have, this one included. */
  maxActive: number;
}

export type EnqueueOutcome =
  | { kind: 'enqueued'; job: Job }
  /** The user's queued or running job for the track, which wins over the cap. */
  | { kind: 'existing'; job: Job }
  | { kind: 'over-cap'; activeJobs: number; maxActive: number };

/** A claimed job and the token that proves the right to act on it. The token never leaves core. */
export interface JobLease {
  job: Job;
  token: string;
}

export type CancelOutcome = { kind: 'cancelled'; job: Job } | { kind: 'not-found' } | { kind: 'conflict'; job: Job };

export type RetryOutcome =
  | { kind: 'retried'; job: Job }
  | { kind: 'not-found' }
  | { kind: 'not-failed'; job: Job }
  /** The user asked for the track again since; that job is the one to follow. */
  | { kind: 'duplicate'; active: Job };

export type ReserveOutcome =
  | { kind: 'reserved' }
  /** It does not fit: `usedBytes` is what the user's library holds plus what their other jobs reserved. */
  | { kind: 'over-quota'; usedBytes: number; limitBytes: number; requestedBytes: number }
  /** The token is stale: nothing was reserved. */
  | { kind: 'lease-lost' };

export interface ReleaseOptions {
  /** The job is due again after this long (default 0: at once). */
  delayMs?: number;
}

export interface ReapOutcome {
  /** Expired leases whose job had attempts left: queued again, the attempt counted. */
  requeued: number;
  /** Expired leases on a last attempt: failed with `lease-expired`. */
  failed: number;
}

/**
 * A durable download queue shared by every process, in the manner of BullMQ's lock tokens.
 *
 * - **Leases.** `claim` takes the first due queued job and returns it with a random token, one
 *   per claim. `renew`, `reportProgress`, `complete`, `fail` and `release` take that token, and
 *   the store refuses a stale one (false or null, never an exception): a worker whose lease was
 *   taken back can no longer change the job.
 * - **The database's clock.** Leases, due times and timestamps are the store's own time, so
 *   processes on machines whose clocks disagree still agree on when a lease ran out.
 * - **Reaping apart from claiming.** `reapExpired`, run periodically by housekeeping (in one
 *   process at a time), puts jobs of expired leases back (the attempt counted) or fails them on
 *   their last attempt with `lease-expired`. `claim` never takes a running job.
 * - **One active job per user and track.** `enqueue` returns the existing queued or running job
 *   instead of adding one, in one atomic step backed by a unique key, also when requests race.
 * - **A per-user cap.** Queued plus running jobs per user are a counter, raised by a
 *   conditional update in the enqueue's transaction and lowered by every final transition.
 * - **Fairness, decided at enqueue.** Each job gets a virtual due time: the head of the queue
 *   for a user with nothing queued or running, else one quantum after that user's previous
 *   job. `claim` is one ordered pick by (due time, insertion order), so a one-job user waits
 *   behind at most one job of each other user, not behind their whole backlog.
 * - **Quota reservations, tied to the job.** `reserve` sets what a running job reserves of its
 *   user's quota (the track's known size, or else the origin's Content-Length, when its fetch
 *   starts), by a conditional update of the user's usage row in the same transaction as the
 *   job's row: two jobs racing for the last bytes cannot both fit, in any number of processes.
 *   The library store commits it with the library entry (`LibraryStore.add`); every transition
 *   out of `running` (complete, fail, release, reap), a cancel and a purge give back whatever
 *   is left of it.
 */
export interface JobQueue {
  enqueue(request: EnqueueRequest): Promise<EnqueueOutcome>;
  get(id: string): Promise<Job | null>;
  /** The user's queued or running job for the track. */
  findActive(userId: string, trackId: string): Promise<Job | null>;
  list(query: ListJobsQuery): Promise<Page<Job>>;
  /** Takes the first queued job whose attempt is due, in fair order, and counts an attempt. */
  claim(workerId: string, leaseMs: number): Promise<JobLease | null>;
  /** Extends the lease to `leaseMs` from now. false when the lease was lost. */
  renew(jobId: string, token: string, leaseMs: number): Promise<boolean>;
  reportProgress(jobId: string, token: string, progress: JobProgress): Promise<boolean>;
  complete(jobId: string, token: string): Promise<boolean>;
  /**
   * Back to queued once `retry.delayMs` has passed (in fair order among the user's jobs), or
   * final `failed` when `retry` is null. null when the lease was lost.
   */
  fail(jobId: string, token: string, error: JobError, retry: { delayMs: number } | null): Promise<Job | null>;
  /**
   * Back to queued, its attempt not counted, keeping its place in line: due at once (a
   * graceful shutdown), or after `delayMs` (a job whose track another worker is fetching waits
   * without holding a worker). false when the lease was lost.
   */
  release(jobId: string, token: string, options?: ReleaseOptions): Promise<boolean>;
  /**
   * Sets the quota the running job holds to `bytes` (raising or lowering what it held), if
   * the user's committed plus reserved bytes stay within `limitBytes`; see the interface's notes.
   */
  reserve(jobId: string, token: string, bytes: number, limitBytes: number): Promise<ReserveOutcome>;
  /** Takes back every expired lease; see the interface's notes. */
  reapExpired(): Promise<ReapOutcome>;
  /**
   * Whether the job runs under this token with its lease not run out: whether the attempt that
   * named a temp file after itself may still be writing it. Housekeeping sweeps the others.
   */
  holdsLease(jobId: string, token: string): Promise<boolean>;
  cancel(jobId: string, userId: string): Promise<CancelOutcome>;
  /**
   * Admin: a failed job back to queued with its attempts reset. It counts towards the user's
   * cap but is never refused by it: an operator decided.
   */
  retry(jobId: string): Promise<RetryOutcome>;
  countByStatus(): Promise<Record<JobStatus, number>>;
  /** Deletes final jobs last updated before `before`, in bounded batches; returns how many. */
  purgeFinished(before: Date): Promise<number>;
  /**
   * Sets each user's count of queued and running jobs (the cap's counter) to what the rows
   * say, where the two disagree; returns how many counters it corrected. Only a fault makes
   * them drift (a row changed by hand, a bug), but a counter stuck too high refuses a user.
   */
  repairActiveCounts(): Promise<number>;
}
