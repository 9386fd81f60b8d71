export interface LockOptions {
  /** How long the lock lives without renewal; backends that can lose a lock renew it while work runs. */
  ttlMs?: number;
  /** Give up waiting after this long, with an `UnavailableError` (each backend has a default). */
  waitTimeoutMs?: number;
  /** Stops waiting, rejecting with its reason; it does not end work that already holds the lock. */
  signal?: AbortSignal;
}

/** What `work` gets while it holds the lock. */
export interface LockContext {
  /** Aborts, with a `LockLostError` as its reason, if the lock is lost while `work` runs. */
  signal: AbortSignal;
  /**
   * This acquisition's token, issued by the fencing authority (the database): higher than any
   * earlier acquisition of these keys. Present it, as a `Fence`, to every guarded write.
   */
  fencingToken: number;
  /** Which backend holds it, where a manager spans several (FallbackLockManager); else its own. */
  backend?: string;
}

/**
 * Proof of holding a lock, presented to a guarded write. The store refuses the write with a
 * `LockLostError` unless `token` is still the current one of `key`.
 */
export interface Fence {
  key: string;
  token: number;
}

/**
 * Mutual exclusion over a set of keys, in the manner of node-redlock's `using`.
 *
 * - All `keys` are held at once, taken in one canonical order, so two callers asking for
 *   overlapping sets cannot deadlock. Nested calls must go from a track's key to a content key,
 *   never back.
 * - A lock that cannot be had within the wait timeout is an `UnavailableError`: callers answer
 *   503 or retry, never hang.
 * - Each acquisition gets one fencing token from the database, so a holder that lost its lock
 *   (a pause longer than the TTL) is refused by the stores: the lock gives exclusion and
 *   waiting, the database gives safety.
 */
export interface LockManager {
  readonly backend: string;
  using<T>(keys: readonly string[], work: (lock: LockContext) => Promise<T>, options?: LockOptions): Promise<T>;
}
