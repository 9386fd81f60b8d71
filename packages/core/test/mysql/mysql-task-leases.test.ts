import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { MysqlTaskLeases } from '../../src/mysql/mysql-task-leases.js';
import taskLeasesSql from '../../src/mysql/mysql-task-leases.sql';
import { describeTaskLeases } from '../contracts/task-leases.contract.js';
import { explain } from './explain.js';
import { perFileDatabase } from './per-file-database.js';

const shared = perFileDatabase();
/** Pools of one connection each: as many processes, as far as the server can tell. */
const processes: MysqlDatabase[] = [];

async function otherProcess(): Promise<MysqlDatabase> {
  const db = new MysqlDatabase(createMysqlPool((await shared.database()).url, { poolSize: 1 }));
  processes.push(db);
  return db;
}

afterAll(async () => {
  await Promise.all(processes.map((db) => db.close()));
});

describeTaskLeases('mysql', async () => {
  // Names are unique per test, so the table need not be emptied.
  const { db } = await shared.database();
  const other = await otherProcess();
  return { leases: new MysqlTaskLeases(db), connect: () => new MysqlTaskLeases(other), close: async () => undefined };
});

describe('MysqlTaskLeases on MariaDB', () => {
  let leases: MysqlTaskLeases;
  let contenders: MysqlTaskLeases[];

  beforeAll(async () => {
    leases = new MysqlTaskLeases((await shared.database()).db);
    contenders = await Promise.all(Array.from({ length: 5 }, async () => new MysqlTaskLeases(await otherProcess())));
  });

  it('grants a lease to exactly one of five connections trying at once, round after round', async () => {
    for (let round = 0; round < 20; round += 1) {
      const task = `race-${round}`;
      // Every other round the lease exists and has run out, so the race is over a takeover.
      if (round % 2 === 1) {
        expect((await leases.tryAcquire(task, 'before', 1)).acquired).toBe(true);
        await sleep(2);
      }
      const attempts = await Promise.all(contenders.map((contender, i) => contender.tryAcquire(task, `owner-${i}`, 10_000)));
      const winners = attempts.flatMap((attempt, i) => (attempt.acquired ? [i] : []));
      expect(winners, `round ${round}`).toHaveLength(1);
      for (const attempt of attempts) if (!attempt.acquired) expect(attempt.retryInMs).toBeGreaterThan(9_000);
      // The winner is the holder the table names.
      expect(await contenders[winners[0]!]!.renew(task, `owner-${winners[0]}`, 10_000)).toBe(true);
    }
  });

  it('times leases by the database’s clock, whatever this process’s clock says', async () => {
    const { db } = await shared.database();
    expect((await leases.tryAcquire('clock', 'a', 300)).acquired).toBe(true);
    const row = await db.get<{ expires_at: number; db_now: number }>(
      'SELECT expires_at, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS db_now FROM task_leases WHERE name = @name',
      { name: 'clock' },
    );
    expect(row!.expires_at - row!.db_now).toBeGreaterThan(200);
    expect(row!.expires_at - row!.db_now).toBeLessThanOrEqual(300);
    // This process's clock jumps a day ahead: the lease is still held, by the database's clock.
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 86_400_000);
    try {
      expect((await contenders[0]!.tryAcquire('clock', 'b', 10_000)).acquired).toBe(false);
    } finally {
      vi.restoreAllMocks();
    }
    await sleep(320);
    expect((await contenders[0]!.tryAcquire('clock', 'b', 10_000)).acquired).toBe(true);
  });

  it('keeps a lease whose owner name differs only in case apart from it (owners compare exactly)', async () => {
    expect((await leases.tryAcquire('case', 'Owner', 10_000)).acquired).toBe(true);
    expect(await leases.renew('case', 'owner', 10_000)).toBe(false);
    expect(await leases.release('case', 'OWNER')).toBe(false);
    expect(await leases.release('case', 'Owner')).toBe(true);
  });

  it('finds a lease by its primary key', async () => {
    const { db } = await shared.database();
    for (let i = 0; i < 50; i += 1) await leases.tryAcquire(`plan-${i}`, 'a', 10_000);
    await db.run('ANALYZE TABLE task_leases');
    expect(await explain(db, taskLeasesSql, 'extend', { name: 'plan-7', owner: 'a', ms: 1 })).toMatchObject([{ key: 'PRIMARY' }]);
    expect(await explain(db, taskLeasesSql, 'drop', { name: 'plan-7', owner: 'a' })).toMatchObject([{ key: 'PRIMARY' }]);
  });
});
