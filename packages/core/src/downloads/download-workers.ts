import { randomBytes } from 'node:crypto';
import type { JobQueue } from '../jobs/job-queue.js';
import { retryDelayMs } from '../jobs/backoff.js';
import type { Job, JobProgress } from '../model.js';
import type { DownloadProcessor } from './download-processor.js';
import { classifyFailure } from './failure-policy.js';

export type WorkerEvent =
  | { type: 'completed'; job: Job; outcome: 'completed' | 'deduplicated' }
  | { type: 'retried'; job: Job; error: { code: string; message: string }; retryAt: Date }
  | { type: 'failed'; job: Job; error: { code: string; message: string } }
  | { type: 'lease-lost'; job: Job }
  | { type: 'error'; error: unknown };

export interface DownloadWorkersOptions {
  queue: JobQueue;
  processor: DownloadProcessor;
  count: number;
  leaseMs: number;
  retryBaseMs: number;
  /** How often an idle worker looks for due jobs (retries, jobs queued by other processes). */
  pollIntervalMs?: number;
  /** At most this many progress writes a second per job. */
  progressPerSecond?: number;
  onEvent?: (event: WorkerEvent) => void;
  now?: () => Date;
}

/** Workers that claim download jobs, renew their leases while working, and retry with backoff. */
export class DownloadWorkers {
  readonly #options: Required<Omit<DownloadWorkersOptions, 'onEvent'>> & Pick<DownloadWorkersOptions, 'onEvent'>;
  readonly #instance = randomBytes(4).toString('hex');
  readonly #loops: Promise<void>[] = [];
  readonly #inFlight = new Set<AbortController>();
  #wakers: Array<() => void> = [];
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  #running = false;

  constructor(options: DownloadWorkersOptions) {
    this.#options = { pollIntervalMs: 1000, progressPerSecond: 4, now: () => new Date(), ...options };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (let i = 0; i < this.#options.count; i += 1) this.#loops.push(this.#loop(`${this.#instance}-${i}`));
  }

  /** Tells idle workers that a job was queued. */
  wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }

  /** Stops claiming; jobs in flight get `graceMs` to finish, then are aborted and go back to the queue. */
  async close(graceMs = 10_000): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    this.wake();
    const timer = setTimeout(() => {
      for (const controller of this.#inFlight) controller.abort(new Error('shutting down'));
    }, graceMs);
    timer.unref();
    await Promise.all(this.#loops.splice(0));
    clearTimeout(timer);
  }

  async #loop(workerId: string): Promise<void> {
    while (this.#running) {
      let job: Job | null = null;
      try {
        job = await this.#options.queue.claim(workerId, this.#options.leaseMs, this.#options.now());
      } catch (error) {
        this.#emit({ type: 'error', error });
      }
      if (job) await this.#run(job, workerId);
      else await this.#idle();
    }
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#options.pollIntervalMs);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakers.push(done);
    });
  }

  async #run(job: Job, workerId: string): Promise<void> {
    const { queue, processor, leaseMs } = this.#options;
    const controller = new AbortController();
    let leaseLost = false;
    this.#inFlight.add(controller);
    const renewal = setInterval(() => {
      queue.renew(job.id, workerId, leaseMs, this.#options.now()).then(
        (kept) => {
          if (!kept && !leaseLost) {
            leaseLost = true;
            controller.abort(new Error('lease lost'));
          }
        },
        (error) => this.#emit({ type: 'error', error }),
      );
    }, Math.max(100, Math.floor(leaseMs / 3)));
    renewal.unref();
    const progress = this.#throttledProgress(job.id, workerId);
    try {
      const outcome = await processor.process(job, { signal: controller.signal, onProgress: progress.report });
      await progress.flush();
      if (await queue.complete(job.id, workerId)) this.#emit({ type: 'completed', job, outcome });
      else this.#emit({ type: 'lease-lost', job });
    } catch (error) {
      if (leaseLost) this.#emit({ type: 'lease-lost', job });
      else await this.#fail(job, workerId, error);
    } finally {
      clearInterval(renewal);
      this.#inFlight.delete(controller);
    }
  }

  async #fail(job: Job, workerId: string, cause: unknown): Promise<void> {
    const { retryable, ...error } = classifyFailure(cause);
    const retryAt =
      retryable && job.attempts < job.maxAttempts
        ? new Date(this.#options.now().getTime() + retryDelayMs(job.attempts, this.#options.retryBaseMs))
        : null;
    try {
      const failed = await this.#options.queue.fail(job.id, workerId, error, retryAt);
      if (!failed) this.#emit({ type: 'lease-lost', job });
      else if (retryAt) {
        this.#wakeAt(retryAt);
        this.#emit({ type: 'retried', job: failed, error, retryAt });
      }
      else this.#emit({ type: 'failed', job: failed, error });
    } catch (storeError) {
      // The lease will expire and another worker retries the job.
      this.#emit({ type: 'error', error: storeError });
    }
  }

  /** A retry due before the next poll starts on time rather than at that poll. */
  #wakeAt(at: Date): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      this.wake();
    }, Math.max(0, at.getTime() - this.#options.now().getTime()));
    timer.unref();
    this.#retryTimers.add(timer);
  }

  /** Writes progress at most a few times a second; `flush` writes the last value held back. */
  #throttledProgress(jobId: string, workerId: string) {
    const interval = 1000 / this.#options.progressPerSecond;
    let lastWrite = 0;
    let pending: JobProgress | undefined;
    const write = (progress: JobProgress) =>
      this.#options.queue.reportProgress(jobId, workerId, progress).catch((error) => this.#emit({ type: 'error', error }));
    return {
      report: (progress: JobProgress) => {
        const now = Date.now();
        if (now - lastWrite < interval) {
          pending = progress;
          return;
        }
        lastWrite = now;
        pending = undefined;
        void write(progress);
      },
      flush: async () => {
        if (pending) await write(pending);
      },
    };
  }

  #emit(event: WorkerEvent): void {
    this.#options.onEvent?.(event);
  }
}
