/** A track whose current catalog row the search index does not hold yet. */
export interface PendingChange {
  trackId: string;
  /** The track's catalog version at its latest change; 0 when the catalog does not hold it. */
  version: number;
  /** Failed attempts to apply it so far, and the error of the last one. */
  attempts: number;
  lastError: string | null;
  /** Since when the index has been behind on this track: its oldest change not yet applied. */
  enqueuedAt: Date;
}

/** One version of a track's change, as applied or attempted. */
export interface ChangeVersion {
  trackId: string;
  version: number;
}

export interface OutboxBacklog {
  pending: number;
  /** The oldest pending change's `enqueuedAt`; null when nothing is pending. */
  oldestEnqueuedAt: Date | null;
}

/**
 * Search changes not yet in the index. The catalog writes them, in the same unit of work as
 * each change (see `TrackCatalog`), so the outbox always lives in the catalog's backend; the
 * `OutboxRelay` reads and settles them. One row per track: a newer change of a track raises
 * its row's version instead of adding a row, and rows are taken by due time, never by a
 * cursor over ids, because ids can commit out of order.
 */
export interface SearchOutbox {
  /** Changes due at `now` (never tried, or past their retry time), the longest due first; at most `limit`. */
  due(now: Date, limit: number): Promise<PendingChange[]>;
  /** Deletes each track's row if its version is at most the one applied: a newer change stays. */
  applied(changes: ChangeVersion[]): Promise<void>;
  /** Counts a failed attempt and delays the next until `retryAt`, unless a newer change of the track arrived meanwhile. */
  failed(change: ChangeVersion, error: string, retryAt: Date): Promise<void>;
  /** Queues tracks to be written again from the catalog, or removed where the catalog lacks them: for repairs. */
  enqueue(trackIds: string[]): Promise<void>;
  backlog(): Promise<OutboxBacklog>;
}
