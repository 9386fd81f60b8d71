import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyFailure, JOB_ERROR_CODES } from '../src/downloads/failure-policy.js';
import {
  ConfigError,
  ConflictError,
  ForbiddenError,
  LeaseLostError,
  LockLostError,
  MixtapeError,
  NotFoundError,
  QuotaExceededError,
  ShuttingDownError,
  SourceError,
  TooLargeError,
  TooManyJobsError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
  type MixtapeErrorCode,
} from '../src/errors.js';

/** The codes the README promises, read from the README itself so that the two cannot drift. */
function documentedCodes(): string[] {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
  const sentence = /A job's `error\.code` is one of ([^.]+)\./.exec(readme)?.[1];
  if (!sentence) throw new Error('the README no longer lists the job error codes');
  return [...sentence.matchAll(/`([a-z-]+)`/g)].map((match) => match[1]!);
}

/** One error of every Mixtape code: a code added to errors.ts without one here fails the typecheck. */
const ONE_OF_EACH: Record<MixtapeErrorCode, MixtapeError> = {
  ERR_VALIDATION: new ValidationError('bad'),
  ERR_UNAUTHORIZED: new UnauthorizedError(),
  ERR_FORBIDDEN: new ForbiddenError(),
  ERR_NOT_FOUND: new NotFoundError('gone'),
  ERR_CONFLICT: new ConflictError('clash'),
  ERR_QUOTA_EXCEEDED: new QuotaExceededError({ usedBytes: 1, limitBytes: 1, requestedBytes: 1 }),
  ERR_UNAVAILABLE: new UnavailableError('down'),
  ERR_CONFIG: new ConfigError(['wrong']),
  ERR_SOURCE: new SourceError('unavailable', 'origin down', { retryable: true }),
  ERR_TOO_LARGE: new TooLargeError(1),
  ERR_LOCK_LOST: new LockLostError('track:t'),
  ERR_TOO_MANY_JOBS: new TooManyJobsError({ activeJobs: 1, limit: 1 }),
  ERR_LEASE_LOST: new LeaseLostError('job'),
  ERR_SHUTTING_DOWN: new ShuttingDownError(),
  ERR_INTERNAL: new MixtapeError('ERR_INTERNAL', 'bug'),
};

const SOURCE_REASONS = ['not-found', 'rejected', 'unavailable', 'timeout', 'truncated', 'aborted', 'internal', 'lock_lost', 'teapot', ''];

describe('classifyFailure', () => {
  it('knows exactly the job error codes the README documents', () => {
    expect([...JOB_ERROR_CODES].sort()).toEqual(documentedCodes().sort());
  });

  it('gives every failure a documented code, whatever was thrown', () => {
    const thrown: unknown[] = [
      ...Object.values(ONE_OF_EACH),
      ...SOURCE_REASONS.flatMap((reason) => [true, false].map((retryable) => new SourceError(reason, 'x', { retryable }))),
      new Error('boom'),
      new TypeError('x is not a function'),
      new DOMException('aborted', 'AbortError'),
      'a string',
      undefined,
      null,
      { code: 'ERR_LOCK_LOST' },
    ];
    const documented = new Set(documentedCodes());
    for (const error of thrown) {
      const { code, message, retryable } = classifyFailure(error);
      expect(documented, `${String((error as Error | undefined)?.name ?? error)} → ${code}`).toContain(code);
      expect(typeof message).toBe('string');
      expect(typeof retryable).toBe('boolean');
    }
  });

  it('calls a lost lock or lease lease-expired, retryable, and says nothing of internals for unknown faults', () => {
    expect(classifyFailure(new LockLostError('track:t'))).toMatchObject({ code: 'lease-expired', retryable: true });
    expect(classifyFailure(new LeaseLostError('job'))).toMatchObject({ code: 'lease-expired', retryable: true });
    expect(classifyFailure(new SourceError('timeout', 'slow', { retryable: true }))).toMatchObject({ code: 'timeout', retryable: true });
    expect(classifyFailure(new SourceError('teapot', 'odd', { retryable: false }))).toMatchObject({ code: 'rejected', retryable: false });
    expect(classifyFailure(new QuotaExceededError({ usedBytes: 1, limitBytes: 1, requestedBytes: 1 }))).toMatchObject({
      code: 'quota-exceeded',
      retryable: false,
    });
    const internal = classifyFailure(new ConfigError(['MIXTAPE_SECRET=hunter2']));
    expect(internal).toMatchObject({ code: 'internal', retryable: true });
    expect(internal.message).not.toContain('hunter2');
  });
});
