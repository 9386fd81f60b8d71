import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, Response } from 'express';
import { FINAL_JOB_STATUSES, type Job } from '@mixtape/core';
import { jobResource } from './job-resource.js';

export interface JobEventStreamOptions {
  load: () => Promise<Job>;
  /**
   * Aborted when a shutdown begins: the stream ends at once, and the client reconnects to an
   * instance still in service. It must not wait for the grace, nor poll stores about to close.
   */
  shutdown?: AbortSignal;
  pollIntervalMs?: number;
  heartbeatMs?: number;
}

/**
 * Follows a job as server-sent events: `status` on every change of status, `progress` as bytes
 * arrive. It polls the queue, so it sees jobs worked on by any process, and it ends after a
 * final status, when the client goes away, or when a shutdown begins.
 */
export async function streamJobEvents(req: Request, res: Response, options: JobEventStreamOptions): Promise<void> {
  const { load, pollIntervalMs = 250, heartbeatMs = 15_000 } = options;
  let job = await load();
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();

  const clientGone = new AbortController();
  req.on('close', () => clientGone.abort());
  const stop = options.shutdown ? AbortSignal.any([clientGone.signal, options.shutdown]) : clientGone.signal;
  const send = (event: string, data: unknown) => {
    if (!clientGone.signal.aborted) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  send('status', jobResource(job));
  let lastBytes = job.progress?.bytes ?? -1;
  let lastBeat = Date.now();
  while (!stop.aborted && !FINAL_JOB_STATUSES.includes(job.status)) {
    // Woken early by `stop`, so that nothing is loaded once it is aborted.
    await sleep(pollIntervalMs, undefined, { signal: stop }).catch(() => undefined);
    if (stop.aborted) break;
    const next = await load();
    if (next.progress && next.progress.bytes !== lastBytes) {
      lastBytes = next.progress.bytes;
      send('progress', next.progress);
    }
    if (next.status !== job.status) send('status', jobResource(next));
    job = next;
    if (Date.now() - lastBeat > heartbeatMs) {
      lastBeat = Date.now();
      if (!clientGone.signal.aborted) res.write(': keep-alive\n\n');
    }
  }
  res.end();
}
