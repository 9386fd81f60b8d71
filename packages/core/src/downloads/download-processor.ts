import { SourceError, TooLargeError } from '../errors.js';
import type { TrackCatalog } from '../catalog/track-catalog.js';
import type { TrackResolver } from '../catalog/track-resolver.js';
import type { LibraryStore } from '../library/library-store.js';
import type { LockManager } from '../locks/lock-manager.js';
import type { Job, JobProgress, StoredAudio } from '../model.js';
import type { BlobStore } from '../storage/blob-store.js';
import { storeStream } from '../storage/store-stream.js';
import type { TrackSource } from '../sources/track-source.js';
import { deleteBlobIfUnused, releaseUnheldAudio } from '../library/release-unheld-audio.js';
import { AUDIO_SIGNATURE_BYTES, audioContentType } from './audio-kind.js';
import { trackLockKey } from './track-lock-key.js';

export type ProcessOutcome = 'completed' | 'deduplicated';

export interface ProcessContext {
  signal: AbortSignal;
  onProgress: (progress: JobProgress) => void;
}

export interface FetchObserver {
  onFetch?: (source: string, outcome: string) => void;
}

export interface DownloadProcessorDeps {
  catalog: TrackCatalog;
  resolver: TrackResolver;
  library: LibraryStore;
  blobs: BlobStore;
  source: TrackSource;
  locks: LockManager;
  settings: { quotaBytes: number; maxTrackBytes: number };
  observer?: FetchObserver;
}

/**
 * One attempt at one job: fetch the track's audio unless it is stored already, then add it to
 * the user's library. All of it runs under the track's lock, so many users asking for one song
 * cause one fetch, and a library removal cannot delete the file between the two steps.
 */
export class DownloadProcessor {
  readonly #deps: DownloadProcessorDeps;

  constructor(deps: DownloadProcessorDeps) {
    this.#deps = deps;
  }

  async process(job: Job, context: ProcessContext): Promise<ProcessOutcome> {
    const { resolver, locks, library, settings } = this.#deps;
    await resolver.resolve(job.trackId, context.signal);
    return locks.using(trackLockKey(job.trackId), async (lockSignal) => {
      const signal = AbortSignal.any([context.signal, lockSignal]);
      const stored = await this.#storedAudio(job.trackId);
      const audio = stored ?? (await this.#fetch(job.trackId, signal, context.onProgress));
      try {
        await library.add({ userId: job.userId, trackId: job.trackId, sizeBytes: audio.sizeBytes }, settings.quotaBytes);
      } catch (error) {
        // Undo a fetch whose library step failed, unless someone else holds the track by now.
        if (!stored) await releaseUnheldAudio(this.#deps, job.trackId);
        throw error;
      }
      return stored ? 'deduplicated' : 'completed';
    });
  }

  async #storedAudio(trackId: string): Promise<StoredAudio | null> {
    const track = await this.#deps.catalog.get(trackId);
    if (!track?.audio) return null;
    // A row whose file vanished is repaired by fetching again.
    return (await this.#deps.blobs.stat(track.audio.blobKey)) ? track.audio : null;
  }

  async #fetch(trackId: string, signal: AbortSignal, onProgress: ProcessContext['onProgress']): Promise<StoredAudio> {
    const { source, blobs, catalog, settings, observer } = this.#deps;
    const abortBody = new AbortController();
    try {
      const stream = await source.open(trackId, AbortSignal.any([signal, abortBody.signal]));
      if (stream.sizeBytes !== undefined && stream.sizeBytes > settings.maxTrackBytes) {
        throw new TooLargeError(settings.maxTrackBytes);
      }
      const blob = await storeStream(blobs, stream.body, {
        maxBytes: settings.maxTrackBytes,
        signal,
        onProgress: (bytes) => onProgress(stream.sizeBytes === undefined ? { bytes } : { bytes, totalBytes: stream.sizeBytes }),
        headBytes: AUDIO_SIGNATURE_BYTES,
      });
      // The type is told from the bytes, never taken from the origin's claim: we serve it back.
      const audio = { blobKey: blob.key, sizeBytes: blob.sizeBytes, contentType: audioContentType(blob.head) };
      try {
        await catalog.attachAudio(trackId, audio);
      } catch (error) {
        // Undo: a file no row points to is an orphan.
        await deleteBlobIfUnused(this.#deps, blob.key).catch(() => undefined);
        throw error;
      }
      observer?.onFetch?.(source.name, 'ok');
      return audio;
    } catch (error) {
      observer?.onFetch?.(source.name, error instanceof SourceError ? error.reason : 'error');
      throw error;
    } finally {
      abortBody.abort();
    }
  }

}
