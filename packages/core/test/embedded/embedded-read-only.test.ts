import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateSqlite, openSqliteDatabase } from '../../src/db/sqlite-database.js';
import { sqliteMigrations } from '../../src/db/sqlite-migrations.js';
import { DEMO_TRACKS } from '../../src/demo/demo-catalog.js';
import { openSqliteBackends } from '../../src/embedded/sqlite-backends.js';
import { LocalBlobStore } from '../../src/storage/local-blob-store.js';

/** Read-only opening, for dry runs: it must not change a single byte, file or mtime. */

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mixtape-read-only-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Names, sizes, mtimes and hashes of every file under `root`, and the mtimes of its directories. */
function fingerprint(root: string): string[] {
  const lines: string[] = [];
  const walk = (path: string) => {
    const info = statSync(path);
    if (info.isDirectory()) {
      lines.push(`${path}/ ${info.mtimeMs}`);
      for (const name of readdirSync(path).sort()) walk(join(path, name));
    } else {
      lines.push(`${path} ${info.size} ${info.mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
    }
  };
  walk(root);
  return lines;
}

function makeDatabase(path: string): void {
  const db = openSqliteDatabase(path);
  migrateSqlite(db);
  db.prepare(`INSERT INTO tracks (id, title, artists, album, duration_ms, updated_at) VALUES ('t', 'T', '[]', 'A', 1, 1)`).run();
  db.close();
}

describe('openSqliteDatabase({ readOnly: true })', () => {
  it('reads a WAL database that no one holds open, creating no -wal or -shm file', () => {
    const path = join(dir, 'mixtape.db');
    makeDatabase(path);
    const before = fingerprint(dir);
    const db = openSqliteDatabase(path, { readOnly: true });
    expect(db.prepare('SELECT title FROM tracks').pluck().all()).toEqual(['T']);
    expect(() => db.prepare(`UPDATE tracks SET title = 'changed'`).run()).toThrow(/readonly/);
    db.close();
    expect(fingerprint(dir)).toEqual(before);
  });

  it('shares the files of a process that has it open, and sees its latest commits', () => {
    const path = join(dir, 'mixtape.db');
    makeDatabase(path);
    const writer = openSqliteDatabase(path);
    try {
      writer.prepare(`UPDATE tracks SET title = 'latest'`).run();
      const reader = openSqliteDatabase(path, { readOnly: true });
      expect(reader.prepare('SELECT title FROM tracks').pluck().get()).toBe('latest');
      expect(() => reader.prepare('DELETE FROM tracks').run()).toThrow(/readonly/);
      reader.close();
    } finally {
      writer.close();
    }
  });
});

describe('openSqliteBackends({ readOnly: true })', () => {
  it('applies no migration, reports the pending ones, and changes nothing', async () => {
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'mixtape.db'), '');
    const before = fingerprint(dir);
    const backends = await openSqliteBackends({ dataDir, readOnly: true });
    expect(backends.pendingMigrations).toEqual(sqliteMigrations.map((m) => m.version));
    await backends.close();
    expect(fingerprint(dir)).toEqual(before);
  });

  it('refuses a data dir without a database, and creates none', async () => {
    const dataDir = join(dir, 'absent');
    await expect(openSqliteBackends({ dataDir, readOnly: true })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('sweeps no temp file and refuses to write or delete, while a normal open uses MIXTAPE_STORAGE_DIR', async () => {
    const dataDir = join(dir, 'data');
    const storageDir = join(dir, 'volume');
    const writable = await openSqliteBackends({ dataDir, storageDir });
    await writable.catalog.upsert([DEMO_TRACKS[0]!]);
    await writable.close();
    expect(readdirSync(storageDir).sort()).toEqual(['blobs', 'tmp']);
    expect(existsSync(join(dataDir, 'audio'))).toBe(false);
    const stale = join(storageDir, 'tmp', 'crashed.part');
    writeFileSync(stale, 'half');
    const longAgo = new Date(Date.now() - 24 * 3_600_000);
    utimesSync(stale, longAgo, longAgo);
    const before = fingerprint(dir);

    const readOnly = await openSqliteBackends({ dataDir, storageDir, readOnly: true });
    expect(readOnly.pendingMigrations).toEqual([]);
    expect((await readOnly.catalog.get(DEMO_TRACKS[0]!.id))?.title).toBe(DEMO_TRACKS[0]!.title);
    await expect(readOnly.blobs.begin()).rejects.toThrow(/read-only/);
    await expect(readOnly.blobs.delete('a'.repeat(64))).rejects.toThrow(/read-only/);
    // The driver's refusal, translated by the adapter: a fault of the database, not a bug.
    await expect(readOnly.catalog.upsert([DEMO_TRACKS[1]!])).rejects.toMatchObject({
      code: 'ERR_UNAVAILABLE',
      cause: expect.objectContaining({ code: 'SQLITE_READONLY' }),
    });
    await readOnly.close();
    expect(fingerprint(dir)).toEqual(before);
  });
});

describe('LocalBlobStore({ readOnly: true })', () => {
  it('creates no directory on start', async () => {
    const store = new LocalBlobStore({ root: join(dir, 'nothing-yet'), readOnly: true });
    expect(await store.start()).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });
});
