import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import { ValidationError } from '../../src/errors.js';
import { SqliteSearchIndex } from '../../src/search/sqlite-search-index.js';
import { TrackSearch } from '../../src/search/track-search.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';

/** The query rules hold in core itself, for every user of TrackSearch, not only behind Express. */
describe('TrackSearch query rules', () => {
  let sqlite: TempSqlite;
  let search: TrackSearch;
  const degraded: boolean[] = [];

  beforeEach(() => {
    sqlite = openTempSqlite();
    degraded.length = 0;
    search = new TrackSearch({
      index: new SqliteSearchIndex(sqlite.db),
      catalog: new SqliteTrackCatalog(sqlite.db),
      onDegraded: (flag) => degraded.push(flag),
    });
  });

  afterEach(() => sqlite.close());

  it('refuses control characters, naming q, before the index is asked', async () => {
    for (const query of ['\u0000abc', 'ab\u0007c', 'a\u007fb', 'a\u0085b', 'a\u009bb', 'love\tsong']) {
      const refused = await search.search(query, { limit: 10, offset: 0 }).catch((error: unknown) => error);
      expect(refused, JSON.stringify(query)).toBeInstanceOf(ValidationError);
      expect((refused as ValidationError).errors).toEqual([{ path: 'q', message: 'must not contain control characters' }]);
    }
    expect(degraded).toEqual([]);
  });

  it('still searches ordinary text, trimming the whitespace around it', async () => {
    await expect(search.search('  love\n', { limit: 10, offset: 0 })).resolves.toMatchObject({ degraded: false });
    expect(degraded).toEqual([false]);
  });
});
