import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/errors.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { MysqlUserStore } from '../../src/mysql/mysql-user-store.js';
import userStoreSql from '../../src/mysql/mysql-user-store.sql';
import { describeUserStore } from '../contracts/user-store.contract.js';
import { perFileDatabase } from './per-file-database.js';
import { explain } from './explain.js';

const shared = perFileDatabase();
const TABLES = ['user_roles', 'users'];

describeUserStore('mysql', async () => {
  const { db } = await shared.emptied(TABLES);
  return { users: new MysqlUserStore(db), close: async () => undefined };
});

describe('MysqlUserStore on MariaDB', () => {
  const pools: MysqlDatabase[] = [];
  /** Another pool on the same database: another process, as far as the server can tell. */
  const otherProcess = async () => {
    const db = new MysqlDatabase(createMysqlPool((await shared.database()).url, { poolSize: 2 }));
    pools.push(db);
    return new MysqlUserStore(db);
  };
  let users: MysqlUserStore;

  beforeEach(async () => {
    users = new MysqlUserStore((await shared.emptied(TABLES)).db);
  });

  afterAll(async () => {
    await Promise.all(pools.map((db) => db.close()));
  });

  it('tells apart every character a username may hold, except letters of another case', async () => {
    // API.md: usernames are ^[A-Za-z0-9_.-]{3,32}$. The collation must fold case and nothing else
    // among these: no two punctuation marks, digits or letters may count as one.
    const lower = [...'abcdefghijklmnopqrstuvwxyz0123456789_.-'];
    for (const char of lower) await users.create({ username: `name${char}x`, passwordHash: 'h' });
    for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') {
      await expect(users.create({ username: `name${char}x`, passwordHash: 'h' }), char).rejects.toBeInstanceOf(ConflictError);
      expect((await users.findByUsername(`NAME${char}X`))?.username, char).toBe(`name${char.toLowerCase()}x`);
    }
    // The names compare as wholes: neither a prefix nor a longer name matches.
    expect(await users.findByUsername('name')).toBeNull();
    expect(await users.findByUsername('nameaxx')).toBeNull();
  });

  it('keeps the case a username was registered with', async () => {
    await users.create({ username: 'MiXeD.Case', passwordHash: 'h' });
    expect((await users.findByUsername('mixed.case'))?.username).toBe('MiXeD.Case');
  });

  it('lets one of many registrations of a name from several processes win', async () => {
    const stores = [users, await otherProcess(), await otherProcess()];
    const attempts = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => stores[i % stores.length]!.create({ username: i % 2 === 0 ? 'racer' : 'RACER', passwordHash: `h${i}` })),
    );
    expect(attempts.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(1);
    for (const attempt of attempts) if (attempt.status === 'rejected') expect(attempt.reason).toBeInstanceOf(ConflictError);
  });

  it('grants a role once when several processes grant it at once', async () => {
    const user = await users.create({ username: 'granted', passwordHash: 'h' });
    const stores = [users, await otherProcess(), await otherProcess()];
    const outcomes = await Promise.all(Array.from({ length: 9 }, (_, i) => stores[i % stores.length]!.grantRole(user.id, 'admin')));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    expect(await users.rolesOf(user.id)).toEqual(['admin']);
  });

  it('finds a user by name through the unique key, and roles through the primary key', async () => {
    const { db } = await shared.database();
    for (let i = 0; i < 50; i += 1) await users.create({ username: `someone${i}`, passwordHash: 'h' });
    await db.run('ANALYZE TABLE users, user_roles');
    expect(await explain(db, userStoreSql, 'byUsername', { username: 'someone7' })).toMatchObject([{ table: 'users', key: 'users_username' }]);
    expect(await explain(db, userStoreSql, 'rolesOf', { userId: 'x' })).toMatchObject([{ table: 'user_roles', key: 'PRIMARY' }]);
  });
});
