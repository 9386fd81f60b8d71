import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import type { TrackMetadata } from '../../src/model.js';
import { SEARCH_TOTAL_LIMIT } from '../../src/search/search-index.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

const track = (id: string, title: string, artists = ['Band']): TrackMetadata => ({
  id,
  title,
  artists,
  album: 'Album',
  durationMs: 1000,
});

describe('SqliteTrackCatalog', () => {
  let temp: TempSqlite;
  let catalog: SqliteTrackCatalog;

  beforeEach(() => {
    temp = openTempSqlite();
    catalog = new SqliteTrackCatalog(temp.db);
  });

  afterEach(async () => {
    await temp.close();
  });

  it('orders fallback search results by title, then id', async () => {
    await catalog.upsert([track('b', 'beta'), track('c', 'Alpha'), track('a', 'alpha'), track('d', 'Gamma')]);
    const page = await catalog.search('band', { limit: 10, offset: 0 });
    expect(page.items.map((t) => t.id)).toEqual(['a', 'c', 'b', 'd']);
  });

  it('matches whole artist names only within one name', async () => {
    // Artists are stored as a JSON array; the JSON punctuation between names must not match.
    await catalog.upsert([track('t1', 'Song', ['Simon', 'Garfunkel'])]);
    const count = async (query: string) => (await catalog.search(query, { limit: 10, offset: 0 })).total;
    expect(await count('garfunkel')).toBe(1);
    expect(await count('simon","garfunkel')).toBe(0);
    expect(await count('"')).toBe(0);
  });

  it('returns getMany in the order of the ids asked for', async () => {
    await catalog.upsert([track('a', 'A'), track('b', 'B'), track('c', 'C')]);
    expect((await catalog.getMany(['c', 'x', 'a', 'b', 'a'])).map((t) => t.id)).toEqual(['c', 'a', 'b']);
  });

  it('gets thousands of ids in one call', async () => {
    const ids = Array.from({ length: 40_000 }, (_, i) => `id-${i}`);
    await catalog.upsert([track('id-39999', 'Last')]);
    expect((await catalog.getMany(ids)).map((t) => t.id)).toEqual(['id-39999']);
  });

  it('stores times as epoch milliseconds', async () => {
    const before = Date.now();
    await catalog.upsert([track('a', 'A')]);
    const stored = temp.db.prepare('SELECT updated_at FROM tracks').pluck().get() as number;
    expect(Number.isInteger(stored)).toBe(true);
    expect(stored).toBeGreaterThanOrEqual(before);
    expect((await catalog.get('a'))?.updatedAt.getTime()).toBe(stored);
  });

  it(`stops counting fallback matches at ${SEARCH_TOTAL_LIMIT}`, async () => {
    await catalog.upsert(Array.from({ length: SEARCH_TOTAL_LIMIT + 5 }, (_, i) => track(`id-${i}`, `Crowded ${i}`)));
    const page = await catalog.search('crowded', { limit: 3, offset: 1000 });
    expect(page.total).toBe(SEARCH_TOTAL_LIMIT);
    expect(page.items).toHaveLength(3);
  });

  it('writes a change and its outbox row in one transaction, or neither', async () => {
    const outbox = () => temp.db.prepare('SELECT track_id, version FROM search_outbox ORDER BY track_id').all();
    await catalog.upsert([track('a', 'A'), track('b', 'B')]);
    expect(outbox()).toEqual([
      { track_id: 'a', version: 1 },
      { track_id: 'b', version: 1 },
    ]);
    await catalog.attachAudio('a', { blobKey: 'k'.repeat(64), sizeBytes: 10, contentType: 'audio/mpeg' });
    expect(outbox()).toEqual([
      { track_id: 'a', version: 2 },
      { track_id: 'b', version: 1 },
    ]);
    // A real fault on the outbox's side: its table is gone. No change may then be kept.
    temp.db.exec('DROP TABLE search_outbox');
    await expect(catalog.upsert([track('a', 'Renamed'), track('c', 'C')])).rejects.toThrow(/search_outbox/);
    await expect(catalog.detachAudio('a')).rejects.toThrow(/search_outbox/);
    await expect(catalog.attachAudio('b', { blobKey: 'k'.repeat(64), sizeBytes: 10, contentType: 'audio/mpeg' })).rejects.toThrow(
      /search_outbox/,
    );
    expect(await catalog.get('c')).toBeNull();
    expect(await catalog.get('a')).toMatchObject({ title: 'A', version: 2, audio: { sizeBytes: 10 } });
    expect((await catalog.get('b'))?.audio).toBeUndefined();
  });
});
