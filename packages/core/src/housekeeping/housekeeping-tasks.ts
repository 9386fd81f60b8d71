import type { TokenStore } from '../auth/token-store.js';
import type { ReconcileReport, Reconciler } from '../consistency/reconciler.js';
import type { JobQueue, ReapOutcome } from '../jobs/job-queue.js';
import type { OutboxRelay } from '../outbox/outbox-relay.js';
import type { HousekeepingTask } from './housekeeping-scheduler.js';
import type { TempFiles } from './temp-files.js';

/**
 * The housekeeping chores, each a small `HousekeepingTask` whose name is its lease's. Each is
 * safe to run again, or late: the lease keeps two processes from doing the same work at once
 * and more often than its interval, but correctness never depends on it.
 */

interface Every {
  intervalMs: number;
  firstDelayMs?: number;
}

/** Jobs whose worker stopped renewing: queued again, or failed on their last attempt. */
export function reapExpiredJobLeases(queue: Pick<JobQueue, 'reapExpired'>, every: Every, onReaped?: (outcome: ReapOutcome) => void): HousekeepingTask {
  return {
    name: 'jobs:reap-expired-leases',
    ...every,
    async run() {
      const outcome = await queue.reapExpired();
      if (outcome.requeued + outcome.failed > 0) onReaped?.(outcome);
      return outcome;
    },
  };
}

/** Completed, failed and cancelled jobs older than the retention; the queue deletes in batches. */
export function purgeFinishedJobs(queue: Pick<JobQueue, 'purgeFinished'>, retentionMs: number, every: Every): HousekeepingTask {
  return {
    name: 'jobs:purge-finished',
    ...every,
    run: async () => ({ purged: await queue.purgeFinished(new Date(Date.now() - retentionMs)) }),
  };
}

/** Refresh-token families past their expiry, with their tokens. */
export function purgeExpiredTokenFamilies(tokens: Pick<TokenStore, 'purgeExpired'>, every: Every): HousekeepingTask {
  return {
    name: 'auth:purge-expired-families',
    ...every,
    run: async () => ({ purged: await tokens.purgeExpired(new Date()) }),
  };
}

/** The search outbox's periodic pass: other processes' changes, and retries. Commits still kick it at once. */
export function relaySearchOutbox(relay: Pick<OutboxRelay, 'relayDue'>, every: Every): HousekeepingTask {
  return {
    name: 'search:relay-outbox',
    ...every,
    run: () => relay.relayDue(),
  };
}

/**
 * Temp files no live job lease owns, at once, and any temp file untouched for `graceMs` (a
 * write that names no owner, or a long stall).
 */
export function sweepOrphanTemps(temps: TempFiles, queue: Pick<JobQueue, 'holdsLease'>, graceMs: number, every: Every): HousekeepingTask {
  return {
    name: 'storage:sweep-temps',
    ...every,
    run: async () => ({ removed: await temps.sweepTemp(graceMs, (owner) => queue.holdsLease(owner.jobId, owner.token)) }),
  };
}

/** A counter kept beside rows that it must agree with, and how to recount it from them. */
export interface CounterRepair {
  name: string;
  /** Returns how many counters it corrected. */
  repair(): Promise<number>;
}

/**
 * Counters recounted from their rows: the queue's active jobs per user, and (once quota
 * reservations land) the per-user usage rows, each as one more `CounterRepair`.
 */
export function repairCounters(repairs: readonly CounterRepair[], every: Every): HousekeepingTask {
  return {
    name: 'counters:repair',
    ...every,
    async run(signal) {
      const corrected: Record<string, number> = {};
      for (const { name, repair } of repairs) {
        signal.throwIfAborted();
        corrected[name] = await repair();
      }
      return corrected;
    },
  };
}

/** A full reconciler pass, never a dry run: `mixtape reconcile` and the admin route still run one on demand. */
export function reconcilePeriodically(reconciler: Pick<Reconciler, 'run'>, every: Every): HousekeepingTask {
  return {
    name: 'consistency:reconcile',
    ...every,
    run: (): Promise<ReconcileReport> => reconciler.run({ dryRun: false }),
  };
}
