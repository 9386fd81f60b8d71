import type { MirroredRevocationList, RevocationList } from '../auth/revocation-list.js';
import { RedisRevocationList } from '../auth/redis-revocation-list.js';
import { ConfigError } from '../errors.js';
import { RedisJobEvents } from '../jobs/redis-job-events.js';
import { FallbackLockManager } from '../locks/fallback-lock-manager.js';
import { RedisLockManager } from '../locks/redis-lock-manager.js';
import type { MixtapeBackends } from '../mixtape.js';
import { FallbackRateLimitStores } from '../ratelimit/fallback-rate-limit-store.js';
import { RedisRateLimitStores } from '../ratelimit/redis-rate-limit-store.js';
import type { RedisConnection } from './redis-connection.js';

export interface RedisBackendsOptions {
  /** The connection every Redis adapter shares; the backends own it from now on: `close()` ends it. */
  connection: RedisConnection;
  /** While Redis cannot answer: in-process limits (`local`, the default) or none (`open`). */
  rateLimitFallback?: 'local' | 'open';
  /**
   * Told of what Redis could not do and was deferred or served by a fallback (a revoke shared
   * late, a refill retried). Each is handled; the breaker's changes say when Redis went away.
   */
  onError?: (error: unknown) => void;
}

/**
 * Puts Redis in front of a database's backends, for many instances sharing one Redis: rate
 * limits, locks, the revocation cache and job events are shared through it, and every one
 * keeps working while Redis is down.
 *
 * - **Rate limits** count in Redis, one store per policy; while Redis fails, in-process stores
 *   take over (or requests pass), and shared counting resumes once it answers.
 * - **Locks** are taken in Redis and fenced by the database's tokens (`backends.fencing`), so a
 *   Redis restart cannot make a token go backwards; while Redis is down they are taken in the
 *   database's own lock table.
 * - **Revocations** stay recorded in the database, which each process still polls; Redis adds
 *   the shared denylist and a message to every process at once.
 * - **Job events** are published on Redis, so every instance's event streams are pushed.
 *
 * Nothing here needs Redis to be up to open: the adapters start on their fallbacks and move to
 * Redis when it answers. The Spotify budget is given to the metadata provider, which is built
 * before the backends (see `RedisCallBudget`).
 */
export async function openRedisBackends(backends: MixtapeBackends, options: RedisBackendsOptions): Promise<MixtapeBackends> {
  const { connection } = options;
  const database = backends.revocations;
  if (!isMirrored(database)) {
    throw new ConfigError(['openRedisBackends: the database backends\' revocation list must keep a copy that Redis can feed (MirroredRevocationList)']);
  }
  const rateLimitStores = new FallbackRateLimitStores({
    primary: new RedisRateLimitStores(connection),
    mode: options.rateLimitFallback ?? 'local',
  });
  const revocations = new RedisRevocationList(connection, database, {
    ...(options.onError ? { onError: options.onError } : {}),
  });
  const jobEvents = new RedisJobEvents(connection);
  try {
    await revocations.start();
  } catch (error) {
    await connection.close();
    throw error;
  }
  let closed = false;
  return {
    ...backends,
    rateLimitStores,
    locks: new FallbackLockManager(new RedisLockManager(connection, backends.fencing), backends.locks),
    revocations,
    jobEvents,
    healthChecks: [...backends.healthChecks, connection.healthCheck()],
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([rateLimitStores.close(), revocations.close(), jobEvents.close()]);
      await backends.close();
      await connection.close();
    },
  };
}

function isMirrored(list: RevocationList): list is MirroredRevocationList {
  const candidate = list as Partial<MirroredRevocationList>;
  return typeof candidate.learn === 'function' && typeof candidate.liveEntries === 'function';
}
