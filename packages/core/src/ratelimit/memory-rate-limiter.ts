import { ConfigError } from '../errors.js';
import type { RateLimitDecision, RateLimiter, RateLimitPolicy } from './rate-limiter.js';

export interface MemoryRateLimiterOptions {
  /** Epoch milliseconds; tests pass a fake clock. */
  now?: () => number;
  /**
   * Most windows kept at once. Past it the oldest are forgotten, which lets those keys start
   * afresh: under a flood of distinct keys, bounded memory matters more than exact counts.
   */
  maxKeys?: number;
  /** How often the timer started by `start()` drops expired windows. */
  sweepIntervalMs?: number;
}

interface Window {
  count: number;
  /** Epoch ms; the window starts at its first hit, as with a Redis key that expires. */
  resetAt: number;
}

/** Fixed windows in this process's memory. Instances do not share counts; use Redis for that. */
export class MemoryRateLimiter implements RateLimiter {
  readonly backend = 'memory';
  private readonly now: () => number;
  private readonly maxKeys: number;
  private readonly sweepIntervalMs: number;
  /** In order of window start, so the first entries are the oldest. */
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryRateLimiterOptions = {}) {
    const { now = Date.now, maxKeys = 100_000, sweepIntervalMs = 60_000 } = options;
    const problems = [
      ...(Number.isSafeInteger(maxKeys) && maxKeys > 0 ? [] : ['maxKeys must be a positive integer']),
      ...(sweepIntervalMs > 0 ? [] : ['sweepIntervalMs must be positive']),
    ];
    if (problems.length > 0) throw new ConfigError(problems);
    this.now = now;
    this.maxKeys = maxKeys;
    this.sweepIntervalMs = sweepIntervalMs;
  }

  /** Windows currently tracked. */
  get size(): number {
    return this.windows.size;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async hit(policy: RateLimitPolicy, key: string): Promise<RateLimitDecision> {
    checkPolicy(policy);
    const now = this.now();
    const id = windowId(policy, key);
    let window = this.current(id, now);
    if (!window) {
      window = { count: 0, resetAt: now + policy.windowMs };
      this.track(id, window, now);
    }
    window.count += 1;
    return decide(policy, window.count <= policy.limit, window, now);
  }

  async peek(policy: RateLimitPolicy, key: string): Promise<RateLimitDecision> {
    checkPolicy(policy);
    const now = this.now();
    const window = this.current(windowId(policy, key), now) ?? { count: 0, resetAt: now + policy.windowMs };
    return decide(policy, window.count < policy.limit, window, now);
  }

  async reset(policy: RateLimitPolicy, key: string): Promise<void> {
    this.windows.delete(windowId(policy, key));
  }

  /** Drops every expired window. Returns how many it dropped. */
  sweep(): number {
    const now = this.now();
    let dropped = 0;
    for (const [id, window] of this.windows) {
      if (now >= window.resetAt) {
        this.windows.delete(id);
        dropped += 1;
      }
    }
    return dropped;
  }

  /** The live window for `id`, dropping it if it has expired. */
  private current(id: string, now: number): Window | undefined {
    const window = this.windows.get(id);
    if (window && now >= window.resetAt) {
      this.windows.delete(id);
      return undefined;
    }
    return window;
  }

  private track(id: string, window: Window, now: number): void {
    this.windows.set(id, window);
    // Lazy sweep: expired windows at the head go first, each at most once, so this stays cheap.
    for (const [oldId, old] of this.windows) {
      if (now < old.resetAt) break;
      this.windows.delete(oldId);
    }
    for (const oldId of this.windows.keys()) {
      if (this.windows.size <= this.maxKeys) break;
      this.windows.delete(oldId);
    }
  }
}

function decide(policy: RateLimitPolicy, allowed: boolean, window: Window, now: number): RateLimitDecision {
  return {
    allowed,
    limit: policy.limit,
    remaining: Math.max(0, policy.limit - window.count),
    resetAt: window.resetAt,
    retryAfterMs: allowed ? 0 : Math.max(1, window.resetAt - now),
  };
}

function checkPolicy(policy: RateLimitPolicy): void {
  if (!Number.isSafeInteger(policy.limit) || policy.limit < 0 || !(policy.windowMs > 0)) {
    throw new ConfigError([`rate limit policy ${policy.name}: limit must be an integer ≥ 0 and windowMs positive`]);
  }
}

/** The NUL separator keeps ('a:b', 'c') and ('a', 'b:c') apart. */
function windowId(policy: RateLimitPolicy, key: string): string {
  return `${policy.name}\u0000${key}`;
}
