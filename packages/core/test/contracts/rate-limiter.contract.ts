import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RateLimiter, RateLimitPolicy } from '../../src/ratelimit/rate-limiter.js';

export interface RateLimiterHarness {
  subject: RateLimiter;
  close(): Promise<void>;
  /** The limiter's clock (epoch ms). Defaults to `Date.now`. */
  now?: () => number;
  /** Moves the limiter's clock forward. Defaults to sleeping, for backends on real time. */
  advance?: (ms: number) => Promise<void>;
}

/** What every `RateLimiter` adapter must do. Policy names are unique per test, so a shared backend is fine. */
export function describeRateLimiter(name: string, factory: () => Promise<RateLimiterHarness>): void {
  describe(`RateLimiter contract: ${name}`, () => {
    let harness: RateLimiterHarness;
    let limiter: RateLimiter;
    let now: () => number;
    let advance: (ms: number) => Promise<void>;
    let run: string;

    const policy = (label: string, limit: number, windowMs = 60_000): RateLimitPolicy => ({
      name: `${label}-${run}`,
      limit,
      windowMs,
    });

    beforeEach(async () => {
      harness = await factory();
      limiter = harness.subject;
      now = harness.now ?? Date.now;
      advance = harness.advance ?? (async (ms) => void (await sleep(ms)));
      run = randomUUID();
    });

    afterEach(async () => {
      await harness.close();
    });

    it('allows exactly `limit` hits in a window, counting `remaining` down', async () => {
      const search = policy('search', 5);
      const startedAt = now();
      const decisions = [];
      for (let i = 0; i < 5; i += 1) decisions.push(await limiter.hit(search, 'user-1'));

      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true]);
      expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0]);
      for (const decision of decisions) {
        expect(decision.limit).toBe(5);
        expect(decision.retryAfterMs).toBe(0);
        expect(decision.resetAt).toBeGreaterThan(startedAt);
        expect(decision.resetAt).toBeLessThanOrEqual(now() + 60_000 + 50);
      }
    });

    it('refuses the hit after the limit with a Retry-After inside the window', async () => {
      const download = policy('download', 3);
      for (let i = 0; i < 3; i += 1) await limiter.hit(download, 'user-1');

      for (let i = 0; i < 2; i += 1) {
        const refused = await limiter.hit(download, 'user-1');
        expect(refused.allowed).toBe(false);
        expect(refused.remaining).toBe(0);
        expect(refused.limit).toBe(3);
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
        expect(refused.resetAt).toBeGreaterThan(now());
      }
    });

    it('peeks without counting', async () => {
      const login = policy('login', 2);
      const fresh = await limiter.peek(login, '10.0.0.1');
      expect(fresh).toMatchObject({ allowed: true, limit: 2, remaining: 2, retryAfterMs: 0 });
      await limiter.peek(login, '10.0.0.1');
      await limiter.peek(login, '10.0.0.1');

      expect((await limiter.hit(login, '10.0.0.1')).remaining).toBe(1);
      expect(await limiter.peek(login, '10.0.0.1')).toMatchObject({ allowed: true, remaining: 1 });
      expect((await limiter.hit(login, '10.0.0.1')).allowed).toBe(true);

      const exhausted = await limiter.peek(login, '10.0.0.1');
      expect(exhausted).toMatchObject({ allowed: false, remaining: 0 });
      expect(exhausted.retryAfterMs).toBeGreaterThan(0);
      expect(exhausted.retryAfterMs).toBeLessThanOrEqual(60_000);
    });

    it('starts afresh after reset', async () => {
      const login = policy('login', 2);
      await limiter.hit(login, 'alice');
      await limiter.hit(login, 'alice');
      expect((await limiter.hit(login, 'alice')).allowed).toBe(false);

      await limiter.reset(login, 'alice');
      expect(await limiter.peek(login, 'alice')).toMatchObject({ allowed: true, remaining: 2 });
      expect(await limiter.hit(login, 'alice')).toMatchObject({ allowed: true, remaining: 1 });
      // Resetting a key with no window is harmless.
      await limiter.reset(login, 'nobody');
    });

    it('keeps keys and policies apart', async () => {
      const search = policy('search', 1);
      const download = policy('download', 1);
      expect((await limiter.hit(search, 'user-1')).allowed).toBe(true);
      expect((await limiter.hit(search, 'user-1')).allowed).toBe(false);

      expect((await limiter.hit(search, 'user-2')).allowed).toBe(true);
      expect((await limiter.hit(download, 'user-1')).allowed).toBe(true);
      // Names that would collide if naively concatenated.
      const joined = policy('a', 1);
      const split = { ...joined, name: `${joined.name}:x` };
      expect((await limiter.hit(joined, 'x:y')).allowed).toBe(true);
      expect((await limiter.hit(split, 'y')).allowed).toBe(true);

      await limiter.reset(search, 'user-1');
      expect((await limiter.hit(search, 'user-2')).allowed).toBe(false);
    });

    it('opens a new window once windowMs has passed', async () => {
      const burst = policy('burst', 2, 300);
      expect((await limiter.hit(burst, 'k')).allowed).toBe(true);
      expect((await limiter.hit(burst, 'k')).allowed).toBe(true);
      const refused = await limiter.hit(burst, 'k');
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(300);

      await advance(100);
      const later = await limiter.hit(burst, 'k');
      expect(later.allowed).toBe(false);
      expect(later.retryAfterMs).toBeLessThan(refused.retryAfterMs);

      await advance(refused.retryAfterMs + 20);
      expect(await limiter.hit(burst, 'k')).toMatchObject({ allowed: true, remaining: 1 });
      expect((await limiter.hit(burst, 'k')).allowed).toBe(true);
      expect((await limiter.hit(burst, 'k')).allowed).toBe(false);
    });
  });
}
