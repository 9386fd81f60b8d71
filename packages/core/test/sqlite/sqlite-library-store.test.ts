import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/errors.js';
import { SqliteLibraryStore } from '../../src/library/sqlite-library-store.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

const MB = 1_000_000;

/**
 * Another process that takes the write lock, adds an 8 MB item for u1 (the item and its usage
 * row, as the store does), and commits after `holdMs`. It prints "locked" once it holds the lock.
 */
const OTHER_WRITER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.pragma('busy_timeout = 5000');
db.exec('BEGIN IMMEDIATE');
db.prepare('INSERT INTO library_items (user_id, track_id, size_bytes, added_at) VALUES (?, ?, ?, ?)').run('u1', 'theirs', 8000000, Date.now());
db.prepare('INSERT INTO user_usage (user_id, committed_bytes) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET committed_bytes = committed_bytes + excluded.committed_bytes').run('u1', 8000000);
process.stdout.write('locked\\n');
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[3]));
db.exec('COMMIT');
db.close();
`;

describe('SqliteLibraryStore', () => {
  let temp: TempSqlite;

  beforeEach(() => {
    temp = openTempSqlite();
  });

  afterEach(() => temp.close());

  it('lets exactly as many racing adds in as fit, over several connections', async () => {
    // Three connections to one file, as three processes would have.
    const connections = [temp.db, temp.connect(), temp.connect()];
    const stores = connections.map((db) => new SqliteLibraryStore(db));
    const limit = 50 * MB;
    const adds = Array.from({ length: 40 }, (_, i) =>
      stores[i % stores.length]!.add({ userId: 'u1', trackId: `t${i}`, sizeBytes: 3 * MB }, limit),
    );
    const results = await Promise.allSettled(adds);

    const added = results.filter((r) => r.status === 'fulfilled');
    expect(added).toHaveLength(16); // 16 × 3 MB = 48 MB ≤ 50 MB < 51 MB
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(QuotaExceededError);
    }
    const used = await stores[1]!.usedBytes('u1');
    expect(used).toBe(48 * MB);
    expect(used).toBeLessThanOrEqual(limit);
    expect((await stores[2]!.list('u1', { limit: 100, offset: 0 })).total).toBe(16);
  });

  it('waits for another process holding the write lock, and counts what it wrote', async () => {
    const require = createRequire(import.meta.url);
    const child = spawn(process.execPath, ['-e', OTHER_WRITER, require.resolve('better-sqlite3'), temp.path, '300'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
    expect(chunk.toString()).toContain('locked');

    // Read before the other process commits, the usage would be 0 and this would fit.
    const store = new SqliteLibraryStore(temp.db);
    const started = Date.now();
    await expect(store.add({ userId: 'u1', trackId: 'mine', sizeBytes: 5 * MB }, 10 * MB)).rejects.toMatchObject({
      code: 'ERR_QUOTA_EXCEEDED',
      usedBytes: 8 * MB,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    const [code] = await exited;
    expect(code).toBe(0);
    expect(await store.usedBytes('u1')).toBe(8 * MB);
  });
});
