import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TrackCatalog } from '../../src/catalog/track-catalog.js';
import { NotFoundError } from '../../src/errors.js';
import { toTrack, type StoredAudio, type TrackMetadata } from '../../src/model.js';
import { SEARCH_TOTAL_LIMIT } from '../../src/search/search-index.js';

export interface TrackCatalogHarness {
  /** An empty catalog. */
  catalog: TrackCatalog;
  close(): Promise<void>;
}

/** Ids in one letter case, so that binary and case-insensitive collations order them alike. */
const trackId = (n: number) => `track${String(n).padStart(17, '0')}`;

const meta = (n: number, overrides: Partial<TrackMetadata> = {}): TrackMetadata => ({
  id: trackId(n),
  title: `Title ${n}`,
  artists: [`Artist ${n}`],
  album: `Album ${n}`,
  durationMs: 180_000 + n,
  ...overrides,
});

const audio: StoredAudio = { blobKey: 'a'.repeat(64), sizeBytes: 4_321_000, contentType: 'audio/mpeg' };

/** What every `TrackCatalog` adapter must do. */
export function describeTrackCatalog(name: string, factory: () => Promise<TrackCatalogHarness>): void {
  describe(`TrackCatalog contract: ${name}`, () => {
    let harness: TrackCatalogHarness;
    let catalog: TrackCatalog;

    beforeEach(async () => {
      harness = await factory();
      catalog = harness.catalog;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('round-trips metadata, with and without an ISRC', async () => {
      const withIsrc = meta(1, { artists: ['Daft Punk', 'Pharrell Williams'], isrc: 'USQX91300108' });
      const without = meta(2);
      await catalog.upsert([withIsrc, without]);

      const first = await catalog.get(withIsrc.id);
      expect(first).toMatchObject(withIsrc);
      expect(first?.audio).toBeUndefined();
      expect(first?.updatedAt).toBeInstanceOf(Date);
      const second = await catalog.get(without.id);
      expect(second).toMatchObject(without);
      expect(second?.isrc).toBeUndefined();
      expect(second && toTrack(second)).toEqual({ ...without, available: false });
      expect(await catalog.get(trackId(3))).toBeNull();
    });

    it('refreshes metadata on upsert and keeps the stored audio', async () => {
      await catalog.upsert([meta(1, { isrc: 'GBAYE0000001' })]);
      await catalog.attachAudio(trackId(1), audio);
      const refreshed = meta(1, { title: 'New Title', artists: ['Someone Else'], album: 'Remaster' });
      await catalog.upsert([refreshed]);

      const track = await catalog.get(trackId(1));
      expect(track).toMatchObject(refreshed);
      expect(track?.isrc).toBeUndefined();
      expect(track?.audio).toEqual(audio);
      expect(track && toTrack(track)).toEqual({ ...refreshed, available: true, sizeBytes: audio.sizeBytes });
    });

    it('attaches and detaches audio', async () => {
      await catalog.upsert([meta(1), meta(2)]);
      await catalog.attachAudio(trackId(1), audio);
      expect((await catalog.get(trackId(1)))?.audio).toEqual(audio);
      expect((await catalog.get(trackId(2)))?.audio).toBeUndefined();

      const replacement: StoredAudio = { blobKey: 'b'.repeat(64), sizeBytes: 99, contentType: 'audio/ogg' };
      await catalog.attachAudio(trackId(1), replacement);
      expect((await catalog.get(trackId(1)))?.audio).toEqual(replacement);

      await catalog.detachAudio(trackId(1));
      const detached = await catalog.get(trackId(1));
      expect(detached?.audio).toBeUndefined();
      expect(detached).toMatchObject(meta(1));
      // Detaching again, or from an unknown track, does nothing.
      await catalog.detachAudio(trackId(1));
      await catalog.detachAudio(trackId(9));
    });

    it('names the tracks that share a stored file', async () => {
      await catalog.upsert([meta(1), meta(2), meta(3)]);
      expect(await catalog.tracksWithBlob(audio.blobKey)).toEqual([]);
      await catalog.attachAudio(trackId(2), audio);
      await catalog.attachAudio(trackId(1), audio);
      expect(await catalog.tracksWithBlob(audio.blobKey)).toEqual([trackId(1), trackId(2)]);
      await catalog.detachAudio(trackId(1));
      expect(await catalog.tracksWithBlob(audio.blobKey)).toEqual([trackId(2)]);
    });

    it('counts stored bytes once per stored file', async () => {
      expect(await catalog.storedBytes()).toBe(0);
      await catalog.upsert([meta(1), meta(2), meta(3), meta(4)]);
      await catalog.attachAudio(trackId(1), audio);
      // The same recording under another id shares the file.
      await catalog.attachAudio(trackId(2), audio);
      await catalog.attachAudio(trackId(3), { blobKey: 'c'.repeat(64), sizeBytes: 1000, contentType: 'audio/mpeg' });
      expect(await catalog.storedBytes()).toBe(audio.sizeBytes + 1000);
      await catalog.detachAudio(trackId(1));
      expect(await catalog.storedBytes()).toBe(audio.sizeBytes + 1000);
      await catalog.detachAudio(trackId(2));
      expect(await catalog.storedBytes()).toBe(1000);
    });

    it('refuses to attach audio to an unknown track', async () => {
      await expect(catalog.attachAudio(trackId(9), audio)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('gets many, keeping only the ids it knows, each once', async () => {
      await catalog.upsert([meta(1), meta(2), meta(3)]);
      const found = await catalog.getMany([trackId(3), trackId(7), trackId(1), trackId(3)]);
      expect(found.map((t) => t.id).sort()).toEqual([trackId(1), trackId(3)]);
      expect(found.find((t) => t.id === trackId(3))).toMatchObject(meta(3));
      expect(await catalog.getMany([])).toEqual([]);
    });

    it('searches title, artists and album, ignoring case, with every word required', async () => {
      await catalog.upsert([
        meta(1, { title: 'Around the World', artists: ['Daft Punk'], album: 'Homework' }),
        meta(2, { title: 'One More Time', artists: ['Daft Punk'], album: 'Discovery' }),
        meta(3, { title: 'Homeward Bound', artists: ['Simon & Garfunkel'], album: 'Parsley, Sage' }),
        meta(4, { title: 'Something', artists: ['The Beatles', 'George Harrison'], album: 'Abbey Road' }),
      ]);
      const ids = async (query: string) => (await catalog.search(query, { limit: 10, offset: 0 })).items.map((t) => t.id).sort();

      expect(await ids('DAFT punk')).toEqual([trackId(1), trackId(2)]);
      expect(await ids('home')).toEqual([trackId(1), trackId(3)]);
      expect(await ids('daft home')).toEqual([trackId(1)]);
      expect(await ids('harrison')).toEqual([trackId(4)]);
      expect(await ids('discovery')).toEqual([trackId(2)]);
      expect(await ids('daft beatles')).toEqual([]);
    });

    it('treats LIKE wildcards in the query as plain characters', async () => {
      await catalog.upsert([meta(1, { title: '100% Pure' }), meta(2, { title: '1000 Pure' }), meta(3, { title: 'a_b' }), meta(4, { title: 'axb' })]);
      const ids = async (query: string) => (await catalog.search(query, { limit: 10, offset: 0 })).items.map((t) => t.id);
      expect(await ids('100%')).toEqual([trackId(1)]);
      expect(await ids('a_b')).toEqual([trackId(3)]);
      expect(await ids('%')).toEqual([trackId(1)]);
    });

    it('pages search results with a stable order and the full total', async () => {
      await catalog.upsert(Array.from({ length: 7 }, (_, i) => meta(i + 1, { title: `Song ${i + 1}`, artists: ['Same Band'] })));
      await catalog.upsert([meta(50, { title: 'Unrelated' })]);
      const seen: string[] = [];
      for (let offset = 0; offset < 9; offset += 3) {
        const page = await catalog.search('same band', { limit: 3, offset });
        expect(page.total).toBe(7);
        seen.push(...page.items.map((t) => t.id));
      }
      expect(seen).toHaveLength(7);
      expect(new Set(seen).size).toBe(7);
      const again = await catalog.search('same band', { limit: 7, offset: 0 });
      expect(again.items.map((t) => t.id)).toEqual(seen);
      expect(await catalog.search('same band', { limit: 3, offset: 20 })).toEqual({ items: [], total: 7 });
    });

    it('finds nothing for a blank query', async () => {
      await catalog.upsert([meta(1)]);
      expect(await catalog.search('   ', { limit: 10, offset: 0 })).toEqual({ items: [], total: 0 });
    });

    it('raises a track\'s version with every change, and only then', async () => {
      const version = async (n: number) => (await catalog.get(trackId(n)))?.version;
      await catalog.upsert([meta(1), meta(2)]);
      expect(await version(1)).toBe(1);
      // The same metadata again changes nothing.
      await catalog.upsert([meta(1)]);
      expect(await version(1)).toBe(1);
      await catalog.upsert([meta(1, { title: 'Renamed' })]);
      expect(await version(1)).toBe(2);
      await catalog.upsert([meta(1, { title: 'Renamed', isrc: 'GBAYE0000001' })]);
      expect(await version(1)).toBe(3);
      await catalog.attachAudio(trackId(1), audio);
      expect(await version(1)).toBe(4);
      await catalog.detachAudio(trackId(1));
      expect(await version(1)).toBe(5);
      // Detaching from a track without audio is no change.
      await catalog.detachAudio(trackId(1));
      expect(await version(1)).toBe(5);
      expect(await version(2)).toBe(1);
      expect((await catalog.getMany([trackId(1)]))[0]?.version).toBe(5);
      expect((await catalog.scan(null, 1))[0]?.version).toBe(5);
      // The version is the catalog's, never the API's.
      expect(toTrack((await catalog.get(trackId(1)))!)).not.toHaveProperty('version');
    });

    it(`counts fallback matches exactly up to ${SEARCH_TOTAL_LIMIT}, and at least ${SEARCH_TOTAL_LIMIT} beyond`, async () => {
      const many = Array.from({ length: SEARCH_TOTAL_LIMIT }, (_, i) => meta(i + 1, { title: `Multitude ${i}` }));
      for (let i = 0; i < many.length; i += 1000) await catalog.upsert(many.slice(i, i + 1000));
      expect((await catalog.search('multitude', { limit: 5, offset: 0 })).total).toBe(SEARCH_TOTAL_LIMIT);
      await catalog.upsert([meta(SEARCH_TOTAL_LIMIT + 1, { title: 'Multitude Last' })]);
      const beyond = await catalog.search('multitude', { limit: 5, offset: 995 });
      expect(beyond.total).toBeGreaterThanOrEqual(SEARCH_TOTAL_LIMIT);
      expect(beyond.total).toBeLessThanOrEqual(SEARCH_TOTAL_LIMIT + 1);
      expect(beyond.items).toHaveLength(5);
    });

    it('scans every track once, in id order, by keyset', async () => {
      const all = Array.from({ length: 11 }, (_, i) => meta(11 - i));
      await catalog.upsert(all);
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const batch = await catalog.scan(after, 4);
        expect(batch.length).toBeLessThanOrEqual(4);
        if (batch.length === 0) break;
        seen.push(...batch.map((t) => t.id));
        after = batch[batch.length - 1]!.id;
      }
      expect(seen).toEqual(all.map((t) => t.id).sort());
      expect(await catalog.scan(trackId(11), 4)).toEqual([]);
    });
  });
}
