import type { CatalogTrack } from '../model.js';

/**
 * The `tracks` table as the SQL catalogs (SQLite, MySQL) read it, and the search rules they
 * share, so that both map rows and split a query alike.
 */

/** The columns of a `tracks` row that make a CatalogTrack (both schemas name them the same). */
export interface TrackRow {
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
  version: number;
}

/** The fallback search ANDs at most this many words, to bound the cost of a long query. */
export const MAX_SEARCH_WORDS = 8;

/** The track a row stands for: audio only when all three of its columns are set. */
export function toCatalogTrack(row: TrackRow): CatalogTrack {
  const track: CatalogTrack = {
    id: row.id,
    title: row.title,
    artists: JSON.parse(row.artists) as string[],
    album: row.album,
    durationMs: row.duration_ms,
    updatedAt: new Date(row.updated_at),
    version: row.version,
  };
  if (row.isrc !== null) track.isrc = row.isrc;
  if (row.blob_key !== null && row.size_bytes !== null && row.content_type !== null) {
    track.audio = { blobKey: row.blob_key, sizeBytes: row.size_bytes, contentType: row.content_type };
  }
  return track;
}

/** The whitespace-separated words of a query the fallback search looks for, up to MAX_SEARCH_WORDS. */
export function searchWords(query: string): string[] {
  return query.split(/\s+/u).filter((word) => word.length > 0).slice(0, MAX_SEARCH_WORDS);
}

/** A LIKE pattern (escape character `\`) matching `word` anywhere. */
export function likePattern(word: string): string {
  return `%${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
