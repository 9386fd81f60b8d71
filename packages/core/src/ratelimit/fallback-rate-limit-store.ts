import { ConfigError } from '../errors.js';
import { MemoryRateLimitStores } from './memory-rate-limit-store.js';
import type { RateLimitCount, RateLimitStore, RateLimitStoreOptions, RateLimitStores } from './rate-limit-store.js';
import type { RateLimitPolicy } from './rate-limiter.js';

/** While the primary cannot answer: count in this process (`local`), or let requests pass (`open`). */
export type RateLimitFallbackMode = 'local' | 'open';

export interface FallbackRateLimitStoresOptions {
  /** Where counts are shared (Redis). */
  primary: RateLimitStores;
  mode: RateLimitFallbackMode;
  /** The stores of mode `local`; default `new MemoryRateLimitStores()`. Closed with these. */
  local?: RateLimitStores;
  /** Keys remembered per policy as last counted locally, so their refunds go there (default 100,000). */
  maxLocalKeys?: number;
}

type FallbackListener = (policy: string) => void;

/**
 * Counts in the primary and, for each request it fails, answers from in-process stores or lets
 * the request pass: rate-limiter-flexible's insurance limiter. A store from here never throws
 * to express-rate-limit (which would answer 500); every failure of the primary is a fallback,
 * and each request that falls back is told to `onFallback` listeners once. Every request asks
 * the primary first (which fails at once while its circuit breaker is open), so shared counting
 * resumes by itself as soon as the primary answers again.
 */
export class FallbackRateLimitStores implements RateLimitStores {
  readonly backend: string;
  readonly mode: RateLimitFallbackMode;
  readonly #primary: RateLimitStores;
  readonly #local: RateLimitStores;
  readonly #maxLocalKeys: number;
  readonly #listeners = new Set<FallbackListener>();
  readonly #made = new Set<FallbackRateLimitStore>();
  #closed = false;

  constructor(options: FallbackRateLimitStoresOptions) {
    const { primary, mode, local = new MemoryRateLimitStores(), maxLocalKeys = 100_000 } = options;
    const problems = [
      ...(mode === 'local' || mode === 'open' ? [] : [`the rate limit fallback must be local or open (got ${String(mode)})`]),
      ...(Number.isSafeInteger(maxLocalKeys) && maxLocalKeys > 0 ? [] : ['maxLocalKeys must be a positive integer']),
    ];
    if (problems.length > 0) throw new ConfigError(problems);
    this.backend = primary.backend;
    this.mode = mode;
    this.#primary = primary;
    this.#local = local;
    this.#maxLocalKeys = maxLocalKeys;
  }

  storeFor(policy: RateLimitPolicy): FallbackRateLimitStore {
    const store = new FallbackRateLimitStore({
      policy,
      primary: this.#primary.storeFor(policy),
      local: this.mode === 'local' ? this.#local.storeFor(policy) : undefined,
      maxLocalKeys: this.#maxLocalKeys,
      fellBack: () => this.#fellBack(policy.name),
    });
    this.#made.add(store);
    return store;
  }

  /** Calls `listener` with the policy's name for each request answered without the primary. */
  onFallback(listener: FallbackListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Shuts every store made down (their timers), then the primary's and local stores. Safe twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await Promise.allSettled([...this.#made].map((store) => store.shutdown()));
    await Promise.allSettled([this.#primary, this.#local].map(async (stores) => stores.close?.()));
  }

  #fellBack(policy: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(policy);
      } catch {
        // A listener (metrics) must not turn a fallback into a failed request.
      }
    }
  }
}

/** One policy's store: see FallbackRateLimitStores. */
export class FallbackRateLimitStore implements RateLimitStore {
  /** Counts are shared through the primary; express-rate-limit's checks read these two. */
  readonly localKeys = false;
  readonly prefix: string | undefined;
  readonly #primary: RateLimitStore;
  readonly #local: RateLimitStore | undefined;
  readonly #maxLocalKeys: number;
  readonly #fellBack: () => void;
  #windowMs: number;
  /** The primary's init has not succeeded yet: it is tried again before the next count. */
  #primaryInitPending = false;
  /**
   * Hits counted locally per key since its last hit in the primary, least recent key first: a
   * refund (`decrement`) goes where its hit went, so a hit counted during an outage is not
   * taken back from the shared count.
   */
  readonly #localHits = new Map<string, number>();

  constructor(options: {
    policy: RateLimitPolicy;
    primary: RateLimitStore;
    local: RateLimitStore | undefined;
    maxLocalKeys: number;
    fellBack: () => void;
  }) {
    this.#primary = options.primary;
    this.#local = options.local;
    this.#maxLocalKeys = options.maxLocalKeys;
    this.#fellBack = options.fellBack;
    this.#windowMs = options.policy.windowMs;
    this.prefix = options.primary.prefix;
  }

  async init(options: RateLimitStoreOptions): Promise<void> {
    this.#windowMs = options.windowMs;
    await this.#local?.init?.(options);
    this.#primaryInitPending = true;
    await this.#initPrimary().catch(() => undefined);
  }

  async get(key: string): Promise<RateLimitCount | undefined> {
    try {
      await this.#initPrimary();
      if (this.#primary.get) return await this.#primary.get(key);
    } catch {
      // Reported as the local count below.
    }
    return this.#local?.get?.(key);
  }

  async increment(key: string): Promise<RateLimitCount> {
    try {
      await this.#initPrimary();
      const count = await this.#primary.increment(key);
      this.#localHits.delete(key);
      return count;
    } catch {
      this.#fellBack();
    }
    if (!this.#local) {
      // One hit, which every policy with a limit of 1 or more lets through; express-rate-limit
      // refuses a count below 1 as a store bug.
      return { totalHits: 1, resetTime: new Date(Date.now() + this.#windowMs) };
    }
    this.#rememberLocal(key);
    try {
      return await this.#local.increment(key);
    } catch {
      // The in-process store failing too leaves nothing to count with: let this one pass.
      return { totalHits: 1, resetTime: new Date(Date.now() + this.#windowMs) };
    }
  }

  async decrement(key: string): Promise<void> {
    const localHits = this.#localHits.get(key);
    if (localHits !== undefined) {
      if (localHits > 1) this.#localHits.set(key, localHits - 1);
      else this.#localHits.delete(key);
      await quietly(() => this.#local?.decrement(key));
      return;
    }
    // The hit went to the primary; if it cannot take it back now, the hit stays counted there.
    await quietly(() => this.#primary.decrement(key));
  }

  /** Forgets the key everywhere it may be counted. */
  async resetKey(key: string): Promise<void> {
    this.#localHits.delete(key);
    await Promise.all([quietly(() => this.#primary.resetKey(key)), quietly(() => this.#local?.resetKey(key))]);
  }

  async shutdown(): Promise<void> {
    await Promise.all([quietly(() => this.#primary.shutdown?.()), quietly(() => this.#local?.shutdown?.())]);
  }

  async #initPrimary(): Promise<void> {
    if (!this.#primaryInitPending) return;
    await this.#primary.init?.({ windowMs: this.#windowMs });
    this.#primaryInitPending = false;
  }

  #rememberLocal(key: string): void {
    const hits = (this.#localHits.get(key) ?? 0) + 1;
    // Moved to the end, so the keys forgotten past maxLocalKeys are the least recent.
    this.#localHits.delete(key);
    this.#localHits.set(key, hits);
    for (const oldest of this.#localHits.keys()) {
      if (this.#localHits.size <= this.#maxLocalKeys) break;
      this.#localHits.delete(oldest);
    }
  }
}

async function quietly(call: () => unknown): Promise<void> {
  try {
    await call();
  } catch {
    // decrement and resetKey never fail a request: a count left behind ends with its window.
  }
}
