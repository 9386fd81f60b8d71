import type { Page, PageRequest, TrackMetadata } from '../model.js';

/** Full-text index over track metadata. Results are ids; the catalog is the source of truth. */
export interface SearchIndex {
  readonly name: string;
  upsert(tracks: TrackMetadata[]): Promise<void>;
  remove(ids: string[]): Promise<void>;
  search(query: string, page: PageRequest): Promise<Page<string>>;
  /** Keyset scan of the indexed ids in id order, for reconciliation. */
  scanIds(afterId: string | null, limit: number): Promise<string[]>;
}
