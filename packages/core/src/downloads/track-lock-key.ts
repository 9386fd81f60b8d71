/** One lock name per track, shared by everything that stores or deletes its file. */
export function trackLockKey(trackId: string): string {
  return `track:${trackId}`;
}
