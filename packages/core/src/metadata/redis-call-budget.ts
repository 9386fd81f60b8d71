import { UnavailableError } from '../errors.js';
import type { RedisConnection, RedisScript } from '../redis/redis-connection.js';
import { budgetRefusal, checkedCallBudgetOptions, waitMs, type CallBudget, type CallBudgetOptions } from './call-budget.js';
import { LocalCallBudget } from './local-call-budget.js';
import pauseLua from './pause-calls-1.lua';
import takeLua from './take-token-2.lua';

export interface RedisCallBudgetOptions extends CallBudgetOptions {
  /** How a take waits (tests pass their own). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * One call budget for every instance, in Redis: the token bucket is one hash taken from by one
 * script on Redis's clock, and a pause is a key with a PX that every take reads. Keys are
 * `<prefix>call-budget:<name>` and `<prefix>call-budget:<name>:pause`.
 *
 * While Redis does not answer, each instance falls back to a LocalCallBudget of the same
 * limit: the budget is then per instance (N instances may together call N times the limit)
 * rather than a failed look-up. A pause is also kept locally, so that this instance honours
 * its own 429 even if Redis could not record it.
 */
export class RedisCallBudget implements CallBudget {
  readonly backend = 'redis';
  readonly name: string;
  readonly #connection: RedisConnection;
  readonly #bucketKey: string;
  readonly #pauseKey: string;
  readonly #args: readonly number[];
  readonly #maxWaitMs: number;
  readonly #take: RedisScript;
  readonly #pause: RedisScript;
  readonly #local: LocalCallBudget;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(connection: RedisConnection, options: RedisCallBudgetOptions) {
    const { name, limit, windowMs, maxWaitMs } = checkedCallBudgetOptions(options);
    this.name = name;
    this.#connection = connection;
    this.#bucketKey = `${connection.prefix}call-budget:${name}`;
    this.#pauseKey = `${this.#bucketKey}:pause`;
    this.#args = [limit, windowMs, maxWaitMs];
    this.#maxWaitMs = maxWaitMs;
    // A script is its SHA1, computed here: no I/O until the first call.
    this.#take = connection.script('mixtapeCallBudgetTake', takeLua);
    this.#pause = connection.script('mixtapeCallBudgetPause', pauseLua);
    this.#sleep = options.sleep ?? waitMs;
    this.#local = new LocalCallBudget({ name, limit, windowMs, maxWaitMs, sleep: this.#sleep });
  }

  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    let reply: unknown;
    try {
      reply = await this.#take([this.#bucketKey, this.#pauseKey], this.#args);
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
      return this.#local.take(signal);
    }
    const [taken, wait, paused] = reply as [number, number, number];
    const ownPauseMs = await this.#local.pausedForMs();
    const longest = Math.max(wait, ownPauseMs);
    if (taken !== 1 || longest > this.#maxWaitMs) throw budgetRefusal(this.name, longest, paused === 1 || ownPauseMs >= wait);
    if (longest > 0) await this.#sleep(longest, signal);
  }

  async pause(ms: number): Promise<void> {
    if (!(ms > 0)) return;
    await this.#local.pause(ms);
    await this.#pause([this.#pauseKey], [Math.ceil(ms)]).catch((error: unknown) => {
      if (!(error instanceof UnavailableError)) throw error;
    });
  }

  /** The shared pause, or this instance's own while Redis does not answer. */
  async pausedForMs(): Promise<number> {
    const own = await this.#local.pausedForMs();
    try {
      const shared = Number(await this.#connection.call('PTTL', this.#pauseKey));
      return Math.max(own, shared > 0 ? shared : 0);
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
      return own;
    }
  }
}
