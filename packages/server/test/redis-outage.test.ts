import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { startRedisServer, type RedisTestServer } from '../../core/test/redis/redis-test-server.js';
import { readinessProbe, stopProbes } from './support/search-probes.js';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * Redis dies under load and comes back empty (no keys, no scripts), as a Redis that lost its
 * memory does. Nobody may notice but the operator: no 5xx, no request waiting on the dead
 * Redis for long, limits kept in-process meanwhile (or none, with MIXTAPE_RATE_LIMIT_FALLBACK
 * set to open), and the limits shared through Redis again once it answers.
 */

const QUERY = encodeURIComponent(DEMO_TRACKS[0]!.title.split(' ')[0]!);
/** Roomy everywhere but search, which is tight enough to see a limit hold with 4 requests. */
const RATE_LIMITS = 'global=1000000/1m,search=3/1m,register=1000/1h,login=1000/15m,login-ip=100000/1d';
/** The slowest any request may take, dead Redis or not: its command timeout is 250 ms. */
const SLOWEST_MS = 1000;
const LOAD_LOOPS = 4;

interface Sample {
  path: string;
  status: number;
  startedAt: number;
  ms: number;
}

/** Authenticated requests one after another from `loops` users at once, through both limiters, until stopped. */
/** Loads and probes still running, stopped before their server when a test fails half-way. */
const stopping: Array<() => Promise<unknown>> = [];

function steadyLoad(server: TestServer, tokens: string[]) {
  const samples: Sample[] = [];
  let running = true;
  const loops = tokens.map(async (token, loop) => {
    for (let n = 0; running; n += 1) {
      // /me passes the global limiter; search passes it and the per-user search limiter (429 past 3).
      const path = (n + loop) % 2 === 0 ? '/me' : `/tracks/search?q=${QUERY}`;
      const startedAt = performance.now();
      // A connection refused or reset is a failure too: status 0.
      const status = await fetch(`${server.api}${path}`, { headers: { authorization: `Bearer ${token}` } }).then(
        async (response) => (await response.arrayBuffer(), response.status),
        () => 0,
      );
      samples.push({ path, status, startedAt, ms: performance.now() - startedAt });
    }
  });
  const stop = async (): Promise<Sample[]> => {
    running = false;
    await Promise.all(loops);
    return samples;
  };
  stopping.push(stop);
  return { samples, stop };
}

interface HealthSeen {
  httpStatus: number;
  status: string;
  redis: string | undefined;
}

async function health(server: TestServer): Promise<HealthSeen> {
  const response = await call(`${server.url}/health`);
  return { httpStatus: response.status, status: response.body?.status, redis: response.body?.checks?.['redis:responseTime']?.[0]?.status };
}

/** Polls /health until `until` holds (within `timeoutMs`); every report seen on the way. */
async function healthUntil(server: TestServer, until: (seen: HealthSeen) => boolean, timeoutMs: number): Promise<HealthSeen[]> {
  const seen: HealthSeen[] = [];
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const report = await health(server);
    seen.push(report);
    if (until(report) || performance.now() > deadline) return seen;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The sum of every series of `name`, whatever its labels (loopback scrapes need no token). */
async function metricTotal(server: TestServer, name: string): Promise<number> {
  const metrics = await call(`${server.url}/metrics`);
  expect(metrics.status).toBe(200);
  return metrics.text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const searchStatuses = async (server: TestServer, token: string, times: number) => {
  const statuses: number[] = [];
  for (let i = 0; i < times; i += 1) statuses.push((await call(`${server.api}/tracks/search?q=${QUERY}`, { token })).status);
  return statuses;
};

async function rateLimitKeys(client: Redis): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', 'mixtape:rl:*', 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  return keys;
}

/** The test's own client reconnects by itself after the restart, backing off. */
async function untilReady(client: Redis): Promise<void> {
  const deadline = performance.now() + 5000;
  while (client.status !== 'ready' && performance.now() < deadline) await sleep(20);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const slowest = (samples: Sample[]) => Math.max(0, ...samples.map((s) => s.ms));
const percentile = (samples: Sample[], p: number) => {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};

describe('Redis killed under load', () => {
  let redis: RedisTestServer | undefined;
  let server: TestServer | undefined;
  let client: Redis | undefined;

  afterEach(async () => {
    await Promise.all([...stopping.splice(0).map((stop) => stop()), stopProbes()]);
    client?.disconnect();
    await server?.stop();
    await redis?.stop();
    client = server = redis = undefined;
  });

  async function start(fallback: 'local' | 'open') {
    redis = await startRedisServer();
    server = await startTestServer({ MIXTAPE_REDIS_URL: redis.url, MIXTAPE_RATE_LIMITS: RATE_LIMITS, MIXTAPE_RATE_LIMIT_FALLBACK: fallback, MIXTAPE_WORKERS: '0' });
    // Commands fail at once while Redis is away, and it reconnects on its own after a restart.
    client = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    await client.connect();
    return { redis, server, client };
  }

  it('answers no 5xx and nothing over 1 s, keeps limits in-process meanwhile, and shares them in Redis again after a restart', async () => {
    const { redis, server, client } = await start('local');
    const loadUsers = await Promise.all(Array.from({ length: LOAD_LOOPS }, () => signUp(server)));
    // Signed up before the outage, searching only while Redis is dead: a fresh count in the fallback.
    const tight = await signUp(server);
    const readiness = readinessProbe(server);
    const load = steadyLoad(
      server,
      loadUsers.map((user) => user.accessToken),
    );

    await sleep(700);
    expect(await health(server)).toEqual({ httpStatus: 200, status: 'pass', redis: 'pass' });
    expect((await rateLimitKeys(client)).length).toBeGreaterThan(0);
    const fallbacksBefore = await metricTotal(server, 'mixtape_rate_limit_fallbacks_total');

    const killedAt = performance.now();
    await redis.kill();
    const down = await healthUntil(server, (seen) => seen.redis === 'fail', 3000);
    expect(down.map((seen) => seen.httpStatus)).toEqual(Array(down.length).fill(200));
    expect(down.at(-1)).toEqual({ httpStatus: 200, status: 'warn', redis: 'fail' });
    // In-process limits: the fourth search within the minute is refused with Redis dead.
    expect(await searchStatuses(server, tight.accessToken, 4)).toEqual([200, 200, 200, 429]);
    await sleep(1000);
    const fallbacksWhileDead = (await metricTotal(server, 'mixtape_rate_limit_fallbacks_total')) - fallbacksBefore;
    expect(fallbacksWhileDead).toBeGreaterThan(0);

    const restartedAt = performance.now();
    await redis.restart();
    // The breaker lets a probe through after its open time, which doubled with each failed probe.
    const up = await healthUntil(server, (seen) => seen.status === 'pass', 10_000);
    const healedAfterMs = performance.now() - restartedAt;
    expect(up.map((seen) => seen.httpStatus)).toEqual(Array(up.length).fill(200));
    expect(up.at(-1)).toEqual({ httpStatus: 200, status: 'pass', redis: 'pass' });
    await sleep(500);
    const samples = await load.stop();
    const readyStatuses = await readiness.stop();

    // Counting is in the restarted Redis: its keys appear, a fresh user's count is there, and
    // a count set in Redis (as another instance would leave it) is what this instance obeys.
    await untilReady(client);
    expect((await rateLimitKeys(client)).length).toBeGreaterThan(0);
    const shared = await signUp(server);
    const sharedKey = `mixtape:rl:search:user:${shared.id}`;
    expect(await searchStatuses(server, shared.accessToken, 2)).toEqual([200, 200]);
    expect(await client.get(sharedKey)).toBe('2');
    await client.set(sharedKey, '3', 'KEEPTTL');
    expect(await searchStatuses(server, shared.accessToken, 1)).toEqual([429]);
    expect(await client.get(sharedKey)).toBe('4');

    const dead = samples.filter((s) => s.startedAt >= killedAt && s.startedAt < restartedAt);
    const serverErrors = samples.filter((s) => s.status >= 500);
    console.info(
      `redis outage (local): ${samples.length} requests, ${dead.length} while Redis was dead; slowest ${slowest(samples).toFixed(0)} ms, ` +
        `slowest while dead ${slowest(dead).toFixed(0)} ms (p99 ${percentile(dead, 99).toFixed(0)} ms); fallbacks counted while dead ${fallbacksWhileDead}; healthy again ${healedAfterMs.toFixed(0)} ms after the restart`,
    );
    expect(serverErrors, JSON.stringify(serverErrors.slice(0, 5))).toEqual([]);
    expect(new Set(samples.map((s) => s.status))).toEqual(new Set([200, 429]));
    // The load went on while Redis was dead (a few requests a loop even on a busy machine).
    expect(dead.length).toBeGreaterThan(LOAD_LOOPS * 5);
    expect(slowest(samples)).toBeLessThan(SLOWEST_MS);
    expect(readyStatuses.length).toBeGreaterThan(10);
    expect(readyStatuses).toEqual(Array(readyStatuses.length).fill(200));
  });

  it('lets requests past the limit while Redis is dead with MIXTAPE_RATE_LIMIT_FALLBACK=open', async () => {
    const { redis, server } = await start('open');
    const tight = await signUp(server);
    const other = await signUp(server);
    const load = steadyLoad(server, [other.accessToken]);
    await redis.kill();
    await healthUntil(server, (seen) => seen.redis === 'fail', 3000);
    // No count is kept anywhere: all six pass a limit of three.
    expect(await searchStatuses(server, tight.accessToken, 6)).toEqual(Array(6).fill(200));
    await sleep(500);
    const samples = await load.stop();
    console.info(`redis outage (open): ${samples.length} requests, slowest ${slowest(samples).toFixed(0)} ms`);
    expect(samples.filter((s) => s.status >= 500)).toEqual([]);
    expect(slowest(samples)).toBeLessThan(SLOWEST_MS);
  });
});
