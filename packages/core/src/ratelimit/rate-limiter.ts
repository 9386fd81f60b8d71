import { ConfigError } from '../errors.js';
import type { RateLimitCount, RateLimitStore } from './rate-limit-store.js';

export interface RateLimitPolicy {
  name: string;
  limit: number;
  windowMs: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** When the current window ends (epoch ms). */
  resetAt: number;
  /** 0 when allowed. */
  retryAfterMs: number;
}

/** What a count means under `policy`: allowed while it is within the limit. */
export function rateLimitDecision(policy: RateLimitPolicy, count: RateLimitCount, now = Date.now()): RateLimitDecision {
  const allowed = count.totalHits <= policy.limit;
  const resetAt = count.resetTime?.getTime() ?? now + policy.windowMs;
  return {
    allowed,
    limit: policy.limit,
    remaining: Math.max(0, policy.limit - count.totalHits),
    resetAt,
    retryAfterMs: allowed ? 0 : Math.max(1, resetAt - now),
  };
}

/**
 * One policy over one store, for users of core without Express (the server lets
 * express-rate-limit drive the store instead). Being limited is a value, not an error.
 */
export class RateLimiter {
  readonly policy: RateLimitPolicy;
  readonly #store: RateLimitStore;
  readonly #now: () => number;

  /** `now` must be the store's clock, so that `retryAfterMs` agrees with its windows. */
  constructor(policy: RateLimitPolicy, store: RateLimitStore, options: { now?: () => number } = {}) {
    if (!Number.isSafeInteger(policy.limit) || policy.limit < 0 || !(policy.windowMs > 0)) {
      throw new ConfigError([`rate limit policy ${policy.name}: limit must be an integer ≥ 0 and windowMs positive`]);
    }
    this.policy = policy;
    this.#store = store;
    this.#now = options.now ?? Date.now;
  }

  /** Initialises the store, as express-rate-limit would. */
  async start(): Promise<void> {
    await this.#store.init?.({ windowMs: this.policy.windowMs });
  }

  async close(): Promise<void> {
    await this.#store.shutdown?.();
  }

  /**
   * Counts the attempt, then decides. Counting first is what keeps parallel attempts from all
   * passing a check made before any of them was counted.
   */
  async attempt(key: string): Promise<RateLimitDecision> {
    return rateLimitDecision(this.policy, await this.#store.increment(key), this.#now());
  }

  /** Gives back an attempt that must not count, such as a login that succeeded. */
  async refund(key: string): Promise<void> {
    await this.#store.decrement(key);
  }

  async reset(key: string): Promise<void> {
    await this.#store.resetKey(key);
  }
}
