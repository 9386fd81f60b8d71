import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Fence } from '../../src/locks/lock-manager.js';
import type { BlobLedger } from '../../src/storage/blob-ledger.js';

export interface BlobLedgerHarness {
  ledger: BlobLedger;
  /** A fresh acquisition's proof for `key`, from the fencing authority the ledger checks. */
  fence(key: string): Promise<Fence>;
  close(): Promise<void>;
}

const newKey = () => randomBytes(32).toString('hex');
const at = (ms: number) => new Date(ms);

/** What every `BlobLedger` adapter must do: rows per stored file, every write fenced. */
export function describeBlobLedger(name: string, factory: () => Promise<BlobLedgerHarness>): void {
  describe(`BlobLedger contract: ${name}`, () => {
    let harness: BlobLedgerHarness;
    let ledger: BlobLedger;

    beforeEach(async () => {
      harness = await factory();
      ledger = harness.ledger;
    });

    afterEach(async () => {
      await harness.close();
    });

    const tombstonedKeys = async (beforeMs: number) => (await ledger.tombstoned(at(beforeMs), null, 100)).map((blob) => blob.key);

    it('tombstones a file, keeps the earliest time, and lists it once that time is old enough', async () => {
      const key = newKey();
      const fence = await harness.fence(`blob:${key}`);
      await ledger.tombstone({ key, sizeBytes: 10 }, at(5000), fence);
      await ledger.tombstone({ key, sizeBytes: 10 }, at(9000), fence);
      expect(await tombstonedKeys(4999)).toEqual([]);
      expect(await ledger.tombstoned(at(5000), null, 100)).toEqual([{ key, sizeBytes: 10 }]);
    });

    it('clears a tombstone when the file is recorded again, and never dates one before its last record', async () => {
      const key = newKey();
      const fence = await harness.fence(`blob:${key}`);
      await ledger.tombstone({ key, sizeBytes: 10 }, at(5000), fence);
      await ledger.record({ key, sizeBytes: 10 }, [fence]);
      expect(await tombstonedKeys(Date.now() + 60_000)).toEqual([]);

      // Recorded just now: a tombstone claiming it was unused since long ago starts now instead.
      const before = Date.now();
      await ledger.tombstone({ key, sizeBytes: 10 }, at(5000), fence);
      expect(await tombstonedKeys(before - 1000)).toEqual([]);
      expect(await tombstonedKeys(Date.now() + 1000)).toEqual([key]);
    });

    it('forgets a tombstoned row, but not one recorded again since', async () => {
      const [gone, revived] = [newKey(), newKey()];
      const goneFence = await harness.fence(`blob:${gone}`);
      const revivedFence = await harness.fence(`blob:${revived}`);
      await ledger.tombstone({ key: gone, sizeBytes: 1 }, at(1000), goneFence);
      await ledger.tombstone({ key: revived, sizeBytes: 1 }, at(1000), revivedFence);
      await ledger.record({ key: revived, sizeBytes: 1 }, [revivedFence]);

      expect(await ledger.forget(revived, at(2000), revivedFence)).toBe(false);
      expect(await ledger.forget(gone, at(999), goneFence)).toBe(false);
      expect(await ledger.forget(gone, at(2000), goneFence)).toBe(true);
      expect(await ledger.forget(gone, at(2000), goneFence)).toBe(false);
      expect(await tombstonedKeys(Date.now() + 60_000)).toEqual([]);
    });

    it('pages tombstones in key order', async () => {
      const keys = Array.from({ length: 5 }, newKey).sort();
      for (const key of keys) await ledger.tombstone({ key, sizeBytes: 1 }, at(1000), await harness.fence(`blob:${key}`));
      const first = await ledger.tombstoned(at(1000), null, 2);
      const second = await ledger.tombstoned(at(1000), first.at(-1)!.key, 2);
      const third = await ledger.tombstoned(at(1000), second.at(-1)!.key, 2);
      expect([...first, ...second, ...third].map((blob) => blob.key)).toEqual(keys);
    });

    it('refuses every write whose fence is stale, with ERR_LOCK_LOST, and changes nothing', async () => {
      const key = newKey();
      const stale = await harness.fence(`blob:${key}`);
      const current = await harness.fence(`blob:${key}`);
      expect(current.token).toBeGreaterThan(stale.token);

      await expect(ledger.tombstone({ key, sizeBytes: 1 }, at(1000), stale)).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect(await tombstonedKeys(Date.now() + 60_000)).toEqual([]);

      await ledger.tombstone({ key, sizeBytes: 1 }, at(1000), current);
      await expect(ledger.record({ key, sizeBytes: 1 }, [stale])).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      await expect(ledger.forget(key, at(2000), stale)).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect(await tombstonedKeys(2000)).toEqual([key]);
    });

    it("refuses a record when the writer's own track fence is stale, naming that key", async () => {
      const key = newKey();
      const blobFence = await harness.fence(`blob:${key}`);
      const oldTrack = await harness.fence('track:refused');
      await harness.fence('track:refused');
      await ledger.tombstone({ key, sizeBytes: 1 }, at(1000), blobFence);

      await expect(ledger.record({ key, sizeBytes: 1 }, [oldTrack, blobFence])).rejects.toMatchObject({
        code: 'ERR_LOCK_LOST',
        message: expect.stringContaining('track:refused'),
      });
      // Still tombstoned: the refused writer did not bring the file back.
      expect(await tombstonedKeys(2000)).toEqual([key]);
      await ledger.record({ key, sizeBytes: 1 }, [await harness.fence('track:refused'), blobFence]);
      expect(await tombstonedKeys(2000)).toEqual([]);
    });
  });
}
