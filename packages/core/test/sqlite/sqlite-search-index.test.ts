import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { SEARCH_TOTAL_LIMIT, type TrackDocument } from '../../src/search/search-index.js';
import { SqliteSearchIndex, toFtsQuery } from '../../src/search/sqlite-search-index.js';
import { HOSTILE_QUERIES } from '../contracts/search-index.contract.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

const track = (id: string, title: string, artists: string[], album = 'Album', version = 1): TrackDocument => ({
  id,
  title,
  artists,
  album,
  durationMs: 1000,
  available: false,
  version,
});

/** Quoted strings (doubled quotes inside), the last one a prefix, joined by AND: nothing else. */
const SAFE_EXPRESSION = /^"(?:[^"]|"")*"(?: AND "(?:[^"]|"")*")*\*$/u;

describe('toFtsQuery', () => {
  it('quotes every word, ANDs them and matches the last as a prefix', () => {
    expect(toFtsQuery('daft punk')).toBe('"daft" AND "punk"*');
    expect(toFtsQuery('  AC/DC  ')).toBe('"ac/dc"*');
    expect(toFtsQuery('say "hi"')).toBe('"say" AND """hi"""*');
    expect(toFtsQuery('NEAR(a b)')).toBe('"near(a" AND "b)"*');
  });

  it('folds the query as the indexed text is folded', () => {
    expect(toFtsQuery('Łona BJÖRK')).toBe('"lona" AND "bjork"*');
    // A full-width quote folds to '"', and is escaped like one.
    expect(toFtsQuery('\uFF02hi')).toBe('"""hi"*');
  });

  it('drops words with no letter or digit, and answers null when none is left', () => {
    expect(toFtsQuery('rock - roll')).toBe('"rock" AND "roll"*');
    expect(toFtsQuery('')).toBeNull();
    expect(toFtsQuery(' * " - ( ')).toBeNull();
  });

  it('never produces anything but quoted strings and AND', () => {
    for (const query of HOSTILE_QUERIES) {
      const expression = toFtsQuery(query);
      if (expression !== null) expect(expression).toMatch(SAFE_EXPRESSION);
    }
  });
});

describe('SqliteSearchIndex', () => {
  let temp: TempSqlite;
  let index: SqliteSearchIndex;

  beforeEach(() => {
    temp = openTempSqlite();
    index = new SqliteSearchIndex(temp.db);
  });

  afterEach(async () => {
    await temp.close();
  });

  it('is named after its engine', () => {
    expect(index.name).toBe('sqlite-fts5');
  });

  it('folds case and diacritics, and handles scripts without spaces', async () => {
    await index.upsert([
      track('t1', 'Crazy in Love', ['Beyoncé', 'JAY-Z']),
      track('t2', 'Ölmez Ağaç', ['Zülfü Livaneli']),
      track('t3', '夜に駆ける', ['YOASOBI']),
    ]);
    const ids = async (query: string) => (await index.search(query, { limit: 10, offset: 0 })).items;
    expect(await ids('beyonce')).toEqual(['t1']);
    expect(await ids('BEYONCÉ jay')).toEqual(['t1']);
    expect(await ids('olmez agac')).toEqual(['t2']);
    expect(await ids('夜に')).toEqual(['t3']);
  });

  it('indexes every column folded', async () => {
    await index.upsert([{ ...track('t1', 'Łódź', ['Czesław Niemen', 'MØ'], 'Dziwny jest ten świat'), isrc: 'PLA017100001' }]);
    expect(temp.db.prepare('SELECT title, artists, album, isrc FROM search_fts').get()).toEqual({
      title: 'lodz',
      artists: 'czeslaw niemen\nmo',
      album: 'dziwny jest ten swiat',
      isrc: 'pla017100001',
    });
  });

  it('reads its documents a page at a time, as they are asked for', async () => {
    await index.upsert(['a', 'b', 'c'].map((id) => track(id, 'Song', ['Band'])));
    const documents = index.documents(2)[Symbol.asyncIterator]();
    expect(await documents.next()).toEqual({ done: false, value: { id: 'a', version: 1 } });
    // After the first page was read: the second finds the index as it is now.
    await index.upsert([track('d', 'Song', ['Band'], 'Album', 2)]);
    await index.remove(['c']);
    const rest = [];
    for (let next = await documents.next(); next.done !== true; next = await documents.next()) rest.push(next.value);
    expect(rest).toEqual([{ id: 'b', version: 1 }, { id: 'd', version: 2 }]);
  });

  it('refuses a page size that would never move on', async () => {
    for (const pageSize of [0, -1, 1.5, Number.NaN]) {
      await expect(index.documents(pageSize)[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(ConfigError);
    }
  });

  it('survives every hostile query with many documents indexed', async () => {
    await index.upsert(Array.from({ length: 50 }, (_, i) => track(`t${i}`, `Song ${i} near and or not`, ['Band'])));
    for (const query of HOSTILE_QUERIES) {
      await expect(index.search(query, { limit: 5, offset: 0 })).resolves.toMatchObject({ total: expect.any(Number) });
    }
    // FTS keywords in user text are words, so this matches all 50 titles.
    expect((await index.search('near AND or NOT', { limit: 5, offset: 0 })).total).toBe(50);
  });

  it('breaks rank ties by track id', async () => {
    // Identical documents score the same.
    await index.upsert(['c', 'a', 'd', 'b'].map((id) => track(id, 'Same Title', ['Same Artist'])));
    expect((await index.search('same', { limit: 10, offset: 0 })).items).toEqual(['a', 'b', 'c', 'd']);
    expect((await index.search('same', { limit: 2, offset: 1 })).items).toEqual(['b', 'c']);
  });

  it('keeps one row per track however often it is upserted or removed', async () => {
    for (let i = 0; i < 3; i++) await index.upsert([track('t1', `Version ${i}`, ['Band'], 'Album', i + 1)]);
    await index.remove(['t1']);
    await index.upsert([track('t1', 'Final', ['Band'])]);
    const count = (sql: string) => temp.db.prepare(sql).pluck().get();
    expect(count('SELECT count(*) FROM search_documents')).toBe(1);
    expect(count('SELECT count(*) FROM search_fts')).toBe(1);
    expect((await index.search('band', { limit: 10, offset: 0 })).items).toEqual(['t1']);
  });

  it('keeps each document\'s version and availability beside it, and leaves a newer one untouched', async () => {
    const row = () => temp.db.prepare('SELECT version, available FROM search_documents WHERE track_id = ?').get('t1');
    await index.upsert([{ ...track('t1', 'Stored', ['Band'], 'Album', 4), available: true }]);
    expect(row()).toEqual({ version: 4, available: 1 });
    await index.upsert([track('t1', 'Older', ['Band'], 'Album', 3)]);
    expect(row()).toEqual({ version: 4, available: 1 });
    expect((await index.search('stored', { limit: 10, offset: 0 })).items).toEqual(['t1']);
    expect((await index.search('older', { limit: 10, offset: 0 })).total).toBe(0);
    expect(temp.db.prepare('SELECT count(*) FROM search_fts').pluck().get()).toBe(1);
  });

  it(`stops counting at ${SEARCH_TOTAL_LIMIT} matches`, async () => {
    const many = Array.from({ length: SEARCH_TOTAL_LIMIT + 5 }, (_, i) => track(`t${i}`, `Crowded ${i}`, ['Band']));
    await index.upsert(many);
    const result = await index.search('crowded', { limit: 3, offset: 1000 });
    expect(result.total).toBe(SEARCH_TOTAL_LIMIT);
    expect(result.items).toHaveLength(3);
    // Below the limit the total stays exact: 1000, and 10000 to 10004 by prefix.
    expect((await index.search('crowded 1000', { limit: 3, offset: 0 })).total).toBe(6);
  });
});
