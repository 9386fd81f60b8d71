import type { JobQueue, ReapOutcome } from './job-queue.js';

export interface JobHousekeepingOptions {
  queue: JobQueue;
  /** How often expired leases are taken back. */
  reapIntervalMs: number;
  /** Final jobs older than this are purged. */
  retentionMs: number;
  /** How often purging runs (default the retention, between a second and 10 minutes). */
  purgeIntervalMs?: number;
  onReaped?: (outcome: ReapOutcome) => void;
  onPurged?: (count: number) => void;
  onError?: (error: unknown) => void;
}

/**
 * The queue's periodic chores, for a process that runs workers: reaping expired leases and
 * purging old final jobs. Several processes may each run one; both chores are idempotent. A
 * shared scheduler whose tasks hold named leases, so that one process runs each, replaces
 * this later: it only needs `reapExpired` and `purgeFinished` of the port.
 */
export class JobHousekeeping {
  readonly #options: JobHousekeepingOptions & { purgeIntervalMs: number };
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Set<Promise<void>>();

  constructor(options: JobHousekeepingOptions) {
    this.#options = { purgeIntervalMs: Math.min(600_000, Math.max(1000, options.retentionMs)), ...options };
  }

  /** Reaps and purges at once, then on their intervals. Safe to call twice. */
  start(): void {
    if (this.#timers.length > 0) return;
    const every = (ms: number, chore: () => Promise<void>) => {
      let busy = false;
      // A chore slower than its interval is not started again while it runs.
      const run = () => {
        if (busy) return;
        busy = true;
        this.#track(() => chore().finally(() => (busy = false)));
      };
      run();
      const timer = setInterval(run, Math.max(1, ms));
      timer.unref();
      this.#timers.push(timer);
    };
    every(this.#options.reapIntervalMs, () => this.reap());
    every(this.#options.purgeIntervalMs, () => this.purge());
  }

  /** Stops the timers and waits for a chore in progress. Safe to call twice. */
  async close(): Promise<void> {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    await Promise.all(this.#running);
  }

  async reap(): Promise<void> {
    const outcome = await this.#options.queue.reapExpired();
    if (outcome.requeued + outcome.failed > 0) this.#options.onReaped?.(outcome);
  }

  async purge(): Promise<void> {
    const purged = await this.#options.queue.purgeFinished(new Date(Date.now() - this.#options.retentionMs));
    if (purged > 0) this.#options.onPurged?.(purged);
  }

  #track(chore: () => Promise<void>): void {
    const running = chore()
      .catch((error: unknown) => this.#options.onError?.(error))
      .finally(() => this.#running.delete(running));
    this.#running.add(running);
  }
}
