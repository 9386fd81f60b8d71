import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QuotaExceededError } from '../../src/errors.js';
import type { LibraryStore } from '../../src/library/library-store.js';

export interface LibraryStoreHarness {
  /** An empty store. */
  library: LibraryStore;
  close(): Promise<void>;
}

const MB = 1_000_000;

/** What every `LibraryStore` adapter must do. */
export function describeLibraryStore(name: string, factory: () => Promise<LibraryStoreHarness>): void {
  describe(`LibraryStore contract: ${name}`, () => {
    let harness: LibraryStoreHarness;
    let library: LibraryStore;

    beforeEach(async () => {
      harness = await factory();
      library = harness.library;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('adds an item and counts its size against the user', async () => {
      const before = Date.now();
      expect(await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, 10 * MB)).toBe('added');
      const item = await library.get('u1', 't1');
      expect(item).toMatchObject({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB });
      expect(item?.addedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(await library.usedBytes('u1')).toBe(3 * MB);
      expect(await library.usedBytes('u2')).toBe(0);
      expect(await library.get('u2', 't1')).toBeNull();
    });

    it('answers exists for a track already held, without counting it twice', async () => {
      await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, 10 * MB);
      // Even when the quota is now smaller than the usage.
      expect(await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, 1)).toBe('exists');
      expect(await library.usedBytes('u1')).toBe(3 * MB);
      expect((await library.list('u1', { limit: 10, offset: 0 })).total).toBe(1);
    });

    it('refuses an item that does not fit, saying how much is used and asked for', async () => {
      await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 6 * MB }, 10 * MB);
      const refused = library.add({ userId: 'u1', trackId: 't2', sizeBytes: 5 * MB }, 10 * MB);
      await expect(refused).rejects.toBeInstanceOf(QuotaExceededError);
      await expect(library.add({ userId: 'u1', trackId: 't2', sizeBytes: 5 * MB }, 10 * MB)).rejects.toMatchObject({
        code: 'ERR_QUOTA_EXCEEDED',
        usedBytes: 6 * MB,
        limitBytes: 10 * MB,
        requestedBytes: 5 * MB,
      });
      expect(await library.get('u1', 't2')).toBeNull();
      expect(await library.usedBytes('u1')).toBe(6 * MB);
      // An exact fit is allowed; another user has their own quota.
      expect(await library.add({ userId: 'u1', trackId: 't3', sizeBytes: 4 * MB }, 10 * MB)).toBe('added');
      expect(await library.add({ userId: 'u2', trackId: 't2', sizeBytes: 5 * MB }, 10 * MB)).toBe('added');
      expect(await library.usedBytes('u1')).toBe(10 * MB);
    });

    it('keeps usage within the quota when adds race', async () => {
      const adds = Array.from({ length: 10 }, (_, i) =>
        library.add({ userId: 'u1', trackId: `t${i}`, sizeBytes: 3 * MB }, 10 * MB),
      );
      const results = await Promise.allSettled(adds);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      for (const result of results) {
        if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(QuotaExceededError);
      }
      expect(await library.usedBytes('u1')).toBe(9 * MB);
    });

    it('removes an item and frees its quota', async () => {
      await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 6 * MB }, 10 * MB);
      await library.add({ userId: 'u2', trackId: 't1', sizeBytes: 6 * MB }, 10 * MB);
      expect(await library.remove('u1', 't1')).toBe(true);
      expect(await library.remove('u1', 't1')).toBe(false);
      expect(await library.get('u1', 't1')).toBeNull();
      expect(await library.usedBytes('u1')).toBe(0);
      expect(await library.get('u2', 't1')).not.toBeNull();
      expect(await library.add({ userId: 'u1', trackId: 't2', sizeBytes: 10 * MB }, 10 * MB)).toBe('added');
    });

    it('lists a user\'s items newest first, paged, with the total', async () => {
      for (const trackId of ['a', 'b', 'c', 'd', 'e']) {
        await library.add({ userId: 'u1', trackId, sizeBytes: 1 }, 100);
        await sleep(3); // distinct added times
      }
      await library.add({ userId: 'u2', trackId: 'z', sizeBytes: 1 }, 100);

      const first = await library.list('u1', { limit: 2, offset: 0 });
      const second = await library.list('u1', { limit: 2, offset: 2 });
      const third = await library.list('u1', { limit: 2, offset: 4 });
      expect(first.total).toBe(5);
      expect(second.total).toBe(5);
      expect([...first.items, ...second.items, ...third.items].map((i) => i.trackId)).toEqual(['e', 'd', 'c', 'b', 'a']);
      expect(third.items[0]).toMatchObject({ userId: 'u1', trackId: 'a', sizeBytes: 1 });
      expect(await library.list('u3', { limit: 2, offset: 0 })).toEqual({ items: [], total: 0 });
    });

    it('keeps each user’s usage row in step with adds and removals, with nothing left to repair', async () => {
      expect(await library.usage('u1')).toEqual({ committedBytes: 0, reservedBytes: 0 });
      await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 3 * MB }, 10 * MB);
      await library.add({ userId: 'u1', trackId: 't2', sizeBytes: 4 * MB }, 10 * MB);
      await library.add({ userId: 'u2', trackId: 't1', sizeBytes: 3 * MB }, 10 * MB);
      await expect(library.add({ userId: 'u1', trackId: 't3', sizeBytes: 4 * MB }, 10 * MB)).rejects.toBeInstanceOf(QuotaExceededError);
      expect(await library.usage('u1')).toEqual({ committedBytes: 7 * MB, reservedBytes: 0 });
      await library.remove('u1', 't1');
      await library.remove('u1', 't1');
      expect(await library.usage('u1')).toEqual({ committedBytes: 4 * MB, reservedBytes: 0 });
      expect(await library.usedBytes('u2')).toBe(3 * MB);
      expect(await library.repairUsage()).toBe(0);
      expect(await library.usage('u1')).toEqual({ committedBytes: 4 * MB, reservedBytes: 0 });
    });

    it('counts the libraries that hold a track', async () => {
      expect(await library.holderCount('t1')).toBe(0);
      await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 }, 100);
      await library.add({ userId: 'u2', trackId: 't1', sizeBytes: 5 }, 100);
      await library.add({ userId: 'u2', trackId: 't2', sizeBytes: 5 }, 100);
      expect(await library.holderCount('t1')).toBe(2);
      expect(await library.holderCount('t2')).toBe(1);
      await library.remove('u1', 't1');
      expect(await library.holderCount('t1')).toBe(1);
    });
  });
}
