import {
  LeaseLostError,
  LockLostError,
  NotFoundError,
  QuotaExceededError,
  ShuttingDownError,
  SourceError,
  TooLargeError,
  UnavailableError,
} from '../errors.js';
import type { JobError } from '../model.js';

/** Every `error.code` a job can show (README, "Choices where the contract is silent"). */
export const JOB_ERROR_CODES = [
  'not-found',
  'rejected',
  'unavailable',
  'timeout',
  'truncated',
  'aborted',
  'too-large',
  'quota-exceeded',
  'lease-expired',
  'internal',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

export interface ClassifiedFailure extends JobError {
  code: JobErrorCode;
  /** Whether another attempt can help; a job whose failure cannot be retried fails at once. */
  retryable: boolean;
}

const SOURCE_REASONS: ReadonlySet<string> = new Set<JobErrorCode>(['not-found', 'rejected', 'unavailable', 'timeout', 'truncated', 'aborted']);

/**
 * Decides what a failed attempt means for its job, always with a code from JOB_ERROR_CODES.
 * A lost lock is `lease-expired`, like a lost lease: the attempt's right to act on the track
 * ran out (a pause, a stalled renewal), which says nothing about the origin or the database
 * being down, and the next attempt starts afresh. Unknown errors get a generic message: it is
 * shown to users.
 */
export function classifyFailure(error: unknown): ClassifiedFailure {
  if (error instanceof SourceError) {
    const code: JobErrorCode = SOURCE_REASONS.has(error.reason) ? (error.reason as JobErrorCode) : error.retryable ? 'unavailable' : 'rejected';
    return { code, message: error.message, retryable: error.retryable };
  }
  if (error instanceof TooLargeError) return { code: 'too-large', message: error.message, retryable: false };
  if (error instanceof QuotaExceededError) return { code: 'quota-exceeded', message: error.message, retryable: false };
  if (error instanceof NotFoundError) return { code: 'not-found', message: error.message, retryable: false };
  if (error instanceof UnavailableError) return { code: 'unavailable', message: error.message, retryable: true };
  if (error instanceof LockLostError || error instanceof LeaseLostError) {
    return { code: 'lease-expired', message: 'The attempt lost its hold on the track; it will be tried again', retryable: true };
  }
  if (error instanceof ShuttingDownError) return { code: 'aborted', message: error.message, retryable: true };
  // Anything else, other Mixtape errors included, is a fault of ours: retried, its cause not shown.
  return { code: 'internal', message: 'The download failed unexpectedly', retryable: true };
}
