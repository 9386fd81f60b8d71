import { budgetRefusal, checkedCallBudgetOptions, waitMs, type CallBudget, type CallBudgetOptions } from './call-budget.js';

export interface LocalCallBudgetOptions extends CallBudgetOptions {
  now?: () => number;
  /** How a take waits (tests pass one that moves their clock). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** What the bucket says about one take. */
export interface CallReservation {
  /** Whether a token was taken (it may still have to wait `waitMs` before it is used). */
  taken: boolean;
  waitMs: number;
  /** The wait is a pause's rather than the bucket's. */
  paused: boolean;
}

/**
 * The call budget of this process alone: embedded, where this process is the only one calling,
 * and the fallback of a shared budget whose store does not answer (then each instance has the
 * whole budget to itself). A take that must wait reserves its token at once, so callers that
 * arrive together are spread out one token's time apart instead of waking together.
 */
export class LocalCallBudget implements CallBudget {
  readonly backend = 'local';
  readonly name: string;
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Below 0 while takes wait for tokens reserved ahead of the refill. */
  #tokens: number;
  #refilledAt: number;
  #pausedUntil = 0;

  constructor(options: LocalCallBudgetOptions) {
    const { name, limit, windowMs, maxWaitMs } = checkedCallBudgetOptions(options);
    this.name = name;
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#maxWaitMs = maxWaitMs;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? waitMs;
    this.#tokens = limit;
    this.#refilledAt = this.#now();
  }

  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const reservation = this.reserve();
    if (!reservation.taken) throw budgetRefusal(this.name, reservation.waitMs, reservation.paused);
    if (reservation.waitMs > 0) await this.#sleep(reservation.waitMs, signal);
  }

  /** Takes a token unless the wait for it would exceed `maxWaitMs`; synchronous, for a shared budget's fallback. */
  reserve(): CallReservation {
    const now = this.#now();
    this.#refill(now);
    const pausedMs = Math.max(0, this.#pausedUntil - now);
    const bucketMs = this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * this.#windowMs) / this.#limit);
    const wait = Math.max(pausedMs, bucketMs);
    const paused = pausedMs > 0 && pausedMs >= bucketMs;
    if (wait > this.#maxWaitMs) return { taken: false, waitMs: wait, paused };
    this.#tokens -= 1;
    return { taken: true, waitMs: wait, paused };
  }

  async pause(ms: number): Promise<void> {
    if (!(ms > 0)) return;
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + ms);
  }

  async pausedForMs(): Promise<number> {
    return Math.max(0, this.#pausedUntil - this.#now());
  }

  #refill(now: number): void {
    // A clock that went back refills nothing, rather than draining the bucket.
    if (now <= this.#refilledAt) return;
    this.#tokens = Math.min(this.#limit, this.#tokens + ((now - this.#refilledAt) * this.#limit) / this.#windowMs);
    this.#refilledAt = now;
  }
}
