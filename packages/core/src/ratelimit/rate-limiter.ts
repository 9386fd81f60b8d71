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

/** Counts hits per policy and key in fixed windows. Being limited is a value, not an error. */
export interface RateLimiter {
  readonly backend: string;
  /** Counts a hit and says whether it was within the limit. */
  hit(policy: RateLimitPolicy, key: string): Promise<RateLimitDecision>;
  /** Says whether a hit would be allowed, without counting one. */
  peek(policy: RateLimitPolicy, key: string): Promise<RateLimitDecision>;
  reset(policy: RateLimitPolicy, key: string): Promise<void>;
}
