import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LockManager } from '../../src/locks/lock-manager.js';

export interface LockManagerHarness {
  subject: LockManager;
  close(): Promise<void>;
}

/** What every `LockManager` adapter must do. Keys are unique per test, so a shared backend is fine. */
export function describeLockManager(name: string, factory: () => Promise<LockManagerHarness>): void {
  describe(`LockManager contract: ${name}`, () => {
    let harness: LockManagerHarness;
    let locks: LockManager;
    let prefix: string;

    beforeEach(async () => {
      harness = await factory();
      locks = harness.subject;
      prefix = `contract:${randomUUID()}:`;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('never lets two holders of the same key run at once', async () => {
      const key = `${prefix}shared`;
      let active = 0;
      let maxActive = 0;
      let counter = 0;
      const order: number[] = [];

      const contenders = Array.from({ length: 20 }, (_, index) =>
        locks.using(key, async () => {
          active += 1;
          maxActive = Math.max(maxActive, active);
          // A read-modify-write across awaits loses updates unless the lock holds.
          const seen = counter;
          await sleep(index % 3);
          await Promise.resolve();
          counter = seen + 1;
          order.push(index);
          active -= 1;
          return index;
        }),
      );

      expect(await Promise.all(contenders)).toEqual(Array.from({ length: 20 }, (_, index) => index));
      expect(maxActive).toBe(1);
      expect(counter).toBe(20);
      expect(order).toHaveLength(20);
    });

    it('runs different keys in parallel', async () => {
      let releaseFirst!: () => void;
      const gate = new Promise<void>((resolve) => {
        releaseFirst = resolve;
      });
      const events: string[] = [];
      let firstStarted!: () => void;
      const started = new Promise<void>((resolve) => {
        firstStarted = resolve;
      });

      const first = locks.using(`${prefix}a`, async () => {
        firstStarted();
        await gate;
        events.push('a done');
      });
      await started;
      // Would time out if key b waited behind key a.
      await locks.using(`${prefix}b`, async () => {
        events.push('b done');
      }, { waitTimeoutMs: 2000 });
      releaseFirst();
      await first;

      expect(events).toEqual(['b done', 'a done']);
    });

    it('returns what work returns and gives it a live signal', async () => {
      const result = await locks.using(`${prefix}value`, async (signal) => {
        expect(signal).toBeInstanceOf(AbortSignal);
        expect(signal.aborted).toBe(false);
        return { answer: 42 };
      });
      expect(result).toEqual({ answer: 42 });
    });

    it('releases the lock when work throws', async () => {
      const key = `${prefix}failing`;
      const failure = new Error('work failed');
      await expect(locks.using(key, async () => {
        throw failure;
      })).rejects.toBe(failure);

      const ran = await locks.using(key, async () => 'ran again', { waitTimeoutMs: 1000 });
      expect(ran).toBe('ran again');
    });

    it('gives up waiting after waitTimeoutMs, without running work', async () => {
      const key = `${prefix}busy`;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let holding!: () => void;
      const held = new Promise<void>((resolve) => {
        holding = resolve;
      });
      const holder = locks.using(key, async () => {
        holding();
        await gate;
      });
      await held;

      let ran = false;
      const startedAt = Date.now();
      await expect(locks.using(key, async () => {
        ran = true;
      }, { waitTimeoutMs: 150 })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
      const waited = Date.now() - startedAt;
      expect(ran).toBe(false);
      expect(waited).toBeGreaterThanOrEqual(120);
      expect(waited).toBeLessThan(2000);

      release();
      await holder;
      // The key is free again once the holder is done.
      expect(await locks.using(key, async () => 'free', { waitTimeoutMs: 1000 })).toBe('free');
    });

    it('keeps the lock while work outlives ttlMs', async () => {
      const key = `${prefix}long`;
      let holding!: () => void;
      const held = new Promise<void>((resolve) => {
        holding = resolve;
      });
      const holder = locks.using(key, async (signal) => {
        holding();
        await sleep(600);
        return signal.aborted;
      }, { ttlMs: 200 });
      await held;
      await sleep(350);

      await expect(locks.using(key, async () => 'stolen', { waitTimeoutMs: 50 })).rejects.toMatchObject({
        code: 'ERR_UNAVAILABLE',
      });
      expect(await holder).toBe(false);
    });
  });
}
