import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FencingTokens } from '../../src/locks/fencing-tokens.js';
import type { LockContext, LockManager } from '../../src/locks/lock-manager.js';

export interface LockManagerHarness {
  subject: LockManager;
  /** The fencing authority the subject's tokens come from, where guarded writes check them. */
  fencing: FencingTokens;
  /**
   * Makes the backend let go of `key` as if its holder had paused past the TTL (the row
   * expires, the Redis key vanishes). Only for backends whose locks can be lost.
   */
  loseLock?(key: string): Promise<void>;
  close(): Promise<void>;
}

export interface LockManagerFeatures {
  /** Whether a held lock can be lost (a TTL that runs out): the lost-lock cases run only then. */
  canLoseLocks: boolean;
}

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** What every `LockManager` adapter must do. Keys are unique per test, so a shared backend is fine. */
export function describeLockManager(name: string, factory: () => Promise<LockManagerHarness>, features: LockManagerFeatures): void {
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
        locks.using([key], async () => {
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
      const release = gate();
      const started = gate();
      const events: string[] = [];

      const first = locks.using([`${prefix}a`], async () => {
        started.open();
        await release.opened;
        events.push('a done');
      });
      await started.opened;
      // Would time out if key b waited behind key a.
      await locks.using([`${prefix}b`], async () => {
        events.push('b done');
      }, { waitTimeoutMs: 2000 });
      release.open();
      await first;

      expect(events).toEqual(['b done', 'a done']);
    });

    it('returns what work returns, with a live signal and a fencing token', async () => {
      const result = await locks.using([`${prefix}value`], async ({ signal, fencingToken }) => {
        expect(signal).toBeInstanceOf(AbortSignal);
        expect(signal.aborted).toBe(false);
        expect(Number.isSafeInteger(fencingToken) && fencingToken >= 1).toBe(true);
        return { answer: 42 };
      });
      expect(result).toEqual({ answer: 42 });
    });

    it('holds every key of a set at once, and only those', async () => {
      const [a, b, c] = [`${prefix}a`, `${prefix}b`, `${prefix}c`];
      const release = gate();
      const held = gate();
      const holder = locks.using([a, b], async () => {
        held.open();
        await release.opened;
      });
      await held.opened;

      await expect(locks.using([b], async () => 'b', { waitTimeoutMs: 100 })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
      await expect(locks.using([c, a], async () => 'c and a', { waitTimeoutMs: 100 })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
      expect(await locks.using([c], async () => 'c', { waitTimeoutMs: 1000 })).toBe('c');
      release.open();
      await holder;
      expect(await locks.using([b, c, a], async () => 'all', { waitTimeoutMs: 1000 })).toBe('all');
    });

    it('never deadlocks callers that name the same keys in opposite orders', async () => {
      const [a, b] = [`${prefix}a`, `${prefix}b`];
      let inside = 0;
      let most = 0;
      const work = async () => {
        inside += 1;
        most = Math.max(most, inside);
        await sleep(2);
        inside -= 1;
      };
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) => locks.using(i % 2 === 0 ? [a, b] : [b, a], work, { waitTimeoutMs: 10_000 })),
      );
      expect(results).toHaveLength(16);
      expect(most).toBe(1);
    });

    it('issues a higher token for every acquisition, one per acquisition of a set, as the authority records it', async () => {
      const [a, b] = [`${prefix}a`, `${prefix}b`];
      const first = await locks.using([a], async ({ fencingToken }) => fencingToken);
      const both = await locks.using([b, a], async ({ fencingToken }) => fencingToken);
      expect(both).toBeGreaterThan(first);
      expect(await harness.fencing.current(a)).toBe(both);
      expect(await harness.fencing.current(b)).toBe(both);

      // A later acquisition of one key makes the set's token stale for that key only.
      const again = await locks.using([a], async ({ fencingToken }) => fencingToken);
      expect(again).toBeGreaterThan(both);
      expect(await harness.fencing.current(a)).toBe(again);
      expect(await harness.fencing.current(b)).toBe(both);
      expect(await harness.fencing.current(`${prefix}never`)).toBeNull();
    });

    it('releases the lock when work throws', async () => {
      const key = `${prefix}failing`;
      const failure = new Error('work failed');
      await expect(locks.using([key], async () => {
        throw failure;
      })).rejects.toBe(failure);

      const ran = await locks.using([key], async () => 'ran again', { waitTimeoutMs: 1000 });
      expect(ran).toBe('ran again');
    });

    it('gives up waiting after waitTimeoutMs, without running work', async () => {
      const key = `${prefix}busy`;
      const release = gate();
      const held = gate();
      const holder = locks.using([key], async () => {
        held.open();
        await release.opened;
      });
      await held.opened;

      let ran = false;
      const startedAt = Date.now();
      await expect(locks.using([key], async () => {
        ran = true;
      }, { waitTimeoutMs: 150 })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
      const waited = Date.now() - startedAt;
      expect(ran).toBe(false);
      expect(waited).toBeGreaterThanOrEqual(120);
      expect(waited).toBeLessThan(2000);

      release.open();
      await holder;
      // The key is free again once the holder is done.
      expect(await locks.using([key], async () => 'free', { waitTimeoutMs: 1000 })).toBe('free');
    });

    it('stops waiting when the caller aborts, with its reason, without running work', async () => {
      const key = `${prefix}aborted`;
      const release = gate();
      const held = gate();
      const holder = locks.using([key], async () => {
        held.open();
        await release.opened;
      });
      await held.opened;

      const controller = new AbortController();
      const reason = new Error('shutting down');
      let ran = false;
      const waiter = locks.using([key], async () => {
        ran = true;
      }, { waitTimeoutMs: 10_000, signal: controller.signal });
      setTimeout(() => controller.abort(reason), 50);
      await expect(waiter).rejects.toBe(reason);
      expect(ran).toBe(false);
      release.open();
      await holder;
      expect(await locks.using([key], async () => 'free', { waitTimeoutMs: 1000 })).toBe('free');
    });

    it('refuses an empty set of keys', async () => {
      await expect(locks.using([], async () => 'nothing')).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    });

    it('keeps the lock while work outlives ttlMs', async () => {
      const key = `${prefix}long`;
      const held = gate();
      const holder = locks.using([key], async ({ signal }) => {
        held.open();
        await sleep(600);
        return signal.aborted;
      }, { ttlMs: 200 });
      await held.opened;
      await sleep(350);

      await expect(locks.using([key], async () => 'stolen', { waitTimeoutMs: 50 })).rejects.toMatchObject({
        code: 'ERR_UNAVAILABLE',
      });
      expect(await holder).toBe(false);
    });

    if (features.canLoseLocks) {
      it('aborts a holder that lost its lock with ERR_LOCK_LOST, and its token is stale from then on', async () => {
        const key = `${prefix}lost`;
        const held = gate();
        let seen: LockContext | undefined;
        const holder = locks.using([key], async (lock) => {
          seen = lock;
          held.open();
          // The work goes on until the lock is found lost.
          await new Promise((resolve) => lock.signal.addEventListener('abort', resolve, { once: true }));
          return lock.signal.reason as { code?: string };
        }, { ttlMs: 300 });
        await held.opened;

        await harness.loseLock!(key);
        const taker = await locks.using([key], async ({ fencingToken }) => fencingToken, { waitTimeoutMs: 1000 });
        expect(taker).toBeGreaterThan(seen!.fencingToken);
        expect(await harness.fencing.current(key)).toBe(taker);

        const startedAt = Date.now();
        expect(await holder).toMatchObject({ code: 'ERR_LOCK_LOST' });
        // Found at its next renewal, within a third of the TTL or so.
        expect(Date.now() - startedAt).toBeLessThan(2000);
        expect(await harness.fencing.current(key)).not.toBe(seen!.fencingToken);
      });

      it('lets the new holder keep a key that a holder which lost it releases late', async () => {
        const key = `${prefix}late-release`;
        const held = gate();
        const release = gate();
        const holder = locks.using([key], async () => {
          held.open();
          await release.opened;
        }, { ttlMs: 300 });
        await held.opened;
        await harness.loseLock!(key);

        const taken = gate();
        const done = gate();
        const taker = locks.using([key], async () => {
          taken.open();
          await done.opened;
        }, { waitTimeoutMs: 1000 });
        await taken.opened;
        // The old holder finishes and releases: that must not free the new holder's lock.
        release.open();
        await holder;
        await expect(locks.using([key], async () => 'stolen', { waitTimeoutMs: 100 })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
        done.open();
        await taker;
      });
    }
  });
}
