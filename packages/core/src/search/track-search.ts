import { ValidationError } from '../errors.js';
import type { CatalogTrack, Page, PageRequest, Track } from '../model.js';
import { toTrack } from '../model.js';
import type { TrackCatalog } from '../catalog/track-catalog.js';
import type { SearchIndex } from './search-index.js';

export interface SearchResult extends Page<Track> {
  /** true when the index failed and the catalog's plain text match answered instead. */
  degraded: boolean;
}

export const QUERY_LENGTH = { min: 1, max: 200 } as const;
/**
 * C0 controls, DEL and C1 controls. No one types them into a search, and they reach the
 * engine's query syntax: a NUL made the embedded index fail, which served the fallback and
 * flagged search as degraded.
 */
export const QUERY_CONTROL_CHARACTERS = /\p{Cc}/u;

/** Searches the index, and falls back to the catalog when the index fails, saying so. */
export class TrackSearch {
  readonly #index: SearchIndex;
  readonly #catalog: TrackCatalog;
  readonly #onDegraded: (degraded: boolean, error?: unknown) => void;

  constructor(deps: {
    index: SearchIndex;
    catalog: TrackCatalog;
    onDegraded?: (degraded: boolean, error?: unknown) => void;
  }) {
    this.#index = deps.index;
    this.#catalog = deps.catalog;
    this.#onDegraded = deps.onDegraded ?? (() => undefined);
  }

  async search(query: string, page: PageRequest): Promise<SearchResult> {
    const q = query.trim();
    if (q.length < QUERY_LENGTH.min || q.length > QUERY_LENGTH.max) {
      throw ValidationError.field('q', `must be ${QUERY_LENGTH.min} to ${QUERY_LENGTH.max} characters`);
    }
    if (QUERY_CONTROL_CHARACTERS.test(q)) throw ValidationError.field('q', 'must not contain control characters');
    let hits: Page<string>;
    try {
      hits = await this.#index.search(q, page);
    } catch (error) {
      this.#onDegraded(true, error);
      const fallback = await this.#catalog.search(q, page);
      return { items: fallback.items.map(toTrack), total: fallback.total, degraded: true };
    }
    this.#onDegraded(false);
    const byId = new Map((await this.#catalog.getMany(hits.items)).map((t): [string, CatalogTrack] => [t.id, t]));
    // An id the catalog no longer has is a stale document; the reconciler removes those.
    const items = hits.items.flatMap((id) => {
      const track = byId.get(id);
      return track ? [toTrack(track)] : [];
    });
    return { items, total: hits.total, degraded: false };
  }
}
