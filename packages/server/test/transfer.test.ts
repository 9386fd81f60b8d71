import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MysqlFencingTokens,
  MysqlJobQueue,
  MysqlLibraryStore,
  MysqlSearchIndex,
  MysqlSearchOutbox,
  MysqlTrackCatalog,
  MysqlUserStore,
  type MysqlDatabase,
} from '@mixtape/core/mysql';
import { openSqliteBackends, openSqliteDatabase, type SqliteDatabase } from '@mixtape/core/sqlite';
import { freshMysqlDatabase, type FreshMysqlDatabase } from '../../core/test/mysql/mysql-test-server.js';
import { ensureBuilt, runCli } from './support/cli-process.js';
import { deterministicBytes, gate, startAudioOrigin, startSpotifyStub, trackId, type StubTrack } from './support/origin-servers.js';
import { call, signUp, startTestServer, waitForJob } from './support/test-server.js';

/**
 * `mixtape transfer --to <mysql url>`, through the built command, from a data dir made by
 * really using the server: users with roles, sessions (one rotated, one logged out), a catalog
 * with stored audio (two track ids that differ only in case), libraries and usage, jobs
 * completed, failed, queued and cancelled, fencing tokens, and an outbox row left by a catalog
 * change that no relay has sent yet. Into empty MariaDB databases of the test harness's naming.
 */

const EXIT = { usage: 64, data: 65, unavailable: 69, software: 70, notEmpty: 73, config: 78 } as const;

let dataDir: string;
let scratch: string;
const databases: FreshMysqlDatabase[] = [];

/** What the data dir holds, for the checks. */
const made = {
  trackA: trackId('transfer-a'),
  /** trackA with every letter's case swapped: another track, another file. */
  trackB: '',
  trackC: trackId('transfer-c'),
  alice: { id: '', username: 'Alice.Transfer' },
  bob: { id: '', username: 'bob_transfer' },
  failedJob: '',
  queuedJob: '',
  cancelledJob: '',
  outboxTrack: trackId('transfer-outbox'),
};

const swapCase = (id: string) => [...id].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');

async function emptyDatabase(): Promise<FreshMysqlDatabase> {
  const fresh = await freshMysqlDatabase({ migrate: false });
  databases.push(fresh);
  return fresh;
}

const transfer = (url: string, dir = dataDir, ...extra: string[]) => runCli(['transfer', '--to', url, ...extra], { MIXTAPE_DATA_DIR: dir });

/** Every table's rows in the embedded database, by SQLite's own count (search_fts and its shadows aside). */
function sqliteCounts(dir = dataDir): Record<string, number> {
  const db = openSqliteDatabase(join(dir, 'mixtape.db'), { readOnly: true });
  try {
    const tables = db.prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE 'search_fts%' AND name <> 'schema_migrations'").pluck().all() as string[];
    return Object.fromEntries(tables.map((table) => [table, Number(db.prepare(`SELECT count(*) FROM "${table}"`).pluck().get())]));
  } finally {
    db.close();
  }
}

async function mysqlCounts(db: MysqlDatabase, tables: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table] = Number((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${table}\``))!.n);
  return counts;
}

function withSqlite<T>(dir: string, work: (db: SqliteDatabase) => T): T {
  const db = openSqliteDatabase(join(dir, 'mixtape.db'));
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** A copy of the data dir to spoil. */
function copyOfDataDir(): string {
  const copy = mkdtempSync(join(scratch, 'copy-'));
  cpSync(dataDir, copy, { recursive: true });
  return copy;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function buildDataDir(): Promise<void> {
  made.trackB = swapCase(made.trackA);
  const held = gate();
  const stub = (id: string, name: string): StubTrack => ({ id, name, artists: ['Björk', 'AC/DC'], album: `Album of ${name}`, durationMs: 180_000, isrc: 'GBAYE0601498' });
  const spotify = await startSpotifyStub([
    stub(made.trackA, 'Upper Case Song'),
    stub(made.trackB, 'Lower Case Song'),
    stub(made.trackC, 'Third Song'),
    stub(trackId('transfer-fail'), 'Missing Audio'),
    stub(trackId('transfer-held'), 'Held Song'),
    stub(trackId('transfer-queued'), 'Queued Song'),
    stub(trackId('transfer-cancel'), 'Cancelled Song'),
  ]);
  const origin = await startAudioOrigin();
  for (const id of [made.trackA, made.trackB, made.trackC]) origin.serve(id, { body: deterministicBytes(id, 40_000) });
  origin.serve(trackId('transfer-fail'), { body: Buffer.alloc(0), alwaysStatus: 404 });
  for (const label of ['transfer-held', 'transfer-queued', 'transfer-cancel']) origin.serve(trackId(label), { body: Buffer.alloc(10), gate: held.promise });
  const server = await startTestServer({
    ...spotify.env(),
    MIXTAPE_SOURCE_URL: origin.template,
    MIXTAPE_WORKERS: '1',
    MIXTAPE_MAX_ATTEMPTS: '1',
    MIXTAPE_SHUTDOWN_GRACE_MS: '300',
  });
  dataDir = server.dataDir;
  try {
    const download = async (token: string, track: string) => {
      const job = await call(`${server.api}/downloads`, { token, body: { track } });
      expect(job.status, job.text).toBe(202);
      return job.body.id as string;
    };
    const alice = await signUp(server, made.alice.username);
    const bob = await signUp(server, made.bob.username);
    const carol = await signUp(server);
    made.alice.id = alice.id;
    made.bob.id = bob.id;
    for (const track of [made.trackA, made.trackB, made.trackC]) {
      expect((await waitForJob(server, alice.accessToken, await download(alice.accessToken, track))).status).toBe('completed');
    }
    expect((await waitForJob(server, bob.accessToken, await download(bob.accessToken, made.trackA))).status).toBe('completed');
    made.failedJob = await download(carol.accessToken, trackId('transfer-fail'));
    expect((await waitForJob(server, carol.accessToken, made.failedJob)).status).toBe('failed');
    // The only worker holds this one, so the next ones stay queued.
    const heldJob = await download(carol.accessToken, trackId('transfer-held'));
    await until('running', async () => (await call(`${server.api}/downloads/${heldJob}`, { token: carol.accessToken })).body.status === 'running');
    made.queuedJob = await download(carol.accessToken, trackId('transfer-queued'));
    made.cancelledJob = await download(bob.accessToken, trackId('transfer-cancel'));
    expect((await call(`${server.api}/downloads/${made.cancelledJob}`, { method: 'DELETE', token: bob.accessToken })).status).toBe(204);
    // Sessions: Alice's rotated once (a spent token), Bob's second one logged out (revoked).
    expect((await call(`${server.api}/auth/refresh`, { body: { refreshToken: alice.refreshToken } })).status).toBe(200);
    const again = await call(`${server.api}/auth/login`, { body: { username: bob.username, password: bob.password } });
    expect((await call(`${server.api}/auth/logout`, { token: again.body.accessToken, body: { refreshToken: again.body.refreshToken } })).status).toBe(204);
  } finally {
    // Shutting down hands the held job back to the queue, its attempt not counted.
    await server.close();
    held.open();
    await Promise.all([origin.close(), spotify.close()]);
  }
  expect(runCli(['admin', 'grant', made.alice.username], { MIXTAPE_DATA_DIR: dataDir }).status).toBe(0);
  // A catalog change with no relay running: its outbox row waits to be sent.
  const backends = await openSqliteBackends({ dataDir });
  try {
    await backends.catalog.upsert([{ id: made.outboxTrack, title: 'Not Yet Indexed', artists: ['Nobody'], album: 'Pending', durationMs: 1000 }]);
  } finally {
    await backends.close();
  }
}

beforeAll(async () => {
  ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), 'mixtape-transfer-'));
  await buildDataDir();
}, 120_000);

afterAll(async () => {
  await Promise.all(databases.map((fresh) => fresh.drop()));
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('mixtape transfer into an empty MariaDB database', () => {
  let target: FreshMysqlDatabase;
  let before: Record<string, number>;

  beforeAll(async () => {
    target = await emptyDatabase();
    before = sqliteCounts();
  });

  it('copies every table, exits 0 and reports counts that agree with both databases', async () => {
    const result = transfer(target.url, dataDir, '--json');
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.outcome).toBe('copied');
    expect(report.storageDir).toBe(join(dataDir, 'audio'));
    const reported = Object.fromEntries(report.tables.map((t: { table: string; sourceRows: number; targetRows: number }) => [t.table, t.sourceRows]));
    expect(reported).toEqual(before);
    expect(await mysqlCounts(target.db, Object.keys(before))).toEqual(before);
    // The data dir really holds all of it.
    for (const table of ['users', 'user_roles', 'token_families', 'refresh_tokens', 'revoked_ids', 'tracks', 'library_items', 'user_usage', 'jobs', 'user_job_counts', 'search_documents', 'search_outbox', 'blobs', 'fencing_tokens']) {
      expect(before[table], table).toBeGreaterThan(0);
    }
  });

  it('copies every row of every table as it was (search documents aside: MySQL stores their text its own way)', async () => {
    const source = openSqliteDatabase(join(dataDir, 'mixtape.db'), { readOnly: true });
    try {
      for (const table of Object.keys(before).filter((name) => name !== 'search_documents')) {
        const columns = (source.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[]).map((c) => `\`${c}\``).join(', ');
        const sorted = (rows: unknown[]) => rows.map((row) => JSON.stringify(row)).sort();
        const embedded = source.prepare(`SELECT ${columns.replaceAll('`', '"')} FROM "${table}"`).all();
        expect(sorted(await target.db.all(`SELECT ${columns} FROM \`${table}\``)), table).toEqual(sorted(embedded));
      }
    } finally {
      source.close();
    }
  });

  it('keeps two track ids that differ only in case as two tracks, each with its own file', async () => {
    const rows = await target.db.all<{ id: string; blob_key: string }>('SELECT id, blob_key FROM tracks WHERE id IN (@ids) ORDER BY id', { ids: [made.trackA, made.trackB] });
    expect(rows.map((row) => row.id).sort()).toEqual([made.trackA, made.trackB].sort());
    expect(rows[0]!.blob_key).not.toBe(rows[1]!.blob_key);
    const catalog = new MysqlTrackCatalog(target.db);
    expect(await catalog.get(made.trackB)).toMatchObject({ id: made.trackB, title: 'Lower Case Song', artists: ['Björk', 'AC/DC'], audio: { sizeBytes: 40_000 } });
    expect(await catalog.storedBytes()).toBe(3 * 40_000);
    const library = await new MysqlLibraryStore(target.db).list(made.alice.id, { limit: 10, offset: 0 });
    expect(library.items.map((item) => item.trackId).sort()).toEqual([made.trackA, made.trackB, made.trackC].sort());
  });

  it('carries users, roles and sessions that the MySQL stores read back', async () => {
    const users = new MysqlUserStore(target.db);
    const alice = await users.findByUsername(made.alice.username.toLowerCase());
    expect(alice).toMatchObject({ id: made.alice.id, username: made.alice.username });
    expect(await users.rolesOf(made.alice.id)).toEqual(['admin']);
    expect(await users.rolesOf(made.bob.id)).toEqual([]);
    const families = await target.db.all<{ revoked: number }>('SELECT revoked_at IS NOT NULL AS revoked FROM token_families WHERE user_id = @userId ORDER BY revoked', { userId: made.bob.id });
    expect(families.map((f) => f.revoked)).toEqual([0, 1]);
    const spent = await target.db.all<{ user_id: string }>('SELECT f.user_id FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.spent_at IS NOT NULL');
    expect(spent).toEqual([{ user_id: made.alice.id }]);
  });

  it('carries jobs with their status and attempts, counters and usage', async () => {
    const queue = new MysqlJobQueue(target.db);
    expect(await queue.get(made.failedJob)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await queue.get(made.queuedJob)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(await queue.get(made.cancelledJob)).toMatchObject({ status: 'cancelled' });
    expect(await queue.countByStatus()).toMatchObject({ completed: 4, failed: 1, queued: 2, cancelled: 1, running: 0 });
    // The generated column is the server's own, filled for the active jobs only.
    const active = await target.db.all<{ id: string }>('SELECT id FROM jobs WHERE active_user_id IS NOT NULL');
    expect(active).toHaveLength(2);
    const usage = await target.db.get<{ committed_bytes: number; reserved_bytes: number }>('SELECT committed_bytes, reserved_bytes FROM user_usage WHERE user_id = @userId', { userId: made.alice.id });
    expect(usage).toEqual({ committed_bytes: 3 * 40_000, reserved_bytes: 0 });
    expect(await new MysqlLibraryStore(target.db).usedBytes(made.bob.id)).toBe(40_000);
  });

  it('carries the search index in MySQL\'s own form, and the outbox row still to send', async () => {
    const found = await new MysqlSearchIndex(target.db).search('bjork upper', { limit: 10, offset: 0 });
    expect(found.items).toEqual([made.trackA]);
    expect(await new MysqlSearchIndex(target.db).search('ac/dc lower', { limit: 10, offset: 0 })).toMatchObject({ items: [made.trackB] });
    const due = await new MysqlSearchOutbox(target.db).due(new Date(Date.now() + 60_000), 10);
    expect(due.map((change) => change.trackId)).toEqual([made.outboxTrack]);
  });

  it('refuses a second transfer into the now non-empty database with exit 73, and changes nothing', async () => {
    const counts = await mysqlCounts(target.db, Object.keys(before));
    const result = transfer(target.url);
    expect(result.status, result.stderr).toBe(EXIT.notEmpty);
    expect(result.stderr).toMatch(/is not empty: .*its table users holds rows/);
    expect(result.stderr).toContain('Nothing was written');
    expect(await mysqlCounts(target.db, Object.keys(before))).toEqual(counts);
  });

  it('leaves a target that works: fencing tokens go on rising, and new jobs get new sequence numbers', async () => {
    const key = (await target.db.get<{ key: string; token: number }>('SELECT `key`, token FROM fencing_tokens ORDER BY token DESC LIMIT 1'))!;
    expect(await new MysqlFencingTokens(target.db).issue([key.key])).toBe(key.token + 1);
    const enqueued = await new MysqlJobQueue(target.db).enqueue({ userId: made.bob.id, trackId: made.trackC, maxAttempts: 3, maxActive: 20 });
    expect(enqueued.kind).toBe('enqueued');
  });
});

describe('mixtape transfer, what it prints and refuses', () => {
  it('says in words what it copied and where the files stay, without the password', async () => {
    const fresh = await emptyDatabase();
    const result = transfer(fresh.url);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Copied .*mixtape\.db into mysql:\/\/root@127\.0\.0\.1:3306\/mixtape_test_\w+ in [\d.]+ s \(migrations 1, 2 applied to it first\):/);
    expect(result.stdout).toMatch(/^ {2}users +3 rows$/m);
    expect(result.stdout).toMatch(/16 tables, \d+ rows; every table's count is the same in both/);
    expect(result.stdout).toContain(`point MIXTAPE_STORAGE_DIR at ${join(dataDir, 'audio')} on every instance`);
  });

  it('exits 69 at once when the server cannot be reached, and never prints the password', async () => {
    const port = await closedPort();
    const started = Date.now();
    const result = transfer(`mysql://root:s3cret-pw@127.0.0.1:${port}/mixtape`);
    expect(result.status, result.stderr).toBe(EXIT.unavailable);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.stderr).toContain(`cannot reach mysql://root@127.0.0.1:${port}/mixtape`);
    expect(result.stdout + result.stderr).not.toContain('s3cret-pw');
  });

  it('refuses a database holding a table that is not Mixtape\'s, writing nothing', async () => {
    const fresh = await emptyDatabase();
    await fresh.db.run('CREATE TABLE wp_posts (id INT PRIMARY KEY)');
    const result = transfer(fresh.url, dataDir, '--json');
    expect(result.status).toBe(EXIT.notEmpty);
    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'refused', reasons: ["it holds a table wp_posts that is not Mixtape's"] });
    expect(await fresh.db.all("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")).toEqual([{ TABLE_NAME: 'wp_posts' }]);
  });

  it('accepts a database that is migrated and empty', async () => {
    const fresh = await freshMysqlDatabase();
    databases.push(fresh);
    const result = transfer(fresh.url, dataDir, '--json');
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'copied', migrationsApplied: [] });
  });

  it('stops before any row when the embedded schema has a column MySQL lacks (exit 70), naming it', async () => {
    const spoiled = copyOfDataDir();
    withSqlite(spoiled, (db) => db.exec('ALTER TABLE users ADD COLUMN nickname TEXT'));
    const fresh = await emptyDatabase();
    const result = transfer(fresh.url, spoiled);
    expect(result.status).toBe(EXIT.software);
    expect(result.stderr).toContain('the embedded column users.nickname has no MySQL counterpart');
    expect(await fresh.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM users')).toEqual({ n: 0 });
  });

  it('exits 65 when a count differs after the copy, and deletes what it copied', async () => {
    const spoiled = copyOfDataDir();
    // A search document whose text is gone cannot be copied: one row fewer arrives.
    withSqlite(spoiled, (db) => db.exec('DELETE FROM search_fts WHERE rowid = (SELECT min(doc_id) FROM search_documents)'));
    const fresh = await emptyDatabase();
    const result = transfer(fresh.url, spoiled);
    expect(result.status).toBe(EXIT.data);
    const documents = sqliteCounts(spoiled).search_documents!;
    expect(result.stderr).toContain(`search_documents has ${documents} rows in the embedded database, ${documents - 1} in MySQL`);
    expect(result.stderr).toContain('What was copied was deleted again');
    expect(Object.values(await mysqlCounts(fresh.db, Object.keys(sqliteCounts(spoiled)))).every((n) => n === 0)).toBe(true);
    // Emptied, it takes the transfer of a sound data dir.
    expect(transfer(fresh.url).status).toBe(0);
  });

  it('exits 64 on bad usage and 78 without an embedded database, touching nothing', async () => {
    expect(runCli(['transfer'], { MIXTAPE_DATA_DIR: dataDir }).status).toBe(EXIT.usage);
    expect(transfer('http://127.0.0.1:3306/mixtape').status).toBe(EXIT.usage);
    expect(transfer('mysql://root@127.0.0.1:3306/').status).toBe(EXIT.usage);
    const missing = join(scratch, `none-${randomBytes(3).toString('hex')}`);
    const result = transfer('mysql://root@127.0.0.1:3306/mixtape', missing);
    expect(result.status).toBe(EXIT.config);
    expect(result.stderr).toContain('there is no embedded database');
  });
});

/** A loopback port where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
