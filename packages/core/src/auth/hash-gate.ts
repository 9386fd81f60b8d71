import { Semaphore } from 'async-mutex';
import { ConfigError, UnavailableError } from '../errors.js';

export interface HashGateOptions {
  /**
   * Hashes that may run at once (default 2). scrypt runs on libuv's thread pool, four threads
   * unless `UV_THREADPOOL_SIZE` says otherwise, which also reads and writes every file: keep this
   * below the pool size so that file I/O always finds a free thread.
   */
  concurrency?: number;
  /** Callers that may wait for a turn (default 8); the next one is refused at once. */
  maxWaiting?: number;
  /** How long a refused caller is told to wait before trying again (default 1000 ms). */
  retryAfterMs?: number;
}

interface HashGateSettings {
  concurrency: number;
  maxWaiting: number;
  retryAfterMs: number;
}

export const DEFAULT_HASH_GATE: Readonly<HashGateSettings> = Object.freeze({ concurrency: 2, maxWaiting: 8, retryAfterMs: 1000 });

function checked(options: HashGateOptions): HashGateSettings {
  const settings = { ...DEFAULT_HASH_GATE, ...options };
  const problems = [
    !(Number.isSafeInteger(settings.concurrency) && settings.concurrency >= 1) && 'concurrency must be a whole number of 1 or more',
    !(Number.isSafeInteger(settings.maxWaiting) && settings.maxWaiting >= 0) && 'maxWaiting must be a whole number of 0 or more',
    !(Number.isFinite(settings.retryAfterMs) && settings.retryAfterMs > 0) && 'retryAfterMs must be a positive number',
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `HashGate: ${p}`));
  return settings;
}

/**
 * Bounds the password hashes in flight, so that a flood of logins can neither take every thread
 * of libuv's pool nor build a queue that answers minutes later.
 *
 * It sheds on a full queue rather than on a wait deadline: a caller that finds `concurrency`
 * hashes running and `maxWaiting` callers already waiting is refused at once with an
 * `UnavailableError` (503 and `Retry-After` over HTTP). The longest wait is therefore bounded by
 * the queue (`maxWaiting / concurrency` hashes), and a refusal costs no wait at all.
 */
export class HashGate {
  readonly #settings: HashGateSettings;
  readonly #turns: Semaphore;
  /** Callers admitted and not yet finished: those hashing plus those waiting for a turn. */
  #admitted = 0;
  #running = 0;

  constructor(options: HashGateOptions = {}) {
    this.#settings = checked(options);
    this.#turns = new Semaphore(this.#settings.concurrency);
  }

  /** Hashes running now. */
  get running(): number {
    return this.#running;
  }

  /** Callers waiting for a turn now. */
  get waiting(): number {
    return this.#admitted - this.#running;
  }

  /** @throws UnavailableError, at once, when the queue is full; `work` then never runs. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const { concurrency, maxWaiting, retryAfterMs } = this.#settings;
    if (this.#admitted >= concurrency + maxWaiting) {
      throw new UnavailableError('Too many sign-ins are in progress; try again shortly', { retryAfterMs });
    }
    this.#admitted += 1;
    try {
      return await this.#turns.runExclusive(async () => {
        this.#running += 1;
        try {
          return await work();
        } finally {
          this.#running -= 1;
        }
      });
    } finally {
      this.#admitted -= 1;
    }
  }
}
