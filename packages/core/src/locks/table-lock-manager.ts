import { randomBytes } from 'node:crypto';
import { LockLostError, UnavailableError, ValidationError } from '../errors.js';
import type { LockContext, LockManager, LockOptions } from './lock-manager.js';
import { lockDefaults, lockRequest, timedOutMessage, type LockDefaults, type LockRequest } from './lock-request.js';

/**
 * A table of lock rows in a database that several processes share: one row per held key,
 * naming the acquisition that holds it (`owner`) and when it runs out by the database's clock.
 * What a backend (SQLite, MySQL) writes; TableLockManager does the waiting around it. A method
 * may answer synchronously (better-sqlite3) or with a promise (mysql2).
 */
export interface LockTable {
  /**
   * Takes every key of the request for `owner`, each free or expired, and raises their fencing
   * tokens, all in one short transaction: the token, or null when a key is held by another
   * owner (or the database is too busy to tell now, which is the same to a waiter). Throws
   * only for a fault, having taken nothing.
   */
  tryTake(request: LockRequest, owner: string): number | null | Promise<number | null>;
  /** Extends every key `owner` still holds by the TTL: false when one of them was taken over. */
  renew(request: LockRequest, owner: string): boolean | Promise<boolean>;
  /** Deletes `owner`'s rows, and only its own: one taken over stays with its new holder. */
  release(request: LockRequest, owner: string): void | Promise<void>;
}

export interface TableLockManagerOptions {
  /** How long a lock lives without renewal unless the caller says (default 30 s). Renewed every third of it. */
  ttlMs?: number;
  /** How long a caller waits unless it says (default 10 s). */
  waitTimeoutMs?: number;
  /** The first pause between two tries of a held lock; it doubles up to `maxPollMs`. */
  minPollMs?: number;
  /** The longest pause between two tries. */
  maxPollMs?: number;
}

/** One acquisition: its name in the table, and its token. */
interface Holding {
  owner: string;
  token: number;
  /** `performance.now()` just before the lock was taken or last renewed. */
  since: number;
}

/**
 * A LockManager over a LockTable: how SqliteLockManager and MysqlLockManager wait, renew and
 * let go, whatever their SQL.
 *
 * - A held lock is polled for, with a doubling, jittered pause (processes polling one key do
 *   not keep colliding), cut short when a holder in this process releases one of the keys, so
 *   local waiters never sleep out the backoff. `waitTimeoutMs` ends the wait with an
 *   UnavailableError, the caller's `signal` with its reason.
 * - While the work runs, the lock is renewed every third of the TTL. A renewal that finds a key
 *   taken over aborts the work's signal with a LockLostError; so does the TTL running out since
 *   the last renewal that got through (the database down or slow), since another process may
 *   take the lock from then on.
 * - Release deletes this acquisition's rows only; if it fails, they expire after the TTL, as
 *   nothing renews them any more.
 */
export class TableLockManager implements LockManager {
  readonly #table: LockTable;
  readonly #defaults: LockDefaults;
  readonly #minPollMs: number;
  readonly #maxPollMs: number;
  /** Waiters in this process, by key: a release here wakes them at once instead of at their next poll. */
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Keys that a take from this process is trying for right now. */
  readonly #taking = new Set<string>();

  constructor(
    readonly backend: string,
    table: LockTable,
    options: TableLockManagerOptions & { minPollMs: number; maxPollMs: number },
  ) {
    this.#table = table;
    this.#defaults = lockDefaults(options);
    this.#minPollMs = options.minPollMs;
    this.#maxPollMs = options.maxPollMs;
    if (!(this.#minPollMs > 0 && this.#maxPollMs >= this.#minPollMs)) {
      throw ValidationError.field('minPollMs', 'must be positive and at most maxPollMs');
    }
  }

  async using<T>(keys: readonly string[], work: (lock: LockContext) => Promise<T>, options?: LockOptions): Promise<T> {
    const request = lockRequest(keys, options, this.#defaults);
    const holding = await this.#acquire(request);
    const lost = new AbortController();
    const stopRenewing = this.#keepAlive(request, holding, lost);
    try {
      return await work({ signal: lost.signal, fencingToken: holding.token });
    } finally {
      stopRenewing();
      await this.#release(request, holding);
    }
  }

  async #acquire(request: LockRequest): Promise<Holding> {
    const owner = randomBytes(12).toString('base64url');
    const deadline = performance.now() + request.waitTimeoutMs;
    for (let pause = this.#minPollMs; ; pause = Math.min(pause * 2, this.#maxPollMs)) {
      request.signal?.throwIfAborted();
      const since = performance.now();
      // While a take of one of these keys is on its way from this process, this one would
      // lose the race or lose to it: it naps instead of adding a transaction, so a release
      // that wakes every local waiter sends one of them to the database, not the whole herd.
      const token = request.keys.some((key) => this.#taking.has(key)) ? null : await this.#tryTake(request, owner);
      if (token !== null) {
        // The caller gave up while the take was on its way (a network round trip): let go.
        if (request.signal?.aborted) {
          await this.#release(request, { owner, token, since });
          request.signal.throwIfAborted();
        }
        return { owner, token, since };
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new UnavailableError(timedOutMessage(request), { retryAfterMs: 1000 });
      await this.#nap(request, Math.min(left, pause * (0.5 + Math.random() / 2)));
    }
  }

  async #tryTake(request: LockRequest, owner: string): Promise<number | null> {
    for (const key of request.keys) this.#taking.add(key);
    try {
      return await this.#table.tryTake(request, owner);
    } catch (error) {
      // A fault may hide a take that committed (a connection lost after COMMIT): its rows go
      // now if the database answers, else after the TTL.
      await Promise.resolve()
        .then(() => this.#table.release(request, owner))
        .catch(() => undefined);
      throw error;
    } finally {
      for (const key of request.keys) this.#taking.delete(key);
    }
  }

  /** Waits `ms`, or less when a holder in this process releases one of the keys; rejects on abort. */
  #nap(request: LockRequest, ms: number): Promise<void> {
    const { signal } = request;
    return new Promise((resolve, reject) => {
      const wake = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      const timer = setTimeout(wake, ms);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        for (const key of request.keys) {
          const waiting = this.#waiters.get(key);
          waiting?.delete(wake);
          if (waiting?.size === 0) this.#waiters.delete(key);
        }
      };
      for (const key of request.keys) {
        let waiting = this.#waiters.get(key);
        if (!waiting) this.#waiters.set(key, (waiting = new Set()));
        waiting.add(wake);
      }
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Renews every third of the TTL, one renewal at a time; returns what stops it. A renewal
   * still unanswered when the TTL has run out since the last good one counts as failed.
   */
  #keepAlive(request: LockRequest, holding: Holding, lost: AbortController): () => void {
    const lose = () => lost.abort(new LockLostError(request.keys.join(', ')));
    const expired = () => performance.now() - holding.since >= request.ttlMs;
    let renewing = false;
    const timer = setInterval(() => {
      if (lost.signal.aborted) return;
      if (renewing) {
        if (expired()) lose();
        return;
      }
      renewing = true;
      const attempt = performance.now();
      void Promise.resolve()
        .then(() => this.#table.renew(request, holding.owner))
        .then(
          (held) => {
            if (held) holding.since = attempt;
            else lose();
          },
          () => {
            if (expired()) lose();
          },
        )
        .finally(() => (renewing = false));
    }, Math.max(10, Math.floor(request.ttlMs / 3)));
    timer.unref();
    return () => clearInterval(timer);
  }

  async #release(request: LockRequest, holding: Holding): Promise<void> {
    await Promise.resolve()
      .then(() => this.#table.release(request, holding.owner))
      .catch(() => undefined);
    for (const key of request.keys) for (const wake of [...(this.#waiters.get(key) ?? [])]) wake();
  }
}
