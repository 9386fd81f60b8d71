import type { TrackCatalog } from '../catalog/track-catalog.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { LibraryStore } from './library-store.js';

export interface AudioStores {
  library: LibraryStore;
  catalog: TrackCatalog;
  blobs: BlobStore;
}

/**
 * Deletes a track's stored file once no library holds the track. Call it under the track's
 * lock. Returns whether the track's audio was let go.
 */
export async function releaseUnheldAudio(stores: AudioStores, trackId: string): Promise<boolean> {
  if ((await stores.library.holderCount(trackId)) > 0) return false;
  const track = await stores.catalog.get(trackId);
  if (!track?.audio) return false;
  await stores.catalog.detachAudio(trackId);
  await deleteBlobIfUnused(stores, track.audio.blobKey);
  return true;
}

/** Identical files are stored once, so a file stays while any track still points at it. */
export async function deleteBlobIfUnused(stores: Pick<AudioStores, 'catalog' | 'blobs'>, blobKey: string): Promise<boolean> {
  if ((await stores.catalog.tracksWithBlob(blobKey)).length > 0) return false;
  return stores.blobs.delete(blobKey);
}
