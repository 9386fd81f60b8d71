import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { MysqlFencingTokens } from '../../src/mysql/mysql-fencing-tokens.js';
import { MysqlLockManager } from '../../src/mysql/mysql-lock-manager.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { describeLockManager } from '../contracts/lock-manager.contract.js';
import { bundleChildProgram, type ChildProgram } from '../sqlite/child-processes.js';
import { startChild, type LiveChild } from '../sqlite/live-child.js';
import { createFencedTestWrites, fencedTestWrite, readFencedTestWrite } from './fenced-test-writes.js';
import { freshMysqlDatabase, MYSQL_TEST_URL, type FreshMysqlDatabase } from './mysql-test-server.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/** One database for the whole file: the contract's keys are unique per test. */
let shared: Promise<FreshMysqlDatabase> | undefined;
const database = () => (shared ??= freshMysqlDatabase());
afterAll(async () => {
  await (await shared)?.drop();
});

describeLockManager(
  'mysql',
  async () => {
    const { db } = await database();
    return {
      subject: new MysqlLockManager(db),
      fencing: new MysqlFencingTokens(db),
      // What a holder paused past its TTL leaves behind: a row whose time ran out.
      loseLock: async (key) => {
        await db.run('UPDATE locks SET expires_at = 0 WHERE `key` = @key', { key });
      },
      close: async () => {},
    };
  },
  { canLoseLocks: true },
);

describe('MysqlLockManager', () => {
  let fresh: FreshMysqlDatabase;
  const hosts: MysqlDatabase[] = [];
  /** A MysqlDatabase with a pool of its own, as another host would have. */
  const host = () => {
    const db = new MysqlDatabase(createMysqlPool(fresh.url, { poolSize: 3 }));
    hosts.push(db);
    return db;
  };
  /** A key of its own for each test, so that one test's leftovers never hold up another. */
  const nextKey = () => `track:lock-test-${randomUUID()}`;

  beforeAll(async () => {
    fresh = await database();
    await createFencedTestWrites(fresh.db);
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((db) => db.close()));
  });

  it('excludes across two pools, as two hosts: one holder at a time, tokens rising in the order held', async () => {
    const k = nextKey();
    const [first, second] = [new MysqlLockManager(host()), new MysqlLockManager(host())];
    let inside = 0;
    let most = 0;
    const tokens: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? first : second).using([k], async ({ fencingToken }) => {
          inside += 1;
          most = Math.max(most, inside);
          tokens.push(fencingToken);
          await sleep(3);
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(12);
    expect(await new MysqlFencingTokens(fresh.db).current(k)).toBe(tokens.at(-1));
    expect(await fresh.db.get('SELECT `key` FROM locks WHERE `key` = @k', { k })).toBeUndefined();
  });

  it('wakes a waiter in this process as soon as a holder here lets go, not at its next poll', async () => {
    const k = nextKey();
    const locks = new MysqlLockManager(host(), { minPollMs: 3000, maxPollMs: 3000 });
    let release!: () => void;
    const holder = locks.using([k], () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(50);
    const asked = Date.now();
    const waiter = locks.using([k], async () => Date.now() - asked, { waitTimeoutMs: 10_000 });
    await sleep(50);
    release();
    await holder;
    expect(await waiter).toBeLessThan(1000);
  });

  it('uses its default wait timeout, and checks its options at construction', async () => {
    const k = nextKey();
    const db = host();
    const locks = new MysqlLockManager(db, { waitTimeoutMs: 100 });
    let release!: () => void;
    const holder = locks.using([k], () => new Promise<void>((resolve) => (release = resolve)));
    await sleep(50);
    await expect(new MysqlLockManager(host()).using([k], async () => 'ran', { waitTimeoutMs: 100 })).rejects.toMatchObject({
      code: 'ERR_UNAVAILABLE',
    });
    await expect(locks.using([k], async () => 'ran')).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    release();
    await holder;
    expect(() => new MysqlLockManager(db, { ttlMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
    expect(() => new MysqlLockManager(db, { minPollMs: 10, maxPollMs: 5 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
  });

  it('fails fast as unavailable when the database cannot be reached', async () => {
    const unreachable = new MysqlDatabase(createMysqlPool('mysql://root@127.0.0.1:1/none', { connectTimeoutMs: 500 }), { acquireTimeoutMs: 500 });
    hosts.push(unreachable);
    const startedAt = Date.now();
    await expect(new MysqlLockManager(unreachable).using([nextKey()], async () => 'ran')).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    expect(Date.now() - startedAt).toBeLessThan(3000);
  });

  it('a holder whose database goes silent counts its lock lost once the TTL runs out, and another host takes it then', async () => {
    const k = nextKey();
    const target = new URL(MYSQL_TEST_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
    const url = new URL(fresh.url);
    url.hostname = '127.0.0.1';
    url.port = String(await proxy.start());
    // Renewals wait on the silent network longer than the TTL: the holder must not wait for them.
    const silent = new MysqlDatabase(createMysqlPool(url.href, { poolSize: 2 }), { queryTimeoutMs: 1000, acquireTimeoutMs: 500 });
    hosts.push(silent);
    try {
      let onHeld!: (token: number) => void;
      const held = new Promise<number>((resolve) => (onHeld = resolve));
      const holder = new MysqlLockManager(silent).using(
        [k],
        async ({ signal, fencingToken }) => {
          onHeld(fencingToken);
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          return { reason: signal.reason as { code?: string }, at: Date.now() };
        },
        { ttlMs: 300 },
      );
      const token = await held;
      await proxy.cut('blackhole');
      const cutAt = Date.now();
      const taken = await new MysqlLockManager(host()).using([k], async ({ fencingToken }) => ({ fencingToken, at: Date.now() }), {
        waitTimeoutMs: 3000,
      });
      const lost = await holder;
      expect(lost.reason).toMatchObject({ code: 'ERR_LOCK_LOST' });
      // Within the TTL and a renewal period or two of the cut, as the other host got it.
      expect(lost.at - cutAt).toBeLessThan(900);
      expect(taken.at - cutAt).toBeGreaterThanOrEqual(150);
      expect(taken.fencingToken).toBeGreaterThan(token);
    } finally {
      await proxy.close();
    }
  });

  describe('across processes', () => {
    let child: ChildProgram;
    let holder: LiveChild | undefined;

    beforeAll(async () => {
      child = await bundleChildProgram('../mysql/mysql-lock-child.ts', { external: ['mysql2', /^mysql2\//] });
    }, 60_000);
    afterEach(() => {
      holder?.process.kill('SIGKILL');
      holder = undefined;
    });
    afterAll(() => child?.remove());

    it('a holder killed with SIGKILL is taken over once its TTL runs out, and a write it had in flight is refused', async () => {
      const k = nextKey();
      holder = startChild(child.path, [fresh.url, k, '400']);
      const { held } = (await holder.nextLine()) as { held: number };
      holder.process.kill('SIGKILL');
      await holder.exited;

      const locks = new MysqlLockManager(host());
      const killedAt = Date.now();
      const mine = await locks.using(
        [k],
        async ({ fencingToken }) => {
          await fencedTestWrite(fresh.db, { key: k, token: fencingToken }, 'new holder');
          return fencingToken;
        },
        { waitTimeoutMs: 5000 },
      );
      // Taken over only once the dead holder's row ran out, not before.
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(200);
      expect(mine).toBeGreaterThan(held);
      // The write the dead holder had sent before dying arrives now, with its token.
      await expect(fencedTestWrite(fresh.db, { key: k, token: held }, 'dead holder')).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect(await readFencedTestWrite(fresh.db, k)).toEqual({ value: 'new holder', token: mine });
    });

    it('a holder paused past its TTL loses the lock to another host: its signal aborts once it runs again, and its writes are refused', async () => {
      const k = nextKey();
      holder = startChild(child.path, [fresh.url, k, '300']);
      const { held } = (await holder.nextLine()) as { held: number };

      // A pause longer than the TTL: a GC pause, a SIGSTOP, a VM migrated.
      holder.process.kill('SIGSTOP');
      const paused = holder;
      const locks = new MysqlLockManager(host());
      const mine = await locks.using(
        [k],
        async ({ fencingToken }) => {
          expect(fencingToken).toBeGreaterThan(held);
          await fencedTestWrite(fresh.db, { key: k, token: fencingToken }, 'new holder');
          paused.process.kill('SIGCONT');
          // The old holder writes before any renewal of its could tell it anything.
          paused.send('write old-holder');
          expect(await paused.nextLine()).toEqual({ write: 'ERR_LOCK_LOST' });
          return fencingToken;
        },
        { waitTimeoutMs: 5000 },
      );

      paused.send('wait-lost');
      expect(await paused.nextLine()).toEqual({ lost: 'ERR_LOCK_LOST' });
      paused.send('release');
      expect((await paused.exited).code).toBe(0);
      expect(await readFencedTestWrite(fresh.db, k)).toEqual({ value: 'new holder', token: mine });
      expect(await new MysqlFencingTokens(fresh.db).current(k)).toBe(mine);
    });
  });
});
