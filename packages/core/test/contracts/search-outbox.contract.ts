import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TrackCatalog } from '../../src/catalog/track-catalog.js';
import type { TrackMetadata } from '../../src/model.js';
import type { SearchOutbox } from '../../src/outbox/search-outbox.js';

export interface SearchOutboxHarness {
  /** An empty catalog, and the outbox its writes fill, in one backend. */
  catalog: TrackCatalog;
  outbox: SearchOutbox;
  close(): Promise<void>;
}

const meta = (id: string, title = `Title of ${id}`): TrackMetadata => ({ id, title, artists: ['Band'], album: 'Album', durationMs: 1000 });
const audio = { blobKey: 'a'.repeat(64), sizeBytes: 100, contentType: 'audio/mpeg' };
const MINUTE = 60_000;
const later = (ms: number) => new Date(Date.now() + ms);

/**
 * What every `SearchOutbox` adapter, with the `TrackCatalog` of its backend, must do: each
 * catalog change is recorded with it, one row per track at its newest version, and rows are
 * settled by version so that a change made meanwhile is never lost.
 */
export function describeSearchOutbox(name: string, factory: () => Promise<SearchOutboxHarness>): void {
  describe(`SearchOutbox contract: ${name}`, () => {
    let harness: SearchOutboxHarness;
    let catalog: TrackCatalog;
    let outbox: SearchOutbox;
    const pending = async () =>
      (await outbox.due(later(24 * 60 * MINUTE), 100)).map(({ trackId, version }) => ({ trackId, version })).sort((a, b) => a.trackId.localeCompare(b.trackId));

    beforeEach(async () => {
      harness = await factory();
      ({ catalog, outbox } = harness);
    });

    afterEach(async () => {
      await harness.close();
    });

    it('records each catalog change at the track\'s new version, one row per track', async () => {
      await catalog.upsert([meta('a'), meta('b')]);
      const due = await outbox.due(new Date(), 10);
      expect(due.map((c) => c.trackId).sort()).toEqual(['a', 'b']);
      expect(due[0]).toMatchObject({ version: 1, attempts: 0, lastError: null });
      expect(due[0]?.enqueuedAt.getTime()).toBeLessThanOrEqual(Date.now());

      await catalog.upsert([meta('a', 'Renamed')]);
      await catalog.attachAudio('b', audio);
      expect(await pending()).toEqual([
        { trackId: 'a', version: 2 },
        { trackId: 'b', version: 2 },
      ]);
      await catalog.detachAudio('b');
      expect(await pending()).toEqual([
        { trackId: 'a', version: 2 },
        { trackId: 'b', version: 3 },
      ]);
      expect((await outbox.backlog()).pending).toBe(2);
    });

    it('records nothing for a write that changes nothing', async () => {
      await catalog.upsert([meta('a')]);
      await outbox.applied([{ trackId: 'a', version: 1 }]);
      await catalog.upsert([meta('a')]);
      await catalog.detachAudio('a');
      await catalog.detachAudio('unknown');
      await expect(catalog.attachAudio('unknown', audio)).rejects.toThrow();
      expect(await outbox.backlog()).toEqual({ pending: 0, oldestEnqueuedAt: null });
    });

    it('settles a row only up to the version applied, so that a newer change stays', async () => {
      await catalog.upsert([meta('a')]);
      await catalog.upsert([meta('a', 'Second')]);
      await outbox.applied([{ trackId: 'a', version: 1 }]);
      expect(await pending()).toEqual([{ trackId: 'a', version: 2 }]);
      await outbox.applied([{ trackId: 'a', version: 2 }, { trackId: 'never-pending', version: 9 }]);
      expect(await pending()).toEqual([]);
      // A newer version than was recorded settles it too: the relay wrote what the catalog held.
      await catalog.upsert([meta('a', 'Third')]);
      await outbox.applied([{ trackId: 'a', version: 7 }]);
      expect(await pending()).toEqual([]);
    });

    it('keeps a failed change with its attempts and error, due again at its retry time', async () => {
      await catalog.upsert([meta('a'), meta('b')]);
      await outbox.failed({ trackId: 'a', version: 1 }, 'index refused it', later(MINUTE));
      expect((await outbox.due(new Date(), 10)).map((c) => c.trackId)).toEqual(['b']);
      const [retried] = await outbox.due(later(MINUTE + 1000), 1);
      expect(retried).toMatchObject({ trackId: 'b' });
      const both = await outbox.due(later(MINUTE + 1000), 10);
      expect(both.find((c) => c.trackId === 'a')).toMatchObject({ version: 1, attempts: 1, lastError: 'index refused it' });
      await outbox.failed({ trackId: 'a', version: 1 }, 'again', later(2 * MINUTE));
      expect((await outbox.due(later(3 * MINUTE), 10)).find((c) => c.trackId === 'a')).toMatchObject({ attempts: 2, lastError: 'again' });
      expect((await outbox.backlog()).pending).toBe(2);
    });

    it('makes a failed track due at once when it changes again, and ignores a failure of an older version', async () => {
      await catalog.upsert([meta('a')]);
      await outbox.failed({ trackId: 'a', version: 1 }, 'down', later(MINUTE));
      await catalog.upsert([meta('a', 'Changed')]);
      const [due] = await outbox.due(new Date(), 10);
      expect(due).toMatchObject({ trackId: 'a', version: 2 });
      await outbox.failed({ trackId: 'a', version: 1 }, 'late news of an old attempt', later(MINUTE));
      expect(await outbox.due(new Date(), 10)).toHaveLength(1);
    });

    it('hands out at most the limit, the longest due first', async () => {
      await catalog.upsert([meta('a'), meta('b'), meta('c')]);
      await outbox.failed({ trackId: 'a', version: 1 }, 'x', later(MINUTE));
      const first = await outbox.due(later(2 * MINUTE), 2);
      expect(first.map((c) => c.trackId)).toEqual(['b', 'c']);
    });

    it('keeps, as the backlog\'s age, the time of the oldest change not yet applied', async () => {
      await catalog.upsert([meta('a')]);
      const [{ enqueuedAt: first } = { enqueuedAt: new Date(0) }] = await outbox.due(new Date(), 1);
      await new Promise((resolve) => setTimeout(resolve, 15));
      await catalog.upsert([meta('a', 'Changed')]);
      await catalog.upsert([meta('b')]);
      expect(await outbox.backlog()).toEqual({ pending: 2, oldestEnqueuedAt: first });
      await outbox.applied([{ trackId: 'a', version: 2 }]);
      const { pending: left, oldestEnqueuedAt } = await outbox.backlog();
      expect(left).toBe(1);
      expect(oldestEnqueuedAt!.getTime()).toBeGreaterThan(first.getTime());
    });

    it('queues tracks for repair at their catalog version, or at 0 when the catalog lacks them', async () => {
      await catalog.upsert([meta('a')]);
      await catalog.upsert([meta('a', 'Changed')]);
      await outbox.applied([{ trackId: 'a', version: 2 }]);
      await outbox.enqueue(['a', 'ghost', 'ghost']);
      await outbox.enqueue([]);
      expect(await pending()).toEqual([
        { trackId: 'a', version: 2 },
        { trackId: 'ghost', version: 0 },
      ]);
    });
  });
}
