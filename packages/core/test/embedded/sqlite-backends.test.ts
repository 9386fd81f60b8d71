import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteMigrations } from '../../src/db/sqlite-migrations.js';
import { DEMO_TRACKS } from '../../src/demo/demo-catalog.js';
import { openSqliteBackends } from '../../src/embedded/sqlite-backends.js';
import { MigrationsPendingError, NotFoundError, ValidationError } from '../../src/errors.js';

const [track] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[0]];
const ALL = sqliteMigrations.map((migration) => migration.version);

/** `openSqliteBackends` with what each caller needs: a client of its own, no creating, no migrating. */
describe('openSqliteBackends', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mixtape-sqlite-backends-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes a better-sqlite3 database of the caller, sets what the adapters rely on, and leaves it open', async () => {
    // better-sqlite3's own default busy timeout is 5 s, on the event loop.
    const db = new Database(join(dir, 'given.db'));
    const backends = await openSqliteBackends({ db, storageDir: join(dir, 'audio') });
    expect(backends.db).toBe(db);
    expect(backends.appliedMigrations).toEqual(ALL);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    await backends.catalog.upsert([track]);
    expect(await backends.locks.using(['track:a'], async ({ fencingToken }) => fencingToken)).toBeGreaterThan(0);
    await backends.close();
    expect(db.open).toBe(true);

    const again = await openSqliteBackends({ db, storageDir: join(dir, 'audio') });
    expect(again.appliedMigrations).toEqual([]);
    expect((await again.catalog.get(track.id))?.title).toBe(track.title);
    await again.close();
    db.close();
  });

  it('works on an in-memory database, its locks sharing the one connection', async () => {
    const db = new Database(':memory:');
    const backends = await openSqliteBackends({ db, storageDir: join(dir, 'audio') });
    expect(await backends.locks.using(['track:a'], async ({ fencingToken }) => fencingToken)).toBeGreaterThan(0);
    await backends.close();
    db.close();
  });

  it('needs somewhere to keep audio', async () => {
    const db = new Database(':memory:');
    await expect(openSqliteBackends({ db })).rejects.toBeInstanceOf(ValidationError);
    db.close();
  });

  it('with create: false, refuses a missing database and creates nothing', async () => {
    const dataDir = join(dir, 'absent');
    await expect(openSqliteBackends({ dataDir, create: false })).rejects.toBeInstanceOf(NotFoundError);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('with migrate: false, refuses pending migrations, naming them, and applies none', async () => {
    const dataDir = join(dir, 'data');
    const refused = await openSqliteBackends({ dataDir, migrate: false }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MigrationsPendingError);
    expect(refused).toMatchObject({ code: 'ERR_CONFIG', pending: ALL });
    const backends = await openSqliteBackends({ dataDir });
    expect(backends.appliedMigrations).toEqual(ALL);
    await backends.close();
  });
});
