import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
import { LockLostError, NotFoundError } from '../errors.js';
import type { Fence } from '../locks/lock-manager.js';
import type { CatalogTrack, Page, PageRequest, StoredAudio, TrackMetadata } from '../model.js';
import { SEARCH_TOTAL_LIMIT } from '../search/search-index.js';
import text from './sqlite-track-catalog.sql';
import type { TrackCatalog } from './track-catalog.js';
import { likePattern, searchWords, toCatalogTrack, type TrackRow } from './track-rows.js';

const SQL = requireStatements(text, [
  'upsert',
  'recordChange',
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

/** A guarded write's parameters; both null for an unguarded one. */
function fenceParams(fence: Fence | undefined): { fenceKey: string | null; fenceToken: number | null } {
  return { fenceKey: fence?.key ?? null, fenceToken: fence?.token ?? null };
}

/**
 * The track catalog in the embedded database. Each change and its `search_outbox` row are
 * written in one transaction; SqliteSearchOutbox reads that table for the relay. Each method is
 * one statement or one transaction, run by `runSqlite`.
 */
export class SqliteTrackCatalog implements TrackCatalog {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async upsert(tracks: TrackMetadata[]): Promise<void> {
    const now = Date.now();
    const upsert = this.db.transaction(() => {
      for (const track of tracks) {
        const version = this.statements.upsert.pluck().get({
          id: track.id,
          title: track.title,
          artists: JSON.stringify(track.artists),
          album: track.album,
          durationMs: track.durationMs,
          isrc: track.isrc ?? null,
          updatedAt: now,
        }) as number | undefined;
        if (version !== undefined) this.#recordChange(track.id, version, now);
      }
    });
    await runSqlite(this.db, upsert);
  }

  async get(id: string): Promise<CatalogTrack | null> {
    const row = await runSqlite(this.db, () => this.statements.byId.get({ trackId: id }) as TrackRow | undefined);
    return row ? toCatalogTrack(row) : null;
  }

  /** The tracks found, in the order of `ids`; unknown ids are left out and repeated ones appear once. */
  async getMany(ids: string[]): Promise<CatalogTrack[]> {
    if (ids.length === 0) return [];
    const rows = await runSqlite(this.db, () => this.statements.byIds.all({ trackIds: JSON.stringify(ids) }) as TrackRow[]);
    const byId = new Map(rows.map((row) => [row.id, row]));
    const found: CatalogTrack[] = [];
    for (const id of new Set(ids)) {
      const row = byId.get(id);
      if (row) found.push(toCatalogTrack(row));
    }
    return found;
  }

  /** @throws NotFoundError when the track is not in the catalog; LockLostError when `fence` is stale. */
  async attachAudio(id: string, audio: StoredAudio, fence?: Fence): Promise<void> {
    const now = Date.now();
    const attach = this.db.transaction(() => {
      const version = this.statements.attachAudio.pluck().get({
        trackId: id,
        blobKey: audio.blobKey,
        sizeBytes: audio.sizeBytes,
        contentType: audio.contentType,
        updatedAt: now,
        ...fenceParams(fence),
      }) as number | undefined;
      if (version !== undefined) this.#recordChange(id, version, now);
      // The track is there, so the fence refused the write.
      else if (fence && this.statements.byId.get({ trackId: id }) !== undefined) throw new LockLostError(fence.key);
      return version !== undefined;
    });
    const attached = await runSqlite(this.db, attach);
    if (!attached) throw new NotFoundError(`No track ${id}`);
  }

  /** Idempotent: detaching from an unknown track or one without audio does nothing. @throws LockLostError */
  async detachAudio(id: string, fence?: Fence): Promise<void> {
    const now = Date.now();
    const detach = this.db.transaction(() => {
      const version = this.statements.detachAudio.pluck().get({ trackId: id, updatedAt: now, ...fenceParams(fence) }) as number | undefined;
      if (version !== undefined) this.#recordChange(id, version, now);
      else if (fence && (this.statements.byId.get({ trackId: id }) as TrackRow | undefined)?.blob_key) throw new LockLostError(fence.key);
    });
    await runSqlite(this.db, detach);
  }

  async rememberSize(id: string, sizeBytes: number): Promise<void> {
    await runSqlite(this.db, () => this.statements.rememberSize.run({ trackId: id, sizeBytes }));
  }

  async knownSize(id: string): Promise<number | null> {
    return (await runSqlite(this.db, () => this.statements.knownSize.pluck().get({ trackId: id }) as number | null | undefined)) ?? null;
  }

  /**
   * Every whitespace-separated word (up to MAX_SEARCH_WORDS) must occur in the title, album or
   * an artist. Ordered by title, then id. SQLite's LIKE folds ASCII case only.
   */
  async search(query: string, page: PageRequest): Promise<Page<CatalogTrack>> {
    const words = searchWords(query);
    if (words.length === 0) return { items: [], total: 0 };
    const patterns = JSON.stringify(words.map(likePattern));
    // One read transaction, so the total and the page see the same snapshot.
    const read = this.db.transaction(() => {
      const total = this.statements.countMatching.pluck().get({ patterns, cap: SEARCH_TOTAL_LIMIT }) as number;
      const rows = this.statements.pageMatching.all({ patterns, limit: page.limit, offset: page.offset }) as TrackRow[];
      return { items: rows.map(toCatalogTrack), total };
    });
    return runSqlite(this.db, read);
  }

  async tracksWithBlob(key: string): Promise<string[]> {
    return runSqlite(this.db, () => this.statements.idsWithBlob.pluck().all({ blobKey: key }) as string[]);
  }

  async storedBytes(): Promise<number> {
    return runSqlite(this.db, () => this.statements.storedBytes.pluck().get() as number);
  }

  async scan(afterId: string | null, limit: number): Promise<CatalogTrack[]> {
    const page = () => (afterId === null ? this.statements.scanFirst.all({ limit }) : this.statements.scanAfter.all({ afterId, limit }));
    const rows = (await runSqlite(this.db, page)) as TrackRow[];
    return rows.map(toCatalogTrack);
  }

  /** Only inside the transaction of the change itself. */
  #recordChange(trackId: string, version: number, now: number): void {
    this.statements.recordChange.run({ trackId, version, now });
  }
}
