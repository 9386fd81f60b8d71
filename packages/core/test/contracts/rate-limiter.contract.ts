import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RateLimitStore } from '../../src/ratelimit/rate-limit-store.js';
import { RateLimiter } from '../../src/ratelimit/rate-limiter.js';

export interface RateLimitStoreHarness {
  /**
   * A new store whose keys start with `prefix`, not yet initialised: the suite calls `init`, as
   * express-rate-limit does. Stores of one harness share their backend, if it has one.
   */
  open(prefix: string): RateLimitStore;
  close(): Promise<void>;
  /** The stores' clock (epoch ms). Defaults to `Date.now`. */
  now?: () => number;
  /** Moves the stores' clock forward. Defaults to sleeping, for backends on real time. */
  advance?: (ms: number) => Promise<void>;
}

/**
 * What every rate limit store must do, in express-rate-limit's `Store` shape. Prefixes are unique
 * per test, so a shared backend is fine.
 */
export function describeRateLimitStore(name: string, factory: () => Promise<RateLimitStoreHarness>): void {
  describe(`RateLimitStore contract: ${name}`, () => {
    let harness: RateLimitStoreHarness;
    let now: () => number;
    let advance: (ms: number) => Promise<void>;
    let run: string;
    let opened: RateLimitStore[];

    async function store(label: string, windowMs = 60_000): Promise<RateLimitStore> {
      const subject = harness.open(`${label}-${run}:`);
      opened.push(subject);
      await subject.init?.({ windowMs });
      return subject;
    }

    beforeEach(async () => {
      harness = await factory();
      now = harness.now ?? Date.now;
      advance = harness.advance ?? (async (ms) => void (await sleep(ms)));
      run = randomUUID();
      opened = [];
    });

    afterEach(async () => {
      for (const subject of opened) await subject.shutdown?.();
      await harness.close();
    });

    it('counts every hit, past any limit, in one window that ends windowMs after the first', async () => {
      const search = await store('search');
      const startedAt = now();
      const counts = [];
      for (let i = 0; i < 7; i += 1) counts.push(await search.increment('user-1'));

      expect(counts.map((c) => c.totalHits)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      const resetAt = counts[0]!.resetTime!.getTime();
      expect(resetAt).toBeGreaterThan(startedAt);
      expect(resetAt).toBeLessThanOrEqual(now() + 60_000 + 50);
      // A fixed window: later hits do not push its end back.
      for (const count of counts) expect(Math.abs(count.resetTime!.getTime() - resetAt)).toBeLessThanOrEqual(1000);
    });

    it('counts hits made in parallel one after another, never twice the same', async () => {
      const login = await store('login');
      const counts = await Promise.all(Array.from({ length: 60 }, () => login.increment('10.0.0.1 alice')));
      expect(counts.map((c) => c.totalHits).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    });

    it('lets exactly `limit` of many parallel attempts through a RateLimiter', async () => {
      const policy = { name: 'login', limit: 5, windowMs: 60_000 };
      const limiter = new RateLimiter(policy, await store('guarded'), { now });
      const decisions = await Promise.all(Array.from({ length: 60 }, () => limiter.attempt('10.0.0.1 alice')));

      expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
      for (const refused of decisions.filter((d) => !d.allowed)) {
        expect(refused).toMatchObject({ limit: 5, remaining: 0 });
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
      }
    });

    it('gives a hit back on decrement, never below zero', async () => {
      const login = await store('login');
      await login.increment('bob');
      await login.increment('bob');
      await login.decrement('bob');
      expect((await login.increment('bob')).totalHits).toBe(2);

      await login.decrement('bob');
      await login.decrement('bob');
      await login.decrement('bob');
      expect((await login.increment('bob')).totalHits).toBe(1);
      // Giving back a hit never counted leaves nothing behind.
      await login.decrement('nobody');
      expect((await login.increment('nobody')).totalHits).toBe(1);
    });

    it('starts afresh after resetKey', async () => {
      const register = await store('register');
      for (let i = 0; i < 3; i += 1) await register.increment('10.0.0.2');
      await register.resetKey('10.0.0.2');
      expect((await register.increment('10.0.0.2')).totalHits).toBe(1);
      // Resetting a key with no count is harmless.
      await register.resetKey('nobody');
    });

    it('keeps keys apart, and stores of different prefixes apart', async () => {
      const search = await store('search');
      const download = await store('download');
      await search.increment('user-1');
      await search.increment('user-1');

      expect((await search.increment('user-2')).totalHits).toBe(1);
      expect((await download.increment('user-1')).totalHits).toBe(1);
      await search.resetKey('user-1');
      expect((await download.increment('user-1')).totalHits).toBe(2);
    });

    it('reports a count without counting, when it can', async () => {
      const global = await store('global');
      if (!global.get) return;
      expect(await global.get('10.0.0.3')).toBeUndefined();
      const counted = await global.increment('10.0.0.3');
      const seen = await global.get('10.0.0.3');
      expect(seen?.totalHits).toBe(1);
      // The same window end, give or take the ms between two round trips: a Redis store turns the
      // key's remaining TTL into a date on each call, on the client's clock.
      expect(Math.abs(seen!.resetTime!.getTime() - counted.resetTime!.getTime())).toBeLessThanOrEqual(50);
      expect((await global.increment('10.0.0.3')).totalHits).toBe(2);
    });

    it('opens a new window once windowMs has passed', async () => {
      const burst = await store('burst', 300);
      await burst.increment('k');
      const second = await burst.increment('k');
      expect(second.totalHits).toBe(2);

      await advance(100);
      expect((await burst.increment('k')).totalHits).toBe(3);

      await advance(second.resetTime!.getTime() - now() + 20);
      const fresh = await burst.increment('k');
      expect(fresh.totalHits).toBe(1);
      expect(fresh.resetTime!.getTime()).toBeGreaterThan(second.resetTime!.getTime());
    });
  });
}
