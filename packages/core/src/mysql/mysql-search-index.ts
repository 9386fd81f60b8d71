import { keysetScan } from '../db/keyset-scan.js';
import type { Page, PageRequest } from '../model.js';
import { foldSearchText } from '../search/fold-text.js';
import { queryWords } from '../search/query-words.js';
import { SEARCH_TOTAL_LIMIT, type IndexedDocument, type SearchIndex, type TrackDocument } from '../search/search-index.js';
import type { MysqlDatabase } from './mysql-database.js';
import text from './mysql-search-index.sql';
import { mysqlStatements } from './mysql-statements.js';

const SQL = mysqlStatements(text, [
  'upsert',
  'remove',
  'scanIds',
  'tokenSizes',
  'countMatching',
  'pageMatching',
  'countScanning',
  'pageScanning',
]);

/** Rows per INSERT or DELETE, so that no statement outgrows the server's packet size. */
const WRITE_CHUNK = 500;

/**
 * A word's pieces: runs of letters and digits, as SQLite's unicode61 tokenizer splits text.
 * Text is folded first, so no mark is left to split a piece or to keep it from InnoDB's parser.
 */
const PIECE = /[\p{L}\p{N}]+/gu;

/** The lengths, in characters, of the words a FULLTEXT index holds (`innodb_ft_min_token_size`, `_max_`). */
export interface FulltextTokenSizes {
  min: number;
  max: number;
}

/** A search, as MysqlSearchIndex's statements take it. */
export interface MysqlSearchQuery {
  /** A boolean-mode query of `+piece` terms (the last one `+piece*`), or null when no word is indexed. */
  match: string | null;
  /** LIKE patterns over the document's text, one for each word that FULLTEXT cannot answer alone. */
  patterns: string[];
  /** The whole query as one LIKE pattern (its last word a prefix), for the rank. */
  phrase: string;
}

/**
 * The pieces of `text`, folded (foldSearchText), joined by single spaces: how a document's
 * text is stored, so that the FULLTEXT parser and the LIKE patterns see the same words as the
 * query does. Punctuation goes ("AC/DC" is "ac dc", "don't" is "don t"), and so do case and
 * accents ("Łona" is "lona"): the collation folds neither þ nor ı, and LIKE does not take ß
 * for "ss", so the folding is not left to it.
 */
export function searchableText(text: string): string {
  return (foldSearchText(text).match(PIECE) ?? []).join(' ');
}

/**
 * Turns arbitrary user text into a search that cannot carry FULLTEXT syntax, with SQLite's
 * meaning (toFtsQuery): each of its words (queryWords: folded as documents are) is required,
 * as a phrase of its pieces, and the last one matches as a prefix. Returns null when nothing
 * searchable is left.
 *
 * - A word of one piece that the index holds (within `sizes`) becomes `+piece`, the last one
 *   `+piece*`. Pieces are letters and digits only, so no operator of the boolean syntax
 *   (`+ - < > ( ) ~ * " @`) can reach the query.
 * - Any other word ("u2", "AC/DC", one longer than the index keeps) becomes a LIKE pattern of
 *   its pieces between spaces (`% ac dc %`; the last word `% ac dc%`); its pieces that the
 *   index holds are also required in `match`, to narrow the rows the pattern is tried on.
 *   Pieces hold no `%`, `_` or `\`, so a pattern needs no escaping.
 */
export function toMysqlSearch(text: string, sizes: FulltextTokenSizes): MysqlSearchQuery | null {
  // Each word has a letter or a digit, so at least one piece.
  const words = queryWords(text).map((word) => word.match(PIECE)!);
  if (words.length === 0) return null;
  const indexed = (piece: string) => {
    const length = [...piece].length;
    return length >= sizes.min && length <= sizes.max;
  };
  const terms: string[] = [];
  const patterns: string[] = [];
  words.forEach((pieces, index) => {
    const last = index === words.length - 1;
    pieces.forEach((piece, at) => {
      if (indexed(piece)) terms.push(`+${piece}${last && at === pieces.length - 1 ? '*' : ''}`);
    });
    if (pieces.length > 1 || !pieces.every(indexed)) patterns.push(`% ${pieces.join(' ')}${last ? '%' : ' %'}`);
  });
  return { match: terms.length > 0 ? terms.join(' ') : null, patterns, phrase: `% ${words.flat().join(' ')}%` };
}

/**
 * The search index in MySQL, for when no Elasticsearch is configured (and the fallback
 * while it is down): InnoDB's FULLTEXT index on `search_documents`, in boolean mode, ranked
 * by relevance weighted by column, ties broken by track id. Words the index does not hold
 * (shorter than `innodb_ft_min_token_size`, 3 by default) are matched with LIKE, so that
 * "u2", "husker du" and "AC/DC" find what they find on SQLite. Documents are stored folded
 * and queries are folded alike (foldSearchText), so "bjork" finds "Björk" and "lona" "Łona"
 * as on every engine; utf8mb4_unicode_520_ci's own folding serves documents written before
 * migration 002 until the relay has rewritten them.
 *
 * Each document keeps its catalog version beside it, and an older one is ignored. Searches
 * see committed documents only: InnoDB adds rows to the FULLTEXT index at commit.
 */
export class MysqlSearchIndex implements SearchIndex {
  readonly name = 'mysql-fulltext';

  #tokenSizes: Promise<FulltextTokenSizes> | undefined;

  constructor(private readonly db: MysqlDatabase) {}

  async upsert(documents: TrackDocument[]): Promise<void> {
    if (documents.length === 0) return;
    // In id order, so that two writers of overlapping batches take row locks in one order.
    const rows = documents
      .slice()
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((track) => [
        track.id,
        track.version,
        track.available ? 1 : 0,
        searchableText(track.title),
        track.artists.map(searchableText).filter((name) => name !== '').join(' \n '),
        searchableText(track.album),
        searchableText(track.isrc ?? ''),
      ]);
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < rows.length; i += WRITE_CHUNK) await tx.run(SQL.upsert, { documents: rows.slice(i, i + WRITE_CHUNK) });
    });
  }

  async remove(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += WRITE_CHUNK) await this.db.run(SQL.remove, { trackIds: ids.slice(i, i + WRITE_CHUNK) });
  }

  documents(pageSize: number): AsyncIterable<IndexedDocument> {
    return keysetScan((afterId, limit) => this.db.all<IndexedDocument>(SQL.scanIds, { afterId: afterId ?? '', limit }), pageSize);
  }

  async search(query: string, page: PageRequest): Promise<Page<string>> {
    const search = toMysqlSearch(query, await this.#sizes());
    if (search === null) return { items: [], total: 0 };
    const params = {
      match: search.match ?? '',
      patterns: JSON.stringify(search.patterns),
      pattern: search.patterns.reduce((longest, pattern) => (pattern.length > longest.length ? pattern : longest), ''),
      phrase: search.phrase,
      cap: SEARCH_TOTAL_LIMIT,
      limit: page.limit,
      offset: page.offset,
    };
    const [count, rows] = search.match === null ? [SQL.countScanning, SQL.pageScanning] : [SQL.countMatching, SQL.pageMatching];
    const total = (await this.db.get<{ total: number }>(count, params))?.total ?? 0;
    const items = (await this.db.all<{ track_id: string }>(rows, params)).map((row) => row.track_id);
    return { items, total };
  }

  /** The server's FULLTEXT word lengths, asked once (again after a failure). */
  #sizes(): Promise<FulltextTokenSizes> {
    this.#tokenSizes ??= this.db.get<{ min_size: number; max_size: number }>(SQL.tokenSizes).then(
      (row) => ({ min: Number(row?.min_size ?? 3), max: Number(row?.max_size ?? 84) }),
      (error: unknown) => {
        this.#tokenSizes = undefined;
        throw error;
      },
    );
    return this.#tokenSizes;
  }
}
