import type { TrackCatalog } from './track-catalog.js';

/**
 * Wraps a catalog to call `onChange` after each write has committed, so that the outbox relay
 * runs at once instead of at its next tick. Reads pass straight through. Arguments are passed
 * on whole, so that a parameter added to the port later cannot be dropped here.
 */
export function notifyCatalogChanges(catalog: TrackCatalog, onChange: () => void): TrackCatalog {
  const afterCommit = async (write: Promise<void>) => {
    await write;
    onChange();
  };
  return {
    upsert: (...args) => afterCommit(catalog.upsert(...args)),
    attachAudio: (...args) => afterCommit(catalog.attachAudio(...args)),
    detachAudio: (...args) => afterCommit(catalog.detachAudio(...args)),
    // A remembered size is not part of a track's search document.
    rememberSize: (...args) => catalog.rememberSize(...args),
    knownSize: (...args) => catalog.knownSize(...args),
    get: (...args) => catalog.get(...args),
    getMany: (...args) => catalog.getMany(...args),
    search: (...args) => catalog.search(...args),
    tracksWithBlob: (...args) => catalog.tracksWithBlob(...args),
    storedBytes: () => catalog.storedBytes(),
    scan: (...args) => catalog.scan(...args),
  };
}
