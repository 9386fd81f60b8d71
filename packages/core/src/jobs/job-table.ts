import { ValidationError } from '../errors.js';
import type { Job, JobError, JobStatus } from '../model.js';
import type { EnqueueRequest } from './job-queue.js';

/**
 * The `jobs` table as the SQL queues (SQLite, MySQL) read it, and the rules they share, so that
 * both map rows, check requests and place jobs in the fair order alike.
 */

/** The columns of a `jobs` row that make a Job (both schemas name them the same). */
export interface JobRow {
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

/** The error a job carries once the reaper took back its lease. */
export const LEASE_EXPIRED: JobError = {
  code: 'lease-expired',
  message: 'The worker stopped renewing its lease',
};

/** The Job a row stands for: the lease only while running, the next attempt only while queued. */
export function toJob(row: JobRow): Job {
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

/** Refuses a request no queue could honour: a job with no attempt, a cap below one. */
export function checkEnqueueRequest(request: EnqueueRequest): void {
  if (!Number.isInteger(request.maxAttempts) || request.maxAttempts < 1) {
    throw ValidationError.field('maxAttempts', 'must be a whole number of at least 1');
  }
  if (!Number.isInteger(request.maxActive) || request.maxActive < 1) {
    throw ValidationError.field('maxActive', 'must be a whole number of at least 1');
  }
}

/** Refuses a reservation that is not a whole number of bytes. */
export function checkReservedBytes(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw ValidationError.field('bytes', 'must be a whole number of bytes, 0 or more');
}

export interface JobTableOptions {
  /**
   * How far apart, in virtual milliseconds, one user's jobs are placed in the claim order
   * (default 1000). Any positive value gives the same interleaving of users with backlogs; it
   * only sets the scale against the clock used when the queue is empty.
   */
  fairnessQuantumMs?: number;
  /** Rows deleted per transaction when purging (default 500). */
  purgeBatchSize?: number;
}

/** The options with their defaults, checked once at construction. */
export function resolveJobTableOptions(options: JobTableOptions): Required<JobTableOptions> {
  const resolved = { fairnessQuantumMs: options.fairnessQuantumMs ?? 1000, purgeBatchSize: options.purgeBatchSize ?? 500 };
  if (!(resolved.fairnessQuantumMs > 0)) throw ValidationError.field('fairnessQuantumMs', 'must be positive');
  if (!Number.isInteger(resolved.purgeBatchSize) || resolved.purgeBatchSize < 1) {
    throw ValidationError.field('purgeBatchSize', 'must be a whole number of at least 1');
  }
  return resolved;
}

/**
 * The virtual due time of a user's next job (and of a retry), given the queue's head (see the
 * `head` statements) and the user's counter row: the head when the user has nothing queued or
 * running, so a newcomer waits behind no one's backlog; else one quantum after the user's
 * latest job, so a user's own jobs take turns with everyone else's.
 */
export function virtualDueTime(head: number, counts: { active: number; last_due: number | null }, quantumMs: number): number {
  if (counts.active === 0 || counts.last_due === null) return head;
  return Math.max(head, counts.last_due + quantumMs);
}
