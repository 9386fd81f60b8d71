import type { MixtapeBackends } from '../../src/mixtape.js';
import type { TrackMetadataProvider } from '../../src/metadata/track-metadata-provider.js';
import type { TrackSource } from '../../src/sources/track-source.js';

/**
 * What the service suites (`*.suite.ts`) run on: every backend of one deployment, opened by a
 * factory each backend gives in its own runner (`sqlite/sqlite-services.test.ts`), the way the
 * contract suites take an adapter factory.
 */
export interface ServiceBackendsOptions {
  /**
   * The deployment. Opening again with the same one reaches the same data, as another process
   * of that deployment would; stored audio and its temp files are under `${dataDir}/audio`.
   */
  dataDir: string;
  metadata?: TrackMetadataProvider;
  source?: TrackSource;
  /** How soon a revocation made by another process shows in this one. */
  revocationPollMs?: number;
}

/** What only a fault, or time, brings about, done in the backend's own terms. */
export interface BackendTampering {
  /** Every write to the search index, and every search of it, fails until `healIndex`. */
  breakIndex(): Promise<void>;
  healIndex(): Promise<void>;
  /** Moves a job's last change `ms` into the past. */
  ageJob(jobId: string, ms: number): Promise<void>;
  /** Sets the count of the user's active jobs, as only a fault could. */
  corruptActiveCount(userId: string, active: number): Promise<void>;
  /** The count of the user's active jobs as stored, or null when there is none. */
  activeCount(userId: string): Promise<number | null>;
}

export interface ServiceBackends extends MixtapeBackends {
  tamper: BackendTampering;
}

export type OpenServiceBackends = (options: ServiceBackendsOptions) => Promise<ServiceBackends>;
