/**
 * Lock names of stored audio, always taken in this order: a track's key (for the whole of a
 * download, or a removal), then the key of its content (only around commit-and-attach and
 * detach-and-delete), never the other way round, so no two holders can deadlock.
 */

/** One lock name per track, shared by everything that stores or deletes its file. */
export function trackLockKey(trackId: string): string {
  return `track:${trackId}`;
}

/** One lock name per stored file: tracks with identical bytes share it. */
export function blobLockKey(blobKey: string): string {
  return `blob:${blobKey}`;
}
