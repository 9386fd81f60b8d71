import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { MysqlTokenStore } from '../../src/mysql/mysql-token-store.js';
import tokenStoreSql from '../../src/mysql/mysql-token-store.sql';
import { describeTokenStorePurge } from '../contracts/token-store-purge.contract.js';
import { describeTokenStore } from '../contracts/token-store.contract.js';
import { explain } from './explain.js';
import { freshMysqlDatabase } from './mysql-test-server.js';
import { perFileDatabase } from './per-file-database.js';

const shared = perFileDatabase();
const TABLES = ['refresh_tokens', 'token_families'];
const HOUR = 3_600_000;

describeTokenStore('mysql', async () => {
  const { db } = await shared.emptied(TABLES);
  return { tokens: new MysqlTokenStore(db), close: async () => undefined };
});

describeTokenStorePurge('mysql', async () => {
  const { db } = await shared.emptied(TABLES);
  return { tokens: new MysqlTokenStore(db), close: async () => undefined };
});

describe('MysqlTokenStore on MariaDB', () => {
  const now = new Date(Date.UTC(2030, 0, 1));
  let counter = 0;
  const hash = () => `${(++counter).toString(16).padStart(8, '0')}${'ef'.repeat(28)}`;
  const pools: MysqlDatabase[] = [];
  let tokens: MysqlTokenStore;
  /** Stores on pools of their own: other processes, as far as the server can tell. */
  let processes: MysqlTokenStore[];

  beforeEach(async () => {
    const { db, url } = await shared.emptied(TABLES);
    tokens = new MysqlTokenStore(db);
    if (pools.length === 0) for (let i = 0; i < 4; i += 1) pools.push(new MysqlDatabase(createMysqlPool(url, { poolSize: 3 })));
    processes = [tokens, ...pools.map((pool) => new MysqlTokenStore(pool))];
  });

  afterAll(async () => {
    await Promise.all(pools.map((db) => db.close()));
  });

  it('lets exactly one of ten rotations of one token, from five processes at once, win; the rest revoke the family', async () => {
    const first = hash();
    await tokens.createFamily({ id: 'fam', userId: 'u', expiresAt: new Date(now.getTime() + HOUR) }, first);
    const nexts = Array.from({ length: 10 }, hash);
    const outcomes = await Promise.all(nexts.map((next, i) => processes[i % processes.length]!.rotate(first, next, now)));
    expect(outcomes.filter((outcome) => outcome.kind === 'rotated')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.kind === 'reused')).toHaveLength(9);
    // The winner's next token is dead too, and no loser's next token was stored.
    const winner = nexts[outcomes.findIndex((outcome) => outcome.kind === 'rotated')]!;
    expect(await tokens.rotate(winner, hash(), now)).toEqual({ kind: 'invalid' });
    for (const next of nexts) if (next !== winner) expect(await tokens.findFamilyByToken(next)).toBeNull();
  });

  it('rotates many families at once from several processes without one holding up another', async () => {
    const firsts = Array.from({ length: 20 }, hash);
    for (const [i, first] of firsts.entries()) {
      await tokens.createFamily({ id: `fam-${i}`, userId: `u-${i % 3}`, expiresAt: new Date(now.getTime() + HOUR) }, first);
    }
    const outcomes = await Promise.all(firsts.map((first, i) => processes[i % processes.length]!.rotate(first, hash(), now)));
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(firsts.map(() => 'rotated'));
  });

  it('reports each family once when several processes revoke all of a user’s at once', async () => {
    for (let i = 0; i < 6; i += 1) await tokens.createFamily({ id: `fam-${i}`, userId: 'u', expiresAt: new Date(now.getTime() + HOUR) }, hash());
    const revoked = await Promise.all(processes.map((store) => store.revokeAllForUser('u')));
    expect(revoked.flat().map((family) => family.id).sort()).toEqual(['fam-0', 'fam-1', 'fam-2', 'fam-3', 'fam-4', 'fam-5']);
  });

  it('reads tokens, families and expiries through their keys', async () => {
    // A database of its own: the rows the other tests deleted linger in the indexes until
    // InnoDB's purge runs, and the optimizer's estimates count them.
    const fresh = await freshMysqlDatabase();
    try {
      const store = new MysqlTokenStore(fresh.db);
      const firsts = Array.from({ length: 200 }, hash);
      for (const [i, first] of firsts.entries()) {
        await store.createFamily({ id: `fam-${i}`, userId: `u-${i}`, expiresAt: new Date(now.getTime() + i * HOUR) }, first);
      }
      await fresh.db.run('ANALYZE TABLE token_families, refresh_tokens');
      // A token that exists: for one that does not, the plan is "no matching row in const table".
      const byToken = await explain(fresh.db, tokenStoreSql, 'lockTokenWithFamily', { tokenHash: firsts[7] });
      expect(byToken.map((row) => [row.table, row.key])).toEqual([
        ['t', 'PRIMARY'],
        ['f', 'PRIMARY'],
      ]);
      expect(await explain(fresh.db, tokenStoreSql, 'lockLiveFamiliesOfUser', { userId: 'u-7' })).toMatchObject([{ key: 'token_families_user' }]);
      expect(await explain(fresh.db, tokenStoreSql, 'purgeExpired', { before: now.getTime() + 3 * HOUR, limit: 500 })).toMatchObject([
        { table: 'token_families', key: 'token_families_expires', type: 'range' },
      ]);
    } finally {
      await fresh.drop();
    }
  });
});
