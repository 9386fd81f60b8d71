import type { JobEvents } from './job-events.js';
import type { JobQueue } from './job-queue.js';

/**
 * Wraps a queue to publish a job's id after each write that changed what its followers see
 * (status, attempts, progress, error), once the write has committed. Reads, and writes that
 * change nothing a follower sees (`renew`, `reserve`, `repairActiveCounts`), pass straight
 * through, as does a write that changed nothing (a stale lease token, a conflict).
 *
 * Progress is published as often as it is written: `DownloadWorkers` writes it at most a few
 * times a second per job, so followers hear of it at the rate the contract allows.
 *
 * Two writes publish nothing:
 * - `reapExpired` says how many jobs it took back, not which. Their followers hear of it at
 *   their next safety poll, seconds after a lease that had already run out for its whole
 *   length (30 s by default).
 * - `purgeFinished` deletes final jobs, whose streams ended with their final status.
 */
export function publishJobChanges(queue: JobQueue, events: JobEvents): JobQueue {
  const publishIf = async <T>(write: Promise<T>, changed: (outcome: T) => string | null | undefined): Promise<T> => {
    const outcome = await write;
    const jobId = changed(outcome);
    if (jobId) events.publish(jobId);
    return outcome;
  };
  return {
    enqueue: (...args) => publishIf(queue.enqueue(...args), (outcome) => (outcome.kind === 'enqueued' ? outcome.job.id : null)),
    claim: (...args) => publishIf(queue.claim(...args), (lease) => lease?.job.id),
    reportProgress: (jobId, ...rest) => publishIf(queue.reportProgress(jobId, ...rest), (kept) => (kept ? jobId : null)),
    complete: (jobId, ...rest) => publishIf(queue.complete(jobId, ...rest), (done) => (done ? jobId : null)),
    fail: (jobId, ...rest) => publishIf(queue.fail(jobId, ...rest), (job) => job?.id),
    release: (jobId, ...rest) => publishIf(queue.release(jobId, ...rest), (released) => (released ? jobId : null)),
    cancel: (...args) => publishIf(queue.cancel(...args), (outcome) => (outcome.kind === 'cancelled' ? outcome.job.id : null)),
    retry: (...args) => publishIf(queue.retry(...args), (outcome) => (outcome.kind === 'retried' ? outcome.job.id : null)),
    // Not seen by followers: the lease's expiry, the quota reserved, the cap's counters.
    renew: (...args) => queue.renew(...args),
    reserve: (...args) => queue.reserve(...args),
    repairActiveCounts: () => queue.repairActiveCounts(),
    reapExpired: () => queue.reapExpired(),
    purgeFinished: (...args) => queue.purgeFinished(...args),
    get: (...args) => queue.get(...args),
    findActive: (...args) => queue.findActive(...args),
    list: (...args) => queue.list(...args),
    holdsLease: (...args) => queue.holdsLease(...args),
    countByStatus: () => queue.countByStatus(),
  };
}
