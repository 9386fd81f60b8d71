import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { openSqliteDatabase } from '@mixtape/core/sqlite';
import { ensureBuilt, killAll, printedUrl, runCli, startCli, type CliProcess } from './support/cli-process.js';
import { call } from './support/test-server.js';
import { directorySnapshot } from './support/directory-snapshot.js';

const HOUR_MS = 3_600_000;
const processes: CliProcess[] = [];
let root: string;

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'mixtape-dry-run-'));
}, 180_000);

afterAll(() => {
  killAll(processes);
  rmSync(root, { recursive: true, force: true });
});

function blobFiles(storageDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const path = join(dir, name);
      if (lstatSync(path).isDirectory()) walk(path);
      else found.push(path);
    }
  };
  walk(join(storageDir, 'blobs'));
  return found;
}

async function downloadDemoTracks(api: string, trackIds: string[]): Promise<void> {
  const credentials = { username: `dry${randomBytes(3).toString('hex')}`, password: 'a long enough password' };
  expect((await call(`${api}/auth/register`, { body: credentials })).status).toBe(201);
  const { accessToken } = (await call(`${api}/auth/login`, { body: credentials })).body;
  for (const track of trackIds) {
    const job = await call(`${api}/downloads`, { token: accessToken, body: { track } });
    expect(job.status, job.text).toBe(202);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const current = await call(`${api}/downloads/${job.body.id}`, { token: accessToken });
      if (current.body.status === 'completed') break;
      if (current.body.status === 'failed' || Date.now() > deadline) throw new Error(`download ended ${current.text}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('mixtape reconcile --dry-run on a served, then stopped, data dir with work to do', () => {
  let env: Record<string, string>;
  let dataDir: string;
  let storageDir: string;
  let orphan: string;
  let staleTemp: string;

  beforeAll(async () => {
    const base = join(root, 'served');
    dataDir = join(base, 'data');
    // Apart from the data dir, as a shared volume would be.
    storageDir = join(base, 'shared-volume', 'audio');
    env = {
      MIXTAPE_DATA_DIR: dataDir,
      MIXTAPE_STORAGE_DIR: storageDir,
      MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
      MIXTAPE_PORT: '0',
      MIXTAPE_WORKERS: '1',
    };
    const serve = startCli(['serve'], env);
    processes.push(serve);
    const url = await printedUrl(serve, 'Mixtape is listening on');
    const [kept, lost] = [DEMO_TRACKS[0]!.id, DEMO_TRACKS[1]!.id];
    await downloadDemoTracks(`${url}/api/v1`, [kept, lost]);
    serve.child.kill('SIGTERM');
    expect((await serve.exited)[0]).toBe(0);

    // Stored audio went to MIXTAPE_STORAGE_DIR, nothing of it under the data dir.
    expect(blobFiles(storageDir)).toHaveLength(2);
    expect(existsSync(join(dataDir, 'audio'))).toBe(false);

    // Work for the reconciler, made the way crashes and drift make it.
    const db = openSqliteDatabase(join(dataDir, 'mixtape.db'));
    const lostKey = db.prepare('SELECT blob_key FROM tracks WHERE id = ?').pluck().get(lost) as string;
    const [unindexed, unlisted] = [DEMO_TRACKS[2]!.id, DEMO_TRACKS[3]!.id];
    const docId = db.prepare('SELECT doc_id FROM search_documents WHERE track_id = ?').pluck().get(unindexed);
    db.prepare('DELETE FROM search_fts WHERE rowid = ?').run(docId);
    db.prepare('DELETE FROM search_documents WHERE track_id = ?').run(unindexed);
    db.prepare('DELETE FROM tracks WHERE id = ?').run(unlisted);
    const longAgo = Date.now() - 2 * HOUR_MS;
    db.prepare(
      `INSERT INTO jobs (id, user_id, track_id, status, attempts, max_attempts, lease_worker, lease_expires_at, created_at, updated_at)
       VALUES (?, 'someone', ?, 'running', 1, 5, 'a-worker-that-died', ?, ?, ?)`,
    ).run(randomUUID(), kept, longAgo, longAgo, longAgo);
    db.close();
    const lostPath = blobFiles(storageDir).find((path) => path.endsWith(lostKey))!;
    unlinkSync(lostPath);

    const orphanKey = createHash('sha256').update('an orphan').digest('hex');
    orphan = join(storageDir, 'blobs', orphanKey.slice(0, 2), orphanKey.slice(2, 4), orphanKey);
    mkdirSync(join(orphan, '..'), { recursive: true });
    writeFileSync(orphan, 'an orphan');
    staleTemp = join(storageDir, 'tmp', `${randomBytes(16).toString('hex')}.part`);
    writeFileSync(staleTemp, 'half a download from a crash');
    const old = new Date(longAgo);
    for (const path of [orphan, staleTemp]) utimesSync(path, old, old);
  }, 60_000);

  it('reports every inconsistency and changes nothing: no file, no byte, no mtime', () => {
    const before = directorySnapshot(join(root, 'served'));

    const text = runCli(['reconcile', '--dry-run'], env);
    const json = runCli(['reconcile', '--dry-run', '--json'], env);
    expect(directorySnapshot(join(root, 'served'))).toEqual(before);

    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/dry run: nothing changed/);
    for (const kind of ['orphanFiles', 'missingFiles', 'missingDocuments', 'staleDocuments', 'stuckJobs']) {
      expect(text.stdout).toMatch(new RegExp(`^\\s+${kind}\\s+found 1, repaired 0$`, 'm'));
    }
    expect(json.status, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({
      dryRun: true,
      pendingMigrations: [],
      found: { orphanFiles: 1, missingFiles: 1, missingDocuments: 1, staleDocuments: 1, stuckJobs: 1 },
      repaired: { orphanFiles: 0, missingFiles: 0, missingDocuments: 0, staleDocuments: 0, stuckJobs: 0 },
    });
    expect(report.checked.files).toBe(2);
  });

  it('while a real pass, for contrast, repairs all of it and sweeps the stale temp file', () => {
    const before = directorySnapshot(join(root, 'served'));
    const run = runCli(['reconcile', '--json'], env);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).repaired).toEqual({ orphanFiles: 1, missingFiles: 1, missingDocuments: 1, staleDocuments: 1, stuckJobs: 1 });
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(staleTemp)).toBe(false);
    expect(directorySnapshot(join(root, 'served'))).not.toEqual(before);

    const again = JSON.parse(runCli(['reconcile', '--dry-run', '--json'], env).stdout);
    expect(Object.values(again.found)).toEqual([0, 0, 0, 0, 0]);
    // A warning (no signing key here) goes to stderr: --json's output stays one document.
    const warned = runCli(['reconcile', '--dry-run', '--json'], { ...env, MIXTAPE_JWT_SECRET: '' });
    expect(warned.stderr).toMatch(/MIXTAPE_JWT_SECRET is not set/);
    expect(Object.values(JSON.parse(warned.stdout).found)).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('mixtape reconcile --dry-run where there is nothing to look at', () => {
  it('on a data dir that does not exist: says so, exits 0, and creates nothing', () => {
    const dataDir = join(root, 'never-made', 'data');
    for (const args of [['reconcile', '--dry-run'], ['reconcile', '--dry-run', '--json']]) {
      const run = runCli(args, { MIXTAPE_DATA_DIR: dataDir });
      expect(run.status, run.stderr).toBe(0);
      if (args.includes('--json')) expect(JSON.parse(run.stdout)).toMatchObject({ dryRun: true, skipped: expect.stringMatching(/no database/) });
      else expect(run.stdout).toMatch(/^Nothing to check: there is no database at /m);
    }
    expect(existsSync(join(root, 'never-made'))).toBe(false);
  });

  it('on a database without the schema: lists the pending migrations and applies none', () => {
    const dataDir = join(root, 'unmigrated');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'mixtape.db'), '');
    const before = directorySnapshot(dataDir);

    const text = runCli(['reconcile', '--dry-run'], { MIXTAPE_DATA_DIR: dataDir });
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Migrations pending: 1(, \d+)* \(a dry run applies none\)$/m);
    expect(text.stdout).toMatch(/^Nothing to check: .*mixtape migrate/m);
    const json = runCli(['reconcile', '--dry-run', '--json'], { MIXTAPE_DATA_DIR: dataDir });
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).pendingMigrations[0]).toBe(1);

    expect(directorySnapshot(dataDir)).toEqual(before);
    expect(readFileSync(join(dataDir, 'mixtape.db'))).toHaveLength(0);
  });
});
