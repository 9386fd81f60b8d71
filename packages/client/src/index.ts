export { MixtapeClient, type DownloadFileOptions, type FetchLike, type FollowDownloadOptions, type MixtapeClientOptions } from './mixtape-client.js';
export { ProblemError, parseRetryAfter } from './problem-error.js';
export { EventStreamParser, readEventStream, type ServerSentEvent } from './event-stream.js';
export {
  FINAL_JOB_STATUSES,
  JOB_STATUSES,
  isFinalJobStatus,
  type FieldProblem,
  type Job,
  type JobError,
  type JobProgress,
  type JobStatus,
  type LibraryEntry,
  type Me,
  type Page,
  type Problem,
  type ReconcileCounts,
  type ReconcileReport,
  type RegisteredUser,
  type SearchResult,
  type TokenPair,
  type Track,
} from './types.js';
