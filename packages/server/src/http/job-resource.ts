import type { Job } from '@mixtape/core';

/** A job as API.md shows it: no owner id, no lease details. */
export function jobResource(job: Job) {
  return {
    id: job.id,
    trackId: job.trackId,
    status: job.status,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    ...(job.nextAttemptAt ? { nextAttemptAt: job.nextAttemptAt.toISOString() } : {}),
    ...(job.progress ? { progress: job.progress } : {}),
    ...(job.error ? { error: job.error } : {}),
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
  };
}
