import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalLockManager } from '../../src/locks/local-lock-manager.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { holdsFence, MysqlFencingTokens } from '../../src/mysql/mysql-fencing-tokens.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { describeLockManager } from '../contracts/lock-manager.contract.js';
import { perFileDatabase } from './per-file-database.js';

const shared = perFileDatabase();
const processes: MysqlDatabase[] = [];

/** A pool of its own: another process, as far as the server can tell. */
async function otherProcess(poolSize = 2): Promise<MysqlDatabase> {
  const db = new MysqlDatabase(createMysqlPool((await shared.database()).url, { poolSize }));
  processes.push(db);
  return db;
}

afterAll(async () => {
  await Promise.all(processes.map((db) => db.close()));
});

// FencingTokens has no contract of its own: the lock manager contract checks the tokens a lock
// manager hands out against its fencing authority, here this table. Keys are unique per test.
describeLockManager(
  'local, fenced by MySQL',
  async () => {
    const fencing = new MysqlFencingTokens((await shared.database()).db);
    return { subject: new LocalLockManager({ fencing }), fencing, close: async () => undefined };
  },
  { canLoseLocks: false },
);

describe('MysqlFencingTokens on MariaDB', () => {
  let fencing: MysqlFencingTokens;
  let others: MysqlFencingTokens[];

  beforeAll(async () => {
    fencing = new MysqlFencingTokens((await shared.database()).db);
    others = await Promise.all(Array.from({ length: 4 }, async () => new MysqlFencingTokens(await otherProcess())));
  });

  const all = () => [fencing, ...others];

  it('issues 20 distinct, consecutive tokens for 20 parallel issues of one key, new or not', async () => {
    for (const key of ['parallel:new', 'parallel:new']) {
      const before = (await fencing.current(key)) ?? 0;
      const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => all()[i % all().length]!.issue([key])));
      expect([...tokens].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => before + i + 1));
      expect(await fencing.current(key)).toBe(before + 20);
    }
  });

  it('keeps every key’s tokens distinct and rising when sets of keys overlap, from several processes', async () => {
    const keys = ['set:a', 'set:b', 'set:c', 'set:d'];
    const sets = Array.from({ length: 40 }, (_, i) => keys.filter((_, k) => (i + 1) & (1 << k)));
    const issued = await Promise.all(sets.map(async (set, i) => ({ set, token: await all()[i % all().length]!.issue(set) })));
    for (const key of keys) {
      const tokens = issued.filter(({ set }) => set.includes(key)).map(({ token }) => token);
      expect(new Set(tokens).size, key).toBe(tokens.length);
      expect(await fencing.current(key), key).toBe(Math.max(...tokens));
    }
    // One token per acquisition, above every key's before.
    const next = await fencing.issue(['set:a', 'set:d', 'set:new', 'set:a']);
    expect(next).toBe(Math.max(...issued.map(({ token }) => token)) + 1);
    for (const key of ['set:a', 'set:d', 'set:new']) expect(await fencing.current(key)).toBe(next);
  });

  it('holds off a new token of a key while a guarded write that checked its fence has not committed', async () => {
    const { db } = await shared.database();
    const fence = { key: 'guarded', token: await fencing.issue(['guarded']) };
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let checked!: () => void;
    const wasChecked = new Promise<void>((resolve) => {
      checked = resolve;
    });
    const write = db.transaction(async (tx) => {
      const holds = await holdsFence(tx, fence);
      checked();
      await released;
      return holds;
    });
    await wasChecked;
    let issued: number | undefined;
    const next = others[0]!.issue(['guarded']).then((token) => (issued = token));
    await sleep(150);
    expect(issued).toBeUndefined();
    release();
    expect(await write).toBe(true);
    expect(await next).toBe(fence.token + 1);
    // The old fence no longer holds; the new one does.
    expect(await db.transaction((tx) => holdsFence(tx, fence))).toBe(false);
    expect(await db.transaction((tx) => holdsFence(tx, { key: 'guarded', token: fence.token + 1 }))).toBe(true);
    expect(await db.transaction((tx) => holdsFence(tx, { key: 'never-locked', token: 1 }))).toBe(false);
  });

  it('needs holdsFence: a fence checked by a subquery inside the write takes no lock at READ COMMITTED', async () => {
    const { db } = await shared.database();
    const fence = { key: 'subquery', token: await fencing.issue(['subquery']) };
    // A row for the write to guard (any table would do).
    await db.run("INSERT INTO task_leases (name, owner, expires_at) VALUES ('subquery', 'nobody', 0)");
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let wrote!: () => void;
    const written = new Promise<void>((resolve) => {
      wrote = resolve;
    });
    const write = db.transaction(async (tx) => {
      // The shape of a guarded write that checks its fence in its own WHERE.
      const { affectedRows } = await tx.run(
        "UPDATE task_leases SET owner = 'guarded' WHERE name = @key AND EXISTS (SELECT 1 FROM fencing_tokens WHERE `key` = @key AND token = @token)",
        { key: fence.key, token: fence.token },
      );
      wrote();
      await released;
      return affectedRows;
    });
    await written;
    // A newer token is issued at once, while the write that checked the old one is uncommitted.
    expect(await others[0]!.issue(['subquery'])).toBe(fence.token + 1);
    release();
    // The write went through on the token it had read, although a newer one was out.
    expect(await write).toBe(1);
  });

  it('knows no token for a key never locked, and compares keys exactly', async () => {
    await fencing.issue(['Case:Key']);
    expect(await fencing.current('never')).toBeNull();
    expect(await fencing.current('case:key')).toBeNull();
    expect(await fencing.current('Case:Key')).toBe(1);
  });
});
