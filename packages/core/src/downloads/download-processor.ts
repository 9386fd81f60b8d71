import { LeaseLostError, QuotaExceededError, SourceError, TooLargeError, UnavailableError } from '../errors.js';
import type { TrackCatalog } from '../catalog/track-catalog.js';
import type { TrackResolver } from '../catalog/track-resolver.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { AudioFiles } from '../library/audio-files.js';
import type { LibraryStore, ReservationHolder } from '../library/library-store.js';
import type { Fence, LockManager } from '../locks/lock-manager.js';
import type { Job, JobProgress, StoredAudio } from '../model.js';
import type { BlobOwner, BlobStore } from '../storage/blob-store.js';
import { writeStream } from '../storage/store-stream.js';
import type { TrackSource } from '../sources/track-source.js';
import { releaseUnheldAudio } from '../library/release-unheld-audio.js';
import { AUDIO_SIGNATURE_BYTES, audioContentType } from './audio-kind.js';
import { trackLockKey } from './track-lock-key.js';

/**
 * How an attempt ended, short of a failure: `track-busy` when another worker (in any process)
 * holds the track, fetching it or removing it. The job then waits for it without a worker:
 * it goes back to the queue, its attempt not counted.
 */
export type ProcessOutcome = 'completed' | 'deduplicated' | 'track-busy';

export interface ProcessContext {
  signal: AbortSignal;
  onProgress: (progress: JobProgress) => void;
  /**
   * The attempt: the job and its lease token. It names the temp file, so the job's next
   * attempt removes this one's leftovers at once, and a paused old attempt cannot publish; and
   * it holds the job's quota reservation. Without it, nothing is reserved ahead of the
   * library add, which still refuses what does not fit.
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
  /** Where a fetch reserves quota before it starts (the job queue: reservations live on the job's row). */
  reservations?: Pick<JobQueue, 'reserve'>;
  settings: {
    quotaBytes: number;
    maxTrackBytes: number;
    /**
     * The whole fetch from the origin, from opening it to its last byte, is abandoned after
     * this long (default 10 minutes) with a retryable `timeout`, so that a trickling origin
     * cannot hold a worker and the track's lock for ever.
     */
    fetchTimeoutMs?: number;
    /**
     * How long an attempt tries for the track's lock (default 100 ms) before it hands its job
     * back to wait for the holder without a worker: never for the length of a fetch.
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

interface Attempt {
  job: Job;
  context: ProcessContext;
  fence: Fence;
  /** The lease's and the lock's signals together. */
  signal: AbortSignal;
}

/**
 * One attempt at one job: fetch the track's audio unless it is stored already, then add it to
 * the user's library. All of it runs under the track's lock (shared by every process on the
 * data dir), so many users asking for one song cause one fetch, and a library removal cannot
 * delete the file between the two steps. Every write presents the lock's fencing token, so an
 * attempt that lost the lock changes nothing.
 *
 * The quota is reserved on the job's row before any byte is fetched: for the size known from
 * an earlier fetch, else for the origin's Content-Length as soon as it answers, else for the
 * bytes counted at the end. What does not fit fails the job with `quota-exceeded` at that
 * point, and the size seen is remembered, so that the user is refused up front next time
 * rather than the file being fetched again. The library add commits the reservation.
 */
export class DownloadProcessor {
  readonly #deps: DownloadProcessorDeps;

  constructor(deps: DownloadProcessorDeps) {
    this.#deps = deps;
  }

  async process(job: Job, context: ProcessContext): Promise<ProcessOutcome> {
    const { resolver, locks, settings } = this.#deps;
    await resolver.resolve(job.trackId, context.signal);
    const key = trackLockKey(job.trackId);
    const lockOptions = {
      waitTimeoutMs: settings.trackLockWaitMs ?? 100,
      signal: context.signal,
      ...(settings.trackLockTtlMs === undefined ? {} : { ttlMs: settings.trackLockTtlMs }),
    };
    let entered = false;
    try {
      return await locks.using(
        [key],
        async ({ signal: lockSignal, fencingToken }) => {
          entered = true;
          const attempt = { job, context, fence: { key, token: fencingToken }, signal: AbortSignal.any([context.signal, lockSignal]) };
          try {
            return await this.#underLock(attempt);
          } catch (error) {
            // What the attempt was aborted for decides, not how the step it was in gave up.
            throw lockSignal.aborted ? lockSignal.reason : error;
          }
        },
        lockOptions,
      );
    } catch (error) {
      if (!entered && error instanceof UnavailableError && !context.signal.aborted) return 'track-busy';
      throw error;
    }
  }

  async #underLock(attempt: Attempt): Promise<ProcessOutcome> {
    const { library, settings } = this.#deps;
    const { job, context, fence } = attempt;
    const stored = await this.#storedAudio(job.trackId);
    const audio = stored ?? (await this.#fetch(attempt));
    const reservation: ReservationHolder | undefined = context.owner && { jobId: context.owner.jobId, token: context.owner.token };
    try {
      await library.add({ userId: job.userId, trackId: job.trackId, sizeBytes: audio.sizeBytes }, settings.quotaBytes, fence, reservation);
    } catch (error) {
      // Undo a fetch whose library step failed, unless someone else holds the track by now.
      if (!stored) await releaseUnheldAudio(this.#deps, job.trackId, fence).catch(() => undefined);
      throw error;
    }
    return stored ? 'deduplicated' : 'completed';
  }

  async #storedAudio(trackId: string): Promise<StoredAudio | null> {
    const track = await this.#deps.catalog.get(trackId);
    if (!track?.audio) return null;
    // A row whose file vanished is repaired by fetching again.
    return (await this.#deps.blobs.stat(track.audio.blobKey)) ? track.audio : null;
  }

  async #fetch(attempt: Attempt): Promise<StoredAudio> {
    const { source, blobs, files, catalog, settings, observer } = this.#deps;
    const { job, context, fence } = attempt;
    const { trackId } = job;
    const reserve = await this.#reserver(attempt);
    // A size seen before is reserved before anything is fetched: what cannot fit is not fetched.
    const known = await catalog.knownSize(trackId);
    if (known !== null) await reserve(known);

    const fetchTimeoutMs = settings.fetchTimeoutMs ?? 600_000;
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new SourceError('timeout', `The audio source did not deliver the track within ${fetchTimeoutMs} ms`, { retryable: true })),
      fetchTimeoutMs,
    );
    timer.unref();
    const abortBody = new AbortController();
    const signal = AbortSignal.any([attempt.signal, deadline.signal, abortBody.signal]);
    try {
      const stream = await source.open(trackId, signal);
      if (stream.sizeBytes !== undefined) {
        if (stream.sizeBytes !== known) await catalog.rememberSize(trackId, stream.sizeBytes);
        if (stream.sizeBytes > settings.maxTrackBytes) throw new TooLargeError(settings.maxTrackBytes);
        await reserve(stream.sizeBytes);
      }
      const sealed = await writeStream(blobs, stream.body, {
        maxBytes: settings.maxTrackBytes,
        signal,
        onProgress: (bytes) => context.onProgress(stream.sizeBytes === undefined ? { bytes } : { bytes, totalBytes: stream.sizeBytes }),
        headBytes: AUDIO_SIGNATURE_BYTES,
        ...(context.owner ? { owner: context.owner } : {}),
      });
      // The deadline is the fetch's; committing what arrived is not cut short.
      clearTimeout(timer);
      try {
        if (sealed.sizeBytes !== (stream.sizeBytes ?? known)) await catalog.rememberSize(trackId, sealed.sizeBytes);
        await reserve(sealed.sizeBytes);
      } catch (error) {
        await sealed.draft.abort();
        throw error;
      }
      // The type is told from the bytes, never taken from the origin's claim: we serve it back.
      const audio = { blobKey: sealed.key, sizeBytes: sealed.sizeBytes, contentType: audioContentType(sealed.head) };
      await files.commitAndAttach(trackId, sealed.draft, audio, fence);
      observer?.onFetch?.(source.name, 'ok');
      return audio;
    } catch (error) {
      const cause: unknown = deadline.signal.aborted ? deadline.signal.reason : error;
      observer?.onFetch?.(source.name, cause instanceof SourceError ? cause.reason : 'error');
      throw cause;
    } finally {
      clearTimeout(timer);
      abortBody.abort();
    }
  }

  /**
   * Sets the job's reservation to a number of bytes (only when it changes), or fails the
   * attempt: `QuotaExceededError` when it does not fit, `LeaseLostError` when the lease is gone.
   * A track the user holds already (its file is fetched again) costs nothing more.
   */
  async #reserver({ job, context }: Attempt): Promise<(bytes: number) => Promise<void>> {
    const { reservations, library, settings } = this.#deps;
    const owner = context.owner;
    if (!reservations || !owner || (await library.get(job.userId, job.trackId))) return async () => undefined;
    let reserved: number | undefined;
    return async (bytes) => {
      if (bytes === reserved) return;
      const outcome = await reservations.reserve(owner.jobId, owner.token, bytes, settings.quotaBytes);
      if (outcome.kind === 'lease-lost') throw new LeaseLostError(owner.jobId);
      if (outcome.kind === 'over-quota') {
        const { usedBytes, limitBytes, requestedBytes } = outcome;
        throw new QuotaExceededError({ usedBytes, limitBytes, requestedBytes });
      }
      reserved = bytes;
    };
  }
}
