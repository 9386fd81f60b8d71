import { NotFoundError } from '../errors.js';
import type { CatalogTrack } from '../model.js';
import type { TrackMetadataProvider } from '../metadata/track-metadata-provider.js';
import type { SearchIndex } from '../search/search-index.js';
import type { TrackCatalog } from './track-catalog.js';

/**
 * Finds a track in the catalog, or asks the metadata provider once and remembers the answer
 * in the catalog and the search index.
 */
export class TrackResolver {
  readonly #catalog: TrackCatalog;
  readonly #provider: TrackMetadataProvider;
  readonly #index: SearchIndex;

  constructor(deps: { catalog: TrackCatalog; provider: TrackMetadataProvider; index: SearchIndex }) {
    this.#catalog = deps.catalog;
    this.#provider = deps.provider;
    this.#index = deps.index;
  }

  /** @throws NotFoundError when no one knows the track; UnavailableError when the provider is down. */
  async resolve(id: string, signal?: AbortSignal): Promise<CatalogTrack> {
    const known = await this.#catalog.get(id);
    if (known) return known;
    const metadata = await this.#provider.getTrack(id, signal);
    if (!metadata) throw new NotFoundError(`No track has the id ${id}`);
    await this.#catalog.upsert([metadata]);
    // The catalog is the truth and search can catch up later, so an index failure is not the caller's.
    await this.#index.upsert([metadata]).catch(() => undefined);
    return (await this.#catalog.get(id)) ?? { ...metadata, updatedAt: new Date() };
  }
}
