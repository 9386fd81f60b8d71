import { randomBytes } from 'node:crypto';
import { LeaseLostError, ShuttingDownError } from '../errors.js';
import type { JobLease, JobQueue } from '../jobs/job-queue.js';
import { retryDelayMs } from '../jobs/backoff.js';
import type { Job, JobProgress } from '../model.js';
import type { DownloadProcessor } from './download-processor.js';
import { classifyFailure } from './failure-policy.js';

export type WorkerEvent =
  | { type: 'completed'; job: Job; outcome: 'completed' | 'deduplicated' }
  | { type: 'retried'; job: Job; error: { code: string; message: string }; retryAt: Date }
  | { type: 'failed'; job: Job; error: { code: string; message: string } }
  | { type: 'lease-lost'; job: Job }
  /** Handed back unfinished at shutdown; its attempt does not count. */
  | { type: 'released'; job: Job }
  /**
   * Handed back because another worker holds its track (fetching it, most likely): it waits
   * until `retryAt` without holding a worker, its attempt not counted.
   */
  | { type: 'waiting'; job: Job; retryAt: Date }
  | { type: 'error'; error: unknown };

export interface DownloadWorkersOptions {
  queue: JobQueue;
  processor: DownloadProcessor;
  count: number;
  leaseMs: number;
  retryBaseMs: number;
  /** How long `close` lets jobs in flight finish before handing them back (default 10 s). */
  shutdownGraceMs?: number;
  /** How often an idle worker looks for due jobs (retries, jobs queued by other processes). */
  pollIntervalMs?: number;
  /** At most this many progress writes a second per job. */
  progressPerSecond?: number;
  /**
   * How long a job whose track another worker holds waits before it is tried again: a tenth
   * of how long it has been waiting so far, within these bounds (default 250 ms to 5 s), so
   * that a job behind a long fetch is not claimed over and over, yet follows a short one soon.
   */
  trackWaitMs?: { min: number; max: number };
  onEvent?: (event: WorkerEvent) => void;
}

/**
 * Workers that claim download jobs, renew their leases while working, and retry with backoff.
 * Everything they do to a job presents the lease token of their claim, so a worker whose lease
 * was taken back changes nothing. Work is aborted with a typed reason: `LeaseLostError` when
 * a renewal is refused, `ShuttingDownError` when `close` runs out of grace. A job whose track
 * another worker holds is handed back to wait for it (`waiting`), so that no worker sits idle
 * behind someone else's fetch while other jobs are due.
 */
export class DownloadWorkers {
  readonly #options: Required<Omit<DownloadWorkersOptions, 'onEvent'>> & Pick<DownloadWorkersOptions, 'onEvent'>;
  readonly #instance = randomBytes(4).toString('hex');
  readonly #loops: Promise<void>[] = [];
  readonly #inFlight = new Set<AbortController>();
  #wakers: Array<() => void> = [];
  readonly #retryTimers = new Set<NodeJS.Timeout>();
  #running = false;
  #closing: Promise<void> | undefined;

  constructor(options: DownloadWorkersOptions) {
    this.#options = { pollIntervalMs: 1000, progressPerSecond: 4, shutdownGraceMs: 10_000, trackWaitMs: { min: 250, max: 5000 }, ...options };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#closing = undefined;
    for (let i = 0; i < this.#options.count; i += 1) this.#loops.push(this.#loop(`${this.#instance}-${i}`));
  }

  /** Tells idle workers that a job was queued. */
  wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }

  /**
   * Stops claiming; jobs in flight get `graceMs` to finish, then are aborted and released:
   * back to the queue with their attempt not counted. Safe to call twice.
   */
  close(graceMs = this.#options.shutdownGraceMs): Promise<void> {
    if (!this.#running) return this.#closing ?? Promise.resolve();
    this.#running = false;
    this.#closing = this.#stop(graceMs);
    return this.#closing;
  }

  async #stop(graceMs: number): Promise<void> {
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    this.wake();
    const timer = setTimeout(() => {
      for (const controller of this.#inFlight) controller.abort(new ShuttingDownError());
    }, graceMs);
    timer.unref();
    await Promise.all(this.#loops.splice(0));
    clearTimeout(timer);
  }

  async #loop(workerId: string): Promise<void> {
    while (this.#running) {
      let lease: JobLease | null = null;
      try {
        lease = await this.#options.queue.claim(workerId, this.#options.leaseMs);
      } catch (error) {
        this.#emit({ type: 'error', error });
      }
      // A claim that returns while closing is handed straight back.
      if (lease && !this.#running) await this.#release(lease);
      else if (lease) await this.#run(lease);
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

  async #run(lease: JobLease): Promise<void> {
    const { queue, processor, leaseMs } = this.#options;
    const { job, token } = lease;
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const renewal = setInterval(() => {
      queue.renew(job.id, token, leaseMs).then(
        (kept) => {
          if (!kept) controller.abort(new LeaseLostError(job.id));
        },
        (error) => this.#emit({ type: 'error', error }),
      );
    }, Math.max(100, Math.floor(leaseMs / 3)));
    renewal.unref();
    const progress = this.#throttledProgress(lease);
    try {
      const outcome = await processor.process(job, { signal: controller.signal, onProgress: progress.report, owner: { jobId: job.id, token } });
      if (outcome === 'track-busy') {
        await this.#waitForTrack(lease);
        return;
      }
      await progress.flush();
      if (await queue.complete(job.id, token)) this.#emit({ type: 'completed', job, outcome });
      else this.#emit({ type: 'lease-lost', job });
    } catch (error) {
      // What the attempt was aborted for decides, not what the processor threw on its way out.
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
      if (reason instanceof LeaseLostError) this.#emit({ type: 'lease-lost', job });
      else if (reason instanceof ShuttingDownError) await this.#release(lease);
      else await this.#fail(lease, error);
    } finally {
      clearInterval(renewal);
      this.#inFlight.delete(controller);
    }
  }

  async #release(lease: JobLease): Promise<void> {
    try {
      if (await this.#options.queue.release(lease.job.id, lease.token)) this.#emit({ type: 'released', job: lease.job });
      else this.#emit({ type: 'lease-lost', job: lease.job });
    } catch (error) {
      // The lease will expire and the job is reaped, its attempt counted.
      this.#emit({ type: 'error', error });
    }
  }

  /** Another worker holds the track: the job goes back to wait for it, and this worker takes another. */
  async #waitForTrack({ job, token }: JobLease): Promise<void> {
    const { min, max } = this.#options.trackWaitMs;
    const waited = Math.max(0, Date.now() - job.createdAt.getTime());
    const delayMs = Math.round(Math.min(max, Math.max(min, waited / 10)) * (0.75 + Math.random() / 4));
    try {
      if (await this.#options.queue.release(job.id, token, { delayMs })) {
        this.#wakeAfter(delayMs);
        this.#emit({ type: 'waiting', job, retryAt: new Date(Date.now() + delayMs) });
      } else this.#emit({ type: 'lease-lost', job });
    } catch (error) {
      // The lease will expire and the job is reaped.
      this.#emit({ type: 'error', error });
    }
  }

  async #fail({ job, token }: JobLease, cause: unknown): Promise<void> {
    const { retryable, ...error } = classifyFailure(cause);
    const retry = retryable && job.attempts < job.maxAttempts ? { delayMs: retryDelayMs(job.attempts, this.#options.retryBaseMs) } : null;
    try {
      const failed = await this.#options.queue.fail(job.id, token, error, retry);
      if (!failed) this.#emit({ type: 'lease-lost', job });
      else if (retry) {
        this.#wakeAfter(retry.delayMs);
        this.#emit({ type: 'retried', job: failed, error, retryAt: failed.nextAttemptAt ?? new Date(Date.now() + retry.delayMs) });
      } else this.#emit({ type: 'failed', job: failed, error });
    } catch (storeError) {
      // The lease will expire and the job is reaped.
      this.#emit({ type: 'error', error: storeError });
    }
  }

  /** A retry due before the next poll starts on time rather than at that poll. */
  #wakeAfter(delayMs: number): void {
    if (!this.#running) return;
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      this.wake();
    }, delayMs);
    timer.unref();
    this.#retryTimers.add(timer);
  }

  /** Writes progress at most a few times a second; `flush` writes the last value held back. */
  #throttledProgress({ job, token }: JobLease) {
    const interval = 1000 / this.#options.progressPerSecond;
    let lastWrite = 0;
    let pending: JobProgress | undefined;
    const write = (progress: JobProgress) =>
      this.#options.queue.reportProgress(job.id, token, progress).catch((error) => this.#emit({ type: 'error', error }));
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
