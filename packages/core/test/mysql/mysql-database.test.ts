import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MixtapeError, UnavailableError } from '../../src/errors.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { isMysqlError } from '../../src/mysql/mysql-errors.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { mysqlStatements } from '../../src/mysql/mysql-statements.js';
import { freshMysqlDatabase, type FreshMysqlDatabase } from './mysql-test-server.js';

const SQL = mysqlStatements(
  `-- test statements
-- name: insertTrack
INSERT INTO tracks (id, title, artists, album, duration_ms, updated_at) VALUES (@id, @title, '[]', 'A', @durationMs, @now);
-- name: trackById
SELECT id, title, duration_ms, updated_at FROM tracks WHERE id = @id;
-- name: retitle
UPDATE tracks SET title = @title WHERE id IN (@ids);
`,
  ['insertTrack', 'trackById', 'retitle'],
);

/** Rejects with what `promise` throws, and how long it took. */
async function failure(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  throw new Error('expected a failure');
}

describe('MysqlDatabase', () => {
  let database: FreshMysqlDatabase;
  const others: MysqlDatabase[] = [];
  /** Another MysqlDatabase on the same database, with its own pool and settings. */
  const open = (pool: Parameters<typeof createMysqlPool>[1], options: ConstructorParameters<typeof MysqlDatabase>[1] = {}) => {
    const db = new MysqlDatabase(createMysqlPool(database.url, pool), options);
    others.push(db);
    return db;
  };

  beforeAll(async () => {
    database = await freshMysqlDatabase();
  });

  afterAll(async () => {
    await Promise.all(others.map((db) => db.close()));
    await database?.drop();
  });

  it('runs named statements with named parameters, BIGINT epoch ms as numbers, arrays as lists', async () => {
    const { db } = database;
    const now = Date.now();
    expect(await db.run(SQL.insertTrack, { id: 'a', title: 'One', durationMs: 1000, now })).toEqual({ affectedRows: 1, insertId: 0 });
    await db.run(SQL.insertTrack, { id: 'b', title: 'Two', durationMs: 2000, now });
    expect(await db.get(SQL.trackById, { id: 'a' })).toEqual({ id: 'a', title: 'One', duration_ms: 1000, updated_at: now });
    expect(await db.get(SQL.trackById, { id: 'nope' })).toBeUndefined();
    // affectedRows counts rows matched, changed or not, like SQLite's `changes`.
    expect((await db.run(SQL.retitle, { title: 'Two', ids: ['a', 'b'] })).affectedRows).toBe(2);
    expect(await db.all('SELECT SUM(duration_ms) AS total FROM tracks')).toEqual([{ total: 3000 }]);
  });

  it('gives every session the settings the adapters rely on', async () => {
    const session = await database.db.get<Record<string, unknown>>(
      'SELECT @@session.innodb_lock_wait_timeout AS lockWait, @@session.time_zone AS zone, @@session.sql_mode AS mode, @@collation_connection AS collation',
    );
    expect(session).toMatchObject({ lockWait: 2, zone: '+00:00', collation: 'utf8mb4_unicode_520_ci' });
    expect(String(session?.mode)).toMatch(/STRICT_ALL_TABLES/);
    // MariaDB names it tx_isolation, MySQL 8 transaction_isolation.
    const isolation = await database.db
      .get<{ level: string }>('SELECT @@session.tx_isolation AS level')
      .catch(() => database.db.get<{ level: string }>('SELECT @@session.transaction_isolation AS level'));
    expect(isolation?.level).toBe('READ-COMMITTED');
  });

  it('leaves errors of the SQL as they are, with their code, and refuses a missing parameter', async () => {
    const { db } = database;
    const duplicate = await failure(db.run(SQL.insertTrack, { id: 'a', title: 'Again', durationMs: 1, now: 0 }));
    expect(duplicate.error).not.toBeInstanceOf(MixtapeError);
    expect(isMysqlError(duplicate.error, 'ER_DUP_ENTRY')).toBe(true);
    expect(isMysqlError(duplicate.error, 1062)).toBe(true);
    const syntax = await failure(db.all('SELEKT 1'));
    expect(isMysqlError(syntax.error, 'ER_PARSE_ERROR')).toBe(true);
    const missing = await failure(db.get(SQL.trackById, {}));
    expect((missing.error as MixtapeError).code).toBe('ERR_INTERNAL');
    // Strict mode: a value that does not fit is an error, not a silent truncation.
    const tooLong = await failure(db.run(SQL.insertTrack, { id: 'x'.repeat(65), title: 't', durationMs: 1, now: 0 }));
    expect(isMysqlError(tooLong.error, 'ER_DATA_TOO_LONG')).toBe(true);
    // The pool is not poisoned by any of it.
    expect(await db.get('SELECT 1 AS one')).toEqual({ one: 1 });
  });

  it('commits a transaction, and rolls back and rethrows when its work throws', async () => {
    const { db } = database;
    const result = await db.transaction(async (tx) => {
      await tx.run(SQL.insertTrack, { id: 'tx1', title: 'In', durationMs: 1, now: 0 });
      return (await tx.get<{ title: string }>(SQL.trackById, { id: 'tx1' }))?.title;
    });
    expect(result).toBe('In');
    const thrown = new Error('changed my mind');
    const rolledBack = await failure(
      db.transaction(async (tx) => {
        await tx.run(SQL.insertTrack, { id: 'tx2', title: 'Out', durationMs: 1, now: 0 });
        throw thrown;
      }),
    );
    expect(rolledBack.error).toBe(thrown);
    expect(await db.get(SQL.trackById, { id: 'tx2' })).toBeUndefined();
    expect(db.poolStats().in_use).toBe(0);
  });

  it('runs both sides of a deadlock again until both commit', async () => {
    const { db } = database;
    await db.run(SQL.insertTrack, { id: 'left', title: '0', durationMs: 1, now: 0 });
    await db.run(SQL.insertTrack, { id: 'right', title: '0', durationMs: 1, now: 0 });
    let holding = 0;
    let bothHold!: () => void;
    const barrier = new Promise<void>((resolve) => (bothHold = resolve));
    let runs = 0;
    // Each locks one row, waits until the other holds its own, then asks for the other's.
    const cross = (first: string, second: string) =>
      db.transaction(async (tx) => {
        runs += 1;
        await tx.run("UPDATE tracks SET title = title + 1 WHERE id = @id", { id: first });
        if (++holding === 2) bothHold();
        await barrier;
        await tx.run("UPDATE tracks SET title = title + 1 WHERE id = @id", { id: second });
      });
    await Promise.all([cross('left', 'right'), cross('right', 'left')]);
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(await db.all("SELECT id, title FROM tracks WHERE id IN ('left', 'right') ORDER BY id")).toEqual([
      { id: 'left', title: '2' },
      { id: 'right', title: '2' },
    ]);
  });

  it('runs a transaction again after a lock-wait timeout, and a single statement fails as unavailable', async () => {
    const db = open({ poolSize: 3 }, { lockWaitTimeoutSeconds: 1 });
    await db.run(SQL.insertTrack, { id: 'held', title: 'held', durationMs: 1, now: 0 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.transaction(async (tx) => {
      await tx.get("SELECT id FROM tracks WHERE id = 'held' FOR UPDATE");
      locked();
      await released;
    });
    await isLocked;
    setTimeout(release, 1500);
    let runs = 0;
    const [waiter, single] = await Promise.all([
      db.transaction(
        async (tx) => {
          runs += 1;
          return (await tx.run("UPDATE tracks SET title = 'waited' WHERE id = 'held'")).affectedRows;
        },
        { attempts: 2 },
      ),
      failure(db.run("UPDATE tracks SET title = 'impatient' WHERE id = 'held'")),
    ]);
    await holder;
    expect(waiter).toBe(1);
    expect(runs).toBe(2);
    expect(single.error).toBeInstanceOf(UnavailableError);
    expect(isMysqlError((single.error as UnavailableError).cause, 1205)).toBe(true);
    expect(single.ms).toBeLessThan(1800);
  });

  it('gives up on a connection after acquireTimeoutMs, and the connection that arrives late goes back', async () => {
    const db = open({ poolSize: 1, queueLimit: 10 }, { acquireTimeoutMs: 300 });
    expect(db.poolStats()).toEqual({ in_use: 0, idle: 0, waiting: 0 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const holder = db.withConnection(async (connection) => {
      await connection.get('SELECT 1');
      holding();
      await released;
    });
    await held;
    const second = failure(db.get('SELECT 2 AS two'));
    await sleep(50);
    expect(db.poolStats()).toEqual({ in_use: 1, idle: 0, waiting: 1 });
    const { error, ms } = await second;
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryAfterMs).toBeGreaterThan(0);
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(900);
    expect(db.poolStats()).toEqual({ in_use: 1, idle: 0, waiting: 0 });
    release();
    await holder;
    // mysql2 handed the released connection to the caller that gave up, who gave it straight
    // back: the pool of one still serves.
    expect(await db.get('SELECT 3 AS three')).toEqual({ three: 3 });
    await sleep(20);
    expect(db.poolStats()).toEqual({ in_use: 0, idle: 1, waiting: 0 });
  });

  it('turns a caller away at once when the queue is full', async () => {
    const db = open({ poolSize: 1, queueLimit: 1 }, { acquireTimeoutMs: 1000 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const holder = db.withConnection(async () => {
      holding();
      await released;
    });
    await held;
    const queued = db.get('SELECT 1 AS one');
    const { error, ms } = await failure(db.get('SELECT 2'));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(ms).toBeLessThan(250);
    release();
    await holder;
    expect(await queued).toEqual({ one: 1 });
  });

  it('times out a statement that runs too long, and drops its connection', async () => {
    const db = open({ poolSize: 1 }, { queryTimeoutMs: 300 });
    const { error, ms } = await failure(db.get('SELECT SLEEP(5)'));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(ms).toBeLessThan(1000);
    expect(await db.get('SELECT 1 AS one')).toEqual({ one: 1 });
  });

  it('closes safely twice, after which calls fail as unavailable', async () => {
    const db = open({ poolSize: 1 });
    await db.get('SELECT 1');
    await Promise.all([db.close(), db.close()]);
    await db.close();
    expect((await failure(db.get('SELECT 1'))).error).toBeInstanceOf(UnavailableError);
  });

  it('opens nothing until the first statement', async () => {
    const db = open({ poolSize: 1, connectTimeoutMs: 200 });
    expect(db.poolStats()).toEqual({ in_use: 0, idle: 0, waiting: 0 });
    await db.close();
  });
});
