import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskLeases } from '../../src/housekeeping/task-leases.js';

export interface TaskLeasesHarness {
  leases: TaskLeases;
  /** The same leases as another process sees them (its own connection or client). */
  connect(): TaskLeases;
  close(): Promise<void>;
}

/** What every `TaskLeases` adapter must do. Names are unique per test, so a shared backend is fine. */
export function describeTaskLeases(name: string, factory: () => Promise<TaskLeasesHarness>): void {
  describe(`TaskLeases contract: ${name}`, () => {
    let harness: TaskLeasesHarness;
    let leases: TaskLeases;
    let task: string;

    beforeEach(async () => {
      harness = await factory();
      leases = harness.leases;
      task = `contract:${randomUUID()}`;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('grants a free lease to one owner, and refuses everyone else while it lasts, saying for how long', async () => {
      expect(await leases.tryAcquire(task, 'a', 10_000)).toEqual({ acquired: true });
      const refused = await harness.connect().tryAcquire(task, 'b', 10_000);
      expect(refused.acquired).toBe(false);
      expect(!refused.acquired && refused.retryInMs).toBeGreaterThan(9_000);
      expect(!refused.acquired && refused.retryInMs).toBeLessThanOrEqual(10_000);
      // Not reentrant: the holder is refused too, so "held" always means "someone is on it".
      expect((await leases.tryAcquire(task, 'a', 10_000)).acquired).toBe(false);
    });

    it('keeps leases of different names apart', async () => {
      expect((await leases.tryAcquire(task, 'a', 10_000)).acquired).toBe(true);
      expect((await leases.tryAcquire(`${task}:other`, 'b', 10_000)).acquired).toBe(true);
    });

    it('grants one of many owners trying at once', async () => {
      const contenders = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? leases : harness.connect()).tryAcquire(task, `owner-${i}`, 10_000));
      const granted = (await Promise.all(contenders)).filter((attempt) => attempt.acquired);
      expect(granted).toHaveLength(1);
    });

    it('lets another owner take a lease whose time ran out, after which the old holder can neither renew nor release it', async () => {
      expect((await leases.tryAcquire(task, 'dead', 50)).acquired).toBe(true);
      expect((await harness.connect().tryAcquire(task, 'heir', 10_000)).acquired).toBe(false);
      await sleep(80);
      expect((await harness.connect().tryAcquire(task, 'heir', 10_000)).acquired).toBe(true);
      expect(await leases.renew(task, 'dead', 10_000)).toBe(false);
      expect(await leases.release(task, 'dead')).toBe(false);
      expect((await leases.tryAcquire(task, 'third', 10_000)).acquired).toBe(false);
    });

    it('renews the lease of its holder, so that it outlives its first term', async () => {
      expect((await leases.tryAcquire(task, 'a', 100)).acquired).toBe(true);
      for (let i = 0; i < 4; i += 1) {
        await sleep(50);
        expect(await leases.renew(task, 'a', 100)).toBe(true);
      }
      expect((await harness.connect().tryAcquire(task, 'b', 100)).acquired).toBe(false);
      expect(await leases.renew(task, 'b', 100)).toBe(false);
    });

    it('is free at once once released, and a stranger cannot release it', async () => {
      expect((await leases.tryAcquire(task, 'a', 10_000)).acquired).toBe(true);
      expect(await leases.release(task, 'b')).toBe(false);
      expect((await leases.tryAcquire(task, 'b', 10_000)).acquired).toBe(false);
      expect(await leases.release(task, 'a')).toBe(true);
      expect(await leases.release(task, 'a')).toBe(false);
      expect((await harness.connect().tryAcquire(task, 'b', 10_000)).acquired).toBe(true);
    });

    it('rests a lease released with a hold: no one takes it before the hold has passed', async () => {
      expect((await leases.tryAcquire(task, 'a', 10_000)).acquired).toBe(true);
      expect(await leases.release(task, 'a', 150)).toBe(true);
      const resting = await harness.connect().tryAcquire(task, 'b', 10_000);
      expect(resting.acquired).toBe(false);
      expect(!resting.acquired && resting.retryInMs).toBeGreaterThan(50);
      expect(!resting.acquired && resting.retryInMs).toBeLessThanOrEqual(150);
      expect((await leases.tryAcquire(task, 'a', 10_000)).acquired).toBe(false);
      await sleep(180);
      expect((await harness.connect().tryAcquire(task, 'b', 10_000)).acquired).toBe(true);
    });
  });
}
