import type { JobEvents } from './job-events.js';

/**
 * Job events within one process: the embedded default, and the local fan-out of
 * `RedisJobEvents`. Listeners are called on a later microtask, never inside `publish`, so a
 * publishing worker is not held up by followers, and one listener's fault reaches no other.
 * A job's entry goes once its last listener leaves, so streams that come and go leak nothing.
 */
export class InProcessJobEvents implements JobEvents {
  readonly backend: string = 'in-process';
  readonly #listeners = new Map<string, Set<() => void>>();
  #closed = false;

  publish(jobId: string): void {
    const listeners = this.#listeners.get(jobId);
    if (!listeners || this.#closed) return;
    // A copy: a listener that unsubscribes while being called must not skip the next one.
    const called = [...listeners];
    queueMicrotask(() => {
      for (const listener of called) callSafely(listener);
    });
  }

  /** Tells every follower of every job to look again: after an outage that may have lost events. */
  publishAll(): void {
    for (const jobId of this.#listeners.keys()) this.publish(jobId);
  }

  subscribe(jobId: string, listener: () => void): () => void {
    if (this.#closed) return () => undefined;
    let listeners = this.#listeners.get(jobId);
    if (!listeners) this.#listeners.set(jobId, (listeners = new Set()));
    // Each subscription is its own entry, so the same function subscribed twice is two.
    const entry = () => listener();
    listeners.add(entry);
    return () => {
      const current = this.#listeners.get(jobId);
      if (!current?.delete(entry)) return;
      if (current.size === 0) this.#listeners.delete(jobId);
    };
  }

  /** Listeners of `jobId`, or of every job: what a test of leaks counts. */
  listenerCount(jobId?: string): number {
    if (jobId !== undefined) return this.#listeners.get(jobId)?.size ?? 0;
    let count = 0;
    for (const listeners of this.#listeners.values()) count += listeners.size;
    return count;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
  }
}

function callSafely(listener: () => void): void {
  try {
    listener();
  } catch {
    // A follower's own fault; the follower's safety poll still runs.
  }
}
