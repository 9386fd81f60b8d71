import type { TrackCatalog } from '../catalog/track-catalog.js';
import { DEMO_TRACKS } from './demo-catalog.js';

/**
 * Puts the demo tracks in the catalog; safe to repeat at every start (a repeat changes
 * nothing). Like every catalog write, it reaches the search index through the outbox relay,
 * which a started Mixtape runs at once. Returns how many demo tracks there are.
 */
export async function seedDemoCatalog(catalog: TrackCatalog): Promise<number> {
  const tracks = [...DEMO_TRACKS];
  await catalog.upsert(tracks);
  return tracks.length;
}
