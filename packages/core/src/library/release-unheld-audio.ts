import type { TrackCatalog } from '../catalog/track-catalog.js';
import type { Fence } from '../locks/lock-manager.js';
import type { AudioFiles } from './audio-files.js';
import type { LibraryStore } from './library-store.js';

export interface AudioStores {
  library: LibraryStore;
  catalog: TrackCatalog;
  files: Pick<AudioFiles, 'detach'>;
}

/**
 * Lets a track's stored audio go once no library holds the track: the track forgets it, and
 * its file is tombstoned unless another track with the same bytes uses it. Call it under the
 * track's lock, whose `fence` guards the detach. Returns whether the track's audio was let go.
 */
export async function releaseUnheldAudio(stores: AudioStores, trackId: string, fence: Fence): Promise<boolean> {
  if ((await stores.library.holderCount(trackId)) > 0) return false;
  const track = await stores.catalog.get(trackId);
  if (!track?.audio) return false;
  await stores.files.detach(trackId, track.audio, fence);
  return true;
}
