import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseLostError, LockLostError, QuotaExceededError } from '../../src/errors.js';
import type { JobLease, JobQueue } from '../../src/jobs/job-queue.js';
import type { LibraryStore } from '../../src/library/library-store.js';
import type { FencingTokens } from '../../src/locks/fencing-tokens.js';
import type { Fence } from '../../src/locks/lock-manager.js';

export interface QuotaReservationsHarness {
  /** An empty queue and library over one database: a reservation lives on the job's row. */
  queue: JobQueue;
  library: LibraryStore;
  /** The fencing authority of that database. */
  fencing: FencingTokens;
  close(): Promise<void>;
}

const MB = 1_000_000;
const LIMIT = 10 * MB;
const LEASE = 60_000;
const SHORT = 20;

/**
 * Quota reservations across the two ports that share them: `JobQueue.reserve` takes one on the
 * job's row and the user's usage row, `LibraryStore.add` commits it with the library entry,
 * and every way a job stops running gives it back. Run for every database backend.
 */
export function describeQuotaReservations(name: string, factory: () => Promise<QuotaReservationsHarness>): void {
  describe(`quota reservations: ${name}`, () => {
    let harness: QuotaReservationsHarness;
    let queue: JobQueue;
    let library: LibraryStore;

    /** A running job of the user's for the track. */
    const running = async (userId: string, trackId: string, leaseMs = LEASE): Promise<JobLease> => {
      const outcome = await queue.enqueue({ userId, trackId, maxAttempts: 3, maxActive: 100 });
      expect(outcome.kind).toBe('enqueued');
      const lease = await queue.claim(`worker-${trackId}`, leaseMs);
      expect(lease?.job.trackId).toBe(trackId);
      return lease!;
    };
    const reserve = (lease: JobLease, bytes: number) => queue.reserve(lease.job.id, lease.token, bytes, LIMIT);
    const holder = (lease: JobLease) => ({ jobId: lease.job.id, token: lease.token });
    const fence = async (trackId: string): Promise<Fence> => {
      const key = `track:${trackId}`;
      return { key, token: await harness.fencing.issue([key]) };
    };

    beforeEach(async () => {
      harness = await factory();
      ({ queue, library } = harness);
    });

    afterEach(() => harness.close());

    it('counts a reservation against the quota until the library add commits it', async () => {
      const lease = await running('u1', 't1');
      expect(await reserve(lease, 6 * MB)).toEqual({ kind: 'reserved' });
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 6 * MB });
      // What the user sees is what their library holds.
      expect(await library.usedBytes('u1')).toBe(0);
      await expect(library.add({ userId: 'u1', trackId: 'other', sizeBytes: 5 * MB }, LIMIT)).rejects.toMatchObject({
        code: 'ERR_QUOTA_EXCEEDED',
        usedBytes: 6 * MB,
        requestedBytes: 5 * MB,
      });

      const added = await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 6 * MB }, LIMIT, await fence('t1'), holder(lease));
      expect(added).toBe('added');
      expect(await library.usage('u1')).toEqual({ committedBytes: 6 * MB, reservedBytes: 0 });
      expect(await queue.complete(lease.job.id, lease.token)).toBe(true);
      expect(await library.usage('u1')).toEqual({ committedBytes: 6 * MB, reservedBytes: 0 });
      expect(await library.repairUsage()).toBe(0);
    });

    it('lets exactly as many jobs of one user racing for the last bytes reserve as fit', async () => {
      await library.add({ userId: 'u1', trackId: 'held', sizeBytes: 4 * MB }, LIMIT);
      const [first, second] = [await running('u1', 'a'), await running('u1', 'b')];
      const pair = await Promise.all([reserve(first!, 5 * MB), reserve(second!, 5 * MB)]);
      expect(pair.map((outcome) => outcome.kind).sort()).toEqual(['over-quota', 'reserved']);
      expect(pair.find((outcome) => outcome.kind === 'over-quota')).toEqual({
        kind: 'over-quota',
        usedBytes: 9 * MB,
        limitBytes: LIMIT,
        requestedBytes: 5 * MB,
      });
      expect(await library.usage('u1')).toEqual({ committedBytes: 4 * MB, reservedBytes: 5 * MB });

      // Another user has a quota of their own; ten of theirs race for it 3 MB each.
      const many: JobLease[] = [];
      for (let i = 0; i < 10; i += 1) many.push(await running('u2', `t${i}`));
      const outcomes = await Promise.all(many.map((lease) => reserve(lease, 3 * MB)));
      expect(outcomes.filter((outcome) => outcome.kind === 'reserved')).toHaveLength(3);
      expect(await library.usage('u2')).toEqual({ committedBytes: 0, reservedBytes: 9 * MB });
    });

    it('resizes a reservation as the size becomes known, within the quota', async () => {
      const other = await running('u1', 'other');
      expect((await reserve(other, 3 * MB)).kind).toBe('reserved');
      const lease = await running('u1', 't1');
      expect((await reserve(lease, 2 * MB)).kind).toBe('reserved');
      expect((await reserve(lease, 7 * MB)).kind).toBe('reserved');
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 10 * MB });
      // Too much: the job keeps what it held, and the numbers leave its own reservation out.
      expect(await reserve(lease, 8 * MB)).toEqual({ kind: 'over-quota', usedBytes: 3 * MB, limitBytes: LIMIT, requestedBytes: 8 * MB });
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 10 * MB });
      // Shrinking always fits, even under a quota lowered meanwhile.
      expect((await queue.reserve(lease.job.id, lease.token, MB, 1)).kind).toBe('reserved');
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 4 * MB });
    });

    it('gives a reservation back however the job stops running', async () => {
      const ways: [string, (lease: JobLease) => Promise<unknown>][] = [
        ['complete', (lease) => queue.complete(lease.job.id, lease.token)],
        ['fail for good', (lease) => queue.fail(lease.job.id, lease.token, { code: 'rejected', message: 'no' }, null)],
        ['fail for a retry', (lease) => queue.fail(lease.job.id, lease.token, { code: 'unavailable', message: 'later' }, { delayMs: 0 })],
        ['release', (lease) => queue.release(lease.job.id, lease.token)],
        ['release to wait', (lease) => queue.release(lease.job.id, lease.token, { delayMs: 1000 })],
      ];
      for (const [way, stop] of ways) {
        const lease = await running('u1', way);
        expect((await reserve(lease, 4 * MB)).kind).toBe('reserved');
        await stop(lease);
        expect(await library.usage('u1'), way).toEqual({ committedBytes: 0, reservedBytes: 0 });
        // A job queued again is cancelled, so that the next claim takes the next way's job.
        if ((await queue.get(lease.job.id))?.status === 'queued') expect((await queue.cancel(lease.job.id, 'u1')).kind).toBe('cancelled');
        // Given back once: the job's row holds nothing more to give.
        expect(await library.repairUsage(), way).toBe(0);
      }

      const expiring = await running('u2', 'reaped', SHORT);
      const lasting = await running('u2', 'kept');
      expect((await reserve(expiring, 4 * MB)).kind).toBe('reserved');
      expect((await reserve(lasting, 2 * MB)).kind).toBe('reserved');
      await sleep(SHORT + 60);
      expect(await queue.reapExpired()).toEqual({ requeued: 1, failed: 0 });
      expect(await library.usage('u2')).toEqual({ committedBytes: 0, reservedBytes: 2 * MB });

      // A purge of final jobs leaves the usage as it is.
      expect(await queue.purgeFinished(new Date(Date.now() + 60_000))).toBeGreaterThan(0);
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 0 });
      expect(await library.usage('u2')).toEqual({ committedBytes: 0, reservedBytes: 2 * MB });
      expect(await library.repairUsage()).toBe(0);
    });

    it('refuses a reservation or its commit under a lease taken back, changing nothing', async () => {
      const old = await running('u1', 't1', SHORT);
      expect((await reserve(old, 3 * MB)).kind).toBe('reserved');
      await sleep(SHORT + 60);
      await queue.reapExpired();
      const current = await queue.claim('w2', LEASE);
      expect(current?.job.id).toBe(old.job.id);

      expect(await reserve(old, 3 * MB)).toEqual({ kind: 'lease-lost' });
      const commit = library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, LIMIT, await fence('t1'), holder(old));
      await expect(commit).rejects.toBeInstanceOf(LeaseLostError);
      expect(await library.get('u1', 't1')).toBeNull();
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 0 });
    });

    it('commits nothing, the quota included, with a stale fence', async () => {
      const lease = await running('u1', 't1');
      expect((await reserve(lease, 5 * MB)).kind).toBe('reserved');
      const stale = await fence('t1');
      const current = await fence('t1');
      const commit = library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 * MB }, LIMIT, stale, holder(lease));
      await expect(commit).rejects.toBeInstanceOf(LockLostError);
      expect(await library.get('u1', 't1')).toBeNull();
      // Still reserved by the job, which gives it back as it fails.
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 5 * MB });
      await queue.fail(lease.job.id, lease.token, { code: 'lease-expired', message: 'lost' }, { delayMs: 0 });
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 0 });

      const retry = await queue.claim('w2', LEASE);
      expect((await reserve(retry!, 5 * MB)).kind).toBe('reserved');
      expect(await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 * MB }, LIMIT, current, holder(retry!))).toBe('added');
      expect(await library.usage('u1')).toEqual({ committedBytes: 5 * MB, reservedBytes: 0 });
    });

    it('gives the reservation back when the user holds the track already, and refuses what no longer fits', async () => {
      await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, LIMIT);
      const again = await running('u1', 't1');
      expect((await reserve(again, 3 * MB)).kind).toBe('reserved');
      expect(await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, LIMIT, undefined, holder(again))).toBe('exists');
      expect(await library.usage('u1')).toEqual({ committedBytes: 3 * MB, reservedBytes: 0 });

      // Reserved at 2 MB, the bytes turned out 8 MB: the commit checks the quota again.
      const grown = await running('u1', 't2');
      expect((await reserve(grown, 2 * MB)).kind).toBe('reserved');
      const commit = library.add({ userId: 'u1', trackId: 't2', sizeBytes: 8 * MB }, LIMIT, undefined, holder(grown));
      await expect(commit).rejects.toBeInstanceOf(QuotaExceededError);
      expect(await library.usage('u1')).toEqual({ committedBytes: 3 * MB, reservedBytes: 2 * MB });
    });
  });
}
