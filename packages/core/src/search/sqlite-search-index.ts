import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { keysetScan } from '../db/keyset-scan.js';
import { runSqlite } from '../db/sqlite-faults.js';
import type { Page, PageRequest } from '../model.js';
import { foldSearchText } from './fold-text.js';
import { queryWords } from './query-words.js';
import { SEARCH_TOTAL_LIMIT, type IndexedDocument, type SearchIndex, type TrackDocument } from './search-index.js';
import text from './sqlite-search-index.sql';

const SQL = requireStatements(text, [
  'register',
  'docId',
  'unindex',
  'index',
  'forget',
  'scanIds',
  'countMatches',
  'pageMatches',
]);

/**
 * Turns arbitrary user text into an FTS5 expression that cannot carry FTS syntax: each of its
 * words (queryWords: folded as the indexed text is) becomes a quoted string (a phrase, so
 * `AC/DC` keeps its words together), the last one matches as a prefix, and all are ANDed.
 * Returns null when nothing searchable is left.
 */
export function toFtsQuery(text: string): string | null {
  const words = queryWords(text);
  if (words.length === 0) return null;
  return words
    .map((word, index) => `"${word.replaceAll('"', '""')}"${index === words.length - 1 ? '*' : ''}`)
    .join(' AND ');
}

/**
 * The embedded full-text index: SQLite FTS5, ranked by bm25, ties broken by track id. Text is
 * indexed folded, and queries are folded alike, so that "lona" finds "Łona" as on every
 * engine. Each document's version is kept beside it in `search_documents`, and an older one
 * is ignored. Each method is one statement or one transaction, run by `runSqlite`.
 */
export class SqliteSearchIndex implements SearchIndex {
  readonly name = 'sqlite-fts5';

  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async upsert(documents: TrackDocument[]): Promise<void> {
    const { register, unindex, index } = this.statements;
    const upsert = this.db.transaction(() => {
      for (const track of documents) {
        const registered = { trackId: track.id, version: track.version, available: track.available ? 1 : 0 };
        // No doc_id back: the index holds a newer version of this track.
        const rowid = register.pluck().get(registered) as number | undefined;
        if (rowid === undefined) continue;
        unindex.run({ docId: rowid });
        index.run({
          docId: rowid,
          title: foldSearchText(track.title),
          artists: track.artists.map(foldSearchText).join('\n'),
          album: foldSearchText(track.album),
          isrc: foldSearchText(track.isrc ?? ''),
        });
      }
    });
    await runSqlite(this.db, upsert);
  }

  async remove(ids: string[]): Promise<void> {
    const { docId, unindex, forget } = this.statements;
    const remove = this.db.transaction(() => {
      for (const id of ids) {
        const rowid = docId.pluck().get({ trackId: id }) as number | undefined;
        if (rowid === undefined) continue;
        unindex.run({ docId: rowid });
        forget.run({ docId: rowid });
      }
    });
    await runSqlite(this.db, remove);
  }

  documents(pageSize: number): AsyncIterable<IndexedDocument> {
    // '' for the first page, since every (non-empty) track id sorts after it.
    const readPage = (afterId: string | null, limit: number) =>
      runSqlite(this.db, () => this.statements.scanIds.all({ afterId: afterId ?? '', limit }) as IndexedDocument[]);
    return keysetScan(readPage, pageSize);
  }

  async search(query: string, page: PageRequest): Promise<Page<string>> {
    const match = toFtsQuery(query);
    if (match === null) return { items: [], total: 0 };
    const read = this.db.transaction(() => {
      const total = this.statements.countMatches.pluck().get({ match, cap: SEARCH_TOTAL_LIMIT }) as number;
      const items = this.statements.pageMatches.pluck().all({ match, limit: page.limit, offset: page.offset }) as string[];
      return { items, total };
    });
    return runSqlite(this.db, read);
  }
}
