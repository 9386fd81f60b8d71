import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tokenStoreSql from '../../src/auth/sqlite-token-store.sql';
import { namedStatements } from '../../src/db/named-statements.js';
import { SqliteTaskLeases } from '../../src/housekeeping/sqlite-task-leases.js';
import taskLeasesSql from '../../src/housekeeping/sqlite-task-leases.sql';
import { describeTaskLeases } from '../contracts/task-leases.contract.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

describeTaskLeases('sqlite', async () => {
  const temp = openTempSqlite();
  return { leases: new SqliteTaskLeases(temp.db), connect: () => new SqliteTaskLeases(temp.connect()), close: temp.close };
});

describe('the schema of task leases', () => {
  let temp: TempSqlite;

  beforeAll(() => {
    temp = openTempSqlite();
  });

  afterAll(async () => {
    await temp.close();
  });

  it('prepares every statement of SqliteTaskLeases', () => {
    for (const [name, sql] of Object.entries(namedStatements(taskLeasesSql))) {
      expect(() => temp.db.prepare(sql), name).not.toThrow();
    }
  });

  it('purges expired token families through their expiry index, never the whole table', () => {
    const sql = namedStatements(tokenStoreSql).purgeExpired!;
    const plan = (temp.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ before: 0, limit: 1 }) as { detail: string }[]).map((row) => row.detail).join('\n');
    expect(plan).toMatch(/SEARCH token_families USING (COVERING )?INDEX token_families_expires/);
  });
});
