import type { Page, PageRequest, TrackMetadata } from '../model.js';

/**
 * Search totals are exact up to this many matches and at least this many beyond (API.md), so
 * no engine needs to count further.
 */
export const SEARCH_TOTAL_LIMIT = 10_000;

/** What the index holds of a track: the catalog row as it was at `version`. */
export interface TrackDocument extends TrackMetadata {
  available: boolean;
  /** The catalog's version of the track (see `CatalogTrack.version`). */
  version: number;
}

/** What reconciliation needs to know of an indexed document. */
export interface IndexedDocument {
  id: string;
  version: number;
}

/**
 * Full-text index over track metadata. Results are ids; the catalog is the source of truth.
 *
 * Only the `OutboxRelay` writes it, from rows the catalog records in the same unit of work as
 * each change (see `SearchOutbox`). Writes are versioned, so that relays racing each other or
 * retrying old rows can never put an older document over a newer one.
 */
export interface SearchIndex {
  readonly name: string;
  /** Inserts or replaces documents; one whose version is lower than the indexed one is ignored. */
  upsert(documents: TrackDocument[]): Promise<void>;
  /**
   * Removes documents; unknown ids are ignored. A removed document can be written again at the
   * version it had or a newer one; an older one may be refused for a while (Elasticsearch
   * remembers deletes for `index.gc_deletes`), as if the index still held the document.
   */
  remove(ids: string[]): Promise<void>;
  /** `total` is exact up to SEARCH_TOTAL_LIMIT and at least SEARCH_TOTAL_LIMIT beyond. */
  search(query: string, page: PageRequest): Promise<Page<string>>;
  /**
   * Every indexed document's id and version, in id order, read `pageSize` at a time so that
   * memory stays flat: for reconciliation, which compares them with the catalog.
   */
  documents(pageSize: number): AsyncIterable<IndexedDocument>;
}
