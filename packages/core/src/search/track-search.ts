import type { CatalogTrack, Page, PageRequest, Track } from '../model.js';
import { toTrack } from '../model.js';
import type { TrackCatalog } from '../catalog/track-catalog.js';
import { checkPage, checkText } from '../validation/field-checks.js';
import { DEFAULT_MIXTAPE_VALIDATORS, type MixtapeValidators } from '../validation/mixtape-validators.js';
import type { SearchIndex } from './search-index.js';

export interface SearchResult extends Page<Track> {
  /** true when the index failed and a fallback answered instead. */
  degraded: boolean;
}

/**
 * Searches the index, and when it fails falls back, saying so: to a second index when there is
 * one (the database's, behind Elasticsearch), and else, or when that fails too, to the
 * catalog's plain text match.
 */
export class TrackSearch {
  readonly #index: SearchIndex;
  readonly #fallback: Pick<SearchIndex, 'search'> | undefined;
  readonly #catalog: TrackCatalog;
  readonly #onDegraded: (degraded: boolean, error?: unknown) => void;
  readonly #validators: MixtapeValidators;

  constructor(deps: {
    index: SearchIndex;
    fallback?: Pick<SearchIndex, 'search'>;
    catalog: TrackCatalog;
    onDegraded?: (degraded: boolean, error?: unknown) => void;
    /** The query and paging rules (`searchQuery`, `searchPage`). */
    validators?: MixtapeValidators;
  }) {
    this.#index = deps.index;
    this.#fallback = deps.fallback;
    this.#catalog = deps.catalog;
    this.#onDegraded = deps.onDegraded ?? (() => undefined);
    this.#validators = deps.validators ?? DEFAULT_MIXTAPE_VALIDATORS;
  }

  /** A page left out, or given in part, takes the defaults of `searchPage`. */
  async search(query: string, pageRequest: Partial<PageRequest> = {}): Promise<SearchResult> {
    const q = checkText('q', this.#validators.searchQuery, query);
    const page = checkPage(this.#validators.searchPage, pageRequest);
    let hits: Page<string>;
    try {
      hits = await this.#index.search(q, page);
    } catch (error) {
      this.#onDegraded(true, error);
      return { ...(await this.#searchFallback(q, page)), degraded: true };
    }
    this.#onDegraded(false);
    return { ...(await this.#tracks(hits)), degraded: false };
  }

  async #searchFallback(q: string, page: PageRequest): Promise<Page<Track>> {
    if (this.#fallback) {
      try {
        return await this.#tracks(await this.#fallback.search(q, page));
      } catch {
        // The database's index failed too: its plain text match may still answer.
      }
    }
    const matches = await this.#catalog.search(q, page);
    return { items: matches.items.map(toTrack), total: matches.total };
  }

  /** The catalog's tracks for an index's hits, in the hits' order. */
  async #tracks(hits: Page<string>): Promise<Page<Track>> {
    const byId = new Map((await this.#catalog.getMany(hits.items)).map((t): [string, CatalogTrack] => [t.id, t]));
    // An id the catalog no longer has is a stale document; the reconciler removes those.
    const items = hits.items.flatMap((id) => {
      const track = byId.get(id);
      return track ? [toTrack(track)] : [];
    });
    return { items, total: hits.total };
  }
}
