import { randomBytes } from 'node:crypto';
import type { RedisConnection } from '../redis/redis-connection.js';
import { InProcessJobEvents } from './in-process-job-events.js';
import type { JobEvents } from './job-events.js';

/**
 * Job events shared by every instance over Redis pub/sub.
 *
 * **One channel, `${prefix}jobs`, for every job**, the message being `<jobId> <origin>`, rather
 * than a channel per job: each process subscribes once, on its first follower, and fans
 * messages out to its own followers (an `InProcessJobEvents`). Opening or closing an event
 * stream then costs Redis nothing (no SUBSCRIBE/UNSUBSCRIBE per stream, nothing to
 * resubscribe per stream after a reconnection), at the price of every instance hearing of
 * every job: a few messages a second per running download, which is little. A process that
 * follows nothing (`mixtape worker`) never subscribes, and only publishes.
 *
 * **Own process at once.** `publish` tells this process's followers directly, so they hear it
 * even while Redis is down; `origin` (random per instance) lets the subscription skip the echo.
 *
 * **Failures are swallowed.** Pub/sub is at most once: a publish that fails (Redis down, the
 * breaker open) or a message published while a subscriber was reconnecting is simply lost,
 * and followers' safety polls cover it. Once the connection is back, every follower of this
 * process is told to look again, so an outage costs less than a poll interval.
 */
export class RedisJobEvents implements JobEvents {
  readonly backend: string = 'redis';
  readonly #connection: RedisConnection;
  readonly #channel: string;
  readonly #origin = randomBytes(6).toString('base64url');
  readonly #local = new InProcessJobEvents();
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  constructor(connection: RedisConnection) {
    this.#connection = connection;
    this.#channel = `${connection.prefix}jobs`;
  }

  publish(jobId: string): void {
    if (this.#closed) return;
    this.#local.publish(jobId);
    this.#connection.publish(this.#channel, `${jobId} ${this.#origin}`).catch(() => undefined);
  }

  subscribe(jobId: string, listener: () => void): () => void {
    if (this.#closed) return () => undefined;
    this.#listen();
    return this.#local.subscribe(jobId, listener);
  }

  /** Listeners in this process, of `jobId` or of every job. */
  listenerCount(jobId?: string): number {
    return this.#local.listenerCount(jobId);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#local.close();
  }

  /** Subscribes on first use, so that constructing this does no I/O and a worker never listens. */
  #listen(): void {
    if (this.#unsubscribe) return;
    const stopMessages = this.#connection.subscribe(this.#channel, (message) => {
      const space = message.lastIndexOf(' ');
      if (space <= 0 || message.slice(space + 1) === this.#origin) return;
      this.#local.publish(message.slice(0, space));
    });
    // Whatever was published while Redis was away is lost: every follower looks again.
    const stopReady = this.#connection.onReady(() => this.#local.publishAll());
    this.#unsubscribe = () => {
      stopMessages();
      stopReady();
    };
  }
}
