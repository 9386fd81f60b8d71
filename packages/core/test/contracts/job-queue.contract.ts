import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EnqueueOutcome, JobLease, JobQueue } from '../../src/jobs/job-queue.js';
import { JOB_STATUSES, type Job } from '../../src/model.js';

export interface JobQueueHarness {
  /** An empty queue. */
  queue: JobQueue;
  close(): Promise<void>;
}

/** A lease that outlives any test. */
const LEASE = 60_000;
/** A lease that has run out once `expire()` returns. */
const SHORT = 20;
const expire = () => sleep(SHORT + 60);
/** How far the store's clock may be from this process's: they may be different machines. */
const SKEW = 2_000;
const CAP = 100;
const boom = { code: 'upstream-5xx', message: 'The origin answered 503' };

/**
 * What every `JobQueue` adapter must do. Time is the store's own clock, so the tests move it
 * the only way a caller can: short leases and short delays, then waiting them out.
 */
export function describeJobQueue(name: string, factory: () => Promise<JobQueueHarness>): void {
  describe(`JobQueue contract: ${name}`, () => {
    let harness: JobQueueHarness;
    let queue: JobQueue;

    const offer = (userId = 'u1', trackId = 'track-1', options: { maxAttempts?: number; maxActive?: number } = {}) =>
      queue.enqueue({ userId, trackId, maxAttempts: options.maxAttempts ?? 3, maxActive: options.maxActive ?? CAP });
    /** Enqueues a job that must be new. */
    const enqueue = async (userId = 'u1', trackId = 'track-1', maxAttempts = 3): Promise<Job> => {
      const outcome = await offer(userId, trackId, { maxAttempts });
      expect(outcome.kind).toBe('enqueued');
      return (outcome as Extract<EnqueueOutcome, { kind: 'enqueued' }>).job;
    };
    const enqueueAll = async (specs: { userId?: string; trackId: string }[]): Promise<Job[]> => {
      const jobs: Job[] = [];
      for (const spec of specs) jobs.push(await enqueue(spec.userId, spec.trackId));
      return jobs;
    };
    const claim = (workerId = 'w1', leaseMs = LEASE) => queue.claim(workerId, leaseMs);
    /** Claims a job that must be there. */
    const claimed = async (workerId = 'w1', leaseMs = LEASE): Promise<JobLease> => {
      const lease = await claim(workerId, leaseMs);
      expect(lease).not.toBeNull();
      return lease!;
    };
    /** The order in which one worker claims every queued job (each completed at once). */
    const claimOrder = async (): Promise<string[]> => {
      const order: string[] = [];
      for (let lease = await claim(); lease; lease = await claim()) {
        order.push(lease.job.id);
        expect(await queue.complete(lease.job.id, lease.token)).toBe(true);
      }
      return order;
    };

    beforeEach(async () => {
      harness = await factory();
      queue = harness.queue;
    });

    afterEach(async () => {
      await harness.close();
    });

    describe('leases', () => {
      it('enqueues a job that is due at once', async () => {
        const before = Date.now();
        const job = await enqueue('u1', 'track-1', 5);
        expect(job).toMatchObject({ userId: 'u1', trackId: 'track-1', status: 'queued', attempts: 0, maxAttempts: 5 });
        expect(job.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(before - SKEW);
        expect(job.nextAttemptAt!.getTime()).toBeLessThanOrEqual(Date.now() + SKEW);
        expect(job.createdAt.getTime()).toBeGreaterThanOrEqual(before - SKEW);
        expect(job.lease).toBeUndefined();
        expect(job.progress).toBeUndefined();
        expect(job.error).toBeUndefined();
        expect(await queue.get(job.id)).toEqual(job);
        expect(await queue.get('no-such-job')).toBeNull();
        expect((await enqueue('u1', 'track-2')).id).not.toBe(job.id);
      });

      it('runs a job through claim, progress and completion with its lease token', async () => {
        const job = await enqueue();
        const before = Date.now();
        const lease = await claimed('w1', LEASE);
        expect(lease.token).toMatch(/^\S{16,}$/);
        expect(lease.job).toMatchObject({ id: job.id, status: 'running', attempts: 1, lease: { workerId: 'w1' } });
        expect(lease.job.lease!.expiresAt.getTime()).toBeGreaterThanOrEqual(before + LEASE - SKEW);
        expect(lease.job.lease!.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + LEASE + SKEW);
        expect(lease.job.nextAttemptAt).toBeUndefined();
        expect(JSON.stringify(await queue.get(job.id))).not.toContain(lease.token);
        expect(await queue.findActive('u1', 'track-1')).toMatchObject({ id: job.id, status: 'running' });

        expect(await queue.reportProgress(job.id, lease.token, { bytes: 1024 })).toBe(true);
        expect((await queue.get(job.id))?.progress).toEqual({ bytes: 1024 });
        expect(await queue.reportProgress(job.id, lease.token, { bytes: 4096, totalBytes: 8192 })).toBe(true);
        expect((await queue.get(job.id))?.progress).toEqual({ bytes: 4096, totalBytes: 8192 });

        expect(await queue.complete(job.id, lease.token)).toBe(true);
        const done = await queue.get(job.id);
        expect(done).toMatchObject({ status: 'completed', attempts: 1, progress: { bytes: 4096, totalBytes: 8192 } });
        expect(done?.lease).toBeUndefined();
        expect(done?.nextAttemptAt).toBeUndefined();
        expect(done?.error).toBeUndefined();

        expect(await queue.complete(job.id, lease.token)).toBe(false);
        expect(await claim()).toBeNull();
        expect(await queue.findActive('u1', 'track-1')).toBeNull();
      });

      it('claims nothing from an empty queue', async () => {
        expect(await claim()).toBeNull();
      });

      it('claims one user’s jobs in the order they were asked for, and each job once', async () => {
        const jobs = await enqueueAll([{ trackId: 'a' }, { trackId: 'b' }, { trackId: 'c' }]);
        const claims = [];
        for (let i = 0; i < 4; i++) claims.push(await claim(`w${i}`));
        expect(claims.map((c) => c?.job.id ?? null)).toEqual([...jobs.map((j) => j.id), null]);
      });

      it('hands each job to only one of several racing workers, each with its own token', async () => {
        await enqueueAll([{ trackId: 'a' }, { trackId: 'b' }, { trackId: 'c' }]);
        const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => claim(`w${i}`)));
        const leases = claims.filter((c) => c !== null);
        expect(leases).toHaveLength(3);
        expect(new Set(leases.map((c) => c.job.id)).size).toBe(3);
        expect(new Set(leases.map((c) => c.token)).size).toBe(3);
      });

      it('refuses a stale or forged token, so a worker whose lease was taken back changes nothing', async () => {
        const job = await enqueue();
        const old = await claimed('w1', SHORT);
        await expire();
        expect(await queue.reapExpired()).toEqual({ requeued: 1, failed: 0 });
        const current = await claimed('w2');
        expect(current.job.id).toBe(job.id);
        expect(current.token).not.toBe(old.token);

        expect(await queue.renew(job.id, old.token, LEASE)).toBe(false);
        expect(await queue.reportProgress(job.id, old.token, { bytes: 999 })).toBe(false);
        expect(await queue.complete(job.id, old.token)).toBe(false);
        expect(await queue.fail(job.id, old.token, boom, null)).toBeNull();
        expect(await queue.fail(job.id, old.token, boom, { delayMs: 0 })).toBeNull();
        expect(await queue.release(job.id, old.token)).toBe(false);
        expect(await queue.complete(job.id, 'forged')).toBe(false);
        expect(await queue.complete('no-such-job', current.token)).toBe(false);
        const untouched = await queue.get(job.id);
        expect(untouched).toMatchObject({ status: 'running', attempts: 2, lease: { workerId: 'w2' } });
        expect(untouched?.progress).toBeUndefined();

        expect(await queue.complete(job.id, current.token)).toBe(true);
      });

      it('renews a lease for its holder only, from the store’s clock', async () => {
        const job = await enqueue();
        const lease = await claimed('w1', SHORT * 100);
        const before = Date.now();
        expect(await queue.renew(job.id, lease.token, LEASE)).toBe(true);
        const renewed = (await queue.get(job.id))!.lease!;
        expect(renewed.workerId).toBe('w1');
        expect(renewed.expiresAt.getTime()).toBeGreaterThanOrEqual(before + LEASE - SKEW);
        expect(await queue.renew(job.id, 'forged', LEASE)).toBe(false);
        expect(await queue.renew('no-such-job', lease.token, LEASE)).toBe(false);

        // A renewed lease is not reaped; one left to run out is.
        await expire();
        expect(await queue.reapExpired()).toEqual({ requeued: 0, failed: 0 });
        expect(await queue.renew(job.id, lease.token, SHORT)).toBe(true);
        await expire();
        expect(await queue.reapExpired()).toEqual({ requeued: 1, failed: 0 });
        expect(await queue.renew(job.id, lease.token, LEASE)).toBe(false);
      });

      it('retries a failed attempt once its delay has passed, keeping the last error', async () => {
        const job = await enqueue();
        const lease = await claimed();
        await queue.reportProgress(job.id, lease.token, { bytes: 10 });
        const before = Date.now();
        const failed = await queue.fail(job.id, lease.token, boom, { delayMs: 400 });
        expect(failed).toMatchObject({ id: job.id, status: 'queued', attempts: 1, error: boom });
        expect(failed!.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(before + 400 - SKEW);
        expect(failed?.lease).toBeUndefined();
        expect(failed?.progress).toBeUndefined();
        expect(await queue.findActive('u1', 'track-1')).toMatchObject({ id: job.id });
        expect(await queue.complete(job.id, lease.token)).toBe(false);

        expect(await claim('w2')).toBeNull();
        await sleep(450);
        const again = await claimed('w2');
        expect(again.job).toMatchObject({ id: job.id, status: 'running', attempts: 2, error: boom, lease: { workerId: 'w2' } });
        expect(await queue.complete(job.id, again.token)).toBe(true);
        expect((await queue.get(job.id))?.error).toBeUndefined();
      });

      it('fails a job for good when no retry is given', async () => {
        const job = await enqueue();
        const lease = await claimed();
        const failed = await queue.fail(job.id, lease.token, boom, null);
        expect(failed).toMatchObject({ id: job.id, status: 'failed', attempts: 1, error: boom });
        expect(failed?.nextAttemptAt).toBeUndefined();
        expect(failed?.lease).toBeUndefined();
        expect(await claim()).toBeNull();
        expect(await queue.findActive('u1', 'track-1')).toBeNull();
        expect(await queue.fail(job.id, lease.token, boom, null)).toBeNull();
      });

      it('takes a job back on release without counting the attempt, first in line again', async () => {
        const [first, second] = await enqueueAll([{ trackId: 'a' }, { trackId: 'b' }]);
        const lease = await claimed();
        expect(lease.job.id).toBe(first!.id);
        await queue.reportProgress(first!.id, lease.token, { bytes: 10 });
        const failed = await queue.fail(first!.id, lease.token, boom, { delayMs: 0 });
        expect(failed).toMatchObject({ attempts: 1 });
        // The retry went behind the user's other job; claim that one, then the retry.
        const other = await claimed();
        expect(other.job.id).toBe(second!.id);
        const retry = await claimed();
        expect(retry.job).toMatchObject({ id: first!.id, attempts: 2 });

        expect(await queue.release(first!.id, retry.token)).toBe(true);
        const released = await queue.get(first!.id);
        expect(released).toMatchObject({ status: 'queued', attempts: 1, error: boom });
        expect(released?.lease).toBeUndefined();
        expect(released?.progress).toBeUndefined();
        expect(released!.nextAttemptAt!.getTime()).toBeLessThanOrEqual(Date.now() + SKEW);
        expect(await queue.release(first!.id, retry.token)).toBe(false);
        expect(await queue.complete(first!.id, retry.token)).toBe(false);

        // Released work is due at once, still ahead of the user's later jobs.
        const third = await enqueue('u1', 'c');
        const again = await claimed();
        expect(again.job).toMatchObject({ id: first!.id, attempts: 2 });
        expect((await claimed()).job.id).toBe(third.id);
      });

      it('releases a job to wait a while without counting the attempt, while others are claimed', async () => {
        const [waiting, other] = await enqueueAll([{ userId: 'u1', trackId: 'a' }, { userId: 'u2', trackId: 'b' }]);
        const lease = await claimed();
        expect(lease.job.id).toBe(waiting!.id);
        const before = Date.now();
        expect(await queue.release(waiting!.id, lease.token, { delayMs: 300 })).toBe(true);
        const released = await queue.get(waiting!.id);
        expect(released).toMatchObject({ status: 'queued', attempts: 0 });
        expect(released!.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(before + 300 - SKEW);
        expect(await queue.release(waiting!.id, lease.token, { delayMs: 300 })).toBe(false);

        // Not due yet: the other user's job is taken instead, and nothing else.
        expect((await claimed('w2')).job.id).toBe(other!.id);
        expect(await claim('w3')).toBeNull();
        await sleep(400);
        expect((await claimed('w3')).job).toMatchObject({ id: waiting!.id, attempts: 1 });
      });

      it('reaps an expired lease apart from claiming: queued again, the attempt counted', async () => {
        const job = await enqueue();
        await claimed('w1', SHORT);
        await expire();
        // Claims take queued jobs only; the expired lease waits for the reaper.
        expect(await claim('w2')).toBeNull();
        expect(await queue.get(job.id)).toMatchObject({ status: 'running', attempts: 1 });

        expect(await queue.reapExpired()).toEqual({ requeued: 1, failed: 0 });
        const reaped = await queue.get(job.id);
        expect(reaped).toMatchObject({ status: 'queued', attempts: 1, error: { code: 'lease-expired' } });
        expect(reaped?.lease).toBeUndefined();
        expect(reaped?.nextAttemptAt).toBeDefined();
        expect(await queue.reapExpired()).toEqual({ requeued: 0, failed: 0 });

        const taken = await claimed('w2');
        expect(taken.job).toMatchObject({ id: job.id, attempts: 2, error: { code: 'lease-expired' }, lease: { workerId: 'w2' } });
      });

      it('fails a job whose lease expired on its last attempt, and frees its slot', async () => {
        const last = await enqueue('u1', 'track-1', 1);
        await claimed('w1', SHORT);
        await expire();
        expect((await offer('u1', 'track-2', { maxActive: 1 })).kind).toBe('over-cap');
        expect(await queue.reapExpired()).toEqual({ requeued: 0, failed: 1 });
        const failed = await queue.get(last.id);
        expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'lease-expired' } });
        expect(failed?.lease).toBeUndefined();
        expect(await claim('w2')).toBeNull();
        expect((await offer('u1', 'track-2', { maxActive: 1 })).kind).toBe('enqueued');
      });
    });

    describe('one active job per user and track', () => {
      it('returns the active job instead of adding one, until that job is over', async () => {
        const job = await enqueue('u1', 'track-1');
        expect(await offer('u1', 'track-1')).toEqual({ kind: 'existing', job });
        const lease = await claimed();
        expect(await offer('u1', 'track-1')).toMatchObject({ kind: 'existing', job: { id: job.id, status: 'running' } });
        const theirs = await offer('u2', 'track-1');
        expect(theirs).toMatchObject({ kind: 'enqueued', job: { userId: 'u2' } });
        expect(await queue.findActive('u1', 'track-1')).toMatchObject({ id: job.id });
        expect(await queue.findActive('u1', 'track-2')).toBeNull();
        expect(await queue.findActive('u3', 'track-1')).toBeNull();

        await queue.complete(job.id, lease.token);
        const next = await offer('u1', 'track-1');
        expect(next.kind).toBe('enqueued');
        expect((next as { job: Job }).job.id).not.toBe(job.id);
      });

      it('makes one job of many requests for a track that arrive at once', async () => {
        const outcomes = await Promise.all(Array.from({ length: 10 }, () => offer('u1', 'track-1')));
        expect(outcomes.filter((o) => o.kind === 'enqueued')).toHaveLength(1);
        expect(outcomes.filter((o) => o.kind === 'existing')).toHaveLength(9);
        expect(new Set(outcomes.map((o) => (o as { job: Job }).job.id)).size).toBe(1);
        expect((await queue.list({ userId: 'u1', limit: 20, offset: 0 })).total).toBe(1);
        // It took one slot of the cap, not ten.
        expect((await offer('u1', 'track-2', { maxActive: 2 })).kind).toBe('enqueued');
      });
    });

    describe('the per-user cap', () => {
      it('counts queued and running jobs, and an active job for the track wins over it', async () => {
        const job = await enqueue('u1', 't1');
        expect(await offer('u1', 't1', { maxActive: 1 })).toMatchObject({ kind: 'existing', job: { id: job.id } });
        expect(await offer('u1', 't2', { maxActive: 1 })).toEqual({ kind: 'over-cap', activeJobs: 1, maxActive: 1 });
        expect((await offer('u2', 't2', { maxActive: 1 })).kind).toBe('enqueued');
        await claimed();
        expect(await offer('u1', 't2', { maxActive: 1 })).toEqual({ kind: 'over-cap', activeJobs: 1, maxActive: 1 });
        expect((await queue.list({ userId: 'u1', limit: 10, offset: 0 })).total).toBe(1);
      });

      it('frees a slot on every final transition, and only then', async () => {
        const cap = { maxActive: 2 };
        const [a, b] = await enqueueAll([{ trackId: 'a' }, { trackId: 'b' }]);
        expect((await offer('u1', 'c', cap)).kind).toBe('over-cap');

        // Complete.
        const leaseA = await claimed();
        expect((await offer('u1', 'c', cap)).kind).toBe('over-cap');
        await queue.complete(a!.id, leaseA.token);
        const c = (await offer('u1', 'c', cap)) as { kind: string; job: Job };
        expect(c.kind).toBe('enqueued');

        // Cancel.
        await queue.cancel(b!.id, 'u1');
        expect((await offer('u1', 'd', cap)).kind).toBe('enqueued');
        expect((await offer('u1', 'e', cap)).kind).toBe('over-cap');

        // A retry, a release and a failed renewal keep the slot; a final failure frees it.
        const leaseC = await claimed();
        expect(leaseC.job.id).toBe(c.job.id);
        await queue.fail(c.job.id, leaseC.token, boom, { delayMs: 0 });
        expect((await offer('u1', 'e', cap)).kind).toBe('over-cap');
        const leaseD = await claimed();
        await queue.release(leaseD.job.id, leaseD.token);
        expect((await offer('u1', 'e', cap)).kind).toBe('over-cap');
        const again = await claimed();
        await queue.fail(again.job.id, again.token, boom, null);
        expect((await offer('u1', 'e', cap)).kind).toBe('enqueued');
        expect((await offer('u1', 'f', cap)).kind).toBe('over-cap');
      });

      it('counts an admin’s retry without refusing it', async () => {
        const job = await enqueue('u1', 'a');
        const lease = await claimed();
        await queue.fail(job.id, lease.token, boom, null);
        await enqueueAll([{ trackId: 'b' }, { trackId: 'c' }]);
        expect((await offer('u1', 'd', { maxActive: 2 })).kind).toBe('over-cap');
        expect(await queue.retry(job.id)).toMatchObject({ kind: 'retried', job: { id: job.id, status: 'queued' } });
        expect(await offer('u1', 'd', { maxActive: 3 })).toEqual({ kind: 'over-cap', activeJobs: 3, maxActive: 3 });
      });
    });

    describe('fairness', () => {
      it('serves a one-job user within the first two claims, however long another user’s queue', async () => {
        const backlog = await enqueueAll(Array.from({ length: 30 }, (_, i) => ({ userId: 'a', trackId: `a${i}` })));
        const single = await enqueue('b', 'b0');
        const order = await claimOrder();
        expect(order).toHaveLength(31);
        expect(order.indexOf(single.id)).toBeLessThanOrEqual(1);
        expect(order.filter((id) => id !== single.id)).toEqual(backlog.map((j) => j.id));
      });

      it('takes turns between users with backlogs', async () => {
        const a = await enqueueAll(Array.from({ length: 4 }, (_, i) => ({ userId: 'a', trackId: `a${i}` })));
        const b = await enqueueAll(Array.from({ length: 4 }, (_, i) => ({ userId: 'b', trackId: `b${i}` })));
        expect(await claimOrder()).toEqual(a.flatMap((job, i) => [job.id, b[i]!.id]));
      });

      it('holds nothing against a user whose earlier backlog was served', async () => {
        await enqueueAll(Array.from({ length: 20 }, (_, i) => ({ userId: 'a', trackId: `a${i}` })));
        await claimOrder();
        const b = await enqueueAll(Array.from({ length: 3 }, (_, i) => ({ userId: 'b', trackId: `b${i}` })));
        const late = await enqueue('a', 'a-late');
        const order = await claimOrder();
        expect(order.indexOf(late.id)).toBeLessThanOrEqual(1);
        expect(order.filter((id) => id !== late.id)).toEqual(b.map((j) => j.id));
      });

      it('puts a retry in line behind the jobs other users were already waiting with', async () => {
        const mine = await enqueue('a', 'a0');
        const theirs = await enqueueAll(Array.from({ length: 3 }, (_, i) => ({ userId: 'b', trackId: `b${i}` })));
        const lease = await claimed();
        expect(lease.job.id).toBe(mine.id);
        await queue.fail(mine.id, lease.token, boom, { delayMs: 0 });
        const order = await claimOrder();
        expect(order).toEqual([theirs[0]!.id, mine.id, theirs[1]!.id, theirs[2]!.id]);
      });
    });

    describe('cancelling, admin retries, listings and purging', () => {
      it('cancels a queued job of its owner only', async () => {
        const job = await enqueue('u1');
        expect(await queue.cancel(job.id, 'u2')).toEqual({ kind: 'not-found' });
        expect(await queue.cancel('no-such-job', 'u1')).toEqual({ kind: 'not-found' });

        const cancelled = await queue.cancel(job.id, 'u1');
        expect(cancelled).toMatchObject({ kind: 'cancelled', job: { id: job.id, status: 'cancelled' } });
        expect(cancelled.kind === 'cancelled' && cancelled.job.nextAttemptAt).toBeUndefined();
        expect(await queue.cancel(job.id, 'u1')).toMatchObject({ kind: 'conflict', job: { status: 'cancelled' } });
        expect(await claim()).toBeNull();
        expect(await queue.findActive('u1', 'track-1')).toBeNull();
      });

      it('refuses to cancel a running or finished job', async () => {
        const job = await enqueue();
        const lease = await claimed();
        expect(await queue.cancel(job.id, 'u1')).toMatchObject({ kind: 'conflict', job: { id: job.id, status: 'running' } });
        expect(await queue.complete(job.id, lease.token)).toBe(true);
        expect(await queue.cancel(job.id, 'u1')).toMatchObject({ kind: 'conflict', job: { status: 'completed' } });
      });

      it('lets an admin put a failed job back, with its attempts reset', async () => {
        const job = await enqueue('u1', 'track-1', 2);
        const lease = await claimed();
        expect(await queue.retry(job.id)).toMatchObject({ kind: 'not-failed', job: { status: 'running' } });
        await queue.fail(job.id, lease.token, boom, null);

        const before = Date.now();
        const retried = await queue.retry(job.id);
        expect(retried).toMatchObject({ kind: 'retried', job: { id: job.id, status: 'queued', attempts: 0, maxAttempts: 2 } });
        const back = (retried as { job: Job }).job;
        expect(back.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(before - SKEW);
        expect(back.error).toBeUndefined();
        expect(back.lease).toBeUndefined();
        expect(await queue.retry(job.id)).toMatchObject({ kind: 'not-failed', job: { status: 'queued' } });
        expect(await queue.retry('no-such-job')).toEqual({ kind: 'not-found' });
        expect((await claimed('w2')).job).toMatchObject({ id: job.id, attempts: 1 });
      });

      it('refuses an admin’s retry while the user has another active job for the track', async () => {
        const job = await enqueue('u1', 'track-1');
        const lease = await claimed();
        await queue.fail(job.id, lease.token, boom, null);
        const asked = await enqueue('u1', 'track-1');
        expect(await queue.retry(job.id)).toMatchObject({ kind: 'duplicate', active: { id: asked.id } });
        expect((await queue.get(job.id))?.status).toBe('failed');
      });

      it('lists jobs newest first, filtered and paged, with totals', async () => {
        const [a1, a2, b1, a3, b2] = await enqueueAll([
          { userId: 'a', trackId: 't1' },
          { userId: 'a', trackId: 't2' },
          { userId: 'b', trackId: 't1' },
          { userId: 'a', trackId: 't3' },
          { userId: 'b', trackId: 't2' },
        ]);
        expect((await claimed()).job.id).toBe(a1!.id);
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

      it('counts jobs by status, naming every status', async () => {
        const zero = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]));
        expect(await queue.countByStatus()).toEqual(zero);

        const [j1, j2, j3, j4] = await enqueueAll([{ trackId: 'a' }, { trackId: 'b' }, { trackId: 'c' }, { trackId: 'd' }]);
        await queue.complete(j1!.id, (await claimed()).token);
        await queue.fail(j2!.id, (await claimed()).token, boom, null);
        expect((await claimed()).job.id).toBe(j3!.id);
        await queue.cancel(j4!.id, 'u1');
        await enqueue('u1', 'e');

        expect(await queue.countByStatus()).toEqual({ queued: 1, running: 1, completed: 1, failed: 1, cancelled: 1 });
      });

      it('purges final jobs last changed before a date, however many', async () => {
        const [done, failed, running, queued] = await enqueueAll(['a', 'b', 'c', 'd'].map((trackId) => ({ trackId })));
        await queue.complete(done!.id, (await claimed()).token);
        await queue.fail(failed!.id, (await claimed()).token, boom, null);
        expect((await claimed()).job.id).toBe(running!.id);
        const cancelled: Job[] = [];
        for (let i = 0; i < 1_100; i++) {
          const job = await enqueue('u2', `t${i}`);
          await queue.cancel(job.id, 'u2');
          cancelled.push(job);
        }
        expect(await queue.purgeFinished(new Date(Date.now() - 60_000))).toBe(0);
        expect(await queue.purgeFinished(new Date(Date.now() + 60_000))).toBe(1_102);
        expect(await queue.get(done!.id)).toBeNull();
        expect(await queue.get(failed!.id)).toBeNull();
        expect(await queue.get(cancelled[0]!.id)).toBeNull();
        expect((await queue.get(running!.id))?.status).toBe('running');
        expect((await queue.get(queued!.id))?.status).toBe('queued');
        expect((await queue.list({ limit: 1, offset: 0 })).total).toBe(2);
      });
    });
  });
}
