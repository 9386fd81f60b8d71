import type { Fence } from '../locks/lock-manager.js';
import type { CatalogTrack, Page, PageRequest, StoredAudio, TrackMetadata } from '../model.js';

/**
 * Tracks the service knows, and where their audio is stored once fetched.
 *
 * Every write that changes a track raises its `version` and, in the same unit of work, records
 * the track as a pending search change (see `SearchOutbox`): the index can lag behind the
 * catalog, but never loses a change. A write that changes nothing records nothing.
 */
export interface TrackCatalog {
  /** Inserts or refreshes metadata; stored audio is kept. */
  upsert(tracks: TrackMetadata[]): Promise<void>;
  get(id: string): Promise<CatalogTrack | null>;
  getMany(ids: string[]): Promise<CatalogTrack[]>;
  /**
   * Guarded by `fence`, the track's lock, when given: refused with LockLostError once stale.
   * @throws NotFoundError when the track is not in the catalog.
   */
  attachAudio(id: string, audio: StoredAudio, fence?: Fence): Promise<void>;
  /** Idempotent: an unknown track or one without audio is left as it is. Guarded like `attachAudio`. */
  detachAudio(id: string, fence?: Fence): Promise<void>;
  /**
   * Remembers the size of the track's audio as seen at its origin (its Content-Length, or the
   * bytes counted), also when they are not kept, so that a user it cannot fit is refused
   * before anything is fetched again. Attaching audio remembers its size too; detaching keeps it.
   * Not guarded: a size is a fact about the origin's file, and the latest one seen wins.
   */
  rememberSize(id: string, sizeBytes: number): Promise<void>;
  /** The size of the track's audio: stored, or else last seen; null when never seen. */
  knownSize(id: string): Promise<number | null>;
  /**
   * Plain database text match: the fallback when the search index is down. `total` is exact
   * up to SEARCH_TOTAL_LIMIT and at least SEARCH_TOTAL_LIMIT beyond.
   */
  search(query: string, page: PageRequest): Promise<Page<CatalogTrack>>;
  /** Ids of the tracks whose audio is the blob `key`: identical files are stored once. */
  tracksWithBlob(key: string): Promise<string[]>;
  /** Bytes of audio stored, each file counted once. */
  storedBytes(): Promise<number>;
  /** Keyset scan in id order, for reconciliation and reindexing. */
  scan(afterId: string | null, limit: number): Promise<CatalogTrack[]>;
}
