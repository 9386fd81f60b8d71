import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobQueue } from '../../src/jobs/job-queue.js';
import { JOB_STATUSES, type Job } from '../../src/model.js';

export interface JobQueueHarness {
  /** An empty queue. */
  queue: JobQueue;
  close(): Promise<void>;
}

const LEASE = 10_000;
const boom = { code: 'upstream-5xx', message: 'The origin answered 503' };

/**
 * What every `JobQueue` adapter must do. `enqueue` stamps jobs with the real clock; the other
 * calls take `now`, so the tests move time by passing instants a minute ahead of it.
 */
export function describeJobQueue(name: string, factory: () => Promise<JobQueueHarness>): void {
  describe(`JobQueue contract: ${name}`, () => {
    let harness: JobQueueHarness;
    let queue: JobQueue;
    let t0: number;
    const at = (ms: number) => new Date(t0 + ms);
    const enqueue = (userId = 'u1', trackId = 'track-1', maxAttempts = 3) => queue.enqueue({ userId, trackId, maxAttempts });
    /** Jobs enqueued a few milliseconds apart, so that age orders them on any backend. */
    const enqueueInOrder = async (specs: { userId?: string; trackId: string }[]): Promise<Job[]> => {
      const jobs: Job[] = [];
      for (const spec of specs) {
        jobs.push(await enqueue(spec.userId, spec.trackId));
        await sleep(3);
      }
      return jobs;
    };

    beforeEach(async () => {
      harness = await factory();
      queue = harness.queue;
      t0 = Date.now() + 60_000;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('enqueues a job that is due at once', async () => {
      const before = Date.now();
      const job = await enqueue('u1', 'track-1', 5);
      expect(job).toMatchObject({ userId: 'u1', trackId: 'track-1', status: 'queued', attempts: 0, maxAttempts: 5 });
      expect(job.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(job.nextAttemptAt!.getTime()).toBeLessThanOrEqual(Date.now());
      expect(job.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(job.lease).toBeUndefined();
      expect(job.progress).toBeUndefined();
      expect(job.error).toBeUndefined();
      expect(await queue.get(job.id)).toEqual(job);
      expect(await queue.get('no-such-job')).toBeNull();
      expect((await enqueue()).id).not.toBe(job.id);
    });

    it('runs a job through claim, progress and completion', async () => {
      const job = await enqueue();
      const claimed = await queue.claim('w1', LEASE, at(0));
      expect(claimed).toMatchObject({ id: job.id, status: 'running', attempts: 1, lease: { workerId: 'w1', expiresAt: at(LEASE) } });
      expect(claimed?.nextAttemptAt).toBeUndefined();
      expect(await queue.findActive('u1', 'track-1')).toMatchObject({ id: job.id, status: 'running' });

      await queue.reportProgress(job.id, 'w1', { bytes: 1024 });
      expect((await queue.get(job.id))?.progress).toEqual({ bytes: 1024 });
      await queue.reportProgress(job.id, 'w1', { bytes: 4096, totalBytes: 8192 });
      expect((await queue.get(job.id))?.progress).toEqual({ bytes: 4096, totalBytes: 8192 });

      expect(await queue.complete(job.id, 'w1')).toBe(true);
      const done = await queue.get(job.id);
      expect(done).toMatchObject({ status: 'completed', attempts: 1, progress: { bytes: 4096, totalBytes: 8192 } });
      expect(done?.lease).toBeUndefined();
      expect(done?.nextAttemptAt).toBeUndefined();
      expect(done?.error).toBeUndefined();

      expect(await queue.complete(job.id, 'w1')).toBe(false);
      expect(await queue.claim('w1', LEASE, at(LEASE * 10))).toBeNull();
      expect(await queue.findActive('u1', 'track-1')).toBeNull();
    });

    it('claims nothing from an empty queue or before a job is due', async () => {
      expect(await queue.claim('w1', LEASE, at(0))).toBeNull();
      await enqueue();
      expect(await queue.claim('w1', LEASE, new Date(Date.now() - 60_000))).toBeNull();
      expect(await queue.claim('w1', LEASE, at(0))).not.toBeNull();
    });

    it('claims the oldest due job first, and each job once', async () => {
      const jobs = await enqueueInOrder([{ trackId: 'a' }, { trackId: 'b' }, { trackId: 'c' }]);
      const claims = [];
      for (let i = 0; i < 4; i++) claims.push(await queue.claim(`w${i}`, LEASE, at(0)));
      expect(claims.map((c) => c?.id ?? null)).toEqual([...jobs.map((j) => j.id), null]);
    });

    it('hands each job to only one of several racing workers', async () => {
      await enqueueInOrder([{ trackId: 'a' }, { trackId: 'b' }, { trackId: 'c' }]);
      const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => queue.claim(`w${i}`, LEASE, at(0))));
      const ids = claims.filter((c) => c !== null).map((c) => c.id);
      expect(ids).toHaveLength(3);
      expect(new Set(ids).size).toBe(3);
    });

    it('retries a failed attempt only once it is due, keeping the last error', async () => {
      const job = await enqueue();
      await queue.claim('w1', LEASE, at(0));
      await queue.reportProgress(job.id, 'w1', { bytes: 10 });
      const failed = await queue.fail(job.id, 'w1', boom, at(5_000));
      expect(failed).toMatchObject({ id: job.id, status: 'queued', attempts: 1, nextAttemptAt: at(5_000), error: boom });
      expect(failed?.lease).toBeUndefined();
      expect(failed?.progress).toBeUndefined();
      expect(await queue.findActive('u1', 'track-1')).toMatchObject({ id: job.id });

      expect(await queue.claim('w2', LEASE, at(4_999))).toBeNull();
      const again = await queue.claim('w2', LEASE, at(5_000));
      expect(again).toMatchObject({ id: job.id, status: 'running', attempts: 2, error: boom, lease: { workerId: 'w2' } });
      expect(await queue.complete(job.id, 'w2')).toBe(true);
      expect((await queue.get(job.id))?.error).toBeUndefined();
    });

    it('fails a job for good when no retry is given', async () => {
      const job = await enqueue();
      await queue.claim('w1', LEASE, at(0));
      const failed = await queue.fail(job.id, 'w1', boom, null);
      expect(failed).toMatchObject({ id: job.id, status: 'failed', attempts: 1, error: boom });
      expect(failed?.nextAttemptAt).toBeUndefined();
      expect(failed?.lease).toBeUndefined();
      expect(await queue.claim('w1', LEASE, at(LEASE * 10))).toBeNull();
      expect(await queue.findActive('u1', 'track-1')).toBeNull();
      expect(await queue.fail(job.id, 'w1', boom, null)).toBeNull();
    });

    it('takes back a job whose lease expired, and ignores its old worker', async () => {
      const job = await enqueue();
      await queue.claim('w1', 1_000, at(0));
      expect(await queue.claim('w2', 1_000, at(999))).toBeNull();
      const taken = await queue.claim('w2', 1_000, at(1_000));
      expect(taken).toMatchObject({ id: job.id, status: 'running', attempts: 2, lease: { workerId: 'w2', expiresAt: at(2_000) } });
      expect(taken?.error?.code).toBe('lease-expired');

      expect(await queue.renew(job.id, 'w1', 1_000, at(1_100))).toBe(false);
      await queue.reportProgress(job.id, 'w1', { bytes: 999 });
      expect((await queue.get(job.id))?.progress).toBeUndefined();
      expect(await queue.complete(job.id, 'w1')).toBe(false);
      expect(await queue.fail(job.id, 'w1', boom, null)).toBeNull();
      expect(await queue.get(job.id)).toMatchObject({ status: 'running', lease: { workerId: 'w2' } });

      expect(await queue.complete(job.id, 'w2')).toBe(true);
    });

    it('fails a job whose lease expired on its last attempt', async () => {
      const last = await enqueue('u1', 'track-1', 1);
      await sleep(3);
      const other = await enqueue('u1', 'track-2', 1);
      expect((await queue.claim('w1', 1_000, at(0)))?.id).toBe(last.id);
      // The next claim finds the abandoned job spent: it fails it and takes the other one.
      expect((await queue.claim('w2', 1_000, at(1_000)))?.id).toBe(other.id);
      const failed = await queue.get(last.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'lease-expired' } });
      expect(failed?.lease).toBeUndefined();
      expect(await queue.renew(last.id, 'w1', 1_000, at(1_000))).toBe(false);
      expect(await queue.claim('w3', 1_000, at(1_500))).toBeNull();
    });

    it('renews a lease only for the worker holding it', async () => {
      const job = await enqueue();
      await queue.claim('w1', 1_000, at(0));
      expect(await queue.renew(job.id, 'w2', 1_000, at(500))).toBe(false);
      expect(await queue.renew(job.id, 'w1', 1_000, at(900))).toBe(true);
      expect((await queue.get(job.id))?.lease).toEqual({ workerId: 'w1', expiresAt: at(1_900) });
      expect(await queue.claim('w2', 1_000, at(1_500))).toBeNull();
      expect(await queue.renew('no-such-job', 'w1', 1_000, at(900))).toBe(false);
      await queue.complete(job.id, 'w1');
      expect(await queue.renew(job.id, 'w1', 1_000, at(1_000))).toBe(false);
    });

    it('cancels a queued job of its owner only', async () => {
      const job = await enqueue('u1');
      expect(await queue.cancel(job.id, 'u2')).toEqual({ kind: 'not-found' });
      expect(await queue.cancel('no-such-job', 'u1')).toEqual({ kind: 'not-found' });

      const cancelled = await queue.cancel(job.id, 'u1');
      expect(cancelled).toMatchObject({ kind: 'cancelled', job: { id: job.id, status: 'cancelled' } });
      expect(cancelled.kind === 'cancelled' && cancelled.job.nextAttemptAt).toBeUndefined();
      expect(await queue.cancel(job.id, 'u1')).toMatchObject({ kind: 'conflict', job: { status: 'cancelled' } });
      expect(await queue.claim('w1', LEASE, at(0))).toBeNull();
      expect(await queue.findActive('u1', 'track-1')).toBeNull();
    });

    it('refuses to cancel a running or finished job', async () => {
      const job = await enqueue();
      await queue.claim('w1', LEASE, at(0));
      expect(await queue.cancel(job.id, 'u1')).toMatchObject({ kind: 'conflict', job: { id: job.id, status: 'running' } });
      expect(await queue.complete(job.id, 'w1')).toBe(true);
      expect(await queue.cancel(job.id, 'u1')).toMatchObject({ kind: 'conflict', job: { status: 'completed' } });
    });

    it('lets an admin put a failed job back, with its attempts reset', async () => {
      const job = await enqueue('u1', 'track-1', 2);
      await queue.claim('w1', LEASE, at(0));
      expect(await queue.retry(job.id, at(10))).toBeNull(); // running
      await queue.fail(job.id, 'w1', boom, null);

      const retried = await queue.retry(job.id, at(20));
      expect(retried).toMatchObject({ id: job.id, status: 'queued', attempts: 0, maxAttempts: 2, nextAttemptAt: at(20) });
      expect(retried?.error).toBeUndefined();
      expect(retried?.lease).toBeUndefined();
      expect(await queue.retry(job.id, at(30))).toBeNull(); // queued
      expect(await queue.retry('no-such-job', at(30))).toBeNull();
      expect(await queue.claim('w2', LEASE, at(20))).toMatchObject({ id: job.id, attempts: 1 });
    });

    it('lists jobs newest first, filtered and paged, with totals', async () => {
      const [a1, a2, b1, a3, b2] = await enqueueInOrder([
        { userId: 'a', trackId: 't1' },
        { userId: 'a', trackId: 't2' },
        { userId: 'b', trackId: 't1' },
        { userId: 'a', trackId: 't3' },
        { userId: 'b', trackId: 't2' },
      ]);
      // The oldest job is claimed first.
      expect((await queue.claim('w1', LEASE, at(0)))?.id).toBe(a1!.id);
      const ids = (page: { items: Job[] }) => page.items.map((j) => j.id);

      const all = await queue.list({ limit: 10, offset: 0 });
      expect(all.total).toBe(5);
      expect(ids(all)).toEqual([b2, a3, b1, a2, a1].map((j) => j!.id));

      const mine = await queue.list({ userId: 'a', limit: 2, offset: 0 });
      expect(mine.total).toBe(3);
      expect(ids(mine)).toEqual([a3!.id, a2!.id]);
      const rest = await queue.list({ userId: 'a', limit: 2, offset: 2 });
      expect(rest.total).toBe(3);
      expect(ids(rest)).toEqual([a1!.id]);

      const queued = await queue.list({ status: 'queued', limit: 10, offset: 0 });
      expect(queued.total).toBe(4);
      expect(ids(await queue.list({ status: 'running', limit: 10, offset: 0 }))).toEqual([a1!.id]);
      expect(await queue.list({ userId: 'a', status: 'running', limit: 10, offset: 0 })).toMatchObject({ total: 1 });
      expect(await queue.list({ userId: 'b', status: 'running', limit: 10, offset: 0 })).toEqual({ items: [], total: 0 });
      expect(await queue.list({ userId: 'a', limit: 10, offset: 50 })).toEqual({ items: [], total: 3 });
    });

    it('finds the active job of a user for a track', async () => {
      const job = await enqueue('u1', 'track-1');
      await enqueue('u2', 'track-1');
      expect((await queue.findActive('u1', 'track-1'))?.id).toBe(job.id);
      expect(await queue.findActive('u1', 'track-2')).toBeNull();
      expect(await queue.findActive('u3', 'track-1')).toBeNull();
    });

    it('counts jobs by status, naming every status', async () => {
      const zero = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]));
      expect(await queue.countByStatus()).toEqual(zero);

      const [j1, j2, j3, j4] = await enqueueInOrder([{ trackId: 'a' }, { trackId: 'b' }, { trackId: 'c' }, { trackId: 'd' }]);
      await queue.claim('w1', LEASE, at(0)); // j1
      await queue.complete(j1!.id, 'w1');
      await queue.claim('w1', LEASE, at(0)); // j2
      await queue.fail(j2!.id, 'w1', boom, null);
      await queue.claim('w1', LEASE, at(0)); // j3 stays running
      expect((await queue.get(j3!.id))?.status).toBe('running');
      await queue.cancel(j4!.id, 'u1');
      await enqueue('u1', 'e');

      expect(await queue.countByStatus()).toEqual({ queued: 1, running: 1, completed: 1, failed: 1, cancelled: 1 });
    });

    it('purges final jobs last changed before a date', async () => {
      const [done, failed, cancelled, running, queued] = await enqueueInOrder(
        ['a', 'b', 'c', 'd', 'e'].map((trackId) => ({ trackId })),
      );
      await queue.claim('w1', LEASE, at(0));
      await queue.complete(done!.id, 'w1');
      await queue.claim('w1', LEASE, at(0));
      await queue.fail(failed!.id, 'w1', boom, null);
      await queue.cancel(cancelled!.id, 'u1');
      await queue.claim('w1', LEASE, at(0)); // running is now the oldest queued job
      expect(await queue.purgeFinished(new Date(Date.now() - 60_000))).toBe(0);
      expect(await queue.purgeFinished(new Date(Date.now() + 60_000 * 5))).toBe(3);
      expect(await queue.get(done!.id)).toBeNull();
      expect(await queue.get(failed!.id)).toBeNull();
      expect(await queue.get(cancelled!.id)).toBeNull();
      expect((await queue.get(running!.id))?.status).toBe('running');
      expect((await queue.get(queued!.id))?.status).toBe('queued');
    });
  });
}
