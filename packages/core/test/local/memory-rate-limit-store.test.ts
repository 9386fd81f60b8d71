import { describe, expect, it } from 'vitest';
import { MemoryRateLimitStore, MemoryRateLimitStores } from '../../src/ratelimit/memory-rate-limit-store.js';
import { RateLimiter } from '../../src/ratelimit/rate-limiter.js';
import { describeRateLimitStore } from '../contracts/rate-limiter.contract.js';

/** A clock the test moves by hand, so windows end without sleeping. */
function fakeClock(start = 1_700_000_000_000) {
  let time = start;
  return {
    now: () => time,
    advance: async (ms: number) => {
      time += ms;
    },
  };
}

describeRateLimitStore('memory, fake clock', async () => {
  const clock = fakeClock();
  return { open: (prefix) => new MemoryRateLimitStore({ prefix, now: clock.now }), close: async () => {}, ...clock };
});

describeRateLimitStore('memory, real clock', async () => ({
  open: (prefix) => new MemoryRateLimitStore({ prefix }),
  close: async () => {},
}));

describe('MemoryRateLimitStore', () => {
  it('never tracks more than maxKeys windows, forgetting the oldest', () => {
    const clock = fakeClock();
    const store = new MemoryRateLimitStore({ windowMs: 1000, now: clock.now, maxKeys: 100 });
    for (let i = 0; i < 5000; i += 1) {
      store.increment(`ip-${i}`);
      void clock.advance(0.01);
      expect(store.size).toBeLessThanOrEqual(100);
    }
    expect(store.size).toBe(100);
    // The newest keys are still counted; the oldest were forgotten.
    expect(store.get('ip-4999')?.totalHits).toBe(1);
    expect(store.get('ip-0')).toBeUndefined();
  });

  it('drops ended windows lazily as new ones start', async () => {
    const clock = fakeClock();
    const store = new MemoryRateLimitStore({ windowMs: 1000, now: clock.now });
    for (let i = 0; i < 50; i += 1) store.increment(`old-${i}`);
    expect(store.size).toBe(50);
    await clock.advance(1000);
    store.increment('new');
    expect(store.size).toBe(1);
  });

  it('sweeps ended windows and leaves live ones', async () => {
    const clock = fakeClock();
    const store = new MemoryRateLimitStore({ windowMs: 1000, now: clock.now });
    store.increment('a');
    store.increment('b');
    await clock.advance(500);
    store.increment('c');
    await clock.advance(500);

    expect(store.sweep()).toBe(2);
    expect(store.size).toBe(1);
    expect(store.get('c')?.totalHits).toBe(1);
  });

  it('sweeps on its timer between init and shutdown, both safe twice', async () => {
    const clock = fakeClock();
    const store = new MemoryRateLimitStore({ now: clock.now, sweepIntervalMs: 10 });
    store.init({ windowMs: 1000 });
    store.init({ windowMs: 1000 });
    store.increment('a');
    store.increment('b');
    await clock.advance(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.size).toBe(0);

    store.shutdown();
    store.shutdown();
    // Still counts after shutdown, so requests in flight stay limited; only the timer is gone.
    expect(store.increment('c').totalHits).toBe(1);
    await clock.advance(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.size).toBe(1);
  });

  it('rejects invalid options as configuration errors, and counting before it knows its window', () => {
    expect(() => new MemoryRateLimitStore({ maxKeys: 0 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => new MemoryRateLimitStore({ windowMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => new MemoryRateLimitStore().init({ windowMs: Number.NaN })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => new MemoryRateLimitStore().increment('k')).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });
});

describe('MemoryRateLimitStores', () => {
  it('makes a separate store per policy, named by its prefix, and stops their timers on close', () => {
    const stores = new MemoryRateLimitStores();
    const login = stores.storeFor({ name: 'login', limit: 5, windowMs: 900_000 });
    const loginIp = stores.storeFor({ name: 'login-ip', limit: 100, windowMs: 86_400_000 });
    expect(login.prefix).toBe('login:');
    expect(loginIp.prefix).toBe('login-ip:');
    expect(login.localKeys).toBe(true);

    login.init({ windowMs: 900_000 });
    const counted = login.increment('10.0.0.1');
    expect(counted.totalHits).toBe(1);
    expect(counted.resetTime!.getTime() - Date.now()).toBeGreaterThan(899_000);
    expect(loginIp.increment('10.0.0.1').totalHits).toBe(1);
    stores.close();
    stores.close();
  });
});

describe('RateLimiter', () => {
  const policy = { name: 'search', limit: 2, windowMs: 60_000 };

  it('says how many remain and when to come back, as a value', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter(policy, new MemoryRateLimitStore({ now: clock.now }), { now: clock.now });
    await limiter.start();
    const first = await limiter.attempt('user-1');
    expect(first).toEqual({ allowed: true, limit: 2, remaining: 1, resetAt: clock.now() + 60_000, retryAfterMs: 0 });
    expect(await limiter.attempt('user-1')).toMatchObject({ allowed: true, remaining: 0 });

    await clock.advance(15_000);
    expect(await limiter.attempt('user-1')).toEqual({
      allowed: false,
      limit: 2,
      remaining: 0,
      resetAt: first.resetAt,
      retryAfterMs: 45_000,
    });
    await limiter.close();
  });

  it('takes back a refunded attempt, and forgets a reset key', async () => {
    const limiter = new RateLimiter(policy, new MemoryRateLimitStore({ windowMs: policy.windowMs }));
    await limiter.attempt('alice');
    await limiter.refund('alice');
    await limiter.attempt('alice');
    expect((await limiter.attempt('alice')).allowed).toBe(true);
    expect((await limiter.attempt('alice')).allowed).toBe(false);
    await limiter.reset('alice');
    expect(await limiter.attempt('alice')).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('refuses an invalid policy as a configuration error', () => {
    const store = new MemoryRateLimitStore({ windowMs: 1000 });
    expect(() => new RateLimiter({ name: 'broken', limit: 1.5, windowMs: 1000 }, store)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => new RateLimiter({ name: 'broken', limit: 1, windowMs: 0 }, store)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });
});
