/** Wire-level shapes shared by every port and by the HTTP API (see API.md). */

export interface TrackMetadata {
  id: string;
  title: string;
  artists: string[];
  album: string;
  durationMs: number;
  isrc?: string;
}

/** Where a track's audio lives once stored; the blob key is the SHA-256 of its bytes. */
export interface StoredAudio {
  blobKey: string;
  sizeBytes: number;
  contentType: string;
}

export interface CatalogTrack extends TrackMetadata {
  audio?: StoredAudio;
  updatedAt: Date;
  /** Raised by every change of the track; the search index keeps the version it holds. */
  version: number;
}

export interface Track extends TrackMetadata {
  available: boolean;
  sizeBytes?: number;
}

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

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
  userId: string;
  trackId: string;
  status: JobStatus;
  attempts: number;
  maxAttempts: number;
  nextAttemptAt?: Date;
  progress?: JobProgress;
  error?: JobError;
  /** Set while running: the worker holding the job and until when. */
  lease?: { workerId: string; expiresAt: Date };
  createdAt: Date;
  updatedAt: Date;
}

export interface User {
  id: string;
  username: string;
  passwordHash: string;
  createdAt: Date;
}

export interface LibraryItem {
  userId: string;
  trackId: string;
  sizeBytes: number;
  addedAt: Date;
}

export interface LibraryEntry {
  track: Track;
  addedAt: Date;
  sizeBytes: number;
}

export interface PageRequest {
  limit: number;
  offset: number;
}

export interface Page<T> {
  items: T[];
  total: number;
}

export function toTrack(track: CatalogTrack): Track {
  const { audio, updatedAt: _updatedAt, version: _version, ...metadata } = track;
  return audio ? { ...metadata, available: true, sizeBytes: audio.sizeBytes } : { ...metadata, available: false };
}
