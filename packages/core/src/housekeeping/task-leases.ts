import { ValidationError } from '../errors.js';

/** What one try for a named lease came to. */
export type LeaseAttempt =
  | { acquired: true }
  /** Someone holds it (or rests it, see `release`): it may be free in `retryInMs`. */
  | { acquired: false; retryInMs: number };

/**
 * Named leases for periodic work shared by every process: whoever holds a task's lease is the
 * one process running that task. A lease is held until its expiry, by the database's clock, so
 * processes whose clocks disagree still agree on when it ran out; a holder that dies (even by
 * `SIGKILL`) loses it then, and another process takes it over.
 *
 * - `tryAcquire` takes a lease that no one holds or whose time ran out. It never waits, and is
 *   not reentrant: an owner that holds the lease (or rests it) is refused too.
 * - `renew` extends the owner's lease to `ttlMs` from now; false once another owner took it.
 * - `release` lets go at once, or after `holdMs`: a task that ran keeps its lease (doing
 *   nothing) until it is due again, so that no process runs it again sooner.
 *
 * Owners are opaque strings, one per scheduler. Expected outcomes are values; only faults of
 * the backend are errors.
 */
export interface TaskLeases {
  tryAcquire(name: string, owner: string, ttlMs: number): Promise<LeaseAttempt>;
  renew(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** false when the owner no longer held the lease. */
  release(name: string, owner: string, holdMs?: number): Promise<boolean>;
}

/**
 * Checks a lease duration given to a `TaskLeases` method, for every adapter: at least `min`
 * milliseconds (1 for a TTL, 0 for a hold). @throws ValidationError naming `field`.
 */
export function checkLeaseMs(field: string, ms: number, min: number): void {
  if (!(Number.isFinite(ms) && ms >= min)) throw ValidationError.field(field, `must be a number of milliseconds of at least ${min}`);
}
