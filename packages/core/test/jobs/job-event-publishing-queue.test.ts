import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessJobEvents } from '../../src/jobs/in-process-job-events.js';
import { publishJobChanges } from '../../src/jobs/job-event-publishing-queue.js';
import type { JobQueue } from '../../src/jobs/job-queue.js';
import { SqliteJobQueue } from '../../src/jobs/sqlite-job-queue.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';

/** The in-process events, with a record of what was published. */
class RecordedJobEvents extends InProcessJobEvents {
  readonly published: string[] = [];
  override publish(jobId: string): void {
    this.published.push(jobId);
    super.publish(jobId);
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const LEASE_MS = 60_000;

describe('publishJobChanges over the SQLite queue', () => {
  let temp: TempSqlite;
  let events: RecordedJobEvents;
  let queue: JobQueue;

  beforeEach(() => {
    temp = openTempSqlite();
    events = new RecordedJobEvents();
    queue = publishJobChanges(new SqliteJobQueue(temp.db), events);
  });
  afterEach(async () => {
    await events.close();
    await temp.close();
  });

  const enqueue = async (trackId: string, maxActive = 10) => {
    const outcome = await queue.enqueue({ userId: 'u', trackId, maxAttempts: 3, maxActive });
    if (outcome.kind === 'over-cap') throw new Error('over cap');
    return outcome.job;
  };

  it('publishes after each change a follower sees, and the follower reloads it from the queue', async () => {
    const job = await enqueue('t1');
    expect(events.published).toEqual([job.id]);
    const seen: string[] = [];
    events.subscribe(job.id, () => {
      void queue.get(job.id).then((current) => seen.push(`${current?.status}:${current?.progress?.bytes ?? '-'}`));
    });

    const lease = (await queue.claim('w', LEASE_MS))!;
    expect(await queue.reportProgress(job.id, lease.token, { bytes: 100, totalBytes: 300 })).toBe(true);
    expect(await queue.complete(job.id, lease.token)).toBe(true);
    expect(events.published).toEqual([job.id, job.id, job.id, job.id]);
    await tick();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Each reload found the committed state (the last ones may all see the final one).
    expect(seen).toHaveLength(3);
    expect(seen.at(-1)).toBe('completed:100');
  });

  it('publishes fail (retry and final), release, cancel and an admin retry; one per change', async () => {
    const job = await enqueue('t2');
    let lease = (await queue.claim('w', LEASE_MS))!;
    expect(await queue.fail(job.id, lease.token, { code: 'x', message: 'x' }, { delayMs: 0 })).not.toBeNull();
    lease = (await queue.claim('w', LEASE_MS))!;
    expect(await queue.release(job.id, lease.token)).toBe(true);
    lease = (await queue.claim('w', LEASE_MS))!;
    expect(await queue.fail(job.id, lease.token, { code: 'x', message: 'x' }, null)).toMatchObject({ status: 'failed' });
    expect(await queue.retry(job.id)).toMatchObject({ kind: 'retried' });
    expect(await queue.cancel(job.id, 'u')).toMatchObject({ kind: 'cancelled' });
    // enqueue, claim, fail, claim, release, claim, fail, retry, cancel
    expect(events.published).toEqual(Array(9).fill(job.id));
  });

  it('publishes nothing for a write that changed nothing a follower sees', async () => {
    const job = await enqueue('t3', 1);
    events.published.length = 0;
    // The user's active job for the track, and the cap.
    expect((await queue.enqueue({ userId: 'u', trackId: 't3', maxAttempts: 3, maxActive: 1 })).kind).toBe('existing');
    expect((await queue.enqueue({ userId: 'u', trackId: 'other', maxAttempts: 3, maxActive: 1 })).kind).toBe('over-cap');
    const lease = (await queue.claim('w', LEASE_MS))!;
    expect(events.published).toEqual([job.id]);
    expect(await queue.claim('w', LEASE_MS)).toBeNull();
    // Lease and quota bookkeeping.
    expect(await queue.renew(job.id, lease.token, LEASE_MS)).toBe(true);
    expect(await queue.reserve(job.id, lease.token, 10, 1000)).toEqual({ kind: 'reserved' });
    // A stale token changes nothing.
    expect(await queue.reportProgress(job.id, 'stale', { bytes: 1 })).toBe(false);
    expect(await queue.complete(job.id, 'stale')).toBe(false);
    expect(await queue.release(job.id, 'stale')).toBe(false);
    expect(await queue.fail(job.id, 'stale', { code: 'x', message: 'x' }, null)).toBeNull();
    // Running: not cancellable; not failed: not retried.
    expect((await queue.cancel(job.id, 'u')).kind).toBe('conflict');
    expect((await queue.retry(job.id)).kind).toBe('not-failed');
    expect(await queue.repairActiveCounts()).toBe(0);
    expect(events.published).toEqual([job.id]);
  });

  it('publishes nothing when reaping, whose outcome names no job (the safety poll covers it)', async () => {
    const job = await enqueue('t4');
    await queue.claim('w', 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    events.published.length = 0;
    expect(await queue.reapExpired()).toEqual({ requeued: 1, failed: 0 });
    expect((await queue.get(job.id))?.status).toBe('queued');
    expect(events.published).toEqual([]);
  });
});
