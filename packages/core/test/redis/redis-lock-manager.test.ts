import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqliteDatabase } from '../../src/db/sqlite-database.js';
import { setSqliteBusyPolicy } from '../../src/db/sqlite-faults.js';
import { FallbackLockManager, LockBackendUnavailableError } from '../../src/locks/fallback-lock-manager.js';
import { RedisLockManager } from '../../src/locks/redis-lock-manager.js';
import { SqliteFencingTokens } from '../../src/locks/sqlite-fencing-tokens.js';
import { openSqliteLockConnection, SqliteLockManager } from '../../src/locks/sqlite-lock-manager.js';
import { MysqlFencingTokens } from '../../src/mysql/mysql-fencing-tokens.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { describeLockManager } from '../contracts/lock-manager.contract.js';
import { perFileDatabase } from '../mysql/per-file-database.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';
import { holdWriteLock } from '../sqlite/write-lock-holder.js';
import { ownRedisServer } from './own-redis-server.js';
import { sharedRedisUrl, uniqueRedisPrefix } from './shared-redis.js';

async function connect(url: string, options: { breaker?: { failureThreshold: number; openMs: number; maxOpenMs: number } } = {}): Promise<RedisConnection> {
  const connection = new RedisConnection({ url, prefix: uniqueRedisPrefix(), ...options });
  await connection.waitUntilReady(5000);
  return connection;
}

/** Deletes the key, as its TTL running out while the holder was paused would. */
const loseRedisLock = (connection: RedisConnection) => async (key: string) => {
  await connection.call('DEL', `${connection.prefix}lock:${key}`);
};

describeLockManager(
  'redis, fenced by SQLite',
  async () => {
    const temp = openTempSqlite();
    const connection = await connect(sharedRedisUrl());
    const fencing = new SqliteFencingTokens(temp.db);
    return {
      subject: new RedisLockManager(connection, fencing),
      fencing,
      loseLock: loseRedisLock(connection),
      close: async () => {
        await connection.close();
        await temp.close();
      },
    };
  },
  { canLoseLocks: true },
);

const mysql = perFileDatabase();

describeLockManager(
  'redis, fenced by MySQL',
  async () => {
    const { db } = await mysql.database();
    const connection = await connect(sharedRedisUrl());
    const fencing = new MysqlFencingTokens(db);
    return {
      subject: new RedisLockManager(connection, fencing),
      fencing,
      loseLock: loseRedisLock(connection),
      close: () => connection.close(),
    };
  },
  { canLoseLocks: true },
);

describe('RedisLockManager on a redis-server of its own', () => {
  // Restarted before each test: a test that killed it leaves it down.
  const server = ownRedisServer({ restartBeforeEach: true });
  let temp: TempSqlite;
  let fencing: SqliteFencingTokens;
  const opened: Array<RedisConnection | SqliteDatabase> = [];
  const open = async (options?: Parameters<typeof connect>[1]) => {
    const connection = await connect(server.url, options);
    opened.push(connection);
    return connection;
  };
  const lockConnection = () => {
    const db = openSqliteLockConnection(temp.path);
    opened.push(db);
    return db;
  };

  beforeEach(async () => {
    temp = openTempSqlite();
    fencing = new SqliteFencingTokens(temp.db);
  });
  afterEach(async () => {
    for (const resource of opened.splice(0)) {
      if (resource instanceof RedisConnection) await resource.close();
      else resource.close();
    }
    await temp.close();
  });

  it('keeps its tokens rising across a Redis restart that lost every key, since the database issues them', async () => {
    const connection = await open();
    const locks = new RedisLockManager(connection, fencing);
    const before = await locks.using(['track:x'], async ({ fencingToken }) => fencingToken);
    const again = await locks.using(['track:x'], async ({ fencingToken }) => fencingToken);

    await server.restart();
    await connection.waitUntilReady(5000);
    expect(await connection.call('DBSIZE')).toBe(0);

    const after = await locks.using(['track:x'], async ({ fencingToken }) => fencingToken, { waitTimeoutMs: 5000 });
    expect([before, again, after]).toEqual([1, 2, 3]);
    expect(await fencing.current('track:x')).toBe(3);
  });

  it('holds every key in Redis with its TTL, and leaves none behind', async () => {
    const connection = await open();
    const locks = new RedisLockManager(connection, fencing);
    const seen = await locks.using(['b', 'a'], async () => ({
      keys: ((await connection.call('KEYS', `${connection.prefix}*`)) as string[]).sort(),
      ttl: (await connection.call('PTTL', `${connection.prefix}lock:a`)) as number,
    }), { ttlMs: 5000 });
    expect(seen.keys).toEqual([`${connection.prefix}lock:a`, `${connection.prefix}lock:b`]);
    expect(seen.ttl).toBeGreaterThan(4000);
    expect(seen.ttl).toBeLessThanOrEqual(5000);
    expect(await connection.call('KEYS', `${connection.prefix}*`)).toEqual([]);
  });

  it('takes nothing when one key of a set is held: all or nothing', async () => {
    const connection = await open();
    const locks = new RedisLockManager(connection, fencing);
    await connection.call('SET', `${connection.prefix}lock:b`, 'someone else', 'PX', 10_000);
    await expect(locks.using(['a', 'b'], async () => 'ran', { waitTimeoutMs: 100 })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    expect(await connection.call('EXISTS', `${connection.prefix}lock:a`)).toBe(0);
    expect(await connection.call('GET', `${connection.prefix}lock:b`)).toBe('someone else');
    // No token was spent on a take that did not happen.
    expect(await fencing.current('a')).toBeNull();
  });

  it('aborts a holder whose Redis key expired with ERR_LOCK_LOST, at its next renewal', async () => {
    const connection = await open();
    const locks = new RedisLockManager(connection, fencing);
    let expiredAt = 0;
    const lost = await locks.using(['track:x'], async ({ signal }) => {
      await connection.call('PEXPIRE', `${connection.prefix}lock:track:x`, 1);
      expiredAt = Date.now();
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return { code: (signal.reason as { code?: string }).code, after: Date.now() - expiredAt };
    }, { ttlMs: 600 });
    expect(lost.code).toBe('ERR_LOCK_LOST');
    // Renewed every 200 ms: found at the first renewal after the expiry.
    expect(lost.after).toBeLessThan(500);
  });

  it('aborts a holder once its TTL runs out while Redis is paused and its renewals go unanswered', async () => {
    const connection = await open();
    const locks = new RedisLockManager(connection, fencing);
    let pausedAt = 0;
    try {
      const lost = await locks.using(['track:x'], async ({ signal }) => {
        server.pause();
        pausedAt = Date.now();
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return { code: (signal.reason as { code?: string }).code, after: Date.now() - pausedAt };
      }, { ttlMs: 600 });
      expect(lost.code).toBe('ERR_LOCK_LOST');
      // Not before the TTL could have run out, and soon after.
      expect(lost.after).toBeGreaterThanOrEqual(350);
      expect(lost.after).toBeLessThan(1200);
    } finally {
      server.resume();
    }
  });

  it('counts a fencing authority too busy to answer as a held lock: it lets the Redis keys go and tries again', async () => {
    const connection = await open();
    // The fencing database gives up on a busy write lock after 50 ms instead of 5 s.
    setSqliteBusyPolicy(temp.db, { deadlineMs: 50 });
    const locks = new RedisLockManager(connection, fencing);
    const holder = await holdWriteLock(temp.path, 400);
    // Whether the key is held in Redis, every 10 ms while the database is busy.
    const samples: unknown[] = [];
    const sampling = (async () => {
      while (performance.now() - holder.lockedAt < 350) {
        samples.push(await connection.call('EXISTS', `${connection.prefix}lock:track:x`));
        await sleep(10);
      }
    })();
    const startedAt = performance.now();
    const token = await locks.using(['track:x'], async ({ fencingToken }) => fencingToken, { waitTimeoutMs: 5000 });
    const waited = performance.now() - startedAt;
    await sampling;
    await holder.released;
    expect(token).toBe(1);
    expect(waited).toBeGreaterThanOrEqual(300);
    // A take that could not be fenced let its keys go between tries, rather than keeping them for the whole wait.
    expect(samples.length).toBeGreaterThan(10);
    expect(samples).toContain(0);
    expect(await connection.call('EXISTS', `${connection.prefix}lock:track:x`)).toBe(0);
  });

  it('fails fast with LockBackendUnavailableError while Redis is down, a plain UnavailableError for a held lock', async () => {
    const connection = await open({ breaker: { failureThreshold: 2, openMs: 500, maxOpenMs: 1000 } });
    const locks = new RedisLockManager(connection, fencing);
    let release!: () => void;
    const holder = locks.using(['k'], () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(30);
    const held = await locks.using(['k'], async () => 'ran', { waitTimeoutMs: 100 }).catch((error: unknown) => error);
    expect(held).toMatchObject({ code: 'ERR_UNAVAILABLE' });
    expect(held).not.toBeInstanceOf(LockBackendUnavailableError);
    release();
    await holder;

    await server.kill();
    const timings: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const startedAt = performance.now();
      const down = await locks.using(['k'], async () => 'ran').catch((error: unknown) => error);
      timings.push(performance.now() - startedAt);
      expect(down).toBeInstanceOf(LockBackendUnavailableError);
      expect(down).toMatchObject({ code: 'ERR_UNAVAILABLE', backend: 'redis' });
    }
    expect(Math.max(...timings)).toBeLessThan(300);
    // Nothing was fenced for acquisitions that never happened.
    expect(await fencing.current('k')).toBe(1);
  });

  describe('behind a FallbackLockManager over the database lock table', () => {
    it('with Redis killed, still excludes holders through the database and answers quickly; tokens keep rising', async () => {
      const connection = await open({ breaker: { failureThreshold: 2, openMs: 500, maxOpenMs: 1000 } });
      const locks = new FallbackLockManager(new RedisLockManager(connection, fencing), new SqliteLockManager(lockConnection()));
      expect(locks.backend).toBe('redis');
      const inRedis = await locks.using(['track:x'], async ({ fencingToken }) => fencingToken);
      await server.kill();

      let active = 0;
      let most = 0;
      const tokens: number[] = [];
      const timings: number[] = [];
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const askedAt = performance.now();
          await locks.using(['track:x'], async ({ fencingToken }) => {
            timings.push(performance.now() - askedAt);
            active += 1;
            most = Math.max(most, active);
            tokens.push(fencingToken);
            // The row is in the database's lock table while Redis is down.
            expect(temp.db.prepare('SELECT count(*) FROM locks WHERE key = ?').pluck().get('track:x')).toBe(1);
            await sleep(5);
            active -= 1;
          }, { waitTimeoutMs: 5000 });
        }),
      );
      expect(most).toBe(1);
      expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
      expect(tokens[0]).toBeGreaterThan(inRedis);
      expect(new Set(tokens).size).toBe(10);
      // The first gets the lock within the command timeout; the rest queue behind one another.
      expect(Math.min(...timings)).toBeLessThan(300);

      // A lock held in the database times out a waiter as a held lock, quickly, and is not "Redis down".
      let release!: () => void;
      const holder = locks.using(['track:y'], () => new Promise<void>((resolve) => (release = resolve)));
      await sleep(30);
      const startedAt = performance.now();
      const waited = await locks.using(['track:y'], async () => 'ran', { waitTimeoutMs: 150 }).catch((error: unknown) => error);
      expect(waited).toMatchObject({ code: 'ERR_UNAVAILABLE' });
      expect(waited).not.toBeInstanceOf(LockBackendUnavailableError);
      expect(performance.now() - startedAt).toBeLessThan(600);
      release();
      await holder;
      expect(temp.db.prepare('SELECT count(*) FROM locks').pluck().get()).toBe(0);
    });

    it('with Redis up, a held lock is waited for in Redis and never taken in the database', async () => {
      const connection = await open();
      const locks = new FallbackLockManager(new RedisLockManager(connection, fencing), new SqliteLockManager(lockConnection()));
      let release!: () => void;
      const holder = locks.using(['track:x'], () => new Promise<void>((resolve) => (release = resolve)));
      await sleep(30);
      const waited = await locks.using(['track:x'], async () => 'ran', { waitTimeoutMs: 150 }).catch((error: unknown) => error);
      expect(waited).toMatchObject({ code: 'ERR_UNAVAILABLE' });
      expect(waited).not.toBeInstanceOf(LockBackendUnavailableError);
      expect(temp.db.prepare('SELECT count(*) FROM locks').pluck().get()).toBe(0);
      release();
      await holder;
      // What work throws is the caller's, never a reason to run it again on the fallback.
      let runs = 0;
      const failure = new Error('work failed');
      await expect(locks.using(['track:x'], async () => {
        runs += 1;
        throw failure;
      })).rejects.toBe(failure);
      expect(runs).toBe(1);
      expect(await fencing.current('track:x')).toBe(2);
    });

    it('with Redis paused, takes the lock in the database within two command timeouts, then at once once the breaker opens', async () => {
      const connection = await open();
      const locks = new FallbackLockManager(new RedisLockManager(connection, fencing), new SqliteLockManager(lockConnection()));
      server.pause();
      try {
        const timings: number[] = [];
        const tokens: number[] = [];
        for (let i = 0; i < 4; i += 1) {
          const askedAt = performance.now();
          tokens.push(await locks.using(['k'], async ({ fencingToken }) => {
            timings.push(performance.now() - askedAt);
            return fencingToken;
          }));
        }
        // The take and the release of what it may have taken each wait out the 250 ms command timeout.
        console.log(`acquisitions with Redis paused took ${timings.map(Math.round).join(', ')} ms`);
        expect(Math.max(...timings)).toBeLessThan(700);
        expect(timings[3]!).toBeLessThan(50);
        expect(tokens).toEqual([1, 2, 3, 4]);
      } finally {
        server.resume();
      }
      // A take that timed out may have set its key once Redis ran again: its release, refused
      // meanwhile, is tried again in the background, so the key does not bar takers for its TTL.
      let keys: unknown;
      for (const deadline = Date.now() + 5000; !Array.isArray(keys) || keys.length > 0; await sleep(50)) {
        if (Date.now() > deadline) break;
        keys = await connection.call('KEYS', `${connection.prefix}*`).catch(() => undefined);
      }
      expect(keys).toEqual([]);
    });

    it('goes back to Redis once it answers again', async () => {
      const connection = await open({ breaker: { failureThreshold: 1, openMs: 100, maxOpenMs: 200 } });
      const locks = new FallbackLockManager(new RedisLockManager(connection, fencing), new SqliteLockManager(lockConnection()));
      await server.kill();
      const whileDown = await locks.using(['k'], async () => temp.db.prepare('SELECT count(*) FROM locks').pluck().get());
      expect(whileDown).toBe(1);
      await server.restart();
      await connection.waitUntilReady(5000);
      await sleep(250);
      const inRedis = await locks.using(['k'], async () => ({
        redis: await connection.call('EXISTS', `${connection.prefix}lock:k`),
        table: temp.db.prepare('SELECT count(*) FROM locks').pluck().get(),
      }));
      expect(inRedis).toEqual({ redis: 1, table: 0 });
    });
  });
});
