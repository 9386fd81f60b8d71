import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS, parseConfig, UnavailableError } from '@mixtape/core';
import { mysqlMigrations, type MysqlDatabase } from '@mixtape/core/mysql';
import { freshMysqlDatabase, MYSQL_TEST_URL, mysqlUrl, type FreshMysqlDatabase } from '../../core/test/mysql/mysql-test-server.js';
import { TcpProxy } from '../../core/test/support/tcp-proxy.js';
import { ensureBuilt, killAll, printedUrl, runCli, startCli, untilStatus, type CliProcess } from './support/cli-process.js';
import { openBackends } from '../src/backends.js';
import { call } from './support/test-server.js';
import { directorySnapshot } from './support/directory-snapshot.js';

/** Every command of the built `mixtape` on MariaDB (MIXTAPE_MYSQL_URL), each database its own and dropped afterwards. */

const HOUR_MS = 3_600_000;
const ALL = mysqlMigrations.map((migration) => migration.version);
const processes: CliProcess[] = [];
const databases: FreshMysqlDatabase[] = [];
let root: string;

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'mixtape-mysql-commands-'));
}, 180_000);

afterAll(async () => {
  killAll(processes);
  await Promise.all(databases.map((database) => database.drop()));
  rmSync(root, { recursive: true, force: true });
});

async function database(migrate: boolean): Promise<FreshMysqlDatabase> {
  const fresh = await freshMysqlDatabase({ migrate });
  databases.push(fresh);
  return fresh;
}

/** What every command needs on MySQL: the URL, a shared JWT secret, and somewhere for audio. */
function mysqlEnv(url: string, name: string): Record<string, string> {
  return {
    MIXTAPE_MYSQL_URL: url,
    MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
    MIXTAPE_DATA_DIR: join(root, name),
    MIXTAPE_PORT: '0',
  };
}

/** Each table's rows and checksum: what any write would change. */
async function tableState(db: MysqlDatabase): Promise<Record<string, string>> {
  const tables = (await db.all<{ name: string }>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()')).map((t) => t.name);
  const state: Record<string, string> = {};
  for (const table of tables.sort()) {
    const rows = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${table}\``);
    const checksum = await db.get<{ Checksum: number }>(`CHECKSUM TABLE \`${table}\` EXTENDED`);
    state[table] = `${rows?.n} rows, checksum ${checksum?.Checksum}`;
  }
  return state;
}

describe('mixtape migrate on MySQL', () => {
  it('applies the migrations to an empty database once, then finds nothing pending', async () => {
    const { url, db } = await database(false);
    const env = mysqlEnv(url, 'migrate');
    const first = runCli(['migrate'], env);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe(`Applied migrations ${ALL.join(', ')}\n`);
    const second = runCli(['migrate'], env);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toBe('No migrations pending\n');
    expect(await db.all('SELECT version FROM schema_migrations')).toEqual(ALL.map((version) => ({ version })));
    // Audio lives on the storage dir; migrate needs none, and the database holds everything else.
    expect(existsSync(join(env.MIXTAPE_DATA_DIR!, 'mixtape.db'))).toBe(false);
  });

  it('refuses a database the server does not have, naming it', () => {
    const run = runCli(['migrate'], mysqlEnv(mysqlUrl('mixtape_test_never_created'), 'missing'));
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/There is no MySQL database named "mixtape_test_never_created"/);
  });

  it('with serve, worker and migrate started at once on a new database: all come up, each migration applied once', async () => {
    const { url, db } = await database(false);
    const env = { ...mysqlEnv(url, 'at-once'), MIXTAPE_WORKERS: '1' };
    const serve = startCli(['serve'], env);
    const worker = startCli(['worker'], env);
    processes.push(serve, worker);
    const migrate = runCli(['migrate'], env);
    expect(migrate.status, migrate.stderr).toBe(0);
    // Whichever of the three gets the migration lock first applies what is pending; the others find less, or nothing.
    expect(migrate.stdout).toMatch(/^(Applied migrations \d+(, \d+)*|No migrations pending)\n$/);
    const [served, worked] = await Promise.all([printedUrl(serve, 'Mixtape is listening on'), printedUrl(worker, 'Mixtape worker is listening on')]);
    await untilStatus(`${served}/readyz`, 200);
    await untilStatus(`${worked}/readyz`, 200);
    expect(await db.all('SELECT version FROM schema_migrations')).toEqual(ALL.map((version) => ({ version })));
    // The demo was seeded by serve alone, into MySQL.
    expect((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM tracks'))?.n).toBe(DEMO_TRACKS.length);

    // Both stop on SIGTERM and exit 0: their pools are ended, nothing keeps them alive.
    serve.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    const [[serveCode], [workerCode]] = await Promise.all([serve.exited, worker.exited]);
    expect(serveCode, serve.output()).toBe(0);
    expect(workerCode, worker.output()).toBe(0);
  });
});

describe('mixtape admin on MySQL', () => {
  it('grants and revokes the admin role in the database', async () => {
    const { url, db } = await database(true);
    const env = mysqlEnv(url, 'admin');
    await db.run("INSERT INTO users (id, username, password_hash, created_at) VALUES ('u-alice', 'alice', 'x', 0)");
    const granted = runCli(['admin', 'grant', 'Alice'], env);
    expect(granted.status, granted.stderr).toBe(0);
    expect(granted.stdout).toBe('alice is now an admin\n');
    expect(await db.all('SELECT user_id, role FROM user_roles')).toEqual([{ user_id: 'u-alice', role: 'admin' }]);
    expect(runCli(['admin', 'grant', 'alice'], env).stdout).toBe('alice was already an admin\n');
    const revoked = runCli(['admin', 'revoke', 'alice'], env);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe('alice is no longer an admin\n');
    expect(await db.all('SELECT user_id FROM user_roles')).toEqual([]);
    expect(runCli(['admin', 'grant', 'nobody'], env).status).toBe(67);
  });

  it('applies no migration: an empty database is reported, and stays empty', async () => {
    const { url, db } = await database(false);
    const run = runCli(['admin', 'grant', 'alice'], mysqlEnv(url, 'admin-empty'));
    expect(run.status).toBe(78);
    expect(run.stderr).toMatch(/not migrated \(migrations 1, 2 pending\): run `mixtape migrate` first/);
    expect(await db.all('SHOW TABLES')).toEqual([]);
  });
});

describe('mixtape reconcile on MySQL', () => {
  let env: Record<string, string>;
  let db: MysqlDatabase;
  let storageDir: string;
  let orphan: string;

  beforeAll(async () => {
    const fresh = await database(false);
    db = fresh.db;
    env = { ...mysqlEnv(fresh.url, 'reconcile'), MIXTAPE_WORKERS: '1' };
    storageDir = join(env.MIXTAPE_DATA_DIR!, 'audio');
    const serve = startCli(['serve'], env);
    processes.push(serve);
    const api = `${await printedUrl(serve, 'Mixtape is listening on')}/api/v1`;
    const [kept, lost, unindexed, unlisted] = DEMO_TRACKS.map((track) => track.id) as [string, string, string, string];
    const credentials = { username: 'reconciled', password: 'a long enough password' };
    expect((await call(`${api}/auth/register`, { body: credentials })).status).toBe(201);
    const { accessToken } = (await call(`${api}/auth/login`, { body: credentials })).body;
    for (const track of [kept, lost]) {
      const job = await call(`${api}/downloads`, { token: accessToken, body: { track } });
      for (let status = job.body.status; status !== 'completed'; ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        status = (await call(`${api}/downloads/${job.body.id}`, { token: accessToken })).body.status;
        expect(status).not.toBe('failed');
      }
    }
    serve.child.kill('SIGTERM');
    expect((await serve.exited)[0]).toBe(0);

    // Work for the reconciler, one of each kind, as crashes and drift make it.
    const lostKey = (await db.get<{ blob_key: string }>('SELECT blob_key FROM tracks WHERE id = @lost', { lost }))!.blob_key;
    await db.run('DELETE FROM search_documents WHERE track_id = @unindexed', { unindexed });
    await db.run('DELETE FROM tracks WHERE id = @unlisted', { unlisted });
    const longAgo = Date.now() - 2 * HOUR_MS;
    await db.run(
      `INSERT INTO jobs (id, user_id, track_id, status, attempts, max_attempts, lease_worker, lease_token, lease_expires_at, created_at, updated_at)
       VALUES (@id, 'someone', @kept, 'running', 1, 5, 'a-worker-that-died', 'token', @longAgo, @longAgo, @longAgo)`,
      { id: randomUUID(), kept, longAgo },
    );
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) (lstatSync(join(dir, name)).isDirectory() ? walk : (path: string) => files.push(path))(join(dir, name));
    };
    walk(join(storageDir, 'blobs'));
    unlinkSync(files.find((path) => path.endsWith(lostKey))!);
    const orphanKey = createHash('sha256').update('an orphan').digest('hex');
    orphan = join(storageDir, 'blobs', orphanKey.slice(0, 2), orphanKey.slice(2, 4), orphanKey);
    mkdirSync(join(orphan, '..'), { recursive: true });
    writeFileSync(orphan, 'an orphan');
    utimesSync(orphan, new Date(longAgo), new Date(longAgo));
  }, 60_000);

  it('opens a dry run’s backends on READ ONLY sessions: the server refuses any write', async () => {
    const backends = await openBackends(parseConfig(env), { readOnly: true });
    try {
      const refused = await backends.users.create({ username: 'writer', passwordHash: 'x' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UnavailableError);
      expect((refused as UnavailableError).cause).toMatchObject({ errno: 1792 });
    } finally {
      await backends.close();
    }
  });

  it('--dry-run finds each inconsistency and changes nothing: every table and file as it was', async () => {
    const tablesBefore = await tableState(db);
    const filesBefore = directorySnapshot(storageDir);
    const run = runCli(['reconcile', '--dry-run', '--json'], env);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({
      dryRun: true,
      pendingMigrations: [],
      found: { orphanFiles: 1, missingFiles: 1, missingDocuments: 1, staleDocuments: 1, stuckJobs: 1 },
      repaired: { orphanFiles: 0, missingFiles: 0, missingDocuments: 0, staleDocuments: 0, stuckJobs: 0 },
    });
    expect(await tableState(db)).toEqual(tablesBefore);
    expect(directorySnapshot(storageDir)).toEqual(filesBefore);
  });

  it('while a real pass repairs all of it', async () => {
    const run = runCli(['reconcile', '--json'], env);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).repaired).toEqual({ orphanFiles: 1, missingFiles: 1, missingDocuments: 1, staleDocuments: 1, stuckJobs: 1 });
    expect(existsSync(orphan)).toBe(false);
    const again = JSON.parse(runCli(['reconcile', '--dry-run', '--json'], env).stdout);
    expect(Object.values(again.found)).toEqual([0, 0, 0, 0, 0]);
  });

  it('--dry-run on a database without the schema lists the pending migrations and creates no table', async () => {
    const empty = await database(false);
    const run = runCli(['reconcile', '--dry-run', '--json'], mysqlEnv(empty.url, 'reconcile-empty'));
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ pendingMigrations: ALL, skipped: expect.stringMatching(/mixtape migrate/) });
    expect(await empty.db.all('SHOW TABLES')).toEqual([]);
  });

  it('--dry-run where the database does not exist: nothing to check, exit 0', () => {
    const run = runCli(['reconcile', '--dry-run'], mysqlEnv(mysqlUrl('mixtape_test_never_created'), 'reconcile-missing'));
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('Nothing to check: there is no MySQL database named "mixtape_test_never_created", and a dry run creates none\n');
  });
});

describe('mixtape serve on MySQL, stopped while the database is silent', () => {
  it('exits 0 within the shutdown grace, though the driver is left with half-closed sockets', async () => {
    const fresh = await database(true);
    const target = new URL(MYSQL_TEST_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
    const port = await proxy.start();
    try {
      const url = new URL(fresh.url);
      url.host = `127.0.0.1:${port}`;
      const graceMs = 1000;
      const serve = startCli(['serve'], {
        ...mysqlEnv(url.href, 'silent-stop'),
        MIXTAPE_MYSQL_POOL_SIZE: '3',
        MIXTAPE_SHUTDOWN_GRACE_MS: String(graceMs),
      });
      processes.push(serve);
      const base = await printedUrl(serve, 'Mixtape is listening on');
      await untilStatus(`${base}/readyz`, 200, 10_000);
      // Connections open in the pool, then the network goes silent under them.
      await Promise.all(Array.from({ length: 3 }, () => fetch(`${base}/readyz`).then((r) => r.arrayBuffer())));
      await proxy.cut('blackhole');
      const stoppedAt = Date.now();
      serve.child.kill('SIGTERM');
      const [code] = await serve.exited;
      expect(code, serve.output()).toBe(0);
      // The grace, the margin for closing stores, and some slack for a loaded machine.
      expect(Date.now() - stoppedAt).toBeLessThan(graceMs + 5000 + 5000);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
