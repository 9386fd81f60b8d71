/**
 * Faults are errors with a stable `code`; expected outcomes (being rate-limited, a cache miss)
 * are values. The server maps each code to exactly one problem type.
 */
export const MIXTAPE_ERROR_CODES = [
  'ERR_VALIDATION',
  'ERR_UNAUTHORIZED',
  'ERR_FORBIDDEN',
  'ERR_NOT_FOUND',
  'ERR_CONFLICT',
  'ERR_QUOTA_EXCEEDED',
  'ERR_UNAVAILABLE',
  'ERR_CONFIG',
  'ERR_SOURCE',
  'ERR_TOO_LARGE',
  'ERR_LOCK_LOST',
  'ERR_TOO_MANY_JOBS',
  'ERR_LEASE_LOST',
  'ERR_SHUTTING_DOWN',
  'ERR_INTERNAL',
] as const;

export type MixtapeErrorCode = (typeof MIXTAPE_ERROR_CODES)[number];

export interface FieldProblem {
  path: string;
  message: string;
}

export class MixtapeError extends Error {
  readonly code: MixtapeErrorCode;

  constructor(code: MixtapeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ValidationError extends MixtapeError {
  readonly errors: FieldProblem[];

  constructor(message: string, errors: FieldProblem[] = []) {
    super('ERR_VALIDATION', message);
    this.errors = errors;
  }

  static field(path: string, message: string): ValidationError {
    return new ValidationError(`${path}: ${message}`, [{ path, message }]);
  }
}

export class UnauthorizedError extends MixtapeError {
  constructor(message = 'Authentication is required') {
    super('ERR_UNAUTHORIZED', message);
  }
}

export class ForbiddenError extends MixtapeError {
  constructor(message = 'You may not do this') {
    super('ERR_FORBIDDEN', message);
  }
}

export class NotFoundError extends MixtapeError {
  constructor(message: string) {
    super('ERR_NOT_FOUND', message);
  }
}

export class ConflictError extends MixtapeError {
  constructor(message: string) {
    super('ERR_CONFLICT', message);
  }
}

export class QuotaExceededError extends MixtapeError {
  readonly usedBytes: number;
  readonly limitBytes: number;
  readonly requestedBytes: number;

  constructor(usage: { usedBytes: number; limitBytes: number; requestedBytes: number }) {
    super(
      'ERR_QUOTA_EXCEEDED',
      `Needs ${usage.requestedBytes} bytes but only ${Math.max(0, usage.limitBytes - usage.usedBytes)} of ${usage.limitBytes} are free`,
    );
    this.usedBytes = usage.usedBytes;
    this.limitBytes = usage.limitBytes;
    this.requestedBytes = usage.requestedBytes;
  }
}

/** A dependency is down or refusing us; callers answer fast with 503 and `Retry-After`. */
export class UnavailableError extends MixtapeError {
  readonly retryAfterMs: number;

  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super('ERR_UNAVAILABLE', message, { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs ?? 5000;
  }
}

export class ConfigError extends MixtapeError {
  readonly problems: string[];

  constructor(problems: string[]) {
    super('ERR_CONFIG', `Invalid configuration:\n${problems.join('\n')}`);
    this.problems = problems;
  }
}

/** The database lacks migrations this version needs, and the caller asked for none to be applied. */
export class MigrationsPendingError extends MixtapeError {
  readonly pending: number[];

  constructor(pending: number[]) {
    super('ERR_CONFIG', `Database migrations ${pending.join(', ')} are pending: run \`mixtape migrate\``);
    this.pending = pending;
  }
}

/** An audio source failed; `retryable` tells the queue whether another attempt can help. */
export class SourceError extends MixtapeError {
  readonly retryable: boolean;
  readonly reason: string;

  constructor(reason: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super('ERR_SOURCE', message, { cause: options.cause });
    this.reason = reason;
    this.retryable = options.retryable;
  }
}

export class TooLargeError extends MixtapeError {
  readonly limitBytes: number;

  constructor(limitBytes: number) {
    super('ERR_TOO_LARGE', `The file is larger than the limit of ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

export class LockLostError extends MixtapeError {
  constructor(key: string) {
    super('ERR_LOCK_LOST', `Lost the lock on ${key}`);
  }
}

/** The user already has as many queued and running jobs as they may; try again once one ends. */
export class TooManyJobsError extends MixtapeError {
  readonly activeJobs: number;
  readonly limit: number;

  constructor(usage: { activeJobs: number; limit: number }) {
    super('ERR_TOO_MANY_JOBS', `You have ${usage.activeJobs} downloads queued or running; at most ${usage.limit} are allowed`);
    this.activeJobs = usage.activeJobs;
    this.limit = usage.limit;
  }
}

/** The abort reason of work whose job lease was taken back (expired, reaped, or claimed anew). */
export class LeaseLostError extends MixtapeError {
  constructor(jobId: string) {
    super('ERR_LEASE_LOST', `Lost the lease on job ${jobId}`);
  }
}

/** The abort reason of work cut short by a graceful shutdown; its job goes back to the queue. */
export class ShuttingDownError extends MixtapeError {
  constructor() {
    super('ERR_SHUTTING_DOWN', 'The process is shutting down');
  }
}

export function isMixtapeError(error: unknown): error is MixtapeError {
  return error instanceof MixtapeError;
}
