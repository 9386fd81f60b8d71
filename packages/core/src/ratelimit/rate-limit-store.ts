import type { RateLimitPolicy } from './rate-limiter.js';

/** One key's hits in its current window, as a store reports them after counting one. */
export interface RateLimitCount {
  totalHits: number;
  /** When the window ends; undefined if the store cannot tell. */
  resetTime: Date | undefined;
}

/** What a store learns when it is initialised: the part of express-rate-limit's options it reads. */
export interface RateLimitStoreOptions {
  windowMs: number;
}

/**
 * Counts hits per key in windows of one policy. The shape of express-rate-limit's `Store`, declared
 * here so core depends on neither Express nor express-rate-limit, and any store written for it
 * (rate-limit-redis among them) fits. Counting comes first and deciding after, so attempts made in
 * parallel each see their own count and cannot all slip under the limit.
 */
export interface RateLimitStore {
  /** Learns the window and starts any timers. Called once, before the first count. */
  init?(options: RateLimitStoreOptions): void | Promise<void>;
  /** The count of `key` without counting a hit; undefined when it has none. */
  get?(key: string): RateLimitCount | undefined | Promise<RateLimitCount | undefined>;
  /** Counts one hit, opening a new window if the last one has ended. */
  increment(key: string): RateLimitCount | Promise<RateLimitCount>;
  /** Gives one hit back, never going below zero. */
  decrement(key: string): void | Promise<void>;
  resetKey(key: string): void | Promise<void>;
  /** Stops timers and lets go of resources. */
  shutdown?(): void | Promise<void>;
  /** True when counts live in this process only, so two stores never share one. */
  readonly localKeys?: boolean;
  /** What this store puts before each key, to keep policies apart in a shared backend. */
  readonly prefix?: string;
}

/**
 * Makes the stores of one backend, one per policy: express-rate-limit wants a store instance per
 * limiter, and a shared backend (Redis) keeps policies apart by each store's prefix.
 */
export interface RateLimitStores {
  readonly backend: string;
  /** A new store for `policy`, ready to count. */
  storeFor(policy: RateLimitPolicy): RateLimitStore;
  /**
   * Stores that can answer without their backend (FallbackRateLimitStores) call `listener` with
   * the policy's name for each request they answered so; the server counts them in its metrics.
   */
  onFallback?(listener: (policy: string) => void): () => void;
  /** Stops the timers of every store made. Safe twice. */
  close?(): void | Promise<void>;
}
