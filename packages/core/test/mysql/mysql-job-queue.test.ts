import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { namedStatements } from '../../src/db/named-statements.js';
import { UnavailableError } from '../../src/errors.js';
import type { EnqueueOutcome } from '../../src/jobs/job-queue.js';
import { MysqlDatabase, type MysqlDatabaseOptions } from '../../src/mysql/mysql-database.js';
import { MysqlJobQueue } from '../../src/mysql/mysql-job-queue.js';
import jobQueueSql from '../../src/mysql/mysql-job-queue.sql';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { describeJobQueueHousekeeping } from '../contracts/job-queue-housekeeping.contract.js';
import { describeJobQueue } from '../contracts/job-queue.contract.js';
import { bundleChildProgram, type ChildProgram } from '../sqlite/child-processes.js';
import { explain } from './explain.js';
import { perFileDatabase } from './per-file-database.js';

const shared = perFileDatabase();
const TABLES = ['jobs', 'user_job_counts', 'user_usage'];
const SQL = namedStatements(jobQueueSql);

describeJobQueue('mysql', async () => {
  const { db } = await shared.emptied(TABLES);
  return { queue: new MysqlJobQueue(db), close: async () => undefined };
});

describeJobQueueHousekeeping('mysql', async () => {
  const { db } = await shared.emptied(TABLES);
  return {
    queue: new MysqlJobQueue(db),
    async corruptActiveCount(userId, active) {
      if (active === null) await db.run('DELETE FROM user_job_counts WHERE user_id = @userId', { userId });
      else await db.run('UPDATE user_job_counts SET active = @active WHERE user_id = @userId', { userId, active });
    },
    close: async () => undefined,
  };
});

describe('MysqlJobQueue on MariaDB', () => {
  const pools: MysqlDatabase[] = [];
  let db: MysqlDatabase;
  let queue: MysqlJobQueue;
  /** Another pool on the same database: another process, as far as the server can tell. */
  const otherProcess = async (options: MysqlDatabaseOptions = {}, poolSize = 1) => {
    const other = new MysqlDatabase(createMysqlPool((await shared.database()).url, { poolSize }), options);
    pools.push(other);
    return other;
  };
  const enqueue = (userId: string, trackId: string, maxActive = 100) => queue.enqueue({ userId, trackId, maxAttempts: 3, maxActive });
  const activeCount = async (userId: string) =>
    (await db.get<{ active: number }>('SELECT active FROM user_job_counts WHERE user_id = @userId', { userId }))?.active;

  beforeEach(async () => {
    db = (await shared.emptied(TABLES)).db;
    queue = new MysqlJobQueue(db);
  });

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.close()));
  });

  it('makes one job of ten requests for a track racing on ten connections', async () => {
    const queues = await Promise.all(Array.from({ length: 10 }, async () => new MysqlJobQueue(await otherProcess())));
    const outcomes = await Promise.all(queues.map((other) => other.enqueue({ userId: 'u', trackId: 't', maxAttempts: 3, maxActive: 5 })));
    expect(outcomes.filter((outcome) => outcome.kind === 'enqueued')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.kind === 'existing')).toHaveLength(9);
    expect(new Set(outcomes.map((outcome) => (outcome as { job: { id: string } }).job.id)).size).toBe(1);
    expect(await db.get("SELECT COUNT(*) AS n FROM jobs WHERE user_id = 'u'")).toEqual({ n: 1 });
    expect(await activeCount('u')).toBe(1);
  });

  it('answers with the job that won the unique key when an insert meets it, taking no slot', async () => {
    // A job for the track written by another transaction that has not committed when the
    // enqueue looks: the enqueue's insert waits on the key, then meets it (ER_DUP_ENTRY).
    const writer = await otherProcess();
    const enqueued = writer.withConnection((session) =>
      session.transaction(async (tx) => {
        await tx.run(
          "INSERT INTO jobs (id, user_id, track_id, status, max_attempts, next_attempt_at, due_at, created_at, updated_at) VALUES ('raw', 'u', 't', 'queued', 3, 0, 0, 0, 0)",
        );
        const outcome = enqueue('u', 't');
        // Long enough for the enqueue to reach its insert and wait on the key.
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Wrapped, so that the transaction commits without waiting for the enqueue.
        return { outcome };
      }),
    );
    const outcome = await (await enqueued).outcome;
    expect(outcome).toMatchObject({ kind: 'existing', job: { id: 'raw', status: 'queued' } });
    // Its counter row was rolled back with the insert.
    expect((await activeCount('u')) ?? 0).toBe(0);
  });

  it('holds the per-user cap across connections: exactly the jobs that fit are enqueued', async () => {
    const queues = await Promise.all(Array.from({ length: 10 }, async () => new MysqlJobQueue(await otherProcess())));
    const outcomes: EnqueueOutcome[] = await Promise.all(
      queues.map((other, i) => other.enqueue({ userId: 'u', trackId: `t${i}`, maxAttempts: 3, maxActive: 3 })),
    );
    expect(outcomes.filter((outcome) => outcome.kind === 'enqueued')).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome.kind === 'over-cap')).toHaveLength(7);
    expect(await activeCount('u')).toBe(3);
    expect(await queue.repairActiveCounts()).toBe(0);
  });

  it('lets exactly the reservations that fit through when ten connections race for the last bytes', async () => {
    const leases = [];
    for (let i = 0; i < 10; i += 1) {
      await enqueue('u', `t${i}`);
      leases.push((await queue.claim(`w${i}`, 60_000))!);
    }
    const queues = await Promise.all(leases.map(async () => new MysqlJobQueue(await otherProcess())));
    const outcomes = await Promise.all(leases.map((lease, i) => queues[i]!.reserve(lease.job.id, lease.token, 3_000_000, 10_000_000)));
    expect(outcomes.filter((outcome) => outcome.kind === 'reserved')).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome.kind === 'over-quota')).toHaveLength(7);
    expect(await db.get("SELECT committed_bytes, reserved_bytes FROM user_usage WHERE user_id = 'u'")).toEqual({
      committed_bytes: 0,
      reserved_bytes: 9_000_000,
    });
    expect(await db.get("SELECT SUM(reserved_bytes) AS total FROM jobs WHERE user_id = 'u'")).toEqual({ total: 9_000_000 });
  });

  it('lets enqueues through while a claim holds its transaction open: no gap locks at READ COMMITTED', async () => {
    // A retry backing off, passed over by the claim's scan, and one job that is due.
    await enqueue('a', 'backing-off');
    const first = (await queue.claim('w0', 60_000))!;
    await queue.release(first.job.id, first.token, { delayMs: 60_000 });
    const due = await enqueue('a', 'due');

    const claimer = await otherProcess();
    const during = await claimer.withConnection((session) =>
      session.transaction(async (tx) => {
        const picked = await tx.get<{ id: string }>(SQL.nextQueued!);
        expect(picked?.id).toBe((due as { job: { id: string } }).job.id);
        const started = performance.now();
        const outcomes = [await enqueue('b', 't1'), await enqueue('a', 't2'), await enqueue('c', 't3')];
        // Another claim passes over the locked row instead of waiting for it.
        const other = await queue.claim('w1', 60_000);
        return { outcomes, other, ms: performance.now() - started };
      }),
    );
    expect(during.outcomes.map((outcome) => outcome.kind)).toEqual(['enqueued', 'enqueued', 'enqueued']);
    expect(during.other?.job.trackId).toBe('t1');
    // Far below the lock wait timeout (2 s): nothing waited on the claim's locks.
    expect(during.ms).toBeLessThan(1000);
  });

  it('would block those enqueues at REPEATABLE READ, which is why sessions run at READ COMMITTED', async () => {
    await enqueue('a', 'backing-off');
    const first = (await queue.claim('w0', 60_000))!;
    await queue.release(first.job.id, first.token, { delayMs: 60_000 });
    const repeatable = await otherProcess();
    await repeatable.run('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    const impatient = new MysqlJobQueue(await otherProcess({ lockWaitTimeoutSeconds: 1, transactionAttempts: 1 }));
    const blocked = await repeatable.withConnection((session) =>
      session.transaction(async (tx) => {
        // Nothing is due: the scan passes over the retry and locks the gap after it, to the end.
        expect(await tx.get(SQL.nextQueued!)).toBeUndefined();
        return impatient.enqueue({ userId: 'b', trackId: 't1', maxAttempts: 3, maxActive: 100 }).then(
          () => null,
          (error: unknown) => error,
        );
      }),
    );
    expect(blocked).toBeInstanceOf(UnavailableError);
    expect((blocked as UnavailableError).cause).toMatchObject({ errno: 1205 });
  });

  it('reads the claim, the reaper and the look-ups from their indexes', async () => {
    for (let i = 0; i < 120; i += 1) await enqueue(`u${i % 6}`, `t${i}`);
    let held = null;
    for (let i = 0; i < 40; i += 1) {
      held = (await queue.claim('w', 60_000))!;
      if (i % 2 === 0) await queue.complete(held.job.id, held.token);
    }
    await db.run('ANALYZE TABLE jobs, user_job_counts');
    const claim = await explain(db, jobQueueSql, 'nextQueued');
    expect(claim).toMatchObject([{ table: 'jobs', key: 'jobs_queued_due' }]);
    // Read in order from the index: no sort of the queued jobs.
    expect(claim[0]!.Extra ?? '').not.toMatch(/filesort/);
    expect(await explain(db, jobQueueSql, 'expiredLeases', { limit: 500 })).toMatchObject([{ table: 'jobs', key: 'jobs_running_lease' }]);
    expect(await explain(db, jobQueueSql, 'activeFor', { userId: 'u1', trackId: 't1' })).toMatchObject([{ key: 'jobs_active' }]);
    expect(await explain(db, jobQueueSql, 'leased', { jobId: held!.job.id, token: held!.token })).toMatchObject([{ key: 'jobs_id' }]);
    // The one-statement completion reads the job first, then its counter: the lock order of every transaction.
    expect(await explain(db, jobQueueSql, 'completeUnreserved', { jobId: held!.job.id, token: held!.token })).toMatchObject([
      { table: 'jobs', key: 'jobs_id' },
      { table: 'counts', key: 'PRIMARY' },
    ]);
  });

  it('reaps in batches, and leaves a job its worker is finishing to that worker', async () => {
    const batched = new MysqlJobQueue(db, { reapBatchSize: 2 });
    for (let i = 0; i < 5; i += 1) await enqueue('u', `t${i}`);
    const leases = [];
    for (let i = 0; i < 5; i += 1) leases.push((await queue.claim(`w${i}`, 20))!);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const finishing = leases[0]!;
    const worker = await otherProcess();
    // The worker holds its job's row, as `complete` does between its read and its commit.
    const reaped = await worker.withConnection((session) =>
      session.transaction(async (tx) => {
        await tx.get(SQL.leased!, { jobId: finishing.job.id, token: finishing.token });
        return batched.reapExpired();
      }),
    );
    expect(reaped).toEqual({ requeued: 4, failed: 0 });
    expect(await queue.get(finishing.job.id)).toMatchObject({ status: 'running' });
    expect(await queue.reapExpired()).toEqual({ requeued: 1, failed: 0 });
  });

  it('completes in one statement, or by the transaction when the job holds a reservation or its counter row is gone', async () => {
    const running = async (userId: string, trackId: string) => {
      await enqueue(userId, trackId);
      return (await queue.claim('w', 60_000))!;
    };
    const plain = await running('u', 'plain');
    const reserving = await running('u', 'reserving');
    const orphan = await running('v', 'orphan');
    expect((await queue.reserve(reserving.job.id, reserving.token, 100, 1000)).kind).toBe('reserved');
    await db.run("DELETE FROM user_job_counts WHERE user_id = 'v'");

    expect(await queue.complete(plain.job.id, plain.token)).toBe(true);
    expect(await activeCount('u')).toBe(1);
    expect(await queue.complete(reserving.job.id, reserving.token)).toBe(true);
    expect(await db.get("SELECT reserved_bytes FROM user_usage WHERE user_id = 'u'")).toEqual({ reserved_bytes: 0 });
    expect(await activeCount('u')).toBe(0);
    expect(await queue.complete(orphan.job.id, orphan.token)).toBe(true);
    for (const lease of [plain, reserving, orphan]) {
      expect((await queue.get(lease.job.id))?.status).toBe('completed');
      expect(await queue.complete(lease.job.id, lease.token)).toBe(false);
    }
  });

  it('takes every time from the database, both ends of a lease from one reading', async () => {
    const clock = async () => (await db.get<{ now: number }>('SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) AS now'))!.now;
    const before = await clock();
    await enqueue('u', 't');
    const lease = (await queue.claim('w', 5000))!;
    const after = await clock();
    const row = (await db.get<Record<string, number>>('SELECT created_at, updated_at, lease_expires_at FROM jobs'))!;
    expect(row.created_at).toBeGreaterThanOrEqual(before);
    expect(row.updated_at).toBeLessThanOrEqual(after);
    expect(row.lease_expires_at! - row.updated_at!).toBe(5000);
    expect(lease.job.lease?.expiresAt.getTime()).toBe(row.lease_expires_at);
    // The job a claim returns is the row as the database holds it.
    expect(lease.job).toEqual(await queue.get(lease.job.id));
  });
});

describe('MysqlJobQueue across worker processes', () => {
  let child: ChildProgram;

  beforeAll(async () => {
    child = await bundleChildProgram('../mysql/mysql-queue-worker-child.ts', { external: ['mysql2', 'mysql2/promise'] });
  });

  afterAll(() => child?.remove());

  it('hands each of 400 jobs to exactly one of 4 processes claiming at once, 8 loops in all', async () => {
    const { db, url } = await shared.emptied(TABLES);
    const queue = new MysqlJobQueue(db);
    const jobs = new Set<string>();
    for (let i = 0; i < 400; i += 1) {
      const outcome = await queue.enqueue({ userId: `u${i % 8}`, trackId: `t${i}`, maxAttempts: 3, maxActive: 1000 });
      if (outcome.kind === 'enqueued') jobs.add(outcome.job.id);
    }
    expect(jobs.size).toBe(400);

    const startAt = Date.now() + 1000;
    const results = await Promise.all(Array.from({ length: 4 }, () => child.run([url, JSON.stringify({ loops: 2, startAt })])));
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    const outputs = results.map((result) => result.lines.at(-1) as { claimed: string[]; lost: number });
    const claimed = outputs.flatMap((output) => output.claimed);
    const doubleClaims = claimed.length - new Set(claimed).size;
    expect(doubleClaims).toBe(0);
    expect(outputs.map((output) => output.lost)).toEqual([0, 0, 0, 0]);
    expect(new Set(claimed)).toEqual(jobs);
    // Every process took part.
    for (const output of outputs) expect(output.claimed.length).toBeGreaterThan(0);
    expect(await queue.countByStatus()).toEqual({ queued: 0, running: 0, completed: 400, failed: 0, cancelled: 0 });
    expect(await db.all('SELECT active FROM user_job_counts WHERE active <> 0')).toEqual([]);
  });
});
