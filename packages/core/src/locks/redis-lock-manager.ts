import { isSqliteBusy } from '../db/sqlite-faults.js';
import { UnavailableError } from '../errors.js';
import { isTransactionConflict } from '../mysql/mysql-errors.js';
import type { RedisConnection, RedisScript } from '../redis/redis-connection.js';
import { LockBackendUnavailableError } from './fallback-lock-manager.js';
import type { FencingTokens } from './fencing-tokens.js';
import type { LockRequest } from './lock-request.js';
import releaseLua from './release-locks.lua';
import renewLua from './renew-locks.lua';
import { TableLockManager, type LockTable, type TableLockManagerOptions } from './table-lock-manager.js';
import takeLua from './take-locks.lua';

/**
 * `minPollMs` is the first pause between two tries of a held lock (default 5 ms), doubling up
 * to `maxPollMs` (default 100 ms): a try is one Redis round trip, so a waiter in another
 * process learns of a release within a tenth of a second.
 */
export type RedisLockManagerOptions = TableLockManagerOptions;

/**
 * Locks in Redis, shared by every instance, fenced by the database.
 *
 * Each held key is `<prefix>lock:<key>`, set to the acquisition's owner with a TTL (PX) by one
 * Lua script that takes every key or none; renewal extends them only while the owner still
 * holds all of them, release deletes only the owner's own (compare and delete). The waiting,
 * renewing every third of the TTL and the lost-lock signal are TableLockManager's, as for the
 * database lock tables.
 *
 * **Fencing.** node-redlock (and Redlock in general) offers no fencing token: a holder paused
 * past its TTL (a GC pause, SIGSTOP, a VM migrated) wakes up believing it holds the lock while
 * another process has taken it, and nothing stops its late writes. Here each acquisition's
 * token comes from the database (`fencing.issue`), where the guarded rows live, and the stores
 * refuse a write whose token is no longer the key's current one: the paused holder's writes
 * are refused when it wakes. The token is not a Redis `INCR`: Redis holds nothing that must
 * survive a restart, and a counter in Redis would start again at 1 after one, so a stale
 * holder's old token would win against every new one.
 *
 * The token is issued after the Redis keys are set, so tokens rise in the order the lock was
 * held. If issuing it fails, the keys are released at once; a database too busy to answer
 * (SQLite's write lock, a MySQL deadlock) is a held lock to the caller, tried again at the next
 * poll, as the database lock tables answer; any other fault is thrown.
 *
 * Redis failing (down, slow, its breaker open) is a LockBackendUnavailableError, so that a
 * FallbackLockManager takes the lock in the database instead; a wait for a held lock that
 * runs out is a plain UnavailableError, as with every lock manager.
 */
export class RedisLockManager extends TableLockManager {
  constructor(connection: RedisConnection, fencing: FencingTokens, options: RedisLockManagerOptions = {}) {
    super('redis', new RedisLockTable(connection, fencing), { minPollMs: 5, maxPollMs: 100, ...options });
  }
}

class RedisLockTable implements LockTable {
  readonly #prefix: string;
  readonly #fencing: FencingTokens;
  readonly #take: RedisScript;
  readonly #renew: RedisScript;
  readonly #release: RedisScript;

  constructor(connection: RedisConnection, fencing: FencingTokens) {
    this.#prefix = `${connection.prefix}lock:`;
    this.#fencing = fencing;
    // Defining a script sends nothing: ioredis loads it with its first call.
    this.#take = connection.script('mixtapeLockTake', takeLua);
    this.#renew = connection.script('mixtapeLockRenew', renewLua);
    this.#release = connection.script('mixtapeLockRelease', releaseLua);
  }

  async tryTake(request: LockRequest, owner: string): Promise<number | null> {
    const taken = await redisCall(() => this.#take(this.#keys(request), [owner, request.ttlMs]));
    if (taken !== 1) return null;
    try {
      return await this.#fencing.issue(request.keys);
    } catch (error) {
      await this.release(request, owner).catch(() => undefined);
      if (isBusyDatabase(error)) return null;
      throw error;
    }
  }

  async renew(request: LockRequest, owner: string): Promise<boolean> {
    return (await redisCall(() => this.#renew(this.#keys(request), [owner, request.ttlMs]))) === 1;
  }

  /**
   * A release that Redis could not answer (down, paused, the breaker open) is tried again in
   * the background until it gets through or the TTL has run out: a take that timed out may
   * have set its keys after all, and they would otherwise bar every taker for the whole TTL
   * once Redis is back.
   */
  async release(request: LockRequest, owner: string): Promise<void> {
    const keys = this.#keys(request);
    try {
      await redisCall(() => this.#release(keys, [owner]));
    } catch (error) {
      if (error instanceof LockBackendUnavailableError) this.#releaseLater(keys, owner, performance.now() + request.ttlMs);
      throw error;
    }
  }

  #releaseLater(keys: string[], owner: string, until: number, pauseMs = 250): void {
    if (performance.now() + pauseMs >= until) return;
    const timer = setTimeout(() => {
      this.#release(keys, [owner]).catch(() => this.#releaseLater(keys, owner, until, Math.min(pauseMs * 2, 4000)));
    }, pauseMs);
    timer.unref();
  }

  #keys(request: LockRequest): string[] {
    return request.keys.map((key) => this.#prefix + key);
  }
}

/** A call to Redis whose every unavailability (a fault, a timeout, the breaker open) says the backend is down. */
async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof UnavailableError) throw new LockBackendUnavailableError('redis', error);
    throw error;
  }
}

/** The fencing authority could not write now because of other writers: worth another try, not a fault. */
function isBusyDatabase(error: unknown): boolean {
  const cause = error instanceof UnavailableError ? error.cause : error;
  return isSqliteBusy(cause) || isTransactionConflict(cause);
}
