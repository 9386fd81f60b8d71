import type { TokenStore } from '../auth/token-store.js';
import type { Reconciler } from '../consistency/reconciler.js';
import { ConfigError } from '../errors.js';
import type { JobQueue, ReapOutcome } from '../jobs/job-queue.js';
import type { OutboxRelay } from '../outbox/outbox-relay.js';
import { HousekeepingScheduler, type HousekeepingTask, type TaskRun } from './housekeeping-scheduler.js';
import {
  purgeExpiredTokenFamilies,
  purgeFinishedJobs,
  reapExpiredJobLeases,
  reconcilePeriodically,
  relaySearchOutbox,
  repairCounters,
  sweepOrphanTemps,
} from './housekeeping-tasks.js';
import type { TaskLeases } from './task-leases.js';
import type { TempFiles } from './temp-files.js';

/** How often each chore runs across all processes, and how the scheduler holds its leases. */
export interface HousekeepingSettings {
  reapIntervalMs: number;
  purgeJobsIntervalMs: number;
  purgeTokenFamiliesIntervalMs: number;
  relayIntervalMs: number;
  sweepTempsIntervalMs: number;
  repairCountersIntervalMs: number;
  reconcileIntervalMs: number;
  /** How long a task's lease lives without renewal while it runs. */
  leaseTtlMs: number;
  /** Waits are stretched by up to this fraction, so processes do not try in step. */
  jitter: number;
}

/**
 * Defaults from the settings the chores serve: reaping twice per job lease (between 250 ms and
 * 15 s), purging as often as the retention allows up to every 5 minutes, the outbox at the
 * relay's interval, token families hourly, temps and counters every 5 minutes, reconciling hourly.
 */
export function defaultHousekeepingSettings(base: { jobLeaseMs: number; jobRetentionMs: number; relayIntervalMs: number }): HousekeepingSettings {
  return {
    reapIntervalMs: Math.min(15_000, Math.max(250, Math.floor(base.jobLeaseMs / 2))),
    purgeJobsIntervalMs: Math.min(300_000, Math.max(1000, base.jobRetentionMs)),
    purgeTokenFamiliesIntervalMs: 3_600_000,
    relayIntervalMs: base.relayIntervalMs,
    sweepTempsIntervalMs: 300_000,
    repairCountersIntervalMs: 300_000,
    reconcileIntervalMs: 3_600_000,
    leaseTtlMs: 30_000,
    jitter: 0.1,
  };
}

export interface MixtapeHousekeepingDeps {
  leases: TaskLeases;
  queue: JobQueue;
  tokens: Pick<TokenStore, 'purgeExpired'>;
  relay: Pick<OutboxRelay, 'relayDue'>;
  reconciler: Pick<Reconciler, 'run'>;
  /** Absent when the blob store keeps no temp files. */
  temps?: TempFiles;
  jobRetentionMs: number;
  /** Temp files no job names are swept once untouched this long, like orphan files. */
  orphanGraceMs: number;
  settings: HousekeepingSettings;
  onReaped?: (outcome: ReapOutcome) => void;
  /** Every run and every fault of a task, its lease or the lease store. */
  onEvent: (event: HousekeepingEvent) => void;
}

export type HousekeepingEvent = ({ type: 'ran' } & TaskRun) | { type: 'error'; task: string; error: unknown };

/**
 * Mixtape's scheduler and its chores. Reaping (which brings back a dead worker's jobs) and the
 * outbox's pass are tried at once on start; the others a while after (at most a minute), so a
 * process that starts and stops at once does no heavy work, and the lease still lets each run
 * only as often as its interval across restarts.
 */
export function createMixtapeHousekeeping(deps: MixtapeHousekeepingDeps): HousekeepingScheduler {
  const settings = checkedSettings(deps.settings);
  const soon = (intervalMs: number) => ({ intervalMs, firstDelayMs: Math.min(intervalMs, 60_000) });
  const tasks: HousekeepingTask[] = [
    reapExpiredJobLeases(deps.queue, { intervalMs: settings.reapIntervalMs }, deps.onReaped),
    relaySearchOutbox(deps.relay, { intervalMs: settings.relayIntervalMs }),
    purgeFinishedJobs(deps.queue, deps.jobRetentionMs, soon(settings.purgeJobsIntervalMs)),
    purgeExpiredTokenFamilies(deps.tokens, soon(settings.purgeTokenFamiliesIntervalMs)),
    // Quota usage rows join the active-job counters here once reservations land.
    repairCounters([{ name: 'activeJobs', repair: () => deps.queue.repairActiveCounts() }], soon(settings.repairCountersIntervalMs)),
    reconcilePeriodically(deps.reconciler, soon(settings.reconcileIntervalMs)),
  ];
  if (deps.temps) tasks.push(sweepOrphanTemps(deps.temps, deps.queue, deps.orphanGraceMs, soon(settings.sweepTempsIntervalMs)));
  return new HousekeepingScheduler({
    leases: deps.leases,
    tasks,
    leaseTtlMs: settings.leaseTtlMs,
    jitter: settings.jitter,
    onRun: (run) => deps.onEvent({ type: 'ran', ...run }),
    onError: (error, task) => deps.onEvent({ type: 'error', task, error }),
  });
}

function checkedSettings(settings: HousekeepingSettings): HousekeepingSettings {
  const problems = Object.entries(settings)
    .filter(([name, value]) => (name === 'jitter' ? !(value >= 0 && value <= 1) : !(Number.isInteger(value) && value >= 1)))
    .map(([name]) => `housekeeping: ${name} must be ${name === 'jitter' ? 'between 0 and 1' : 'a positive integer'}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}
