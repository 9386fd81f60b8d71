import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TrackCatalog } from '../../src/catalog/track-catalog.js';
import type { LibraryStore } from '../../src/library/library-store.js';
import type { FencingTokens } from '../../src/locks/fencing-tokens.js';
import type { Fence } from '../../src/locks/lock-manager.js';

export interface FencedWritesHarness {
  catalog: TrackCatalog;
  library: LibraryStore;
  /** The fencing authority of the database the stores write to. */
  fencing: FencingTokens;
  close(): Promise<void>;
}

const audio = (letter: string) => ({ blobKey: letter.repeat(64), sizeBytes: 10, contentType: 'audio/mpeg' });

/**
 * The stale-token cases of the stores' guarded writes (catalog attach and detach, library add),
 * for every database backend: the database is the fencing authority, so a write refuses any
 * token that is not the key's current one.
 */
export function describeFencedWrites(name: string, factory: () => Promise<FencedWritesHarness>): void {
  describe(`fenced writes: ${name}`, () => {
    let harness: FencedWritesHarness;
    let catalog: TrackCatalog;
    let library: LibraryStore;
    const fence = async (key: string): Promise<Fence> => ({ key, token: await harness.fencing.issue([key]) });

    beforeEach(async () => {
      harness = await factory();
      ({ catalog, library } = harness);
      await catalog.upsert([{ id: 't1', title: 'T', artists: ['A'], album: 'B', durationMs: 1 }]);
    });

    afterEach(() => harness.close());

    it('attaches and detaches audio only with the track key’s current token', async () => {
      const stale = await fence('track:t1');
      const current = await fence('track:t1');

      await expect(catalog.attachAudio('t1', audio('a'), stale)).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect((await catalog.get('t1'))?.audio).toBeUndefined();
      await catalog.attachAudio('t1', audio('b'), current);
      expect((await catalog.get('t1'))?.audio?.blobKey).toBe('b'.repeat(64));

      await expect(catalog.detachAudio('t1', stale)).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect((await catalog.get('t1'))?.audio?.blobKey).toBe('b'.repeat(64));
      await catalog.detachAudio('t1', current);
      expect((await catalog.get('t1'))?.audio).toBeUndefined();
      // Nothing to detach is still nothing, whatever the token.
      await catalog.detachAudio('t1', stale);
    });

    it('refuses a token of a key never locked, and tells an unknown track from a stale token', async () => {
      await expect(catalog.attachAudio('t1', audio('a'), { key: 'track:t1', token: 1 })).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      await expect(catalog.attachAudio('nope', audio('a'), await fence('track:nope'))).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    });

    it('adds to a library only with the current token, and writes nothing otherwise', async () => {
      const stale = await fence('track:t1');
      const current = await fence('track:t1');
      await expect(library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 }, 100, stale)).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect(await library.get('u1', 't1')).toBeNull();
      expect(await library.usedBytes('u1')).toBe(0);
      expect(await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 }, 100, current)).toBe('added');
      expect(await library.usedBytes('u1')).toBe(5);
    });

    it('leaves writes without a fence unguarded, for seeding and tools', async () => {
      await catalog.attachAudio('t1', audio('c'));
      expect(await library.add({ userId: 'u1', trackId: 't1', sizeBytes: 5 }, 100)).toBe('added');
      await catalog.detachAudio('t1');
      expect((await catalog.get('t1'))?.audio).toBeUndefined();
    });
  });
}
