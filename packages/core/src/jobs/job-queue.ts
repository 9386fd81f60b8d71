import type { Job, JobError, JobProgress, JobStatus, Page, PageRequest } from '../model.js';

export interface ListJobsQuery extends PageRequest {
  userId?: string;
  status?: JobStatus;
}

export type CancelOutcome = { kind: 'cancelled'; job: Job } | { kind: 'not-found' } | { kind: 'conflict'; job: Job };

/**
 * A durable download queue. A worker claims a job with a lease and renews it while it works;
 * a lease left to expire puts the job back for another worker.
 */
export interface JobQueue {
  enqueue(job: { userId: string; trackId: string; maxAttempts: number }): Promise<Job>;
  get(id: string): Promise<Job | null>;
  /** The user's queued or running job for the track, so a repeated request is idempotent. */
  findActive(userId: string, trackId: string): Promise<Job | null>;
  list(query: ListJobsQuery): Promise<Page<Job>>;
  /**
   * Takes the oldest due job: queued and due, or running with an expired lease.
   * Counts an attempt. A job whose expired lease had spent its last attempt is failed instead.
   */
  claim(workerId: string, leaseMs: number, now: Date): Promise<Job | null>;
  /** false when the lease was lost (expired and taken, or cancelled). */
  renew(jobId: string, workerId: string, leaseMs: number, now: Date): Promise<boolean>;
  reportProgress(jobId: string, workerId: string, progress: JobProgress): Promise<void>;
  complete(jobId: string, workerId: string): Promise<boolean>;
  /** Back to queued at `retryAt`, or final `failed` when `retryAt` is null. */
  fail(jobId: string, workerId: string, error: JobError, retryAt: Date | null): Promise<Job | null>;
  cancel(jobId: string, userId: string): Promise<CancelOutcome>;
  /** Admin: a failed job back to queued with its attempts reset. null unless it was failed. */
  retry(jobId: string, now: Date): Promise<Job | null>;
  countByStatus(): Promise<Record<JobStatus, number>>;
  /** Deletes final jobs last updated before `before`; returns how many. */
  purgeFinished(before: Date): Promise<number>;
}
