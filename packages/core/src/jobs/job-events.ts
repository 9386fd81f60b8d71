/**
 * Tells whoever follows a job that it changed: the server's event streams, in this process and
 * in every other. A notification carries only the job's id; the follower reloads the job from
 * the queue, which stays the record. So a message lost, doubled or late can never show a state
 * the queue does not hold, and followers keep a slow poll besides, for the messages lost
 * outright (pub/sub is at most once).
 *
 * No payload, progress bytes included: workers write progress at most a few times a second
 * per job (`DownloadWorkers`' `progressPerSecond`), so a reload per tick costs what the 250 ms
 * poll it replaces cost, only when something changed.
 */
export interface JobEvents {
  /** Which backend carries the events (`in-process`, `redis`), for logs and health. */
  readonly backend: string;
  /**
   * Says that the job changed. Fire and forget: it never throws and never waits on I/O, so a
   * backend that is down costs the caller nothing (followers' polls cover what it lost).
   */
  publish(jobId: string): void;
  /** Calls `listener` after each change of the job, from any process; returns the unsubscribe. */
  subscribe(jobId: string, listener: () => void): () => void;
  /** Drops every listener and stops delivering. Safe to call twice. */
  close(): Promise<void>;
}
