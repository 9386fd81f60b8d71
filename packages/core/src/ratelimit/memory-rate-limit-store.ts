import { ConfigError } from '../errors.js';
import type { RateLimitCount, RateLimitStore, RateLimitStoreOptions, RateLimitStores } from './rate-limit-store.js';
import type { RateLimitPolicy } from './rate-limiter.js';

export interface MemoryRateLimitStoreOptions {
  /** The window; `init` sets it too, as express-rate-limit passes it there. */
  windowMs?: number;
  /** Only reported: each store keeps its own map, so keys cannot collide across policies. */
  prefix?: string;
  /** Epoch milliseconds; tests pass a fake clock. */
  now?: () => number;
  /**
   * Most windows kept at once. Past it the oldest are forgotten, which lets those keys start
   * afresh: under a flood of distinct keys, bounded memory matters more than exact counts.
   */
  maxKeys?: number;
  /** How often the timer started by `init` drops expired windows. */
  sweepIntervalMs?: number;
}

interface Window {
  count: number;
  /** Epoch ms; the window starts at its first hit, as with a Redis key that expires. */
  resetAt: number;
}

/**
 * Fixed windows in this process's memory, synchronous. Instances do not share counts; use a
 * Redis store for that. Counting and checking happen in one synchronous step, so parallel
 * requests are counted one after another.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly localKeys = true;
  readonly prefix: string;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #sweepIntervalMs: number;
  #windowMs: number | undefined;
  /** In order of window start, so the first entries are the oldest. */
  readonly #windows = new Map<string, Window>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    const { windowMs, prefix = '', now = Date.now, maxKeys = 100_000, sweepIntervalMs = 60_000 } = options;
    const problems = [
      ...(windowMs === undefined || windowMs > 0 ? [] : ['windowMs must be positive']),
      ...(Number.isSafeInteger(maxKeys) && maxKeys > 0 ? [] : ['maxKeys must be a positive integer']),
      ...(sweepIntervalMs > 0 ? [] : ['sweepIntervalMs must be positive']),
    ];
    if (problems.length > 0) throw new ConfigError(problems);
    this.#windowMs = windowMs;
    this.prefix = prefix;
    this.#now = now;
    this.#maxKeys = maxKeys;
    this.#sweepIntervalMs = sweepIntervalMs;
  }

  /** Windows currently tracked. */
  get size(): number {
    return this.#windows.size;
  }

  /** Takes the window and starts the sweep timer; safe to call again. */
  init(options: RateLimitStoreOptions): void {
    if (!(options.windowMs > 0)) throw new ConfigError([`windowMs must be positive (got ${options.windowMs})`]);
    this.#windowMs = options.windowMs;
    if (this.#timer) return;
    this.#timer = setInterval(() => this.sweep(), this.#sweepIntervalMs);
    this.#timer.unref();
  }

  /** Stops the sweep timer; counts stay, so requests still in flight are limited. Safe twice. */
  shutdown(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  get(key: string): RateLimitCount | undefined {
    const window = this.#current(key, this.#now());
    return window && countOf(window);
  }

  increment(key: string): RateLimitCount {
    const now = this.#now();
    let window = this.#current(key, now);
    if (!window) {
      window = { count: 0, resetAt: now + this.#window() };
      this.#track(key, window, now);
    }
    window.count += 1;
    return countOf(window);
  }

  decrement(key: string): void {
    const window = this.#current(key, this.#now());
    if (window && window.count > 0) window.count -= 1;
  }

  resetKey(key: string): void {
    this.#windows.delete(key);
  }

  /** Drops every expired window. Returns how many it dropped. */
  sweep(): number {
    const now = this.#now();
    let dropped = 0;
    for (const [key, window] of this.#windows) {
      if (now >= window.resetAt) {
        this.#windows.delete(key);
        dropped += 1;
      }
    }
    return dropped;
  }

  #window(): number {
    if (this.#windowMs === undefined) throw new ConfigError(['MemoryRateLimitStore: windowMs is unknown; call init first']);
    return this.#windowMs;
  }

  /** The live window of `key`, dropping it if it has ended. */
  #current(key: string, now: number): Window | undefined {
    const window = this.#windows.get(key);
    if (window && now >= window.resetAt) {
      this.#windows.delete(key);
      return undefined;
    }
    return window;
  }

  #track(key: string, window: Window, now: number): void {
    this.#windows.set(key, window);
    // Lazy sweep: ended windows at the head go first, each at most once, so this stays cheap.
    for (const [oldKey, old] of this.#windows) {
      if (now < old.resetAt) break;
      this.#windows.delete(oldKey);
    }
    for (const oldKey of this.#windows.keys()) {
      if (this.#windows.size <= this.#maxKeys) break;
      this.#windows.delete(oldKey);
    }
  }
}

function countOf(window: Window): RateLimitCount {
  return { totalHits: window.count, resetTime: new Date(window.resetAt) };
}

/** The embedded backend's stores: a separate map per policy, each bounded and swept. */
export class MemoryRateLimitStores implements RateLimitStores {
  readonly backend = 'memory';
  readonly #options: Omit<MemoryRateLimitStoreOptions, 'windowMs' | 'prefix'>;
  readonly #made = new Set<MemoryRateLimitStore>();

  constructor(options: Omit<MemoryRateLimitStoreOptions, 'windowMs' | 'prefix'> = {}) {
    this.#options = options;
  }

  storeFor(policy: RateLimitPolicy): MemoryRateLimitStore {
    const store = new MemoryRateLimitStore({ ...this.#options, windowMs: policy.windowMs, prefix: `${policy.name}:` });
    this.#made.add(store);
    return store;
  }

  /** Stops the timers of every store made. Safe twice. */
  close(): void {
    for (const store of this.#made) store.shutdown();
  }
}
