import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqliteDatabase } from '../../src/db/sqlite-database.js';
import { UnavailableError } from '../../src/errors.js';
import { FallbackLockManager } from '../../src/locks/fallback-lock-manager.js';
import { RedisLockManager } from '../../src/locks/redis-lock-manager.js';
import { SqliteFencingTokens } from '../../src/locks/sqlite-fencing-tokens.js';
import { openSqliteLockConnection, SqliteLockManager } from '../../src/locks/sqlite-lock-manager.js';
import { RedisCallBudget } from '../../src/metadata/redis-call-budget.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';
import { ownRedisServer } from './own-redis-server.js';
import { uniqueRedisPrefix } from './shared-redis.js';

/**
 * A Redis that answers with an error reply (here OOM: full, and told never to evict) is as
 * unusable as one that is down: every port must hear an UnavailableError and use its fallback,
 * never see the raw ReplyError (a 500 for a request, a lost attempt for a download).
 */
describe('RedisConnection when Redis answers with an error reply', () => {
  // Restarted before each test: each starts with a Redis that has memory to spare.
  const server = ownRedisServer({ restartBeforeEach: true });
  let temp: TempSqlite;
  const opened: Array<RedisConnection | SqliteDatabase> = [];

  const open = async () => {
    const connection = new RedisConnection({ url: server.url, prefix: uniqueRedisPrefix(), breaker: { failureThreshold: 2, openMs: 500, maxOpenMs: 1000 } });
    opened.push(connection);
    await connection.waitUntilReady(5000);
    return connection;
  };
  /** Redis refuses every write from now on with "OOM command not allowed…". */
  const fill = async (connection: RedisConnection) => {
    await connection.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    await connection.call('CONFIG', 'SET', 'maxmemory', '1');
  };

  beforeEach(() => {
    temp = openTempSqlite();
  });
  afterEach(async () => {
    for (const resource of opened.splice(0)) {
      if (resource instanceof RedisConnection) await resource.close();
      else resource.close();
    }
    await temp.close();
  });

  it('turns OOM into an UnavailableError that the breaker counts, keeping the reply as its cause', async () => {
    const connection = await open();
    await fill(connection);
    const refused = await connection.call('SET', `${connection.prefix}k`, 'v').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(((refused as Error).cause as Error).message).toMatch(/^OOM /);
    await connection.call('SET', `${connection.prefix}k`, 'v').catch(() => undefined);
    expect(connection.breaker.state).toBe('open');
  });

  it('lets NOSCRIPT through as it is, uncounted: its caller loads the script and tries again', async () => {
    const connection = await open();
    for (let i = 0; i < 3; i += 1) {
      const missing = await connection.call('EVALSHA', 'f'.repeat(40), 0).catch((error: unknown) => error);
      expect(missing).not.toBeInstanceOf(UnavailableError);
      expect((missing as Error).message).toMatch(/^NOSCRIPT /);
    }
    expect(connection.breaker.state).toBe('closed');
  });

  it('takes a lock through the database lock table when Redis refuses writes (OOM)', async () => {
    const connection = await open();
    const fencing = new SqliteFencingTokens(temp.db);
    const table = openSqliteLockConnection(temp.path);
    opened.push(table);
    const locks = new FallbackLockManager(new RedisLockManager(connection, fencing), new SqliteLockManager(table));
    await fill(connection);
    const inTable: unknown[] = [];
    for (let i = 0; i < 3; i += 1) {
      const taken = await locks
        .using(['track:x'], async ({ fencingToken }) => {
          inTable.push(temp.db.prepare('SELECT count(*) FROM locks WHERE key = ?').pluck().get('track:x'));
          return fencingToken;
        })
        .catch((error: unknown) => error);
      expect(taken).toBe(i + 1);
    }
    expect(inTable).toEqual([1, 1, 1]);
    expect(await connection.call('EXISTS', `${connection.prefix}lock:track:x`).catch(() => 'unavailable')).not.toBe(1);
  });

  it('takes from the local call budget when Redis refuses writes (OOM)', async () => {
    const connection = await open();
    const budget = new RedisCallBudget(connection, { name: 'spotify', limit: 3, windowMs: 60_000, maxWaitMs: 0 });
    await fill(connection);
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => budget.take()));
    // The local bucket: the same limit, for this process alone; a refusal is an UnavailableError, never the reply.
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(3);
    for (const outcome of outcomes) if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(UnavailableError);
  });
});
