import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '../../src/demo/demo-catalog.js';
import { MigrationsPendingError, NotFoundError, UnavailableError, ValidationError } from '../../src/errors.js';
import { createMixtape } from '../../src/mixtape.js';
import { JwtKeyring } from '../../src/auth/jwt-keyring.js';
import { openMysqlBackends } from '../../src/mysql/mysql-backends.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { mysqlMigrations } from '../../src/mysql/mysql-migrations.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { admin, freshMysqlDatabase, mysqlUrl, type FreshMysqlDatabase } from './mysql-test-server.js';

const [track] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[0]];
const ALL = mysqlMigrations.map((migration) => migration.version);

/** Connections the server has open on `database`: none once a pool is ended. */
async function connectionsTo(database: string): Promise<number> {
  return admin(async (connection) => {
    const [rows] = await connection.query('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ?', [database]);
    return Number((rows as { n: number }[])[0]?.n);
  });
}

async function tablesOf(database: string): Promise<number> {
  return admin(async (connection) => {
    const [rows] = await connection.query('SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [database]);
    return Number((rows as { n: number }[])[0]?.n);
  });
}

/** Polls until the server has closed the connections of `database` (a quit is asynchronous on its side). */
async function noConnectionsTo(database: string): Promise<number> {
  let count = await connectionsTo(database);
  for (let i = 0; i < 40 && count > 0; i += 1) {
    await sleep(50);
    count = await connectionsTo(database);
  }
  return count;
}

/** `openMysqlBackends` with what each command needs: its own pool or the caller's, migrating or not, read-only. */
describe('openMysqlBackends', () => {
  const opened: FreshMysqlDatabase[] = [];
  let storageDir: string;
  const fresh = async (migrate: boolean) => {
    const database = await freshMysqlDatabase({ migrate });
    opened.push(database);
    return database;
  };

  beforeAll(() => {
    storageDir = mkdtempSync(join(tmpdir(), 'mixtape-mysql-backends-'));
  });

  afterAll(async () => {
    await Promise.all(opened.map((database) => database.drop()));
    rmSync(storageDir, { recursive: true, force: true });
  });

  it('from a URL: migrates an empty database, serves every port, and ends its pool on close', async () => {
    const { url, name } = await fresh(false);
    const backends = await openMysqlBackends({ url, storageDir, pool: { poolSize: 3 } });
    expect(backends.appliedMigrations).toEqual(ALL);
    expect(backends.pendingMigrations).toEqual([]);
    await backends.catalog.upsert([track]);
    expect((await backends.catalog.get(track.id))?.title).toBe(track.title);
    expect(await backends.locks.using(['track:a'], async ({ fencingToken }) => fencingToken)).toBeGreaterThan(0);
    expect(backends.healthChecks.map((check) => [check.name, check.critical])).toEqual([
      ['mysql:responseTime', true],
      ['mysql-fulltext:responseTime', false],
      ['storage:freeBytes', false],
    ]);
    expect(backends.poolStats()).toMatchObject({ in_use: 0, waiting: 0 });
    expect(await connectionsTo(name)).toBeGreaterThan(0);
    await backends.close();
    await backends.close();
    expect(await noConnectionsTo(name)).toBe(0);

    const again = await openMysqlBackends({ url, storageDir });
    expect(again.appliedMigrations).toEqual([]);
    await again.close();
  });

  it('takes the caller’s MysqlDatabase, or a pool, and leaves it open', async () => {
    const { db, url } = await fresh(true);
    const backends = await openMysqlBackends({ db, storageDir });
    expect(backends.db).toBe(db);
    expect(backends.appliedMigrations).toEqual([]);
    await backends.close();
    expect(await db.get('SELECT 1 AS ok')).toEqual({ ok: 1 });

    const pool = createMysqlPool(url, { poolSize: 2 });
    const onPool = await openMysqlBackends({ db: pool, storageDir });
    await onPool.users.create({ username: 'pooled', passwordHash: 'x' });
    await onPool.close();
    const [rows] = await pool.query('SELECT username FROM users');
    expect(rows).toEqual([{ username: 'pooled' }]);
    await pool.end();
  });

  it('needs a database', async () => {
    await expect(openMysqlBackends({ storageDir })).rejects.toBeInstanceOf(ValidationError);
  });

  it('with migrate: false, refuses pending migrations, creates nothing, and ends the pool it made', async () => {
    const { url, name } = await fresh(false);
    await expect(openMysqlBackends({ url, storageDir, migrate: false })).rejects.toBeInstanceOf(MigrationsPendingError);
    expect(await tablesOf(name)).toBe(0);
    expect(await noConnectionsTo(name)).toBe(0);
  });

  it('refuses a database the server does not have, or a URL that names none, as not found', async () => {
    const error = await openMysqlBackends({ url: mysqlUrl('mixtape_test_no_such_database'), storageDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe('There is no MySQL database named "mixtape_test_no_such_database"');
    const none = await openMysqlBackends({ url: mysqlUrl(''), storageDir }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(NotFoundError);
    expect((none as Error).message).toMatch(/names no database/);
  });

  it('read-only: applies nothing, reports what is pending, and the server refuses every write', async () => {
    const empty = await fresh(false);
    const looking = await openMysqlBackends({ url: empty.url, storageDir, readOnly: true });
    expect(looking.pendingMigrations).toEqual(ALL);
    expect(looking.appliedMigrations).toEqual([]);
    expect(looking.db.readOnly).toBe(true);
    await looking.close();
    expect(await tablesOf(empty.name)).toBe(0);

    const { url, db } = await fresh(true);
    await db.run("INSERT INTO users (id, username, password_hash, created_at) VALUES ('u1', 'reader', 'x', 0)");
    const backends = await openMysqlBackends({ url, storageDir, readOnly: true });
    expect(backends.pendingMigrations).toEqual([]);
    expect((await backends.users.findByUsername('reader'))?.id).toBe('u1');
    expect(await backends.catalog.scan(null, 10)).toEqual([]);
    const refused = await backends.users.create({ username: 'writer', passwordHash: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnavailableError);
    expect((refused as UnavailableError).cause).toMatchObject({ errno: 1792 });
    await expect(backends.catalog.upsert([track])).rejects.toBeInstanceOf(UnavailableError);
    await backends.close();
    expect(await db.all('SELECT username FROM users')).toEqual([{ username: 'reader' }]);
    expect(await db.all('SELECT id FROM tracks')).toEqual([]);

    // A caller's database decides: made read-only, it opens the backends read-only.
    const given = new MysqlDatabase(createMysqlPool(url, { poolSize: 1 }), { readOnly: true });
    const onGiven = await openMysqlBackends({ db: given, storageDir });
    await expect(onGiven.users.create({ username: 'writer', passwordHash: 'x' })).rejects.toBeInstanceOf(UnavailableError);
    await onGiven.close();
    await given.close();
  });

  it('feeds mixtape_db_pool_connections, every state present from the first scrape', async () => {
    const { url } = await fresh(true);
    const backends = await openMysqlBackends({ url, storageDir, pool: { poolSize: 2 } });
    const mixtape = createMixtape(backends, {
      keyring: JwtKeyring.ephemeral(),
      quotaBytes: 1e9,
      maxTrackBytes: 1e8,
      maxAttempts: 3,
      retryBaseMs: 10,
      jobLeaseMs: 30_000,
      workers: 0,
    });
    try {
      const gauge = async () => {
        const { values } = await mixtape.metrics.dbPoolConnections.get();
        return Object.fromEntries(values.map((v) => [v.labels.state, v.value]));
      };
      const before = await gauge();
      expect(Object.keys(before).sort()).toEqual(['idle', 'in_use', 'waiting']);
      // Two connections held and a third caller waiting.
      const holds: (() => void)[] = [];
      const held = [1, 2].map(() =>
        backends.db.withConnection(
          (connection) =>
            new Promise<void>((resolve) => {
              holds.push(resolve);
              void connection;
            }),
        ),
      );
      while (holds.length < 2) await sleep(5);
      const waiting = backends.db.get('SELECT 1 AS ok');
      await sleep(20);
      expect(await gauge()).toEqual({ in_use: 2, idle: 0, waiting: 1 });
      for (const release of holds) release();
      await Promise.all([...held, waiting]);
      expect(await gauge()).toMatchObject({ in_use: 0, waiting: 0, idle: 2 });
      // A whole scrape starts the gauges that query the database at once: the pool is read before them.
      for (let i = 0; i < 3; i += 1) {
        const text = await mixtape.metrics.registry.metrics();
        expect(text).toContain('mixtape_db_pool_connections{state="waiting"} 0');
        expect(text).toContain('mixtape_db_pool_connections{state="in_use"} 0');
      }
    } finally {
      await mixtape.close();
    }
  });
});
