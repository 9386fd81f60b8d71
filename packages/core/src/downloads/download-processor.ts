import { SourceError, TooLargeError } from '../errors.js';
import type { TrackCatalog } from '../catalog/track-catalog.js';
import type { TrackResolver } from '../catalog/track-resolver.js';
import type { AudioFiles } from '../library/audio-files.js';
import type { LibraryStore } from '../library/library-store.js';
import type { Fence, LockManager } from '../locks/lock-manager.js';
import type { Job, JobProgress, StoredAudio } from '../model.js';
import type { BlobOwner, BlobStore } from '../storage/blob-store.js';
import { writeStream } from '../storage/store-stream.js';
import type { TrackSource } from '../sources/track-source.js';
import { releaseUnheldAudio } from '../library/release-unheld-audio.js';
import { AUDIO_SIGNATURE_BYTES, audioContentType } from './audio-kind.js';
import { trackLockKey } from './track-lock-key.js';

export type ProcessOutcome = 'completed' | 'deduplicated';

export interface ProcessContext {
  signal: AbortSignal;
  onProgress: (progress: JobProgress) => void;
  /**
   * The attempt: the job and its lease token. It names the temp file, so the job's next
   * attempt removes this one's leftovers at once, and a paused old attempt cannot publish.
   */
  owner?: BlobOwner;
}

export interface FetchObserver {
  onFetch?: (source: string, outcome: string) => void;
}

export interface DownloadProcessorDeps {
  catalog: TrackCatalog;
  resolver: TrackResolver;
  library: LibraryStore;
  blobs: BlobStore;
  files: AudioFiles;
  source: TrackSource;
  locks: LockManager;
  settings: {
    quotaBytes: number;
    maxTrackBytes: number;
    /**
     * How long an attempt waits for the track's lock while another process fetches the track
     * (default 10 minutes, the default fetch deadline); then it is retried.
     */
    trackLockWaitMs?: number;
    /**
     * How long the track's lock outlives a worker that stopped renewing it (killed, paused);
     * the job's lease is the natural value, as both say when a silent worker counts as gone.
     */
    trackLockTtlMs?: number;
  };
  observer?: FetchObserver;
}

/**
 * One attempt at one job: fetch the track's audio unless it is stored already, then add it to
 * the user's library. All of it runs under the track's lock (shared by every process on the
 * data dir), so many users asking for one song cause one fetch, and a library removal cannot
 * delete the file between the two steps. Every write presents the lock's fencing token, so an
 * attempt that lost the lock changes nothing.
 */
export class DownloadProcessor {
  readonly #deps: DownloadProcessorDeps;

  constructor(deps: DownloadProcessorDeps) {
    this.#deps = deps;
  }

  async process(job: Job, context: ProcessContext): Promise<ProcessOutcome> {
    const { resolver, locks, library, settings } = this.#deps;
    await resolver.resolve(job.trackId, context.signal);
    const key = trackLockKey(job.trackId);
    const lockOptions = {
      waitTimeoutMs: settings.trackLockWaitMs ?? 600_000,
      signal: context.signal,
      ...(settings.trackLockTtlMs === undefined ? {} : { ttlMs: settings.trackLockTtlMs }),
    };
    return locks.using(
      [key],
      async ({ signal: lockSignal, fencingToken }) => {
        const fence = { key, token: fencingToken };
        const signal = AbortSignal.any([context.signal, lockSignal]);
        const stored = await this.#storedAudio(job.trackId);
        const audio = stored ?? (await this.#fetch(job.trackId, fence, signal, context));
        try {
          await library.add({ userId: job.userId, trackId: job.trackId, sizeBytes: audio.sizeBytes }, settings.quotaBytes, fence);
        } catch (error) {
          // Undo a fetch whose library step failed, unless someone else holds the track by now.
          if (!stored) await releaseUnheldAudio(this.#deps, job.trackId, fence).catch(() => undefined);
          throw error;
        }
        return stored ? 'deduplicated' : 'completed';
      },
      lockOptions,
    );
  }

  async #storedAudio(trackId: string): Promise<StoredAudio | null> {
    const track = await this.#deps.catalog.get(trackId);
    if (!track?.audio) return null;
    // A row whose file vanished is repaired by fetching again.
    return (await this.#deps.blobs.stat(track.audio.blobKey)) ? track.audio : null;
  }

  async #fetch(trackId: string, fence: Fence, signal: AbortSignal, context: ProcessContext): Promise<StoredAudio> {
    const { source, blobs, files, settings, observer } = this.#deps;
    const abortBody = new AbortController();
    try {
      const stream = await source.open(trackId, AbortSignal.any([signal, abortBody.signal]));
      if (stream.sizeBytes !== undefined && stream.sizeBytes > settings.maxTrackBytes) {
        throw new TooLargeError(settings.maxTrackBytes);
      }
      const sealed = await writeStream(blobs, stream.body, {
        maxBytes: settings.maxTrackBytes,
        signal,
        onProgress: (bytes) => context.onProgress(stream.sizeBytes === undefined ? { bytes } : { bytes, totalBytes: stream.sizeBytes }),
        headBytes: AUDIO_SIGNATURE_BYTES,
        ...(context.owner ? { owner: context.owner } : {}),
      });
      // The type is told from the bytes, never taken from the origin's claim: we serve it back.
      const audio = { blobKey: sealed.key, sizeBytes: sealed.sizeBytes, contentType: audioContentType(sealed.head) };
      await files.commitAndAttach(trackId, sealed.draft, audio, fence);
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
