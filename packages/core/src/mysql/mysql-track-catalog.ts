import type { TrackCatalog } from '../catalog/track-catalog.js';
import { likePattern, searchWords, toCatalogTrack, type TrackRow } from '../catalog/track-rows.js';
import { LockLostError, NotFoundError } from '../errors.js';
import type { Fence } from '../locks/lock-manager.js';
import type { CatalogTrack, Page, PageRequest, StoredAudio, TrackMetadata } from '../model.js';
import { SEARCH_TOTAL_LIMIT } from '../search/search-index.js';
import type { MysqlDatabase, MysqlQueryable } from './mysql-database.js';
import { isMysqlError } from './mysql-errors.js';
import { holdsFence } from './mysql-fencing-tokens.js';
import { mysqlStatements } from './mysql-statements.js';
import text from './mysql-track-catalog.sql';

const SQL = mysqlStatements(text, [
  'lockTracks',
  'insertTracks',
  'updateTracks',
  'recordChanges',
  'byId',
  'byIds',
  'attachAudio',
  'detachAudio',
  'rememberSize',
  'knownSize',
  'countMatching',
  'pageMatching',
  'idsWithBlob',
  'storedBytes',
  'scanFirst',
  'scanAfter',
]);

/** Ids per statement, so that no IN list or VALUES outgrows the server's packet size. */
const CHUNK = 500;
/** Runs of an upsert that met a track another transaction inserted first, the first included. */
const UPSERT_ATTEMPTS = 3;
/** What JSON.stringify writes otherwise than as itself: a word holding one cannot be looked for in the stored `artists`. */
const ESCAPED_IN_JSON = /["\\\u0000-\u001f]/u;

/** A track's metadata columns as stored, and its version: what an upsert compares and writes. */
type MetadataRow = Pick<TrackRow, 'id' | 'title' | 'artists' | 'album' | 'duration_ms' | 'isrc' | 'version'>;

/** The metadata as it would be stored, at `version`. */
function toMetadataRow(track: TrackMetadata, version: number): MetadataRow {
  const { id, title, album, durationMs, isrc } = track;
  return { id, title, artists: JSON.stringify(track.artists), album, duration_ms: durationMs, isrc: isrc ?? null, version };
}

/** Exact comparison, as SQLite's `IS NOT`: a change of case alone is a change, though the collation folds it. */
function sameMetadata(a: MetadataRow, b: MetadataRow): boolean {
  return a.title === b.title && a.artists === b.artists && a.album === b.album && a.duration_ms === b.duration_ms && a.isrc === b.isrc;
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The track catalog in MySQL. Each change and its `search_outbox` row commit in one
 * transaction (MysqlSearchOutbox reads that table for the relay), retried on a deadlock or a
 * lock-wait timeout by MysqlDatabase.
 *
 * - An upsert locks the rows it may change (`SELECT … FOR UPDATE`, in id order), compares in
 *   JavaScript, and writes only real changes, each at its version + 1; a new track another
 *   transaction inserts meanwhile (ER_DUP_ENTRY) runs the upsert again, which then finds it.
 * - A fenced attach or detach first share-locks the fence's token (`holdsFence`), so the
 *   check holds until the write commits.
 */
export class MysqlTrackCatalog implements TrackCatalog {
  constructor(private readonly db: MysqlDatabase) {}

  async upsert(tracks: TrackMetadata[]): Promise<void> {
    if (tracks.length === 0) return;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.db.transaction((tx) => this.#upsert(tx, tracks, Date.now()));
        return;
      } catch (error) {
        if (!isMysqlError(error, 'ER_DUP_ENTRY') || attempt >= UPSERT_ATTEMPTS) throw error;
      }
    }
  }

  async get(id: string): Promise<CatalogTrack | null> {
    const row = await this.db.get<TrackRow>(SQL.byId, { trackId: id });
    return row ? toCatalogTrack(row) : null;
  }

  /** The tracks found, in the order of `ids`; unknown ids are left out and repeated ones appear once. */
  async getMany(ids: string[]): Promise<CatalogTrack[]> {
    const distinct = [...new Set(ids)];
    const found = new Map<string, TrackRow>();
    for (const chunk of chunks(distinct)) {
      for (const row of await this.db.all<TrackRow>(SQL.byIds, { trackIds: chunk })) found.set(row.id, row);
    }
    return distinct.flatMap((id) => {
      const row = found.get(id);
      return row ? [toCatalogTrack(row)] : [];
    });
  }

  /** @throws NotFoundError when the track is not in the catalog; LockLostError when `fence` is stale. */
  async attachAudio(id: string, audio: StoredAudio, fence?: Fence): Promise<void> {
    const now = Date.now();
    const outcome = await this.db.transaction(async (tx) => {
      if (fence && !(await holdsFence(tx, fence))) return (await tx.get(SQL.byId, { trackId: id })) ? 'stale' : 'missing';
      const { affectedRows, insertId: version } = await tx.run(SQL.attachAudio, {
        trackId: id,
        blobKey: audio.blobKey,
        sizeBytes: audio.sizeBytes,
        contentType: audio.contentType,
        updatedAt: now,
      });
      if (affectedRows === 0) return 'missing';
      await tx.run(SQL.recordChanges, { rows: [[id, version, now, now]] });
      return 'attached';
    });
    if (outcome === 'missing') throw new NotFoundError(`No track ${id}`);
    if (outcome === 'stale') throw new LockLostError(fence!.key);
  }

  /** Idempotent: detaching from an unknown track or one without audio does nothing. @throws LockLostError */
  async detachAudio(id: string, fence?: Fence): Promise<void> {
    const now = Date.now();
    const stale = await this.db.transaction(async (tx) => {
      // A stale fence refuses only a write there is to make.
      if (fence && !(await holdsFence(tx, fence))) return (await tx.get<TrackRow>(SQL.byId, { trackId: id }))?.blob_key != null;
      const { affectedRows, insertId: version } = await tx.run(SQL.detachAudio, { trackId: id, updatedAt: now });
      if (affectedRows > 0) await tx.run(SQL.recordChanges, { rows: [[id, version, now, now]] });
      return false;
    });
    if (stale) throw new LockLostError(fence!.key);
  }

  async rememberSize(id: string, sizeBytes: number): Promise<void> {
    await this.db.run(SQL.rememberSize, { trackId: id, sizeBytes });
  }

  async knownSize(id: string): Promise<number | null> {
    return (await this.db.get<{ size: number | null }>(SQL.knownSize, { trackId: id }))?.size ?? null;
  }

  /**
   * Every whitespace-separated word (up to MAX_SEARCH_WORDS) must occur in the title, album or
   * an artist. Ordered by title, then id. The collation folds case and accents.
   */
  async search(query: string, page: PageRequest): Promise<Page<CatalogTrack>> {
    const words = searchWords(query);
    if (words.length === 0) return { items: [], total: 0 };
    const plain = words.filter((word) => !ESCAPED_IN_JSON.test(word));
    const longest = plain.reduce((a, b) => (b.length > a.length ? b : a), '');
    const params = {
      patterns: JSON.stringify(words.map(likePattern)),
      pattern: longest === '' ? '%' : likePattern(longest),
      cap: SEARCH_TOTAL_LIMIT,
      limit: page.limit,
      offset: page.offset,
    };
    const total = (await this.db.get<{ total: number }>(SQL.countMatching, params))?.total ?? 0;
    const rows = await this.db.all<TrackRow>(SQL.pageMatching, params);
    return { items: rows.map(toCatalogTrack), total };
  }

  async tracksWithBlob(key: string): Promise<string[]> {
    return (await this.db.all<{ id: string }>(SQL.idsWithBlob, { blobKey: key })).map((row) => row.id);
  }

  async storedBytes(): Promise<number> {
    return Number((await this.db.get<{ total: number }>(SQL.storedBytes))?.total ?? 0);
  }

  async scan(afterId: string | null, limit: number): Promise<CatalogTrack[]> {
    const rows =
      afterId === null ? await this.db.all<TrackRow>(SQL.scanFirst, { limit }) : await this.db.all<TrackRow>(SQL.scanAfter, { afterId, limit });
    return rows.map(toCatalogTrack);
  }

  /** One run of an upsert, on `tx`: lock, compare, write the changes and their outbox rows. */
  async #upsert(tx: MysqlQueryable, tracks: TrackMetadata[], now: number): Promise<void> {
    const ids = [...new Set(tracks.map((track) => track.id))].sort();
    const stored = new Map<string, MetadataRow>();
    for (const chunk of chunks(ids)) {
      for (const row of await tx.all<MetadataRow>(SQL.lockTracks, { trackIds: chunk })) stored.set(row.id, row);
    }
    // In the order given, as SQLite applies them: a track twice in one call may change twice.
    const changed = new Map<string, MetadataRow>();
    for (const track of tracks) {
      const current = changed.get(track.id) ?? stored.get(track.id);
      const next = toMetadataRow(track, (current?.version ?? 0) + 1);
      if (current && sameMetadata(current, next)) continue;
      changed.set(track.id, next);
    }
    if (changed.size === 0) return;
    const rows = [...changed.values()].sort(byId);
    const values = (row: MetadataRow) => [row.id, row.title, row.artists, row.album, row.duration_ms, row.isrc, now, row.version];
    for (const chunk of chunks(rows.filter((row) => !stored.has(row.id)))) await tx.run(SQL.insertTracks, { rows: chunk.map(values) });
    for (const chunk of chunks(rows.filter((row) => stored.has(row.id)))) await tx.run(SQL.updateTracks, { rows: chunk.map(values) });
    for (const chunk of chunks(rows)) await tx.run(SQL.recordChanges, { rows: chunk.map((row) => [row.id, row.version, now, now]) });
  }
}
