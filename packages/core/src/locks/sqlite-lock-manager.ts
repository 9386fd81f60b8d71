import { randomBytes } from 'node:crypto';
import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import { openSqliteDatabase, type SqliteDatabase } from '../db/sqlite-database.js';
import { fromSqliteError, isSqliteBusy, runSqlite } from '../db/sqlite-faults.js';
import { LockLostError, UnavailableError, ValidationError } from '../errors.js';
import type { LockContext, LockManager, LockOptions } from './lock-manager.js';
import { lockDefaults, lockRequest, timedOutMessage, type LockDefaults, type LockRequest } from './lock-request.js';
import { SqliteFencingTokens } from './sqlite-fencing-tokens.js';
import text from './sqlite-lock-manager.sql';

const SQL = requireStatements(text, ['heldByOthers', 'take', 'renew', 'release']);

export interface SqliteLockManagerOptions {
  /** How long a lock lives without renewal unless the caller says (default 30 s). Renewed every third of it. */
  ttlMs?: number;
  /** How long a caller waits unless it says (default 10 s). */
  waitTimeoutMs?: number;
  /** The first pause between two tries of a held lock (default 5 ms); it doubles up to `maxPollMs`. */
  minPollMs?: number;
  /** The longest pause between two tries (default 250 ms). */
  maxPollMs?: number;
}

/** One acquisition: its name in the `locks` table, and its token. */
interface Holding {
  owner: string;
  token: number;
  /** `performance.now()` just before the lock was taken or last renewed. */
  since: number;
}

/**
 * Locks in a table of the embedded database, so that every process on one data dir (the API
 * and `mixtape worker`s) excludes the others. Taking a lock raises the keys' fencing tokens in
 * the same transaction. A lock lives `ttlMs` and is renewed while the work runs; an expired
 * lock may be taken over by another process, and the old holder's signal then aborts with a
 * `LockLostError` at its next renewal.
 *
 * Give it a connection of its own (`openSqliteLockConnection`): its busy timeout is a few
 * milliseconds, so the event loop never sits in SQLite waiting for another process. A busy
 * database is a held lock to an acquisition, which polls for it with backoff, cut short when a
 * holder in this process lets go; a release is retried by `runSqlite`, as every adapter's work is.
 */
export class SqliteLockManager implements LockManager {
  readonly backend = 'sqlite';
  private readonly statements: PreparedStatements<keyof typeof SQL>;
  readonly #fencing: SqliteFencingTokens;
  readonly #defaults: LockDefaults;
  readonly #minPollMs: number;
  readonly #maxPollMs: number;
  /** Waiters in this process, by key: a release here wakes them at once instead of at their next poll. */
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly db: SqliteDatabase,
    options: SqliteLockManagerOptions = {},
  ) {
    this.statements = prepareOnFirstUse(db, SQL);
    this.#fencing = new SqliteFencingTokens(db);
    this.#defaults = lockDefaults(options);
    this.#minPollMs = options.minPollMs ?? 5;
    this.#maxPollMs = options.maxPollMs ?? 250;
    if (!(this.#minPollMs > 0 && this.#maxPollMs >= this.#minPollMs)) {
      throw ValidationError.field('minPollMs', 'must be positive and at most maxPollMs');
    }
  }

  async using<T>(keys: readonly string[], work: (lock: LockContext) => Promise<T>, options?: LockOptions): Promise<T> {
    const request = lockRequest(keys, options, this.#defaults);
    const holding = await this.#acquire(request);
    const lost = new AbortController();
    const renewal = this.#keepAlive(request, holding, lost);
    try {
      return await work({ signal: lost.signal, fencingToken: holding.token });
    } finally {
      clearInterval(renewal);
      await this.#release(request, holding);
    }
  }

  async #acquire(request: LockRequest): Promise<Holding> {
    const owner = randomBytes(12).toString('base64url');
    const deadline = performance.now() + request.waitTimeoutMs;
    for (let pause = this.#minPollMs; ; pause = Math.min(pause * 2, this.#maxPollMs)) {
      request.signal?.throwIfAborted();
      const since = performance.now();
      const token = this.#tryTake(request, owner);
      if (token !== null) return { owner, token, since };
      const left = deadline - performance.now();
      if (left <= 0) throw new UnavailableError(timedOutMessage(request), { retryAfterMs: 1000 });
      // Jitter, so that processes polling one key do not keep colliding.
      await this.#nap(request, Math.min(left, pause * (0.5 + Math.random() / 2)));
    }
  }

  /** One tiny transaction: every key free (or expired), then taken and fenced. null when held or busy. */
  #tryTake(request: LockRequest, owner: string): number | null {
    const keys = JSON.stringify(request.keys);
    try {
      return this.db
        .transaction(() => {
          if (this.statements.heldByOthers.get({ keys }) !== undefined) return null;
          const token = this.#fencing.issueWithin(request.keys);
          this.statements.take.run({ keys, owner, token, ttlMs: request.ttlMs });
          return token;
        })
        .immediate();
    } catch (error) {
      if (isSqliteBusy(error)) return null;
      throw fromSqliteError(error);
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
   * Renews every third of the TTL. The lock is lost when a renewal finds a key taken over, or
   * when renewals failed (the database busy or gone) until the TTL ran out since the last one.
   */
  #keepAlive(request: LockRequest, holding: Holding, lost: AbortController): NodeJS.Timeout {
    const keys = JSON.stringify(request.keys);
    const timer = setInterval(() => {
      if (lost.signal.aborted) return;
      const attempt = performance.now();
      try {
        const renewed = this.statements.renew.run({ keys, owner: holding.owner, ttlMs: request.ttlMs }).changes;
        if (renewed === request.keys.length) holding.since = attempt;
        else lost.abort(new LockLostError(request.keys.join(', ')));
      } catch {
        if (performance.now() - holding.since >= request.ttlMs) lost.abort(new LockLostError(request.keys.join(', ')));
      }
    }, Math.max(10, Math.floor(request.ttlMs / 3)));
    timer.unref();
    return timer;
  }

  /**
   * Deletes this acquisition's rows, retrying a busy database for a while. If it never gets
   * through, the rows expire after the TTL, since nothing renews them any more.
   */
  async #release(request: LockRequest, holding: Holding): Promise<void> {
    const keys = JSON.stringify(request.keys);
    await runSqlite(this.db, () => this.statements.release.run({ keys, owner: holding.owner })).catch(() => undefined);
    for (const key of request.keys) for (const wake of [...(this.#waiters.get(key) ?? [])]) wake();
  }
}

/**
 * A connection for SqliteLockManager, with the embedded database's settings (a busy timeout of
 * a few milliseconds: a lock waits by polling, never inside SQLite). A release on it gives up
 * after a second, since its rows expire anyway.
 */
export function openSqliteLockConnection(path: string): SqliteDatabase {
  return openSqliteDatabase(path, { busy: { deadlineMs: 1000 } });
}
