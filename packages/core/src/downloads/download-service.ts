import { NotFoundError, QuotaExceededError } from '../errors.js';
import type { CancelOutcome, JobQueue } from '../jobs/job-queue.js';
import type { Job, JobStatus, Page, PageRequest } from '../model.js';
import type { LibraryStore } from '../library/library-store.js';
import type { TrackResolver } from '../catalog/track-resolver.js';
import { parseTrackRef } from '../spotify/track-ref.js';

export interface DownloadSettings {
  quotaBytes: number;
  maxAttempts: number;
}

/** What users do with download jobs; the work itself is the DownloadProcessor's. */
export class DownloadService {
  readonly #queue: JobQueue;
  readonly #resolver: TrackResolver;
  readonly #library: LibraryStore;
  readonly #settings: DownloadSettings;
  readonly #onEnqueued: () => void;

  constructor(deps: {
    queue: JobQueue;
    resolver: TrackResolver;
    library: LibraryStore;
    settings: DownloadSettings;
    /** Wakes idle in-process workers so a new job starts at once rather than at the next poll. */
    onEnqueued?: () => void;
  }) {
    this.#queue = deps.queue;
    this.#resolver = deps.resolver;
    this.#library = deps.library;
    this.#settings = deps.settings;
    this.#onEnqueued = deps.onEnqueued ?? (() => undefined);
  }

  /**
   * Queues a download of a track given as an id, URI or link. Asking again while a job for the
   * same track is queued or running returns that job.
   * @throws ValidationError, NotFoundError, QuotaExceededError, UnavailableError
   */
  async request(userId: string, trackRef: string): Promise<Job> {
    const trackId = parseTrackRef(trackRef);
    const active = await this.#queue.findActive(userId, trackId);
    if (active) return active;
    const track = await this.#resolver.resolve(trackId);
    if (track.audio && !(await this.#library.get(userId, trackId))) {
      const usedBytes = await this.#library.usedBytes(userId);
      if (usedBytes + track.audio.sizeBytes > this.#settings.quotaBytes) {
        throw new QuotaExceededError({ usedBytes, limitBytes: this.#settings.quotaBytes, requestedBytes: track.audio.sizeBytes });
      }
    }
    const job = await this.#queue.enqueue({ userId, trackId, maxAttempts: this.#settings.maxAttempts });
    this.#onEnqueued();
    return job;
  }

  async get(userId: string, jobId: string): Promise<Job> {
    const job = await this.#queue.get(jobId);
    // Another user's job is reported as absent, so ids cannot be probed.
    if (!job || job.userId !== userId) throw new NotFoundError('No such download job');
    return job;
  }

  list(userId: string, query: PageRequest & { status?: JobStatus }): Promise<Page<Job>> {
    return this.#queue.list({ ...query, userId });
  }

  async cancel(userId: string, jobId: string): Promise<CancelOutcome> {
    return this.#queue.cancel(jobId, userId);
  }
}
