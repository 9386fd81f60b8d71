import { UnavailableError } from '../errors.js';
import type { LockContext, LockManager, LockOptions } from './lock-manager.js';

/**
 * A lock manager's backend cannot answer (Redis down, slow, or its breaker open), as against a
 * lock that is held: a FallbackLockManager takes the lock elsewhere. Still an
 * UnavailableError (503 with Retry-After) for a caller with no fallback.
 */
export class LockBackendUnavailableError extends UnavailableError {
  readonly backend: string;

  constructor(backend: string, cause: UnavailableError) {
    super(`The ${backend} lock backend cannot answer: ${cause.message}`, { retryAfterMs: cause.retryAfterMs, cause });
    this.backend = backend;
  }
}

/**
 * Takes locks on `primary` (Redis), and on `fallback` (the database's own lock table) while
 * the primary's backend cannot answer, so that Redis going down never fails a download.
 *
 * Only an acquisition the primary could not make because its backend is down
 * (`LockBackendUnavailableError`) goes to the fallback. A lock held by someone else, a wait
 * that runs out, the caller's abort, and anything `work` throws are the caller's, as they are.
 *
 * While Redis is down, or just after it comes back, a holder in one backend does not exclude
 * a taker in the other: the two may overlap for a moment. Both issue their tokens from the
 * same database, so the later acquisition has the higher token and the stores refuse the
 * earlier holder's writes: exclusion is briefly weaker, safety is not. The primary's breaker
 * makes each acquisition meanwhile fail over at once rather than after a timeout.
 */
export class FallbackLockManager implements LockManager {
  readonly backend: string;

  constructor(
    private readonly primary: LockManager,
    private readonly fallback: LockManager,
  ) {
    this.backend = primary.backend;
  }

  async using<T>(keys: readonly string[], work: (lock: LockContext) => Promise<T>, options?: LockOptions): Promise<T> {
    let entered = false;
    try {
      return await this.primary.using(
        keys,
        (lock) => {
          entered = true;
          return work(lock);
        },
        options,
      );
    } catch (error) {
      if (entered || !(error instanceof LockBackendUnavailableError) || options?.signal?.aborted) throw error;
      return this.fallback.using(keys, (lock) => work({ ...lock, backend: lock.backend ?? this.fallback.backend }), options);
    }
  }
}
