import { MixtapeError, NotFoundError, QuotaExceededError, SourceError, TooLargeError, UnavailableError } from '../errors.js';
import type { JobError } from '../model.js';

export interface ClassifiedFailure extends JobError {
  /** Whether another attempt can help; a job whose failure cannot be retried fails at once. */
  retryable: boolean;
}

/** Decides what a failed attempt means for its job. Unknown errors get a generic message: it is shown to users. */
export function classifyFailure(error: unknown): ClassifiedFailure {
  if (error instanceof SourceError) return { code: error.reason, message: error.message, retryable: error.retryable };
  if (error instanceof TooLargeError) return { code: 'too-large', message: error.message, retryable: false };
  if (error instanceof QuotaExceededError) return { code: 'quota-exceeded', message: error.message, retryable: false };
  if (error instanceof NotFoundError) return { code: 'not-found', message: error.message, retryable: false };
  if (error instanceof UnavailableError) return { code: 'unavailable', message: error.message, retryable: true };
  if (error instanceof MixtapeError) return { code: error.code.replace(/^ERR_/, '').toLowerCase(), message: error.message, retryable: true };
  return { code: 'internal', message: 'The download failed unexpectedly', retryable: true };
}
