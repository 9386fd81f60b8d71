import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrateSqlite, openSqliteDatabase } from '../../src/db/sqlite-database.js';
import { sqliteMigrations } from '../../src/db/sqlite-migrations.js';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';
import { bundleChildProgram, type ChildProgram } from './child-processes.js';
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
    for (let i = 0; i < 20; i++) await queues[0]!.enqueue({ userId: 'u', trackId: `t${i}`, maxAttempts: 3, maxActive: 100 });
    const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => queues[i % 3]!.claim(`w${i}`, 5000)));
    const ids = claims.filter((c) => c !== null).map((c) => c.job.id);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });

  it('keeps insertion order among jobs with the same due time', async () => {
    const queue = new SqliteJobQueue(temp.db);
    const jobs = [];
    for (let i = 0; i < 10; i++) jobs.push((await queue.enqueue({ userId: `u${i}`, trackId: 't', maxAttempts: 1, maxActive: 1 })) as { job: { id: string } });
    // Force a tie on every time column.
    temp.db.prepare('UPDATE jobs SET created_at = 1, next_attempt_at = 1, due_at = 1, updated_at = 1').run();
    const claimed = [];
    for (let i = 0; i < 10; i++) claimed.push((await queue.claim('w', 5000))?.job.id);
    expect(claimed).toEqual(jobs.map((j) => j.job.id));
  });

  it('refuses a job without a single attempt, and a cap below one', async () => {
    const queue = new SqliteJobQueue(temp.db);
    await expect(queue.enqueue({ userId: 'u', trackId: 't', maxAttempts: 0, maxActive: 1 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    await expect(queue.enqueue({ userId: 'u', trackId: 't', maxAttempts: 1, maxActive: 0 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    expect(() => new SqliteJobQueue(temp.db, { purgeBatchSize: 0 })).toThrow(/purgeBatchSize/);
  });

  it('stores times as epoch milliseconds of the database’s clock, and the lease only while running', async () => {
    const queue = new SqliteJobQueue(temp.db);
    const outcome = await queue.enqueue({ userId: 'u', trackId: 't', maxAttempts: 1, maxActive: 1 });
    const job = (outcome as { job: { id: string; createdAt: Date } }).job;
    const row = () =>
      temp.db.prepare('SELECT created_at, updated_at, next_attempt_at, lease_worker, lease_token, lease_expires_at FROM jobs').get() as Record<string, number | string | null>;
    expect(row().created_at).toBe(job.createdAt.getTime());
    const lease = await queue.claim('w', 5000);
    expect(row()).toMatchObject({ next_attempt_at: null, lease_worker: 'w', lease_token: lease!.token });
    // Both ends of the lease come from one reading of the database's clock.
    expect(Number(row().lease_expires_at) - Number(row().updated_at)).toBe(5000);
    await queue.complete(job.id, lease!.token);
    expect(row()).toMatchObject({ lease_worker: null, lease_token: null, lease_expires_at: null });
  });

  it('refuses a second active job for a user and track in the schema itself', async () => {
    const queue = new SqliteJobQueue(temp.db);
    await queue.enqueue({ userId: 'u', trackId: 't', maxAttempts: 1, maxActive: 5 });
    const insert = temp.db.prepare(
      "INSERT INTO jobs (id, user_id, track_id, status, max_attempts, due_at, created_at, updated_at) VALUES (?, 'u', 't', ?, 1, 0, 0, 0)",
    );
    expect(() => insert.run('dup-queued', 'queued')).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_UNIQUE' }));
    expect(() => insert.run('dup-running', 'running')).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_UNIQUE' }));
    // Final jobs for the track may be many.
    insert.run('old-1', 'completed');
    insert.run('old-2', 'failed');
  });

  it('purges in batches, letting other writes in between', async () => {
    const queue = new SqliteJobQueue(temp.db, { purgeBatchSize: 10 });
    for (let i = 0; i < 35; i++) {
      const outcome = (await queue.enqueue({ userId: 'u', trackId: `t${i}`, maxAttempts: 1, maxActive: 100 })) as { job: { id: string } };
      await queue.cancel(outcome.job.id, 'u');
    }
    const finished = () => temp.db.prepare("SELECT count(*) FROM jobs WHERE status = 'cancelled'").pluck().get() as number;
    const purging = queue.purgeFinished(new Date(Date.now() + 60_000));
    // The first batch ran before purgeFinished first yielded; another write gets in now.
    expect(finished()).toBe(25);
    await queue.enqueue({ userId: 'u', trackId: 'meanwhile', maxAttempts: 1, maxActive: 100 });
    expect(await purging).toBe(35);
    expect(finished()).toBe(0);
    expect((await queue.list({ limit: 10, offset: 0 })).total).toBe(1);
  });

  it('migrates a database that holds duplicate active jobs: one stays per user and track, and the counts start from the rows', () => {
    const dir = temp.path.replace(/mixtape\.db$/, '');
    const old = openSqliteDatabase(`${dir}old.db`);
    try {
      migrateSqlite(old, sqliteMigrations.filter((m) => m.version < 3));
      const insert = old.prepare(
        'INSERT INTO jobs (id, user_id, track_id, status, max_attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 3, 1, ?, 1)',
      );
      insert.run('q1', 'u1', 't1', 'queued', 1);
      insert.run('r1', 'u1', 't1', 'running', 2);
      insert.run('q2', 'u1', 't1', 'queued', 3);
      insert.run('q3', 'u1', 't2', 'queued', 4);
      insert.run('q4', 'u1', 't2', 'queued', 5);
      insert.run('c1', 'u1', 't3', 'completed', 6);
      insert.run('q5', 'u2', 't1', 'queued', 7);
      expect(migrateSqlite(old, sqliteMigrations.filter((m) => m.version <= 3))).toEqual([3]);
      const statuses = Object.fromEntries(
        (old.prepare('SELECT id, status FROM jobs ORDER BY seq').all() as { id: string; status: string }[]).map((r) => [r.id, r.status]),
      );
      expect(statuses).toEqual({ q1: 'cancelled', r1: 'running', q2: 'cancelled', q3: 'queued', q4: 'cancelled', c1: 'completed', q5: 'queued' });
      expect(old.prepare('SELECT user_id, active FROM user_job_counts ORDER BY user_id').all()).toEqual([
        { user_id: 'u1', active: 2 },
        { user_id: 'u2', active: 1 },
      ]);
      expect(old.prepare('SELECT count(*) FROM jobs WHERE due_at IS NULL').pluck().get()).toBe(0);
    } finally {
      old.close();
    }
  });
});

describe('SqliteJobQueue across processes', () => {
  let temp: TempSqlite;
  let child: ChildProgram;

  beforeAll(async () => {
    child = await bundleChildProgram('./job-queue-child.ts');
  });

  afterAll(() => child?.remove());

  beforeEach(() => {
    temp = openTempSqlite();
  });

  afterEach(() => temp.close());

  const run = async (command: string, args: Record<string, unknown>) => {
    const result = await child.run([temp.path, command, JSON.stringify(args)]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.lines.at(-1);
  };

  it('makes one job of the same request racing from several processes', async () => {
    const startAt = Date.now() + 500;
    const outcomes = (
      await Promise.all(
        Array.from({ length: 4 }, () => run('enqueue', { userId: 'u', trackIds: ['t', 't', 't'], startAt }) as Promise<{ kind: string; id: string }[]>),
      )
    ).flat();
    expect(outcomes).toHaveLength(12);
    expect(outcomes.filter((o) => o.kind === 'enqueued')).toHaveLength(1);
    expect(new Set(outcomes.map((o) => o.id)).size).toBe(1);
    expect(temp.db.prepare("SELECT count(*) FROM jobs WHERE status = 'queued'").pluck().get()).toBe(1);
    expect(temp.db.prepare("SELECT active FROM user_job_counts WHERE user_id = 'u'").pluck().get()).toBe(1);
  });

  it('holds the per-user cap against processes enqueueing at once', async () => {
    const startAt = Date.now() + 500;
    const outcomes = (
      await Promise.all(
        Array.from({ length: 3 }, (_, p) =>
          run('enqueue', { userId: 'u', trackIds: Array.from({ length: 4 }, (_, i) => `p${p}-t${i}`), maxActive: 5, startAt }) as Promise<
            { kind: string }[]
          >,
        ),
      )
    ).flat();
    expect(outcomes.filter((o) => o.kind === 'enqueued')).toHaveLength(5);
    expect(outcomes.filter((o) => o.kind === 'over-cap')).toHaveLength(7);
    expect(temp.db.prepare("SELECT count(*) FROM jobs WHERE user_id = 'u'").pluck().get()).toBe(5);
  });

  it('hands each job to one of the workers of several processes', async () => {
    const queue = new SqliteJobQueue(temp.db);
    for (let i = 0; i < 24; i++) await queue.enqueue({ userId: `u${i % 4}`, trackId: `t${i}`, maxAttempts: 3, maxActive: 100 });
    const startAt = Date.now() + 500;
    const ids = (await Promise.all(Array.from({ length: 3 }, () => run('claim', { count: 10, startAt }) as Promise<string[]>))).flat();
    expect(ids).toHaveLength(24);
    expect(new Set(ids).size).toBe(24);
  });

  it('takes back the job of a killed worker process and refuses its stale token afterwards', async () => {
    const queue = new SqliteJobQueue(temp.db);
    const outcome = (await queue.enqueue({ userId: 'u', trackId: 't', maxAttempts: 3, maxActive: 1 })) as { job: { id: string } };
    const killed = await child.run([temp.path, 'claim-and-die', JSON.stringify({ leaseMs: 200 })]);
    expect(killed.signal).toBe('SIGKILL');
    const stale = killed.lines[0] as { id: string; token: string };
    expect(stale.id).toBe(outcome.job.id);

    expect(await queue.reapExpired()).toEqual({ requeued: 0, failed: 0 });
    await sleep(300);
    expect(await queue.reapExpired()).toEqual({ requeued: 1, failed: 0 });
    const lease = await queue.claim('here', 30_000);
    expect(lease?.job).toMatchObject({ id: stale.id, attempts: 2, error: { code: 'lease-expired' } });

    // The dead worker's token, presented from yet another process, changes nothing.
    expect(await run('complete', { jobId: stale.id, token: stale.token })).toBe(false);
    expect(await queue.get(stale.id)).toMatchObject({ status: 'running', lease: { workerId: 'here' } });
    expect(await queue.complete(stale.id, lease!.token)).toBe(true);
  });
});
