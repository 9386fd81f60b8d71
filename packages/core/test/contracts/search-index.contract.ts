import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SEARCH_TOTAL_LIMIT, type IndexedDocument, type SearchIndex, type TrackDocument } from '../../src/search/search-index.js';

export interface SearchIndexHarness {
  /** An empty index. */
  index: SearchIndex;
  /** Waits until writes are visible to searches (a refresh for Elasticsearch); may do nothing. */
  settle?(): Promise<void>;
  close(): Promise<void>;
}

const track = (id: string, title: string, artists: string[], album: string, isrc?: string, version = 1): TrackDocument => ({
  id,
  title,
  artists,
  album,
  durationMs: 200_000,
  ...(isrc ? { isrc } : {}),
  available: false,
  version,
});

const TRACKS: TrackDocument[] = [
  track('t-around', 'Around the World', ['Daft Punk'], 'Homework', 'GBDUW0000059'),
  track('t-onemore', 'One More Time', ['Daft Punk'], 'Discovery', 'GBDUW0000053'),
  track('t-homeward', 'Homeward Bound', ['Simon & Garfunkel'], 'Parsley, Sage, Rosemary and Thyme'),
  track('t-something', 'Something', ['The Beatles'], 'Abbey Road'),
  track('t-world', 'World', ['Five for Fighting'], 'The Battle for Everything'),
  track('t-acdc', 'Thunderstruck', ['AC/DC'], 'The Razors Edge'),
];

/**
 * Names with accents and letters that Unicode does not decompose (Ł), each in one field only,
 * so that folding is shown in the title, the artists and the album alike.
 */
const ACCENTED: TrackDocument[] = [
  track('f-bjork', 'Jóga', ['Björk'], 'Homogenic'),
  track('f-sigur', 'Hoppípolla', ['Sigur Rós'], 'Takk'),
  track('f-husker', 'Makes No Sense at All', ['Hüsker Dü'], 'Flip Your Wig'),
  track('f-royksopp', 'Röyksopp Forever', ['Moby'], 'Junior'),
  track('f-dvorak', 'Dvořák: Humoresque', ['Yo-Yo Ma'], 'Simply Baroque'),
  track('f-motorhead', 'Iron Horse', ['Lemmy'], 'Motörhead'),
  track('f-lona', 'Rozmowa', ['Webber'], 'Łona Live'),
  // Typed without its accent: a query with the accent must find it too.
  track('f-bjork-plain', 'Hunter', ['Bjork'], 'Covers'),
];

/** Queries that carry query syntax of one engine or another; none may throw. */
export const HOSTILE_QUERIES = [
  '"',
  '""',
  '"unterminated',
  '*',
  '* *',
  'daft*',
  // Full-width forms, which folding (NFKD) turns into the ASCII quote, asterisk and plus.
  '\uFF02unterminated',
  'daft\uFF0A',
  '\uFF0Bpunk \uFF0Ddaft',
  'AND',
  'OR NOT',
  'daft AND',
  'NEAR(',
  'NEAR(daft punk, 2)',
  '-',
  '-daft',
  '+punk',
  'title:daft',
  '{[()]}',
  '^',
  '\\',
  "'; DROP TABLE tracks; --",
  'a~2',
  '/regex.*/',
  '??',
  'ümlaut café 日本語 🎵',
  '\u0000',
  'x'.repeat(200),
  Array.from({ length: 100 }, (_, i) => `w${i}`).join(' '),
];

/** What every `SearchIndex` adapter must do. */
export function describeSearchIndex(name: string, factory: () => Promise<SearchIndexHarness>): void {
  describe(`SearchIndex contract: ${name}`, () => {
    let harness: SearchIndexHarness;
    let index: SearchIndex;
    const page = { limit: 20, offset: 0 };
    const settle = () => harness.settle?.() ?? Promise.resolve();
    const ids = async (query: string) => (await index.search(query, page)).items.slice().sort();
    const listed = async (pageSize: number) => {
      const documents: IndexedDocument[] = [];
      for await (const document of index.documents(pageSize)) documents.push(document);
      return documents;
    };

    beforeEach(async () => {
      harness = await factory();
      index = harness.index;
      await index.upsert(TRACKS);
      await settle();
    });

    afterEach(async () => {
      await harness.close();
    });

    it('lists every document with its version, in id order, a page at a time', async () => {
      await index.upsert([
        track('t-world', 'World', ['Five for Fighting'], 'The Battle for Everything', undefined, 4),
        track('t-acdc', 'Thunderstruck', ['AC/DC'], 'The Razors Edge', undefined, 7),
      ]);
      await settle();
      const versions: Record<string, number> = { 't-world': 4, 't-acdc': 7 };
      const all = TRACKS.map((t) => ({ id: t.id, version: versions[t.id] ?? 1 })).sort((a, b) => (a.id < b.id ? -1 : 1));
      // Pages of 4 end part-way through the second; pages of 3 end exactly on the last document.
      for (const pageSize of [4, 3, 1, 100]) expect({ pageSize, documents: await listed(pageSize) }).toEqual({ pageSize, documents: all });
      await index.remove(['t-acdc', 't-homeward']);
      await settle();
      expect(await listed(2)).toEqual(all.filter((d) => d.id !== 't-acdc' && d.id !== 't-homeward'));
    });

    it('has a name', () => {
      expect(index.name).toMatch(/\S/);
    });

    it('finds words in the title, artists and album, ignoring case', async () => {
      expect(await ids('thunderstruck')).toEqual(['t-acdc']);
      expect(await ids('DAFT PUNK')).toEqual(['t-around', 't-onemore']);
      expect(await ids('garfunkel')).toEqual(['t-homeward']);
      expect(await ids('abbey road')).toEqual(['t-something']);
    });

    it('requires every word, and matches the last one as a prefix', async () => {
      expect(await ids('daft wor')).toEqual(['t-around']);
      expect(await ids('daft beatles')).toEqual([]);
      expect(await ids('homew')).toEqual(['t-around', 't-homeward']);
      expect(await ids('someth')).toEqual(['t-something']);
    });

    it('folds accents and letters such as Ł in titles, artists, albums and queries', async () => {
      await index.upsert(ACCENTED);
      await settle();
      expect(await ids('bjork')).toEqual(['f-bjork', 'f-bjork-plain']);
      expect(await ids('Björk')).toEqual(['f-bjork', 'f-bjork-plain']);
      expect(await ids('sigur ros')).toEqual(['f-sigur']);
      expect(await ids('husker du')).toEqual(['f-husker']);
      expect(await ids('royksopp')).toEqual(['f-royksopp']);
      expect(await ids('dvorak')).toEqual(['f-dvorak']);
      expect(await ids('motorhead')).toEqual(['f-motorhead']);
      expect(await ids('lona')).toEqual(['f-lona']);
      // Accented queries, prefixes included, find them as well.
      expect(await ids('HÜSKER DÜ')).toEqual(['f-husker']);
      expect(await ids('Łona live')).toEqual(['f-lona']);
      expect(await ids('dvoř')).toEqual(['f-dvorak']);
      expect(await ids('sigur rós')).toEqual(['f-sigur']);
    });

    it('finds a track by its ISRC', async () => {
      expect(await ids('GBDUW0000059')).toEqual(['t-around']);
      expect(await ids('gbduw0000053')).toEqual(['t-onemore']);
    });

    it('ranks a title match above an album match', async () => {
      // Shorter than t-onemore, so only the weight of the title can put that one first.
      await index.upsert([track('t-album-time', 'Echoes', ['Pink Floyd'], 'Time Tunnel')]);
      await settle();
      const result = await index.search('time', page);
      expect(result.total).toBe(2);
      expect(result.items).toEqual(['t-onemore', 't-album-time']);
    });

    it('pages results with the full total and no repeats', async () => {
      const many = Array.from({ length: 9 }, (_, i) => track(`p-${i}`, `Paging Song ${i}`, ['Pager'], 'Pages'));
      await index.upsert(many);
      await settle();
      const seen: string[] = [];
      for (let offset = 0; offset < 12; offset += 4) {
        const result = await index.search('pager', { limit: 4, offset });
        expect(result.total).toBe(9);
        seen.push(...result.items);
      }
      expect(seen.slice().sort()).toEqual(many.map((t) => t.id).sort());
      const whole = await index.search('pager', { limit: 9, offset: 0 });
      expect(whole.items).toEqual(seen);
    });

    it('replaces a track on upsert with a newer or the same version', async () => {
      await index.upsert([track('t-something', 'Here Comes the Sun', ['The Beatles'], 'Abbey Road', undefined, 2)]);
      await settle();
      expect(await ids('something')).toEqual([]);
      expect(await ids('sun')).toEqual(['t-something']);
      expect((await index.search('beatles', page)).total).toBe(1);
      // The same version again: a relay retrying a write it already made.
      await index.upsert([track('t-something', 'Octopus Garden', ['The Beatles'], 'Abbey Road', undefined, 2)]);
      await settle();
      expect(await ids('octopus')).toEqual(['t-something']);
    });

    it('ignores a document older than the one it holds, so a late write cannot undo a newer one', async () => {
      await index.upsert([track('t-something', 'Here Comes the Sun', ['The Beatles'], 'Abbey Road', undefined, 3)]);
      await index.upsert([
        track('t-something', 'Something', ['The Beatles'], 'Abbey Road', undefined, 2),
        track('t-world', 'World Again', ['Five for Fighting'], 'The Battle for Everything', undefined, 2),
      ]);
      await settle();
      expect(await ids('sun')).toEqual(['t-something']);
      expect(await ids('something')).toEqual([]);
      // The older document in the same batch held nothing back.
      expect(await ids('again')).toEqual(['t-world']);
    });

    it('writes a track again after it was removed, at the version it had or a newer one', async () => {
      // The reconciler putting back a lost document: the catalog's version is the one removed.
      await index.upsert([track('t-acdc', 'Thunderstruck', ['AC/DC'], 'The Razors Edge', undefined, 5)]);
      await index.remove(['t-acdc']);
      await index.upsert([track('t-acdc', 'Thunderstruck', ['AC/DC'], 'The Razors Edge', undefined, 5)]);
      await settle();
      expect(await ids('thunderstruck')).toEqual(['t-acdc']);
      await index.remove(['t-acdc']);
      await index.upsert([track('t-acdc', 'Back in Black', ['AC/DC'], 'Back in Black', undefined, 6)]);
      await settle();
      expect(await ids('black')).toEqual(['t-acdc']);
      expect(await ids('thunderstruck')).toEqual([]);
    });

    it(`counts matches exactly up to ${SEARCH_TOTAL_LIMIT}, and at least ${SEARCH_TOTAL_LIMIT} beyond`, async () => {
      const many = Array.from({ length: SEARCH_TOTAL_LIMIT }, (_, i) => track(`m-${i}`, `Multitude ${i}`, ['Crowd'], 'Many'));
      for (let i = 0; i < many.length; i += 1000) await index.upsert(many.slice(i, i + 1000));
      await settle();
      expect((await index.search('multitude', { limit: 5, offset: 0 })).total).toBe(SEARCH_TOTAL_LIMIT);
      await index.upsert([track('m-last', 'Multitude Last', ['Crowd'], 'Many')]);
      await settle();
      const beyond = await index.search('multitude', { limit: 5, offset: 995 });
      expect(beyond.total).toBeGreaterThanOrEqual(SEARCH_TOTAL_LIMIT);
      expect(beyond.total).toBeLessThanOrEqual(SEARCH_TOTAL_LIMIT + 1);
      expect(beyond.items).toHaveLength(5);
    });

    it('removes tracks, ignoring unknown ids', async () => {
      await index.remove(['t-around', 'no-such-track']);
      await settle();
      expect(await ids('daft')).toEqual(['t-onemore']);
      await index.remove([]);
    });

    it('answers an empty page for a query with no words', async () => {
      expect(await index.search('', page)).toEqual({ items: [], total: 0 });
      expect(await index.search('  - * "" ', page)).toEqual({ items: [], total: 0 });
    });

    it('never lets query syntax through or fail', async () => {
      for (const query of HOSTILE_QUERIES) {
        const result = await index.search(query, page);
        expect(result.items.length).toBeLessThanOrEqual(result.total);
      }
      // Operators are words like any other, not syntax.
      expect(await ids('daft AND')).toEqual([]);
      expect(await ids('-daft')).toEqual(['t-around', 't-onemore']);
      expect(await ids('AC/DC')).toEqual(['t-acdc']);
    });
  });
}
