import { Mutex, type MutexInterface } from 'async-mutex';
import { UnavailableError } from '../errors.js';
import type { FencingTokens } from './fencing-tokens.js';
import type { LockContext, LockManager, LockOptions } from './lock-manager.js';
import { lockDefaults, lockRequest, timedOutMessage, type LockDefaults, type LockRequest } from './lock-request.js';
import { MemoryFencingTokens } from './memory-fencing-tokens.js';

export interface LocalLockManagerOptions {
  /**
   * Issues the fencing tokens. The default counts in memory, which the SQLite stores refuse:
   * with them, pass `new SqliteFencingTokens(db)`.
   */
  fencing?: FencingTokens;
  /** How long a caller waits unless it says otherwise (default 10 s). */
  waitTimeoutMs?: number;
}

interface KeyedMutex {
  mutex: Mutex;
  /** Holders and waiters; the entry is dropped at zero so the map never outgrows the live keys. */
  users: number;
}

/**
 * Mutual exclusion within this process only: an API process and a `mixtape worker` sharing a
 * data dir need SqliteLockManager. A local lock cannot be lost, so `ttlMs` does not apply and
 * the signal given to `work` never aborts.
 */
export class LocalLockManager implements LockManager {
  readonly backend = 'local';
  readonly #mutexes = new Map<string, KeyedMutex>();
  readonly #fencing: FencingTokens;
  readonly #defaults: LockDefaults;

  constructor(options: LocalLockManagerOptions = {}) {
    this.#fencing = options.fencing ?? new MemoryFencingTokens();
    this.#defaults = lockDefaults(options.waitTimeoutMs === undefined ? {} : { waitTimeoutMs: options.waitTimeoutMs });
  }

  /** Keys currently held or waited for. */
  get size(): number {
    return this.#mutexes.size;
  }

  async using<T>(keys: readonly string[], work: (lock: LockContext) => Promise<T>, options?: LockOptions): Promise<T> {
    const request = lockRequest(keys, options, this.#defaults);
    const entries = request.keys.map((key) => this.#enter(key));
    const releases: MutexInterface.Releaser[] = [];
    try {
      const deadline = performance.now() + request.waitTimeoutMs;
      // In the canonical order, so that two callers with overlapping keys cannot deadlock.
      for (const entry of entries) releases.push(await acquireBefore(entry.mutex, deadline, request));
      const fencingToken = await this.#fencing.issue(request.keys);
      // Its own signal per call: `work` may add listeners, which must not pile up on a shared one.
      return await work({ signal: new AbortController().signal, fencingToken });
    } finally {
      for (const release of releases.reverse()) release();
      request.keys.forEach((key, index) => this.#leave(key, entries[index]!));
    }
  }

  #enter(key: string): KeyedMutex {
    let entry = this.#mutexes.get(key);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.#mutexes.set(key, entry);
    }
    entry.users += 1;
    return entry;
  }

  #leave(key: string, entry: KeyedMutex): void {
    entry.users -= 1;
    if (entry.users === 0 && this.#mutexes.get(key) === entry) this.#mutexes.delete(key);
  }
}

/**
 * The mutex, unless the deadline passes or the request's signal aborts first. A grant that
 * arrives after the caller gave up is released at once, so it blocks no one.
 */
function acquireBefore(mutex: Mutex, deadline: number, request: LockRequest): Promise<MutexInterface.Releaser> {
  const granted = mutex.acquire();
  const { signal } = request;
  return new Promise((resolve, reject) => {
    const giveUp = (reason: unknown) => {
      cleanUp();
      void granted.then((release) => release());
      reject(reason);
    };
    const onAbort = () => giveUp(signal!.reason);
    const left = deadline - performance.now();
    const timer = Number.isFinite(left) ? setTimeout(() => giveUp(new UnavailableError(timedOutMessage(request))), Math.max(0, left)) : undefined;
    const cleanUp = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    void granted.then((release) => {
      cleanUp();
      resolve(release);
    });
  });
}
