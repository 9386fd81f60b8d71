import { MixtapeError, NotFoundError } from '../errors.js';
import type { TrackMetadataProvider } from '../metadata/track-metadata-provider.js';
import type { CatalogTrack } from '../model.js';
import type { TrackCatalog } from './track-catalog.js';

/**
 * Finds a track in the catalog, or asks the metadata provider once and remembers the answer
 * in the catalog, whose outbox row then brings it to the search index.
 */
export class TrackResolver {
  readonly #catalog: TrackCatalog;
  readonly #provider: TrackMetadataProvider;

  constructor(deps: { catalog: TrackCatalog; provider: TrackMetadataProvider }) {
    this.#catalog = deps.catalog;
    this.#provider = deps.provider;
  }

  /** @throws NotFoundError when no one knows the track; UnavailableError when the provider is down. */
  async resolve(id: string, signal?: AbortSignal): Promise<CatalogTrack> {
    const known = await this.#catalog.get(id);
    if (known) return known;
    const metadata = await this.#provider.getTrack(id, signal);
    if (!metadata) throw new NotFoundError(`No track has the id ${id}`);
    await this.#catalog.upsert([metadata]);
    const track = await this.#catalog.get(id);
    if (!track) throw new MixtapeError('ERR_INTERNAL', `The track ${id} was stored but cannot be read back`);
    return track;
  }
}
