import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobLease, JobQueue } from '../../src/jobs/job-queue.js';

export interface JobQueueHousekeepingHarness {
  /** An empty queue. */
  queue: JobQueue;
  /**
   * Corrupts the per-user count of active jobs the way only a fault could: sets it, or with
   * null removes the user's counter altogether.
   */
  corruptActiveCount(userId: string, active: number | null): Promise<void>;
  close(): Promise<void>;
}

/** What the `JobQueue` offers housekeeping: lease checks for temp files, and counters repaired from rows. */
export function describeJobQueueHousekeeping(name: string, factory: () => Promise<JobQueueHousekeepingHarness>): void {
  describe(`JobQueue housekeeping contract: ${name}`, () => {
    let harness: JobQueueHousekeepingHarness;
    let queue: JobQueue;
    const enqueue = (userId: string, trackId: string, maxActive = 100) => queue.enqueue({ userId, trackId, maxAttempts: 3, maxActive });
    const claimed = async (leaseMs = 60_000): Promise<JobLease> => {
      const lease = await queue.claim('w1', leaseMs);
      expect(lease).not.toBeNull();
      return lease!;
    };

    beforeEach(async () => {
      harness = await factory();
      queue = harness.queue;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('says a lease is live only for its token, while the job runs and its time has not run out', async () => {
      await enqueue('u1', 'a');
      await enqueue('u1', 'b');
      const live = await claimed();
      expect(await queue.holdsLease(live.job.id, live.token)).toBe(true);
      expect(await queue.holdsLease(live.job.id, 'another-token')).toBe(false);
      expect(await queue.holdsLease('no-such-job', live.token)).toBe(false);
      expect(await queue.complete(live.job.id, live.token)).toBe(true);
      expect(await queue.holdsLease(live.job.id, live.token)).toBe(false);

      const short = await claimed(20);
      expect(await queue.holdsLease(short.job.id, short.token)).toBe(true);
      await sleep(80);
      // Not reaped yet, but run out: its attempt no longer owns anything.
      expect(await queue.holdsLease(short.job.id, short.token)).toBe(false);
    });

    it('recounts active jobs per user from the rows, correcting only the counters that drifted', async () => {
      for (const track of ['a', 'b', 'c']) await enqueue('alice', track);
      for (const track of ['a', 'b']) await enqueue('bob', track);
      await enqueue('carol', 'a');
      const cancelled = await enqueue('alice', 'x');
      expect(cancelled.kind).toBe('enqueued');
      if (cancelled.kind === 'enqueued') expect((await queue.cancel(cancelled.job.id, 'alice')).kind).toBe('cancelled');
      expect(await queue.repairActiveCounts()).toBe(0);

      // Drifted both ways: alice's too low lets her past the cap, bob's too high refuses him.
      await harness.corruptActiveCount('alice', 0);
      await harness.corruptActiveCount('bob', 7);
      await harness.corruptActiveCount('carol', null);
      expect((await enqueue('bob', 'c', 3)).kind).toBe('over-cap');

      expect(await queue.repairActiveCounts()).toBe(3);
      expect(await queue.repairActiveCounts()).toBe(0);
      expect((await enqueue('alice', 'd', 4)).kind).toBe('enqueued');
      expect((await enqueue('alice', 'e', 4)).kind).toBe('over-cap');
      expect((await enqueue('bob', 'c', 3)).kind).toBe('enqueued');
      expect((await enqueue('bob', 'd', 3)).kind).toBe('over-cap');
      expect((await enqueue('carol', 'b', 2)).kind).toBe('enqueued');
      expect((await enqueue('carol', 'c', 2)).kind).toBe('over-cap');
    });
  });
}
