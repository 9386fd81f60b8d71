import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

describe('SqliteJobQueue', () => {
  let temp: TempSqlite;

  beforeEach(() => {
    temp = openTempSqlite();
  });

  afterEach(() => temp.close());

  it('hands each job to one worker when workers use separate connections', async () => {
    const connections = [temp.db, temp.connect(), temp.connect()];
    const queues = connections.map((db) => new SqliteJobQueue(db));
    for (let i = 0; i < 20; i++) await queues[0]!.enqueue({ userId: 'u', trackId: `t${i}`, maxAttempts: 3 });
    const now = new Date(Date.now() + 1000);
    const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => queues[i % 3]!.claim(`w${i}`, 5000, now)));
    const ids = claims.filter((c) => c !== null).map((c) => c.id);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });

  it('keeps insertion order among jobs enqueued in the same millisecond', async () => {
    const queue = new SqliteJobQueue(temp.db);
    const jobs = [];
    for (let i = 0; i < 10; i++) jobs.push(await queue.enqueue({ userId: 'u', trackId: `t${i}`, maxAttempts: 1 }));
    // Force a tie on every time column.
    temp.db.prepare('UPDATE jobs SET created_at = 1, next_attempt_at = 1, updated_at = 1').run();
    const now = new Date(Date.now() + 1000);
    const claimed = [];
    for (let i = 0; i < 10; i++) claimed.push((await queue.claim('w', 5000, now))?.id);
    expect(claimed).toEqual(jobs.map((j) => j.id));
  });

  it('refuses a job without a single attempt', async () => {
    const queue = new SqliteJobQueue(temp.db);
    await expect(queue.enqueue({ userId: 'u', trackId: 't', maxAttempts: 0 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
  });

  it('stores times as epoch milliseconds and the lease only while running', async () => {
    const queue = new SqliteJobQueue(temp.db);
    const job = await queue.enqueue({ userId: 'u', trackId: 't', maxAttempts: 1 });
    const row = () =>
      temp.db.prepare('SELECT created_at, next_attempt_at, lease_worker, lease_expires_at FROM jobs').get() as Record<string, unknown>;
    expect(row().created_at).toBe(job.createdAt.getTime());
    await queue.claim('w', 5000, new Date(Date.now() + 1000));
    expect(row()).toMatchObject({ next_attempt_at: null, lease_worker: 'w', lease_expires_at: expect.any(Number) });
    await queue.complete(job.id, 'w');
    expect(row()).toMatchObject({ lease_worker: null, lease_expires_at: null });
  });
});
