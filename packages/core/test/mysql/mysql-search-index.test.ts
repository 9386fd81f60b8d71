import { beforeEach, describe, expect, it } from 'vitest';
import { namedStatements } from '../../src/db/named-statements.js';
import { MysqlSearchIndex, searchableText, toMysqlSearch } from '../../src/mysql/mysql-search-index.js';
import indexSql from '../../src/mysql/mysql-search-index.sql';
import type { SearchIndex, TrackDocument } from '../../src/search/search-index.js';
import { SqliteSearchIndex } from '../../src/search/sqlite-search-index.js';
import { describeSearchIndex, HOSTILE_QUERIES } from '../contracts/search-index.contract.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';
import type { FreshMysqlDatabase } from './mysql-test-server.js';
import { perFileDatabase } from './per-file-database.js';

const files = perFileDatabase();

describeSearchIndex('mysql-fulltext', async () => {
  const { db } = await files.emptied(['search_documents']);
  return { index: new MysqlSearchIndex(db), close: async () => undefined };
});

const doc = (id: string, title: string, artists: string[], album = 'Album', version = 1): TrackDocument => ({
  id,
  title,
  artists,
  album,
  durationMs: 1000,
  available: false,
  version,
});

const SIZES = { min: 3, max: 84 };
/** `+` and a run of letters or digits, an optional `*` on the last: nothing else. */
const SAFE_MATCH = /^\+[\p{L}\p{N}]+(?: \+[\p{L}\p{N}]+)*\*?$/u;

describe('toMysqlSearch', () => {
  it('requires every indexed word, the last as a prefix, with no syntax of its own', () => {
    expect(toMysqlSearch('daft punk', SIZES)).toEqual({ match: '+daft +punk*', patterns: [], phrase: '% daft punk%' });
    expect(toMysqlSearch('  -daft +punk* "one" ', SIZES)?.match).toBe('+daft +punk +one*');
    expect(toMysqlSearch('tracks; --', SIZES)?.match).toBe('+tracks*');
  });

  it('leaves short words and words of several pieces to LIKE, narrowed by their indexed pieces', () => {
    expect(toMysqlSearch('husker du', SIZES)).toEqual({ match: '+husker', patterns: ['% du%'], phrase: '% husker du%' });
    expect(toMysqlSearch('u2 one', SIZES)).toEqual({ match: '+one*', patterns: ['% u2 %'], phrase: '% u2 one%' });
    expect(toMysqlSearch('AC/DC', SIZES)).toEqual({ match: null, patterns: ['% ac dc%'], phrase: '% ac dc%' });
    expect(toMysqlSearch("don't stop", SIZES)).toEqual({ match: '+don +stop*', patterns: ['% don t %'], phrase: '% don t stop%' });
    expect(toMysqlSearch('x'.repeat(90), SIZES)?.match).toBeNull();
    // Another server's settings move the line.
    expect(toMysqlSearch('abc', { min: 4, max: 84 })).toMatchObject({ match: null, patterns: ['% abc%'] });
  });

  it('folds the query as documents are folded', () => {
    expect(toMysqlSearch('Łona BJÖRK', SIZES)).toEqual({ match: '+lona +bjork*', patterns: [], phrase: '% lona bjork%' });
    expect(toMysqlSearch('Hüsker Dü', SIZES)).toEqual({ match: '+husker', patterns: ['% du%'], phrase: '% husker du%' });
    // NFKD turns full-width forms into ASCII, an operator included: it is dropped like any other.
    expect(toMysqlSearch('\uFF0Bdaft \uFF0Apunk', SIZES)?.match).toBe('+daft +punk*');
  });

  it('answers null when no word has a letter or digit', () => {
    expect(toMysqlSearch('', SIZES)).toBeNull();
    expect(toMysqlSearch(' * " - ( 🎵 \u0000 ', SIZES)).toBeNull();
  });

  it('never lets anything but +words into the boolean query, nor a wildcard into a pattern', () => {
    for (const query of HOSTILE_QUERIES) {
      const search = toMysqlSearch(query, SIZES);
      if (search === null) continue;
      if (search.match !== null) expect(search.match).toMatch(SAFE_MATCH);
      for (const pattern of [...search.patterns, search.phrase]) expect(pattern).toMatch(/^% [\p{L}\p{M}\p{N}]+(?: [\p{L}\p{M}\p{N}]+)*(?: %|%)$/u);
    }
  });

  it('stores text folded, as its words between single spaces', () => {
    expect(searchableText('  AC/DC — Back in Black (Live!) ')).toBe('ac dc back in black live');
    expect(searchableText('Cafe\u0301 Łódź Straße')).toBe('cafe lodz strasse');
    expect(searchableText('🎵')).toBe('');
  });
});

describe('MysqlSearchIndex', () => {
  let database: FreshMysqlDatabase;
  let index: MysqlSearchIndex;
  const ids = async (query: string, on: SearchIndex = index) => (await on.search(query, { limit: 50, offset: 0 })).items.slice().sort();

  beforeEach(async () => {
    database = await files.emptied(['search_documents']);
    index = new MysqlSearchIndex(database.db);
  });

  it('is named after its engine', () => {
    expect(index.name).toBe('mysql-fulltext');
  });

  it('folds case and accents, ø, Ł, þ and ß included, in indexed and in short words', async () => {
    await index.upsert([
      doc('bjork', 'Army of Me', ['Björk'], 'Post'),
      doc('husker', 'Makes No Sense at All', ['Hüsker Dü'], 'Flip Your Wig'),
      doc('mo', 'Final Song', ['MØ'], 'Forever Neverland'),
      doc('lodz', 'Łódź', ['Kapela'], 'Ballady'),
      doc('sigur', 'Hoppípolla', ['Sigur Rós'], 'Takk...'),
      // Letters the collation leaves apart from their spelling: þ is not "th", nor ß "ss" to LIKE.
      doc('thorir', 'Straße', ['Þórir'], 'Æon'),
    ]);
    expect(await ids('bjork')).toEqual(['bjork']);
    expect(await ids('BJÖRK army')).toEqual(['bjork']);
    expect(await ids('husker du')).toEqual(['husker']);
    expect(await ids('hüsker dü')).toEqual(['husker']);
    expect(await ids('du husker')).toEqual(['husker']);
    expect(await ids('mo')).toEqual(['mo']);
    expect(await ids('mø forever')).toEqual(['mo']);
    expect(await ids('lodz')).toEqual(['lodz']);
    expect(await ids('ros hoppipolla')).toEqual(['sigur']);
    expect(await ids('thorir')).toEqual(['thorir']);
    expect(await ids('strasse aeon')).toEqual(['thorir']);
    expect(await ids('ae')).toEqual(['thorir']);
  });

  it('finds short words and words of several pieces as SQLite does', async () => {
    await index.upsert([
      doc('u2', 'One', ['U2'], 'Achtung Baby'),
      doc('u2x', 'Elsewhere', ['U2X'], 'Other'),
      doc('abbey', 'Something', ['The Beatles'], 'Abbey Road'),
      doc('acdc', 'Thunderstruck', ['AC/DC'], 'The Razors Edge'),
      doc('thethe', 'This Is the Day', ['The The'], 'Soul Mining'),
      doc('who', 'Baba O’Riley', ['The Who'], "Who's Next"),
      doc('dont', "Don't Stop Me Now", ['Queen'], 'Jazz'),
    ]);
    expect(await ids('u2')).toEqual(['u2', 'u2x']);
    expect(await ids('u2 one')).toEqual(['u2']);
    expect(await ids('ab')).toEqual(['abbey']);
    expect(await ids('ab road')).toEqual([]);
    expect(await ids('AC/DC')).toEqual(['acdc']);
    expect(await ids('ac dc')).toEqual(['acdc']);
    expect(await ids('ac/d')).toEqual(['acdc']);
    expect(await ids('dc/ac')).toEqual([]);
    expect(await ids('the the')).toEqual(['abbey', 'acdc', 'thethe', 'who']);
    expect(await ids('the the mining')).toEqual(['thethe']);
    expect(await ids('who')).toEqual(['who']);
    expect(await ids('o riley')).toEqual(['who']);
    expect(await ids("don't")).toEqual(['dont']);
    expect(await ids('don stop')).toEqual(['dont']);
    expect(await ids('dont')).toEqual([]);
  });

  it('answers the same ids as the SQLite index for the same documents', async () => {
    let sqlite: TempSqlite | undefined;
    try {
      sqlite = openTempSqlite();
      const reference = new SqliteSearchIndex(sqlite.db);
      const corpus = [
        doc('a', 'Around the World', ['Daft Punk'], 'Homework'),
        doc('b', 'Crazy in Love', ['Beyoncé', 'JAY-Z'], 'Dangerously in Love'),
        doc('c', 'Ölmez Ağaç', ['Zülfü Livaneli'], 'Ağaçlar'),
        doc('d', '夜に駆ける', ['YOASOBI'], 'THE BOOK'),
        doc('e', 'Makes No Sense at All', ['Hüsker Dü'], 'Flip Your Wig'),
        doc('f', 'One', ['U2'], 'Achtung Baby'),
        doc('g', 'Thunderstruck', ['AC/DC'], 'The Razors Edge'),
        doc('h', 'This Is the Day', ['The The'], 'Soul Mining'),
        doc('i', "Rock'n'Roll Star", ['Oasis'], 'Definitely Maybe'),
        doc('j', 'a_b c-d', ['X Y Z'], '1 2 3'),
        doc('k', 'Hey Ya!', ['OutKast'], 'Speakerboxxx/The Love Below'),
        doc('l', 'Song 2', ['Blur'], 'Blur'),
        doc('m', '봄날', ['BTS'], 'You Never Walk Alone'),
        doc('n', 'Straße', ['Þórir'], 'Æon Flux'),
        doc('o', 'Łódź', ['Czesław Niemen'], 'Dziwny jest ten świat'),
      ];
      await reference.upsert(corpus);
      await index.upsert(corpus);
      const queries = [
        'daft', 'daft wor', 'wor daft', 'beyonce jay', 'jay z', 'JAY-Z', 'olmez agac', '夜に', '夜に駆ける', 'husker du', 'du', 'd', 'u2', 'u',
        'ac/dc', 'acdc', 'ac', 'the the', 'the', 'rock n roll', "rock'n'roll", 'n', 'a_b', 'a b', 'c-d', '1 2', '2 3', 'x y z', 'z y',
        'hey ya', 'ya hey', 'song 2', 'song 2 blur', 'love below', 'speakerboxxx the', 'love', 'in love', '봄날', '봄', 'strasse',
        'straße', 'stra', 'thorir', 'þórir', 'aeon', 'æon', 'lodz', 'łódź', 'czeslaw', 'swiat', 'ten świat', ...HOSTILE_QUERIES,
      ];
      for (const query of queries) expect({ query, ids: await ids(query) }).toEqual({ query, ids: await ids(query, reference) });
    } finally {
      await sqlite?.close();
    }
  });

  it('ranks title over artists over album, then by track id', async () => {
    await index.upsert([
      doc('in-album', 'Echoes', ['Pink Floyd'], 'Time'),
      doc('in-title', 'Time', ['Pink Floyd'], 'Echoes'),
      doc('in-artist', 'Echoes', ['Time'], 'Pink Floyd'),
      doc('also-in-title', 'Time', ['Pink Floyd'], 'Echoes'),
    ]);
    expect((await index.search('time', { limit: 10, offset: 0 })).items).toEqual(['also-in-title', 'in-title', 'in-artist', 'in-album']);
    // The same without FULLTEXT: a word of two letters.
    await index.upsert([doc('short-album', 'X', ['Y'], 'Qz'), doc('short-title', 'Qz', ['X'], 'Y'), doc('short-artist', 'X', ['Qz'], 'Y')]);
    expect((await index.search('qz', { limit: 10, offset: 0 })).items).toEqual(['short-title', 'short-artist', 'short-album']);
  });

  it('searches through the FULLTEXT index, and scans only when no word is indexed', async () => {
    const statements = namedStatements(indexSql);
    const explain = async (name: string) => {
      const values: Record<string, string> = { match: "'+band*'", patterns: `'["% u2%"]'`, pattern: "'% u2%'", phrase: "'% band u2%'" };
      const sql = (statements[name] ?? '').replaceAll(/@(\w+)/g, (_, parameter: string) => values[parameter] ?? '10');
      return database.db.all<{ table: string; type: string; key: string | null }>(`EXPLAIN ${sql}`);
    };
    for (const name of ['countMatching', 'pageMatching']) {
      expect((await explain(name)).find((row) => row.table === 'd')).toMatchObject({ type: 'fulltext', key: 'search_documents_text' });
    }
    expect((await explain('pageScanning')).find((row) => row.table === 'd')).toMatchObject({ type: 'ALL' });
  });

  it('keeps one row per track, with its version and availability, and leaves a newer one untouched', async () => {
    const row = () => database.db.get('SELECT version, available, title, artists FROM search_documents WHERE track_id = @id', { id: 't1' });
    await index.upsert([{ ...doc('t1', 'Stored!', ['Simon & Garfunkel', 'AC/DC'], 'Album', 4), available: true }]);
    expect(await row()).toEqual({ version: 4, available: 1, title: 'stored', artists: 'simon garfunkel \n ac dc' });
    await index.upsert([doc('t1', 'Older', ['Band'], 'Album', 3)]);
    expect(await row()).toMatchObject({ version: 4, available: 1, title: 'stored' });
    // Two versions of one track in one batch: the newer wins, whatever the order.
    await index.upsert([doc('t1', 'Sixth', ['Band'], 'Album', 6), doc('t1', 'Fifth', ['Band'], 'Album', 5)]);
    expect(await row()).toMatchObject({ version: 6, available: 0, title: 'sixth' });
    expect(await database.db.get('SELECT COUNT(*) AS n FROM search_documents')).toEqual({ n: 1 });
  });

  it('does not let a phrase run from one artist into the next', async () => {
    await index.upsert([doc('t1', 'Song', ['Simon', 'Garfunkel Jr'], 'Album')]);
    expect(await ids('simon garfunkel')).toEqual(['t1']);
    expect(await ids('simon/garfunkel')).toEqual([]);
    expect(await ids('garfunkel/jr')).toEqual(['t1']);
  });
});
