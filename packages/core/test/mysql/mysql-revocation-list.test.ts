import { createConnection, type ResultSetHeader } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, UnavailableError } from '../../src/errors.js';
import { MysqlDatabase, type MysqlCallOptions } from '../../src/mysql/mysql-database.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { MysqlRevocationList, type MysqlRevocationListOptions, type MysqlRevocationStore } from '../../src/mysql/mysql-revocation-list.js';
import revocationListSql from '../../src/mysql/mysql-revocation-list.sql';
import type { MysqlParams, MysqlStatement } from '../../src/mysql/mysql-statements.js';
import { describeRevocationList } from '../contracts/revocation-list.contract.js';
import { explain } from './explain.js';
import { freshMysqlDatabase } from './mysql-test-server.js';
import { perFileDatabase } from './per-file-database.js';

const POLL_MS = 50;
const HOUR = 3_600_000;
const inAnHour = () => new Date(Date.now() + HOUR);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const shared = perFileDatabase();

describeRevocationList('mysql', async () => {
  const { url } = await shared.emptied(['revoked_ids']);
  const pools: MysqlDatabase[] = [];
  const lists: MysqlRevocationList[] = [];
  return {
    // Each on a pool of its own, as each process has.
    create: () => {
      const db = new MysqlDatabase(createMysqlPool(url, { poolSize: 2 }));
      const list = new MysqlRevocationList(db, { pollIntervalMs: POLL_MS });
      pools.push(db);
      lists.push(list);
      return list;
    },
    // One poll interval, and room for a timer that fires late on a busy machine.
    propagationMs: POLL_MS + 250,
    async close() {
      await Promise.all(lists.map((list) => list.close()));
      await Promise.all(pools.map((db) => db.close()));
    },
  };
});

describe('MysqlRevocationList on MariaDB', () => {
  let db: MysqlDatabase;
  let url: string;
  const pools: MysqlDatabase[] = [];
  const lists: MysqlRevocationList[] = [];

  /** A list on a pool of its own: another process. */
  function list(options: MysqlRevocationListOptions = {}, store?: (db: MysqlDatabase) => MysqlRevocationStore): MysqlRevocationList {
    const pool = new MysqlDatabase(createMysqlPool(url, { poolSize: 2 }));
    pools.push(pool);
    const created = new MysqlRevocationList(store ? store(pool) : pool, { pollIntervalMs: POLL_MS, ...options });
    lists.push(created);
    return created;
  }

  async function started(options: MysqlRevocationListOptions = {}): Promise<MysqlRevocationList> {
    const created = list(options);
    await created.start();
    return created;
  }

  const rows = () => db.all<{ seq: number; kind: string; id: string; expires_at: number }>('SELECT seq, kind, id, expires_at FROM revoked_ids ORDER BY seq');

  beforeEach(async () => {
    ({ db, url } = await shared.emptied(['revoked_ids']));
  });

  afterEach(async () => {
    await Promise.all(lists.splice(0).map((each) => each.close()));
    await Promise.all(pools.splice(0).map((each) => each.close()));
  });

  it('sees a revoke that commits after one with a higher seq was read', async () => {
    // A window well above the hold below; the hasty list's window is far shorter than the hold.
    const patient = await started({ commitWindowMs: 2_000 });
    const hasty = await started({ commitWindowMs: 1 });
    const writer = list();
    const slow = await createConnection({ uri: url });
    try {
      // A revoke whose transaction stays open after its insert took a seq (a writer stalled between INSERT and COMMIT).
      await slow.query('START TRANSACTION');
      const [held] = await slow.query<ResultSetHeader>(
        "INSERT INTO revoked_ids (kind, id, expires_at, revoked_at) VALUES ('session', 's-held', ?, CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED))",
        [Date.now() + HOUR],
      );
      // Another revoke takes the next seq and commits first; both lists poll and see it.
      await writer.revokeSession('s-later', inAnHour());
      for (const each of [patient, hasty]) {
        await vi.waitFor(() => expect(each.isRevoked({ sid: 's-later', jti: 'j' })).toBe(true), { timeout: 2000, interval: 10 });
      }
      const [later] = await rows().then((all) => all.filter((row) => row.id === 's-later'));
      expect(later!.seq).toBeGreaterThan(held.insertId);
      // Polls go on past the later row while the first is still uncommitted.
      await sleep(POLL_MS * 4);
      await slow.query('COMMIT');
      await vi.waitFor(() => expect(patient.isRevoked({ sid: 's-held', jti: 'j' })).toBe(true), { timeout: 2000, interval: 10 });
      // The stated bound: a list whose window is shorter than the hold has moved its cursor on
      // and never reads the row (a cursor on seq alone behaves so); a fresh load has it.
      await sleep(POLL_MS * 4);
      expect(hasty.isRevoked({ sid: 's-held', jti: 'j' })).toBe(false);
      expect((await started()).isRevoked({ sid: 's-held', jti: 'j' })).toBe(true);
    } finally {
      await slow.end();
    }
  });

  it('reads a row at every poll only until it is older than the window, then never again', async () => {
    const polled: number[] = [];
    // Counts the rows each poll returns.
    const counting = (pool: MysqlDatabase): MysqlRevocationStore => ({
      async all<Row extends object>(statement: MysqlStatement | string, params?: MysqlParams, options?: MysqlCallOptions): Promise<Row[]> {
        const result = await pool.all<Row>(statement, params, options);
        if (typeof statement !== 'string' && statement.name === 'entriesAfter') polled.push(result.length);
        return result;
      },
      get: (statement, params, options) => pool.get(statement, params, options),
      run: (statement, params, options) => pool.run(statement, params, options),
      transaction: (work, options) => pool.transaction(work, options),
    });
    const revocations = list({ commitWindowMs: 200 }, counting);
    await revocations.start();
    await list().revokeSession('s-1', inAnHour());
    await list().revokeToken('j-2', inAnHour());
    await vi.waitFor(() => expect(revocations.isRevoked({ sid: 's-1', jti: 'j-2' })).toBe(true), { timeout: 2000, interval: 10 });
    await sleep(200 + POLL_MS * 6);
    // Read at several polls while within the window, then no more.
    expect(polled.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(2);
    expect(polled.slice(-3)).toEqual([0, 0, 0]);
  });

  it('keeps the latest expiry of an id revoked at once by several processes with different expiries', async () => {
    const lists = [await started(), await started(), await started()];
    const expiries = Array.from({ length: 9 }, (_, i) => Date.now() + HOUR + i * 1000);
    await Promise.all(expiries.map((expiry, i) => lists[i % lists.length]!.revokeSession('s-contested', new Date(expiry))));
    const latest = Math.max(...expiries);
    expect((await rows()).map((row) => [row.id, row.expires_at])).toEqual([['s-contested', latest]]);
    // Every process ends up with it, and a later shorter revoke changes nothing.
    await lists[0]!.revokeSession('s-contested', new Date(Date.now() + 1000));
    expect((await rows()).map((row) => row.expires_at)).toEqual([latest]);
  });

  it('fails closed once its polls have failed for longer than maxStalenessMs, and recovers with the next good poll', async () => {
    const errors: unknown[] = [];
    const revocations = await started({ maxStalenessMs: 300, onError: (error) => errors.push(error) });
    // Taken before the rename: staleness counts from the start of the last good poll, which
    // may begin while a slow RENAME is still on its way.
    const brokenAt = Date.now();
    await db.run('RENAME TABLE revoked_ids TO revoked_ids_away');
    try {
      expect(revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toBe(false);
      await vi.waitFor(() => expect(() => revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toThrow(UnavailableError), {
        timeout: 3000,
        interval: 10,
      });
      const failedAfter = Date.now() - brokenAt;
      expect(failedAfter).toBeGreaterThanOrEqual(300 - POLL_MS);
      expect(failedAfter).toBeLessThan(300 + POLL_MS + 500);
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await db.run('RENAME TABLE revoked_ids_away TO revoked_ids');
    }
    await list().revokeSession('s-1', inAnHour());
    await vi.waitFor(() => expect(revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toBe(true), { timeout: 2000, interval: 10 });
  });

  it('fails closed while the table cannot be read at start, and serves once a poll can', async () => {
    await db.run('RENAME TABLE revoked_ids TO revoked_ids_away');
    let revocations: MysqlRevocationList;
    try {
      revocations = await started();
      expect(() => revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toThrow(UnavailableError);
    } finally {
      await db.run('RENAME TABLE revoked_ids_away TO revoked_ids');
    }
    await list().revokeSession('s-1', inAnHour());
    await vi.waitFor(() => expect(revocations.isRevoked({ sid: 's-1', jti: 'j-1' })).toBe(true), { timeout: 2000, interval: 10 });
    expect(revocations.isRevoked({ sid: 's-2', jti: 'j-2' })).toBe(false);
  });

  it('drops expired entries from memory on the poll, and expired rows on the purge', async () => {
    const revocations = await started({ purgeIntervalMs: POLL_MS });
    await revocations.revokeSession('s-brief', new Date(Date.now() + 100));
    await revocations.revokeToken('j-brief', new Date(Date.now() + 100));
    await revocations.revokeSession('s-long', inAnHour());
    expect(revocations.size).toBe(3);
    await vi.waitFor(
      async () => {
        expect(revocations.size).toBe(1);
        expect((await rows()).map((row) => row.id)).toEqual(['s-long']);
      },
      { timeout: 2000, interval: 20 },
    );
    expect(revocations.isRevoked({ sid: 's-long', jti: 'j' })).toBe(true);
  });

  it('purges on demand, in batches, only what has expired', async () => {
    const now = Date.now();
    const expired = Array.from({ length: 2500 }, (_, i) => ['token', `old-${i}`, now - 1, now]);
    await db.run('INSERT INTO revoked_ids (kind, id, expires_at, revoked_at) VALUES @expired', { expired });
    const writer = list({ purgeIntervalMs: 0 });
    await writer.revokeSession('s-long', inAnHour());
    expect(await writer.purgeExpired()).toBe(2500);
    expect((await rows()).map((row) => row.id)).toEqual(['s-long']);
  });

  it('refuses settings that cannot work, with ERR_CONFIG, and does no I/O in its constructor', () => {
    const untouched = new Proxy({} as MysqlRevocationStore, {
      get: () => {
        throw new Error('touched the database');
      },
    });
    for (const options of [{ pollIntervalMs: 0 }, { pollIntervalMs: 1000, maxStalenessMs: 1000 }, { purgeIntervalMs: -1 }, { commitWindowMs: 1.5 }]) {
      expect(() => new MysqlRevocationList(untouched, options), JSON.stringify(options)).toThrow(ConfigError);
    }
    expect(() => new MysqlRevocationList(untouched)).not.toThrow();
  });

  it('polls by a range of the primary key, and finds ids and expired rows by their indexes', async () => {
    // A database of its own: rows other tests deleted linger in the indexes' estimates.
    const fresh = await freshMysqlDatabase();
    try {
      const now = Date.now();
      // One row in twenty live, the rest expired.
      const entries = Array.from({ length: 400 }, (_, i) => ['token', `t-${i}`, i % 20 === 0 ? now + HOUR : now - HOUR, now]);
      await fresh.db.run('INSERT INTO revoked_ids (kind, id, expires_at, revoked_at) VALUES @entries', { entries });
      await fresh.db.run('ANALYZE TABLE revoked_ids');
      const plan = (name: string, params: Record<string, unknown>) => explain(fresh.db, revocationListSql, name, params);
      expect(await plan('entriesAfter', { after: 390 })).toMatchObject([{ key: 'PRIMARY', type: 'range' }]);
      expect(await plan('settledCursor', { windowMs: 1000 })).toMatchObject([{ key: 'PRIMARY' }]);
      expect(await plan('lockEntry', { kind: 'token', id: 't-7' })).toMatchObject([{ key: 'revoked_ids_kind_id' }]);
      expect(await plan('liveEntries', { now })).toMatchObject([{ key: 'revoked_ids_expires', type: 'range' }]);
      expect(await plan('purgeExpired', { now: now - 2 * HOUR, limit: 1000 })).toMatchObject([{ key: 'revoked_ids_expires', type: 'range' }]);
    } finally {
      await fresh.drop();
    }
  });
});
