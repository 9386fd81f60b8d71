/**
 * The server's wire shapes, as API.md describes them. Dates are ISO 8601 strings: this package
 * parses nothing it does not have to, so callers decide how to turn them into dates.
 */

export interface Track {
  id: string;
  title: string;
  artists: string[];
  album: string;
  durationMs: number;
  isrc?: string;
  available: boolean;
  sizeBytes?: number;
}

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** `failed` is final too: its retries are spent or the error cannot be retried. */
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

export function isFinalJobStatus(status: string): boolean {
  return (FINAL_JOB_STATUSES as readonly string[]).includes(status);
}

export interface JobProgress {
  bytes: number;
  totalBytes?: number;
}

export interface JobError {
  code: string;
  message: string;
}

export interface Job {
  id: string;
  trackId: string;
  status: JobStatus;
  attempts: number;
  maxAttempts: number;
  nextAttemptAt?: string;
  progress?: JobProgress;
  error?: JobError;
  createdAt: string;
  updatedAt: string;
}

export interface LibraryEntry {
  track: Track;
  addedAt: string;
  sizeBytes: number;
}

export interface Page<T> {
  items: T[];
  total: number;
}

export interface SearchResult extends Page<Track> {
  /** True when the fallback answered because the search engine is down. */
  degraded: boolean;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  /** Lifetime of the access token, in seconds. */
  expiresIn: number;
}

export interface RegisteredUser {
  id: string;
  username: string;
}

export interface Me {
  id: string;
  username: string;
  roles: string[];
  quota: { usedBytes: number; limitBytes: number };
}

export interface ReconcileCounts {
  orphanFiles: number;
  missingFiles: number;
  missingDocuments: number;
  staleDocuments: number;
  stuckJobs: number;
}

export interface ReconcileReport {
  startedAt: string;
  finishedAt: string;
  dryRun: boolean;
  checked: { files: number; rows: number; documents: number };
  found: ReconcileCounts;
  repaired: ReconcileCounts;
}

export interface FieldProblem {
  path: string;
  message: string;
}

/** RFC 9457 problem details, the body of every error response. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldProblem[];
}
