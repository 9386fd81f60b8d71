import { ValidationError } from '../errors.js';
import type { LockOptions } from './lock-manager.js';

/** How long a lock lives without renewal, unless the caller says otherwise. */
export const DEFAULT_LOCK_TTL_MS = 30_000;
/** How long a caller waits for a lock, unless it says otherwise: then `UnavailableError`. */
export const DEFAULT_LOCK_WAIT_TIMEOUT_MS = 10_000;

/** A backend's defaults for what a call does not say. */
export interface LockDefaults {
  ttlMs: number;
  waitTimeoutMs: number;
}

/** A call to `using`, checked once, with its keys in the canonical order. */
export interface LockRequest extends LockDefaults {
  keys: string[];
  signal: AbortSignal | undefined;
}

/** A backend's configured defaults, checked once at construction. */
export function lockDefaults(options: Partial<LockDefaults> = {}): LockDefaults {
  const { ttlMs = DEFAULT_LOCK_TTL_MS, waitTimeoutMs = DEFAULT_LOCK_WAIT_TIMEOUT_MS } = options;
  checkTimes(ttlMs, waitTimeoutMs);
  return { ttlMs, waitTimeoutMs };
}

/**
 * Checks a call's keys and options and fills in the backend's defaults. Keys are deduplicated
 * and sorted: every caller takes a set of keys in the same order, so no two can deadlock.
 */
export function lockRequest(keys: readonly string[], options: LockOptions = {}, defaults: LockDefaults = lockDefaults()): LockRequest {
  if (!Array.isArray(keys) || keys.length === 0) throw ValidationError.field('keys', 'must name at least one key');
  for (const key of keys) {
    if (typeof key !== 'string' || key.length === 0) throw ValidationError.field('keys', 'must be non-empty strings');
  }
  const { ttlMs = defaults.ttlMs, waitTimeoutMs = defaults.waitTimeoutMs } = options;
  checkTimes(ttlMs, waitTimeoutMs);
  return { keys: [...new Set(keys)].sort(), ttlMs, waitTimeoutMs, signal: options.signal };
}

/** A timeout's `UnavailableError` message. */
export function timedOutMessage(request: LockRequest): string {
  return `Timed out after ${request.waitTimeoutMs} ms waiting for the lock on ${request.keys.join(', ')}`;
}

/** `waitTimeoutMs` may be Infinity (wait as long as it takes); a TTL must be finite. */
function checkTimes(ttlMs: number, waitTimeoutMs: number): void {
  if (!(Number.isFinite(ttlMs) && ttlMs > 0)) throw ValidationError.field('ttlMs', 'must be a positive number of milliseconds');
  if (!(waitTimeoutMs >= 0)) throw ValidationError.field('waitTimeoutMs', 'must be a number of milliseconds, 0 or more');
}
