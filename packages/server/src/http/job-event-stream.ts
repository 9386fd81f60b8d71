import type { Request, Response } from 'express';
import { FINAL_JOB_STATUSES, type Job } from '@mixtape/core';
import { jobResource } from './job-resource.js';

export interface JobEventStreamOptions {
  load: () => Promise<Job>;
  /**
   * Calls `onChange` whenever the job is said to have changed (`JobEvents.subscribe`, which
   * hears of changes made by any instance); returns the unsubscribe. Without it, the stream
   * only polls.
   */
  follow?: (onChange: () => void) => () => void;
  /**
   * Aborted when a shutdown begins: the stream ends at once, and the client reconnects to an
   * instance still in service. It must not wait for the grace, nor poll stores about to close.
   */
  shutdown?: AbortSignal;
  /** The job is reloaded this often even when nothing was heard, for events lost on the way (default 5 s). */
  safetyPollMs?: number;
  /** At most one `progress` event this often (default 250 ms: four a second). */
  progressIntervalMs?: number;
  heartbeatMs?: number;
}

/**
 * The id of the events sent for a job in this state: `<updatedAt ms>-<status>-<attempts>-<bytes>`.
 * The queue stamps `updatedAt` with the database's clock on every change a follower can see,
 * so ids only grow for a job, whichever instance sent them; the rest tells apart two changes
 * within one millisecond. It is derived from the job alone, so any instance can judge it.
 */
export function jobEventId(job: Job): string {
  return `${job.updatedAt.getTime()}-${job.status}-${job.attempts}-${job.progress?.bytes ?? 0}`;
}

/**
 * Follows a job as server-sent events: `status` on every change of status (or of attempt),
 * `progress` as bytes arrive, at most one per `progressIntervalMs`. It is pushed: each change
 * published for the job reloads it from the queue (one reload at a time, a burst of changes
 * coalesced into the next one), with a slow safety poll for changes whose news was lost. It
 * ends after a final status, when the client goes away, or when a shutdown begins.
 *
 * Every event carries `id:` (`jobEventId`). A client that reconnects with `Last-Event-ID`,
 * to this instance or another:
 * - gets nothing at connect if its id is the job's current state: it has exactly this state,
 *   and the stream goes on from there; if that state is final, the answer is 204 No Content,
 *   which tells an EventSource to stop reconnecting;
 * - otherwise (no id, an older one, one from another job or unknown) gets the current
 *   `status` at once, the whole job with its progress, as a first connection does.
 */
export async function streamJobEvents(req: Request, res: Response, options: JobEventStreamOptions): Promise<void> {
  const { load, safetyPollMs = 5000, progressIntervalMs = 250, heartbeatMs = 15_000 } = options;
  const clientGone = new AbortController();
  req.on('close', () => clientGone.abort());
  const stop = options.shutdown ? AbortSignal.any([clientGone.signal, options.shutdown]) : clientGone.signal;

  // Subscribed before the first load, so that a change between the two is not missed.
  const changes = new ChangeSignal(stop);
  const unfollow = options.follow?.(() => changes.notify()) ?? (() => undefined);
  const timers: NodeJS.Timeout[] = [];
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    let job = await load();
    const clientHas = req.get('Last-Event-ID') === jobEventId(job);
    if (clientHas && isFinal(job)) {
      res.status(204).end();
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    const send = (event: 'status' | 'progress', current: Job, data: unknown) => {
      if (!clientGone.signal.aborted) res.write(`id: ${jobEventId(current)}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    if (!clientHas) send('status', job, jobResource(job));

    timers.push(setInterval(() => changes.notify(), safetyPollMs));
    timers.push(
      setInterval(() => {
        if (!clientGone.signal.aborted) res.write(': keep-alive\n\n');
      }, heartbeatMs),
    );
    for (const timer of timers) timer.unref();
    let lastProgressAt = 0;
    while (!stop.aborted && !isFinal(job)) {
      await changes.next();
      if (stop.aborted) break;
      const next = await load();
      const statusChanged = next.status !== job.status || next.attempts !== job.attempts;
      // A new attempt starts its progress over: that is a change of status to the client too.
      const restarted = (next.progress?.bytes ?? 0) < (job.progress?.bytes ?? 0);
      const advanced = next.progress !== undefined && next.progress.bytes > (job.progress?.bytes ?? -1);
      const progressDue = Date.now() - lastProgressAt >= progressIntervalMs;
      // A final or new status goes out with the last bytes before it, throttled or not.
      if (advanced && (progressDue || statusChanged)) {
        lastProgressAt = Date.now();
        send('progress', next, next.progress);
      } else if (advanced) {
        // Held back: looked at again once it may be sent (the last bytes are never dropped).
        progressTimer ??= setTimeout(() => {
          progressTimer = undefined;
          changes.notify();
        }, lastProgressAt + progressIntervalMs - Date.now());
        progressTimer.unref();
        continue;
      }
      if (statusChanged || restarted) send('status', next, jobResource(next));
      job = next;
    }
  } catch (error) {
    // Once streaming, a failed reload ends the stream: the client reconnects with its last id.
    if (!res.headersSent) throw error;
  } finally {
    unfollow();
    clearTimeout(progressTimer);
    for (const timer of timers) clearInterval(timer);
  }
  res.end();
}

function isFinal(job: Job): boolean {
  return FINAL_JOB_STATUSES.includes(job.status);
}

/** Changes heard since the last `next()`: many notifications before it wakes it once. */
class ChangeSignal {
  #pending = false;
  #wake: (() => void) | undefined;

  constructor(private readonly stop: AbortSignal) {
    stop.addEventListener('abort', () => this.#wake?.(), { once: true });
  }

  notify(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Resolves once a change was heard (at once if one was since the last call), or at `stop`. */
  async next(): Promise<void> {
    if (!this.#pending && !this.stop.aborted) await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = undefined;
    this.#pending = false;
  }
}
