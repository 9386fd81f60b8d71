import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/errors.js';
import type { JobLease } from '../../src/jobs/job-queue.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { MysqlFencingTokens } from '../../src/mysql/mysql-fencing-tokens.js';
import { MysqlJobQueue } from '../../src/mysql/mysql-job-queue.js';
import { MysqlLibraryStore } from '../../src/mysql/mysql-library-store.js';
import libraryStoreSql from '../../src/mysql/mysql-library-store.sql';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { describeLibraryStore } from '../contracts/library-store.contract.js';
import { describeQuotaReservations } from '../contracts/quota-reservations.contract.js';
import { explain } from './explain.js';
import { perFileDatabase } from './per-file-database.js';

const shared = perFileDatabase();
const TABLES = ['library_items', 'user_usage', 'jobs', 'user_job_counts', 'fencing_tokens'];
const MB = 1_000_000;

describeLibraryStore('mysql', async () => {
  const { db } = await shared.emptied(TABLES);
  return { library: new MysqlLibraryStore(db), close: async () => undefined };
});

describeQuotaReservations('mysql', async () => {
  const { db } = await shared.emptied(TABLES);
  return { queue: new MysqlJobQueue(db), library: new MysqlLibraryStore(db), fencing: new MysqlFencingTokens(db), close: async () => undefined };
});

describe('MysqlLibraryStore on MariaDB', () => {
  const pools: MysqlDatabase[] = [];
  let db: MysqlDatabase;
  let queue: MysqlJobQueue;
  let library: MysqlLibraryStore;
  /** Another pool on the same database: another process, as far as the server can tell. */
  const otherProcess = async () => {
    const other = new MysqlDatabase(createMysqlPool((await shared.database()).url, { poolSize: 1 }));
    pools.push(other);
    return { db: other, queue: new MysqlJobQueue(other), library: new MysqlLibraryStore(other) };
  };
  const running = async (userId: string, trackId: string): Promise<JobLease> => {
    await queue.enqueue({ userId, trackId, maxAttempts: 3, maxActive: 100 });
    return (await queue.claim(`w-${trackId}`, 60_000))!;
  };

  beforeEach(async () => {
    db = (await shared.emptied(TABLES)).db;
    queue = new MysqlJobQueue(db);
    library = new MysqlLibraryStore(db);
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
  });

  it('keeps usage exact while ten connections add for one quota', async () => {
    const others = await Promise.all(Array.from({ length: 10 }, () => otherProcess()));
    const adds = await Promise.allSettled(others.map((other, i) => other.library.add({ userId: 'u1', trackId: `t${i}`, sizeBytes: 3 * MB }, 10 * MB)));
    expect(adds.filter((add) => add.status === 'fulfilled')).toHaveLength(3);
    for (const add of adds) if (add.status === 'rejected') expect(add.reason).toBeInstanceOf(QuotaExceededError);
    expect(await library.usage('u1')).toEqual({ committedBytes: 9 * MB, reservedBytes: 0 });
    expect(await library.repairUsage()).toBe(0);
  });

  it('lets exactly the downloads that fit reserve and commit when six connections race for one quota', async () => {
    await library.add({ userId: 'u1', trackId: 'held', sizeBytes: MB }, 10 * MB);
    const leases: JobLease[] = [];
    for (let i = 0; i < 6; i += 1) leases.push(await running('u1', `t${i}`));
    const others = await Promise.all(leases.map(() => otherProcess()));
    const outcomes = await Promise.all(
      leases.map(async (lease, i) => {
        const { queue: theirQueue, library: theirLibrary } = others[i]!;
        const reserved = await theirQueue.reserve(lease.job.id, lease.token, 3 * MB, 10 * MB);
        if (reserved.kind !== 'reserved') return reserved.kind;
        const holder = { jobId: lease.job.id, token: lease.token };
        return theirLibrary.add({ userId: 'u1', trackId: lease.job.trackId, sizeBytes: 3 * MB }, 10 * MB, undefined, holder);
      }),
    );
    expect(outcomes.filter((outcome) => outcome === 'added')).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome === 'over-quota')).toHaveLength(3);
    expect(await library.usage('u1')).toEqual({ committedBytes: 10 * MB, reservedBytes: 0 });
    expect(await library.repairUsage()).toBe(0);
  });

  it('makes an acquisition that would raise the token wait for an add that checked it, so the add lands first', async () => {
    const fencing = new MysqlFencingTokens(db);
    const fence = { key: 'track:t1', token: await fencing.issue(['track:t1']) };
    const other = await otherProcess();
    const order: string[] = [];
    const pause = () => new Promise((resolve) => setTimeout(resolve, 200));
    // Another transaction's uncommitted row for the item keeps the add's insert waiting, after
    // its fence check, until that transaction rolls back.
    const blocker = (await otherProcess()).db;
    const settled = await blocker.withConnection(async (session) => {
      await session.run('START TRANSACTION');
      await session.run("INSERT INTO library_items (user_id, track_id, size_bytes, added_at) VALUES ('u1', 't1', 5, 0)");
      const add = other.library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 }, 100, fence).then((outcome) => {
        order.push('added');
        return outcome;
      });
      await pause();
      const raise = fencing.issue(['track:t1']).then((token) => {
        order.push('raised');
        return token;
      });
      await pause();
      const waited = [...order];
      await session.run('ROLLBACK');
      return { add, raise, waited };
    });
    expect(settled.waited).toEqual([]);
    expect(await settled.add).toBe('added');
    expect(await settled.raise).toBe(fence.token + 1);
    expect(order).toEqual(['added', 'raised']);
  });

  it('refuses a stale fence or one of a key never locked, writing nothing', async () => {
    const fencing = new MysqlFencingTokens(db);
    const stale = { key: 'track:t1', token: await fencing.issue(['track:t1']) };
    await fencing.issue(['track:t1']);
    await expect(library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 }, 100, stale)).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
    await expect(library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 }, 100, { key: 'track:never', token: 1 })).rejects.toMatchObject({
      code: 'ERR_LOCK_LOST',
    });
    expect(await library.get('u1', 't1')).toBeNull();
    expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 0 });
  });

  it('repairs usage rows that drifted from the items and reservations they count', async () => {
    await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, 10 * MB);
    await library.add({ userId: 'u2', trackId: 't1', sizeBytes: 3 * MB }, 10 * MB);
    const lease = await running('u1', 't2');
    await queue.reserve(lease.job.id, lease.token, 2 * MB, 10 * MB);
    const done = await running('u2', 't3');
    await queue.complete(done.job.id, done.token);
    expect(await library.repairUsage()).toBe(0);

    // Faults: rows changed by hand, a usage row lost, a finished job left holding bytes.
    await db.run("UPDATE user_usage SET committed_bytes = 9000000, reserved_bytes = 0 WHERE user_id = 'u1'");
    await db.run("DELETE FROM user_usage WHERE user_id = 'u2'");
    await db.run("INSERT INTO library_items (user_id, track_id, size_bytes, added_at) VALUES ('u3', 't9', 1000000, 0)");
    await db.run('UPDATE jobs SET reserved_bytes = 5000000 WHERE id = @jobId', { jobId: done.job.id });
    expect(await library.repairUsage()).toBe(4);
    expect(await library.usage('u1')).toEqual({ committedBytes: 3 * MB, reservedBytes: 2 * MB });
    expect(await library.usage('u2')).toEqual({ committedBytes: 3 * MB, reservedBytes: 0 });
    expect(await library.usage('u3')).toEqual({ committedBytes: MB, reservedBytes: 0 });
    expect(await library.repairUsage()).toBe(0);
  });

  it('reads items, pages and holders from their indexes', async () => {
    for (let i = 0; i < 60; i += 1) await library.add({ userId: `u${i % 5}`, trackId: `t${i % 12}`, sizeBytes: 1 }, 1000);
    await db.run('ANALYZE TABLE library_items');
    expect(await explain(db, libraryStoreSql, 'item', { userId: 'u1', trackId: 't1' })).toMatchObject([{ key: 'PRIMARY' }]);
    expect(await explain(db, libraryStoreSql, 'holderCount', { trackId: 't1' })).toMatchObject([{ key: 'library_items_track' }]);
    const page = await explain(db, libraryStoreSql, 'pageForUser', { userId: 'u1', limit: 10, offset: 0 });
    expect(page).toMatchObject([{ table: 'library_items', type: 'ref' }]);
  });
});
