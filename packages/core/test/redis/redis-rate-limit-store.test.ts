import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { FallbackRateLimitStores, type RateLimitFallbackMode } from '../../src/ratelimit/fallback-rate-limit-store.js';
import type { RateLimitStore } from '../../src/ratelimit/rate-limit-store.js';
import { RateLimiter, type RateLimitPolicy } from '../../src/ratelimit/rate-limiter.js';
import { RedisRateLimitStores } from '../../src/ratelimit/redis-rate-limit-store.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { describeRateLimitStore } from '../contracts/rate-limiter.contract.js';
import { ownRedisServer } from './own-redis-server.js';
import { sharedRedisUrl, uniqueRedisPrefix } from './shared-redis.js';

/** A policy named after the contract's prefix, so each test's keys stay apart. */
const policyFor = (name: string, windowMs = 60_000): RateLimitPolicy => ({ name, limit: 5, windowMs });

async function sharedConnection(): Promise<RedisConnection> {
  const connection = new RedisConnection({ url: sharedRedisUrl(), prefix: uniqueRedisPrefix() });
  await connection.waitUntilReady();
  return connection;
}

describeRateLimitStore('redis (rate-limit-redis)', async () => {
  const connection = await sharedConnection();
  const stores = new RedisRateLimitStores(connection);
  return { open: (prefix) => stores.storeFor(policyFor(prefix)), close: () => connection.close() };
});

describeRateLimitStore('fallback over redis', async () => {
  const connection = await sharedConnection();
  const stores = new FallbackRateLimitStores({ primary: new RedisRateLimitStores(connection), mode: 'local' });
  return {
    open: (prefix) => stores.storeFor(policyFor(prefix)),
    close: async () => {
      await stores.close();
      await connection.close();
    },
  };
});

describe('RedisRateLimitStores on the shared redis-server', () => {
  let connection: RedisConnection;
  let admin: Redis;

  beforeAll(async () => {
    connection = await sharedConnection();
    admin = new Redis(sharedRedisUrl());
    admin.on('error', () => undefined);
  });
  afterAll(async () => {
    await connection.close();
    admin.disconnect();
  });

  it('keeps each policy under <prefix>rl:<policy>: and counts 50 parallel hits exactly once each', async () => {
    const store = new RedisRateLimitStores(connection).storeFor(policyFor('search'));
    expect(store.prefix).toBe(`${connection.prefix}rl:search:`);
    expect(store.localKeys).toBe(false);

    const counts = await Promise.all(Array.from({ length: 50 }, () => store.increment('user-1')));
    expect(counts.map((c) => c.totalHits).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const key = `${connection.prefix}rl:search:user-1`;
    expect(await admin.get(key)).toBe('50');
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('decrements only a count above 0, keeping its TTL, and leaves no key behind a missing or ended one', async () => {
    const stores = new RedisRateLimitStores(connection);
    const store = stores.storeFor(policyFor('login'));
    const key = `${connection.prefix}rl:login:bob`;
    await store.increment('bob');
    await store.increment('bob');
    for (let i = 0; i < 4; i += 1) await store.decrement('bob');
    expect(await admin.get(key)).toBe('0');
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    await store.decrement('nobody');
    expect(await admin.exists(`${connection.prefix}rl:login:nobody`)).toBe(0);

    // rate-limit-redis's bare DECR would leave -1 with no TTL here, a key that never expires.
    const short = stores.storeFor(policyFor('short', 100));
    await short.increment('carol');
    await sleep(150);
    await short.decrement('carol');
    expect(await admin.exists(`${connection.prefix}rl:short:carol`)).toBe(0);
  });

  it('reports no count for a key never counted, and the count of one that was', async () => {
    const store = new RedisRateLimitStores(connection).storeFor(policyFor('global'));
    expect(await store.get('10.0.0.9')).toBeUndefined();
    await store.increment('10.0.0.9');
    expect((await store.get('10.0.0.9'))?.totalHits).toBe(1);
  });
});

describe('FallbackRateLimitStores', () => {
  it("takes the primary's prefix and backend, keeps localKeys false, and refuses an unknown mode", async () => {
    const connection = await sharedConnection();
    try {
      const stores = new FallbackRateLimitStores({ primary: new RedisRateLimitStores(connection), mode: 'local' });
      const store = stores.storeFor(policyFor('search'));
      expect(stores.backend).toBe('redis');
      expect(store.prefix).toBe(`${connection.prefix}rl:search:`);
      expect(store.localKeys).toBe(false);
      await stores.close();
      await stores.close();
      expect(() => new FallbackRateLimitStores({ primary: stores, mode: 'closed' as RateLimitFallbackMode })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG' }),
      );
    } finally {
      await connection.close();
    }
  });

  it('answers from the local store even when a listener throws, and stops telling a listener that unsubscribed', async () => {
    const connection = await sharedConnection();
    // A closed connection fails every command at once, as a dead Redis behind an open breaker does.
    await connection.close();
    const stores = new FallbackRateLimitStores({ primary: new RedisRateLimitStores(connection), mode: 'local' });
    const told: string[] = [];
    stores.onFallback(() => {
      throw new Error('a broken metrics listener');
    });
    const stop = stores.onFallback((policy) => told.push(policy));
    const store = stores.storeFor(policyFor('download'));
    await store.init({ windowMs: 60_000 });
    expect((await store.increment('user-1')).totalHits).toBe(1);
    expect((await store.increment('user-1')).totalHits).toBe(2);
    expect((await store.get('user-1'))?.totalHits).toBe(2);
    stop();
    expect((await store.increment('user-1')).totalHits).toBe(3);
    expect(told).toEqual(['download', 'download']);
    await stores.close();
  });
});

/**
 * Commands clients sent since Redis started (run or refused), by name: round trips, as the store
 * sends one command at a time. Left out: INFO (the test's own) and what the two scripts run
 * inside Redis, which commandstats counts too.
 */
const RUN_BY_SCRIPTS = new Set(['info', 'pttl', 'set', 'incr', 'get', 'decr']);
async function commandCounts(admin: Redis): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await admin.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),.*?rejected_calls=(\d+)/.exec(line.trim());
    if (match && !RUN_BY_SCRIPTS.has(match[1]!)) counts.set(match[1]!, Number(match[2]) + Number(match[3]));
  }
  return counts;
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const changed: Record<string, number> = {};
  for (const [name, count] of after) if (count !== (before.get(name) ?? 0)) changed[name] = count - (before.get(name) ?? 0);
  return changed;
}

async function eventually<T>(attempt: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt().catch(() => undefined);
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('Redis rate limits against a redis-server that dies', () => {
  // Every test starts from a live, empty server.
  const server = ownRedisServer({ restartBeforeEach: true });
  const connections: RedisConnection[] = [];
  const closers: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    for (const connection of connections.splice(0)) await connection.close();
  });

  /** A connection whose breaker probes again soon, so recovery is quick to see. */
  function connect(): RedisConnection {
    const connection = new RedisConnection({ url: server.url, prefix: 'rl-test:', breaker: { failureThreshold: 2, openMs: 100, maxOpenMs: 200 } });
    connections.push(connection);
    return connection;
  }

  function adminClient(): Redis {
    const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
    // Refused connections while the test has killed Redis are expected.
    admin.on('error', () => undefined);
    closers.push(async () => admin.disconnect());
    return admin;
  }

  function fallbackStores(connection: RedisConnection, mode: RateLimitFallbackMode) {
    const stores = new FallbackRateLimitStores({ primary: new RedisRateLimitStores(connection), mode });
    const fellBack: string[] = [];
    stores.onFallback((policy) => fellBack.push(policy));
    closers.push(() => stores.close());
    return { stores, fellBack };
  }

  /** Waits until `store` counts in Redis again, and gives back the hit it took to see so. */
  async function untilShared(store: RateLimitStore, fellBack: string[]): Promise<void> {
    await eventually(async () => {
      const before = fellBack.length;
      await store.increment('probe');
      return fellBack.length === before ? true : undefined;
    });
  }

  it('costs one round trip per increment and per decrement, two only when Redis lacks the script (new, or restarted)', async () => {
    const connection = connect();
    await connection.waitUntilReady();
    const admin = adminClient();
    const stores = new RedisRateLimitStores(connection);
    const store = stores.storeFor(policyFor('search'));
    await store.init({ windowMs: 60_000 });
    const sent = async (work: () => Promise<unknown>) => {
      const before = await commandCounts(admin);
      await work();
      return delta(before, await commandCounts(admin));
    };

    // init sent nothing (no SCRIPT LOAD): a Redis that never saw the script answers NOSCRIPT once.
    expect(await sent(() => store.increment('user-1'))).toEqual({ evalsha: 1, eval: 1 });
    expect(await sent(async () => {
      for (let i = 2; i <= 21; i += 1) expect((await store.increment('user-1')).totalHits).toBe(i);
    })).toEqual({ evalsha: 20 });
    // The decrement script is new to this Redis: EVALSHA meets NOSCRIPT, then one EVAL loads it.
    expect(await sent(() => store.decrement('user-1'))).toEqual({ evalsha: 1, eval: 1 });
    expect(await sent(async () => {
      for (let i = 0; i < 5; i += 1) await store.decrement('user-1');
    })).toEqual({ evalsha: 5 });

    await server.restart();
    await connection.waitUntilReady(5000);
    await eventually(async () => ((await admin.ping()) === 'PONG' ? true : undefined));
    let first: number | undefined;
    expect(await sent(async () => void (first = (await store.increment('user-1')).totalHits))).toEqual({ evalsha: 1, eval: 1 });
    expect(first).toBe(1);
    expect(await sent(() => store.increment('user-1'))).toEqual({ evalsha: 1 });
  });

  it('makes a store while Redis is down that counts once Redis is up, never stuck on its init', async () => {
    await server.kill();
    const connection = connect();
    const store = new RedisRateLimitStores(connection).storeFor(policyFor('register'));
    const started = performance.now();
    await store.init({ windowMs: 60_000 });
    expect(performance.now() - started).toBeLessThan(50);
    await expect(store.increment('10.0.0.1')).rejects.toBeInstanceOf(UnavailableError);

    await server.restart();
    const first = await eventually(() => store.increment('10.0.0.1'));
    expect(first.totalHits).toBe(1);
    expect((await store.increment('10.0.0.1')).totalHits).toBe(2);
    await store.decrement('10.0.0.1');
    expect((await store.increment('10.0.0.1')).totalHits).toBe(2);
  });

  it('resumes counting after a restart that lost every script and key, with no error surfaced', async () => {
    const connection = connect();
    await connection.waitUntilReady();
    const store = new RedisRateLimitStores(connection).storeFor(policyFor('download'));
    for (let i = 1; i <= 3; i += 1) expect((await store.increment('user-7')).totalHits).toBe(i);
    await store.decrement('user-7');

    await server.restart();
    await connection.waitUntilReady(5000);
    // The increment script and the decrement script both come back through EVAL.
    const counts = [];
    for (let i = 0; i < 3; i += 1) counts.push((await store.increment('user-7')).totalHits);
    expect(counts).toEqual([1, 2, 3]);
    await store.decrement('user-7');
    expect((await store.increment('user-7')).totalHits).toBe(3);
    expect(connection.breaker.state).toBe('closed');
  });

  it("with Redis killed under load, 'local' limits in-process at once, each answer fast, every fallback told", async () => {
    const connection = connect();
    await connection.waitUntilReady();
    const { stores, fellBack } = fallbackStores(connection, 'local');
    const policy = { name: 'login', limit: 3, windowMs: 60_000 };
    const limiter = new RateLimiter(policy, stores.storeFor(policy));
    await limiter.start();
    expect((await limiter.attempt('before')).allowed).toBe(true);
    expect(fellBack).toEqual([]);

    const timings: number[] = [];
    const timed = async (key: string) => {
      const started = performance.now();
      const decision = await limiter.attempt(key);
      timings.push(performance.now() - started);
      return decision;
    };
    // Killed while 40 attempts are in flight: each is answered, from Redis or from the fallback.
    const inFlight = Promise.all(Array.from({ length: 40 }, (_, i) => timed(`load-${i}`)));
    const killed = server.kill();
    const underLoad = await inFlight;
    await killed;
    expect(underLoad.every((decision) => decision.allowed)).toBe(true);

    const decisions = [];
    for (let i = 0; i < 4; i += 1) decisions.push(await timed('10.0.0.1 alice'));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions[3]).toMatchObject({ remaining: 0 });
    expect(decisions[3]!.retryAfterMs).toBeGreaterThan(59_000);
    // Another key has its own local count.
    expect((await timed('10.0.0.2 alice')).allowed).toBe(true);

    const slowest = Math.max(...timings);
    console.info(`rate limit fallback 'local', Redis killed: slowest answer ${slowest.toFixed(1)} ms of ${timings.length}`);
    expect(slowest).toBeLessThan(300);
    expect(fellBack.length).toBeGreaterThanOrEqual(5);
    expect(fellBack.every((name) => name === 'login')).toBe(true);
  });

  it("with Redis killed, 'open' lets every request through and tells each fallback", async () => {
    const connection = connect();
    await connection.waitUntilReady();
    const { stores, fellBack } = fallbackStores(connection, 'open');
    const policy = { name: 'search', limit: 3, windowMs: 60_000 };
    const limiter = new RateLimiter(policy, stores.storeFor(policy));
    await limiter.start();
    await server.kill();

    const decisions = [];
    for (let i = 0; i < 10; i += 1) decisions.push(await limiter.attempt('user-1'));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(fellBack).toEqual(Array.from({ length: 10 }, () => 'search'));
    // Refunds and resets while Redis is down resolve: express-rate-limit would log a rejection.
    await expect(limiter.refund('user-1')).resolves.toBeUndefined();
    await expect(limiter.reset('user-1')).resolves.toBeUndefined();
    expect(fellBack).toHaveLength(10);
  });

  it('answers within the command timeout while Redis is paused, then at once once the breaker opens', async () => {
    const connection = connect();
    await connection.waitUntilReady();
    const { stores, fellBack } = fallbackStores(connection, 'local');
    const policy = { name: 'register', limit: 2, windowMs: 60_000 };
    const limiter = new RateLimiter(policy, stores.storeFor(policy));
    await limiter.start();
    server.pause();
    try {
      const timings: number[] = [];
      const decisions = [];
      for (let i = 0; i < 4; i += 1) {
        const started = performance.now();
        decisions.push(await limiter.attempt('10.0.0.3'));
        timings.push(performance.now() - started);
      }
      console.info(`rate limit fallback 'local', Redis paused: answers in ${timings.map((t) => t.toFixed(0)).join(', ')} ms`);
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, false, false]);
      // One command timeout (250 ms) at most: a timed-out EVALSHA is never followed by an EVAL.
      expect(Math.max(...timings)).toBeLessThan(450);
      expect(timings[3]!).toBeLessThan(20);
      expect(fellBack).toHaveLength(4);
    } finally {
      server.resume();
    }
  });

  it('shares one count between two instances again once Redis is back after a restart', async () => {
    const [a, b] = [connect(), connect()];
    await Promise.all([a.waitUntilReady(), b.waitUntilReady()]);
    const policy = { name: 'login', limit: 3, windowMs: 60_000 };
    const first = fallbackStores(a, 'local');
    const second = fallbackStores(b, 'local');
    const storeA = first.stores.storeFor(policy);
    const storeB = second.stores.storeFor(policy);
    await Promise.all([storeA.init({ windowMs: policy.windowMs }), storeB.init({ windowMs: policy.windowMs })]);
    expect((await storeA.increment('k')).totalHits).toBe(1);
    expect((await storeB.increment('k')).totalHits).toBe(2);

    await server.kill();
    // Apart while Redis is dead: each counts in its own process.
    expect((await storeA.increment('k')).totalHits).toBe(1);
    expect((await storeB.increment('k')).totalHits).toBe(1);
    expect((await storeB.increment('k')).totalHits).toBe(2);

    await server.restart();
    await untilShared(storeA, first.fellBack);
    await untilShared(storeB, second.fellBack);
    const fallbacksBefore = first.fellBack.length + second.fellBack.length;
    const shared = [];
    for (let i = 0; i < 2; i += 1) {
      shared.push((await storeA.increment('k')).totalHits);
      shared.push((await storeB.increment('k')).totalHits);
    }
    // The restart lost the old count: one fresh count, seen by both.
    expect(shared).toEqual([1, 2, 3, 4]);
    expect(first.fellBack.length + second.fellBack.length).toBe(fallbacksBefore);
  });

  it('gives a refund back where the hit was counted: locally during the outage, in Redis after it', async () => {
    const connection = connect();
    await connection.waitUntilReady();
    const admin = adminClient();
    const { stores, fellBack } = fallbackStores(connection, 'local');
    const store = stores.storeFor(policyFor('login'));
    await store.init({ windowMs: 60_000 });
    await store.increment('pair');
    await store.increment('pair');

    await server.kill();
    expect((await store.increment('pair')).totalHits).toBe(1);
    expect((await store.increment('pair')).totalHits).toBe(2);
    await store.decrement('pair');
    await store.decrement('pair');
    expect((await store.increment('pair')).totalHits).toBe(1);

    await server.restart();
    await untilShared(store, fellBack);
    expect((await store.increment('pair')).totalHits).toBe(1);
    expect((await store.increment('pair')).totalHits).toBe(2);
    await store.decrement('pair');
    expect(await admin.get('rl-test:rl:login:pair')).toBe('1');
    await store.resetKey('pair');
    expect(await admin.exists('rl-test:rl:login:pair')).toBe(0);
  });
});
