export interface LockOptions {
  /** How long the lock lives without renewal (distributed backends extend it while work runs). */
  ttlMs?: number;
  /** Give up waiting after this long. */
  waitTimeoutMs?: number;
}

/** Mutual exclusion per key. `signal` aborts if the lock is lost while `work` runs. */
export interface LockManager {
  readonly backend: string;
  using<T>(key: string, work: (signal: AbortSignal) => Promise<T>, options?: LockOptions): Promise<T>;
}
