import type { TrackCatalog } from '../catalog/track-catalog.js';
import type { SearchIndex } from '../search/search-index.js';
import { DEMO_TRACKS } from './demo-catalog.js';

/** Makes the demo tracks searchable at once; safe to repeat at every start. */
export async function seedDemoCatalog(catalog: TrackCatalog, index: SearchIndex): Promise<number> {
  const tracks = [...DEMO_TRACKS];
  await catalog.upsert(tracks);
  await index.upsert(tracks);
  return tracks.length;
}
