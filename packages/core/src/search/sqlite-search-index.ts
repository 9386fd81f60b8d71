import type { SqliteDatabase } from '../db/sqlite-database.js';
import type { Page, PageRequest, TrackMetadata } from '../model.js';
import type { SearchIndex } from './search-index.js';

/** A query ANDs at most this many words, to bound the cost of a long one. */
const MAX_QUERY_WORDS = 16;

/** bm25 column weights, in the column order of `search_fts`: title, artists, album, isrc. */
const RANK = 'bm25(search_fts, 4.0, 3.0, 1.5, 1.0)';

/**
 * Turns arbitrary user text into an FTS5 expression that cannot carry FTS syntax: every
 * whitespace-separated word becomes a quoted string (a phrase, so `AC/DC` keeps its words
 * together), the last one matches as a prefix, and all are ANDed. Words with no letter or
 * digit are dropped, since they would be empty phrases that match nothing.
 * Returns null when nothing searchable is left.
 */
export function toFtsQuery(text: string): string | null {
  const words = text
    .split(/\s+/u)
    .filter((word) => /[\p{L}\p{N}]/u.test(word))
    .slice(0, MAX_QUERY_WORDS);
  if (words.length === 0) return null;
  return words
    .map((word, index) => `"${word.replaceAll('"', '""')}"${index === words.length - 1 ? '*' : ''}`)
    .join(' AND ');
}

/** The embedded full-text index: SQLite FTS5, ranked by bm25, ties broken by track id. */
export class SqliteSearchIndex implements SearchIndex {
  readonly name = 'sqlite-fts5';

  constructor(private readonly db: SqliteDatabase) {}

  async upsert(tracks: TrackMetadata[]): Promise<void> {
    const register = this.db.prepare('INSERT INTO search_documents (track_id) VALUES (?) ON CONFLICT (track_id) DO NOTHING');
    const docId = this.db.prepare('SELECT doc_id FROM search_documents WHERE track_id = ?').pluck();
    const unindex = this.db.prepare('DELETE FROM search_fts WHERE rowid = ?');
    const index = this.db.prepare('INSERT INTO search_fts (rowid, title, artists, album, isrc) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const track of tracks) {
        register.run(track.id);
        const rowid = docId.get(track.id) as number;
        unindex.run(rowid);
        index.run(rowid, track.title, track.artists.join('\n'), track.album, track.isrc ?? '');
      }
    })();
  }

  async remove(ids: string[]): Promise<void> {
    const docId = this.db.prepare('SELECT doc_id FROM search_documents WHERE track_id = ?').pluck();
    const unindex = this.db.prepare('DELETE FROM search_fts WHERE rowid = ?');
    const forget = this.db.prepare('DELETE FROM search_documents WHERE doc_id = ?');
    this.db.transaction(() => {
      for (const id of ids) {
        const rowid = docId.get(id) as number | undefined;
        if (rowid === undefined) continue;
        unindex.run(rowid);
        forget.run(rowid);
      }
    })();
  }

  async scanIds(afterId: string | null, limit: number): Promise<string[]> {
    return this.db
      .prepare('SELECT track_id FROM search_documents WHERE track_id > ? ORDER BY track_id LIMIT ?')
      .pluck()
      .all(afterId ?? '', limit) as string[];
  }

  async search(query: string, page: PageRequest): Promise<Page<string>> {
    const match = toFtsQuery(query);
    if (match === null) return { items: [], total: 0 };
    return this.db.transaction(() => {
      const total = this.db.prepare('SELECT count(*) FROM search_fts WHERE search_fts MATCH ?').pluck().get(match) as number;
      const items = this.db
        .prepare(
          `SELECT d.track_id FROM search_fts JOIN search_documents d ON d.doc_id = search_fts.rowid
           WHERE search_fts MATCH ? ORDER BY ${RANK}, d.track_id LIMIT ? OFFSET ?`,
        )
        .pluck()
        .all(match, page.limit, page.offset) as string[];
      return { items, total };
    })();
  }
}
