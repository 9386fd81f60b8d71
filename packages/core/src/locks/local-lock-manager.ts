import { Mutex, withTimeout, type MutexInterface } from 'async-mutex';
import { UnavailableError, ValidationError } from '../errors.js';
import type { LockManager, LockOptions } from './lock-manager.js';

interface KeyedMutex {
  mutex: Mutex;
  /** Holders and waiters; the entry is dropped at zero so the map never outgrows the live keys. */
  users: number;
}

/**
 * Mutual exclusion within this process only. A local lock cannot be lost, so `ttlMs` does not
 * apply and the signal given to `work` never aborts. Several processes need the Redis backend.
 */
export class LocalLockManager implements LockManager {
  readonly backend = 'local';
  private readonly mutexes = new Map<string, KeyedMutex>();

  /** Keys currently held or waited for. */
  get size(): number {
    return this.mutexes.size;
  }

  async using<T>(key: string, work: (signal: AbortSignal) => Promise<T>, options: LockOptions = {}): Promise<T> {
    const { waitTimeoutMs } = options;
    if (waitTimeoutMs !== undefined && !(waitTimeoutMs >= 0)) {
      throw ValidationError.field('waitTimeoutMs', 'must be a number of milliseconds, 0 or more');
    }
    const entry = this.enter(key);
    try {
      const release = await this.acquire(key, entry.mutex, waitTimeoutMs);
      try {
        // Its own signal per call: `work` may add listeners, which must not pile up on a shared one.
        return await work(new AbortController().signal);
      } finally {
        release();
      }
    } finally {
      this.leave(key, entry);
    }
  }

  /** Wait times are measured for every backend alike, by `observeLockWaits`. */
  private acquire(key: string, mutex: Mutex, waitTimeoutMs: number | undefined): Promise<MutexInterface.Releaser> {
    // withTimeout releases the mutex at once if it is granted after the caller gave up.
    const lock =
      waitTimeoutMs === undefined
        ? mutex
        : withTimeout(mutex, waitTimeoutMs, new UnavailableError(`Timed out after ${waitTimeoutMs} ms waiting for the lock on ${key}`));
    return lock.acquire();
  }

  private enter(key: string): KeyedMutex {
    let entry = this.mutexes.get(key);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.mutexes.set(key, entry);
    }
    entry.users += 1;
    return entry;
  }

  private leave(key: string, entry: KeyedMutex): void {
    entry.users -= 1;
    if (entry.users === 0 && this.mutexes.get(key) === entry) this.mutexes.delete(key);
  }
}
