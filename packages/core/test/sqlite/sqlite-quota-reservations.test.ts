import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrateSqlite, openSqliteDatabase } from '../../src/db/sqlite-database.js';
import { sqliteMigrations } from '../../src/db/sqlite-migrations.js';
import type { JobLease } from '../../src/jobs/job-queue.js';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';
import { SqliteLibraryStore } from '../../src/library/sqlite-library-store.js';
import { SqliteFencingTokens } from '../../src/locks/sqlite-fencing-tokens.js';
import { describeQuotaReservations } from '../contracts/quota-reservations.contract.js';
import { bundleChildProgram, type ChildProgram } from './child-processes.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

const MB = 1_000_000;

describeQuotaReservations('sqlite', async () => {
  const temp = openTempSqlite();
  return { queue: new SqliteJobQueue(temp.db), library: new SqliteLibraryStore(temp.db), fencing: new SqliteFencingTokens(temp.db), close: temp.close };
});

describe('quota usage rows in SQLite', () => {
  let temp: TempSqlite;
  let queue: SqliteJobQueue;
  let library: SqliteLibraryStore;

  beforeEach(() => {
    temp = openTempSqlite();
    queue = new SqliteJobQueue(temp.db);
    library = new SqliteLibraryStore(temp.db);
  });

  afterEach(() => temp.close());

  async function running(userId: string, trackId: string): Promise<JobLease> {
    await queue.enqueue({ userId, trackId, maxAttempts: 3, maxActive: 100 });
    return (await queue.claim(`w-${trackId}`, 60_000))!;
  }

  it('repairs usage rows that drifted from the items and reservations they count', async () => {
    await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, 10 * MB);
    await library.add({ userId: 'u2', trackId: 't1', sizeBytes: 3 * MB }, 10 * MB);
    const lease = await running('u1', 't2');
    await queue.reserve(lease.job.id, lease.token, 2 * MB, 10 * MB);
    const done = await running('u2', 't3');
    await queue.complete(done.job.id, done.token);
    expect(await library.repairUsage()).toBe(0);

    // Faults: rows changed by hand, a usage row lost, a finished job left holding bytes.
    temp.db.exec(`
      UPDATE user_usage SET committed_bytes = 9000000, reserved_bytes = 0 WHERE user_id = 'u1';
      DELETE FROM user_usage WHERE user_id = 'u2';
      INSERT INTO library_items (user_id, track_id, size_bytes, added_at) VALUES ('u3', 't9', 1000000, 0);
      UPDATE jobs SET reserved_bytes = 5000000 WHERE id = '${done.job.id}';
    `);
    expect(await library.repairUsage()).toBe(4);
    expect(await library.usage('u1')).toEqual({ committedBytes: 3 * MB, reservedBytes: 2 * MB });
    expect(await library.usage('u2')).toEqual({ committedBytes: 3 * MB, reservedBytes: 0 });
    expect(await library.usage('u3')).toEqual({ committedBytes: MB, reservedBytes: 0 });
    expect(await library.repairUsage()).toBe(0);
  });

  it('counts what libraries already held when the usage rows arrive (migration 8)', () => {
    const old = openSqliteDatabase(`${temp.path}-old`);
    try {
      migrateSqlite(old, sqliteMigrations.filter((m) => m.version < 8));
      old.exec(`
        INSERT INTO library_items (user_id, track_id, size_bytes, added_at) VALUES ('u1', 'a', 5, 0), ('u1', 'b', 7, 0), ('u2', 'a', 5, 0);
        INSERT INTO tracks (id, title, artists, album, duration_ms, blob_key, size_bytes, content_type, updated_at)
        VALUES ('a', 'A', '[]', 'X', 1, '${'a'.repeat(64)}', 5, 'audio/mpeg', 0);
      `);
      migrateSqlite(old);
      expect(old.prepare('SELECT user_id, committed_bytes, reserved_bytes FROM user_usage ORDER BY user_id').all()).toEqual([
        { user_id: 'u1', committed_bytes: 12, reserved_bytes: 0 },
        { user_id: 'u2', committed_bytes: 5, reserved_bytes: 0 },
      ]);
      expect(old.prepare("SELECT seen_size_bytes FROM tracks WHERE id = 'a'").pluck().get()).toBe(5);
    } finally {
      old.close();
    }
  });
});

describe('quota reservations across processes', () => {
  let temp: TempSqlite;
  let child: ChildProgram;

  beforeAll(async () => {
    child = await bundleChildProgram('./quota-child.ts');
  });

  afterAll(() => child?.remove());

  beforeEach(() => {
    temp = openTempSqlite();
  });

  afterEach(() => temp.close());

  /** Each lease's process reserves `bytes` and commits, all at the same moment. */
  async function race(leases: JobLease[], bytes: number, limitBytes: number): Promise<{ reserved: string; committed: string | null }[]> {
    const startAt = Date.now() + 500;
    const results = await Promise.all(
      leases.map((lease) =>
        child.run([temp.path, JSON.stringify({ jobId: lease.job.id, token: lease.token, userId: lease.job.userId, trackId: lease.job.trackId, bytes, limitBytes, startAt })]),
      ),
    );
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    return results.map((result) => result.lines.at(-1) as { reserved: string; committed: string | null });
  }

  it('lets exactly one of two processes racing for a user’s last bytes have them', async () => {
    const queue = new SqliteJobQueue(temp.db);
    const library = new SqliteLibraryStore(temp.db);
    await library.add({ userId: 'u1', trackId: 'held', sizeBytes: 4 * MB }, 10 * MB);
    const leases: JobLease[] = [];
    for (const trackId of ['a', 'b']) {
      await queue.enqueue({ userId: 'u1', trackId, maxAttempts: 3, maxActive: 100 });
      leases.push((await queue.claim(`w-${trackId}`, 60_000))!);
    }
    const outcomes = await race(leases, 5 * MB, 10 * MB);
    expect(outcomes.map((o) => `${o.reserved}/${o.committed}`).sort()).toEqual(['over-quota/null', 'reserved/added']);
    expect(await library.usage('u1')).toEqual({ committedBytes: 9 * MB, reservedBytes: 0 });
    expect((await library.list('u1', { limit: 10, offset: 0 })).total).toBe(2);
  });

  it('keeps usage exact while six processes race for one quota', async () => {
    const queue = new SqliteJobQueue(temp.db);
    const library = new SqliteLibraryStore(temp.db);
    const leases: JobLease[] = [];
    for (let i = 0; i < 6; i += 1) {
      await queue.enqueue({ userId: 'u1', trackId: `t${i}`, maxAttempts: 3, maxActive: 100 });
      leases.push((await queue.claim(`w${i}`, 60_000))!);
    }
    const outcomes = await race(leases, 3 * MB, 10 * MB);
    expect(outcomes.filter((o) => o.committed === 'added')).toHaveLength(3);
    expect(outcomes.filter((o) => o.reserved === 'over-quota')).toHaveLength(3);
    expect(await library.usage('u1')).toEqual({ committedBytes: 9 * MB, reservedBytes: 0 });
    // The rows agree with the counters: nothing for a repair to correct.
    expect(await library.repairUsage()).toBe(0);
  });
});
