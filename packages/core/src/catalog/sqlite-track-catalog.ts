import type { SqliteDatabase } from '../db/sqlite-database.js';
import { NotFoundError } from '../errors.js';
import type { CatalogTrack, Page, PageRequest, StoredAudio, TrackMetadata } from '../model.js';
import type { TrackCatalog } from './track-catalog.js';

interface TrackRow {
  id: string;
  title: string;
  artists: string;
  album: string;
  duration_ms: number;
  isrc: string | null;
  blob_key: string | null;
  size_bytes: number | null;
  content_type: string | null;
  updated_at: number;
}

/** The fallback search ANDs at most this many words, to bound the cost of a long query. */
const MAX_SEARCH_WORDS = 8;

/** One word matches a track when its title, album or any artist contains it (ASCII case folded). */
const WORD_MATCH = `(title LIKE ? ESCAPE '\\' OR album LIKE ? ESCAPE '\\'
  OR EXISTS (SELECT 1 FROM json_each(tracks.artists) WHERE json_each.value LIKE ? ESCAPE '\\'))`;

function toCatalogTrack(row: TrackRow): CatalogTrack {
  const track: CatalogTrack = {
    id: row.id,
    title: row.title,
    artists: JSON.parse(row.artists) as string[],
    album: row.album,
    durationMs: row.duration_ms,
    updatedAt: new Date(row.updated_at),
  };
  if (row.isrc !== null) track.isrc = row.isrc;
  if (row.blob_key !== null && row.size_bytes !== null && row.content_type !== null) {
    track.audio = { blobKey: row.blob_key, sizeBytes: row.size_bytes, contentType: row.content_type };
  }
  return track;
}

function likePattern(word: string): string {
  return `%${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The track catalog in the embedded database. */
export class SqliteTrackCatalog implements TrackCatalog {
  constructor(private readonly db: SqliteDatabase) {}

  async upsert(tracks: TrackMetadata[]): Promise<void> {
    const statement = this.db.prepare(`
      INSERT INTO tracks (id, title, artists, album, duration_ms, isrc, updated_at)
      VALUES (@id, @title, @artists, @album, @durationMs, @isrc, @updatedAt)
      ON CONFLICT (id) DO UPDATE SET
        title = excluded.title, artists = excluded.artists, album = excluded.album,
        duration_ms = excluded.duration_ms, isrc = excluded.isrc, updated_at = excluded.updated_at`);
    const now = Date.now();
    this.db.transaction(() => {
      for (const track of tracks) {
        statement.run({
          id: track.id,
          title: track.title,
          artists: JSON.stringify(track.artists),
          album: track.album,
          durationMs: track.durationMs,
          isrc: track.isrc ?? null,
          updatedAt: now,
        });
      }
    })();
  }

  async get(id: string): Promise<CatalogTrack | null> {
    const row = this.db.prepare('SELECT * FROM tracks WHERE id = ?').get(id) as TrackRow | undefined;
    return row ? toCatalogTrack(row) : null;
  }

  /** The tracks found, in the order of `ids`; unknown ids are left out and repeated ones appear once. */
  async getMany(ids: string[]): Promise<CatalogTrack[]> {
    if (ids.length === 0) return [];
    // One JSON parameter instead of one per id, so no list is too long for SQLite.
    const rows = this.db
      .prepare('SELECT * FROM tracks WHERE id IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(ids)) as TrackRow[];
    const byId = new Map(rows.map((row) => [row.id, row]));
    const found: CatalogTrack[] = [];
    for (const id of new Set(ids)) {
      const row = byId.get(id);
      if (row) found.push(toCatalogTrack(row));
    }
    return found;
  }

  /** @throws NotFoundError when the track is not in the catalog. */
  async attachAudio(id: string, audio: StoredAudio): Promise<void> {
    const result = this.db
      .prepare('UPDATE tracks SET blob_key = ?, size_bytes = ?, content_type = ?, updated_at = ? WHERE id = ?')
      .run(audio.blobKey, audio.sizeBytes, audio.contentType, Date.now(), id);
    if (result.changes === 0) throw new NotFoundError(`No track ${id}`);
  }

  /** Idempotent: detaching from an unknown track or one without audio does nothing. */
  async detachAudio(id: string): Promise<void> {
    this.db
      .prepare(
        'UPDATE tracks SET blob_key = NULL, size_bytes = NULL, content_type = NULL, updated_at = ? WHERE id = ? AND blob_key IS NOT NULL',
      )
      .run(Date.now(), id);
  }

  /**
   * Every whitespace-separated word (up to MAX_SEARCH_WORDS) must occur in the title, album or
   * an artist. Ordered by title, then id. SQLite's LIKE folds ASCII case only.
   */
  async search(query: string, page: PageRequest): Promise<Page<CatalogTrack>> {
    const words = query.split(/\s+/u).filter((word) => word.length > 0).slice(0, MAX_SEARCH_WORDS);
    if (words.length === 0) return { items: [], total: 0 };
    const where = words.map(() => WORD_MATCH).join(' AND ');
    const params = words.flatMap((word) => {
      const pattern = likePattern(word);
      return [pattern, pattern, pattern];
    });
    // One read transaction, so the total and the page see the same snapshot.
    return this.db.transaction(() => {
      const total = this.db.prepare(`SELECT count(*) FROM tracks WHERE ${where}`).pluck().get(...params) as number;
      const rows = this.db
        .prepare(`SELECT * FROM tracks WHERE ${where} ORDER BY title COLLATE NOCASE, id LIMIT ? OFFSET ?`)
        .all(...params, page.limit, page.offset) as TrackRow[];
      return { items: rows.map(toCatalogTrack), total };
    })();
  }

  async tracksWithBlob(key: string): Promise<string[]> {
    return this.db.prepare('SELECT id FROM tracks WHERE blob_key = ? ORDER BY id').pluck().all(key) as string[];
  }

  async storedBytes(): Promise<number> {
    // Tracks with the same audio share one blob (keyed by its hash), so each key counts once.
    return this.db
      .prepare(
        `SELECT coalesce(sum(size_bytes), 0) FROM
           (SELECT max(size_bytes) AS size_bytes FROM tracks WHERE blob_key IS NOT NULL GROUP BY blob_key)`,
      )
      .pluck()
      .get() as number;
  }

  async scan(afterId: string | null, limit: number): Promise<CatalogTrack[]> {
    const rows = (
      afterId === null
        ? this.db.prepare('SELECT * FROM tracks ORDER BY id LIMIT ?').all(limit)
        : this.db.prepare('SELECT * FROM tracks WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit)
    ) as TrackRow[];
    return rows.map(toCatalogTrack);
  }
}
