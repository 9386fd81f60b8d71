import { NotFoundError, QuotaExceededError, TooManyJobsError } from '../errors.js';
import type { CancelOutcome, JobQueue } from '../jobs/job-queue.js';
import type { Job, JobStatus, Page, PageRequest } from '../model.js';
import type { LibraryStore } from '../library/library-store.js';
import type { TrackCatalog } from '../catalog/track-catalog.js';
import type { TrackResolver } from '../catalog/track-resolver.js';
import { parseTrackRef } from '../spotify/track-ref.js';
import { checkPage } from '../validation/field-checks.js';
import { DEFAULT_MIXTAPE_VALIDATORS, type MixtapeValidators } from '../validation/mixtape-validators.js';

export interface DownloadSettings {
  quotaBytes: number;
  maxAttempts: number;
  /** Queued plus running jobs one user may have. */
  maxActiveJobsPerUser: number;
}

/** What users do with download jobs; the work itself is the DownloadProcessor's. */
export class DownloadService {
  readonly #queue: JobQueue;
  readonly #resolver: TrackResolver;
  readonly #library: LibraryStore;
  readonly #sizes: Pick<TrackCatalog, 'knownSize'>;
  readonly #settings: DownloadSettings;
  readonly #onEnqueued: () => void;
  readonly #validators: MixtapeValidators;

  constructor(deps: {
    queue: JobQueue;
    resolver: TrackResolver;
    library: LibraryStore;
    /** Sizes seen of tracks whose bytes were not kept (default: only stored audio has a known size). */
    sizes?: Pick<TrackCatalog, 'knownSize'>;
    settings: DownloadSettings;
    /** Wakes idle in-process workers so a new job starts at once rather than at the next poll. */
    onEnqueued?: () => void;
    /** The track reference and paging rules (`trackRef`, `downloadPage`). */
    validators?: MixtapeValidators;
  }) {
    this.#queue = deps.queue;
    this.#resolver = deps.resolver;
    this.#library = deps.library;
    this.#sizes = deps.sizes ?? { knownSize: async () => null };
    this.#settings = deps.settings;
    this.#onEnqueued = deps.onEnqueued ?? (() => undefined);
    this.#validators = deps.validators ?? DEFAULT_MIXTAPE_VALIDATORS;
  }

  /**
   * Queues a download of a track given as an id, URI or link. Asking again while a job for the
   * same track is queued or running returns that job, also when the requests race; that job
   * wins over the quota and the per-user cap.
   * @throws ValidationError, NotFoundError, QuotaExceededError, TooManyJobsError, UnavailableError
   */
  async request(userId: string, trackRef: string): Promise<Job> {
    const trackId = parseTrackRef(trackRef, this.#validators.trackRef);
    // A repeat needs no look-up of the track; the enqueue below decides for racing requests.
    const active = await this.#queue.findActive(userId, trackId);
    if (active) return active;
    try {
      await this.#checkQuota(userId, trackId);
    } catch (error) {
      const raced = error instanceof QuotaExceededError ? await this.#queue.findActive(userId, trackId) : null;
      if (raced) return raced;
      throw error;
    }
    const { maxAttempts, maxActiveJobsPerUser } = this.#settings;
    const outcome = await this.#queue.enqueue({ userId, trackId, maxAttempts, maxActive: maxActiveJobsPerUser });
    switch (outcome.kind) {
      case 'existing':
        return outcome.job;
      case 'over-cap':
        throw new TooManyJobsError({ activeJobs: outcome.activeJobs, limit: outcome.maxActive });
      case 'enqueued':
        this.#onEnqueued();
        return outcome.job;
    }
  }

  /**
   * Refuses up front a track whose known size (stored, or seen at the origin before) does not
   * fit beside what the user's library holds and their running downloads reserved, so that
   * nothing is fetched for it. One the user holds costs nothing.
   */
  async #checkQuota(userId: string, trackId: string): Promise<void> {
    const track = await this.#resolver.resolve(trackId);
    const sizeBytes = track.audio?.sizeBytes ?? (await this.#sizes.knownSize(trackId));
    if (sizeBytes === null || (await this.#library.get(userId, trackId))) return;
    const { committedBytes, reservedBytes } = await this.#library.usage(userId);
    const usedBytes = committedBytes + reservedBytes;
    if (usedBytes + sizeBytes > this.#settings.quotaBytes) {
      throw new QuotaExceededError({ usedBytes, limitBytes: this.#settings.quotaBytes, requestedBytes: sizeBytes });
    }
  }

  async get(userId: string, jobId: string): Promise<Job> {
    const job = await this.#queue.get(jobId);
    // Another user's job is reported as absent, so ids cannot be probed.
    if (!job || job.userId !== userId) throw new NotFoundError('No such download job');
    return job;
  }

  /** A page left out, or given in part, takes the defaults of `downloadPage`. */
  async list(userId: string, query: Partial<PageRequest> & { status?: JobStatus } = {}): Promise<Page<Job>> {
    return this.#queue.list({ ...query, ...checkPage(this.#validators.downloadPage, query), userId });
  }

  async cancel(userId: string, jobId: string): Promise<CancelOutcome> {
    return this.#queue.cancel(jobId, userId);
  }
}
