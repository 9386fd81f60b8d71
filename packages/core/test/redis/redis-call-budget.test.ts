import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { RedisCallBudget } from '../../src/metadata/redis-call-budget.js';
import { SpotifyMetadataProvider } from '../../src/metadata/spotify-metadata-provider.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { CLIENT_ID, CLIENT_SECRET, FakeSpotify, OTHER_ID, rateLimit, TRACK_ID } from '../metadata/fake-spotify.js';
import { ownRedisServer } from './own-redis-server.js';
import { sharedRedisUrl, uniqueRedisPrefix } from './shared-redis.js';
import { rejection } from '../support/rejection.js';

/** How many of `takes` succeed (each at once: a budget with maxWaitMs 0 never waits). */
async function successes(takes: Promise<void>[]): Promise<number> {
  return (await Promise.allSettled(takes)).filter((outcome) => outcome.status === 'fulfilled').length;
}

describe('RedisCallBudget on the shared redis-server', () => {
  const connections: RedisConnection[] = [];
  let prefix: string;

  /** One "instance": a connection of its own, as another process would have. */
  const instance = async () => {
    const connection = new RedisConnection({ url: sharedRedisUrl(), prefix });
    connections.push(connection);
    await connection.waitUntilReady();
    return connection;
  };

  beforeEach(() => {
    prefix = uniqueRedisPrefix();
  });
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((connection) => connection.close()));
  });

  it('is one bucket for every instance: at most `limit` takes succeed across two of them', async () => {
    const options = { name: 'spotify', limit: 5, windowMs: 10_000, maxWaitMs: 0 };
    const a = new RedisCallBudget(await instance(), options);
    const b = new RedisCallBudget(await instance(), options);
    expect(a.backend).toBe('redis');
    const takes = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).take());
    expect(await successes(takes)).toBe(5);
    const refused = await rejection(b.take());
    expect(refused).toBeInstanceOf(UnavailableError);
    // A token every 2 s; a refusal took nothing.
    expect((refused as UnavailableError).retryAfterMs).toBeGreaterThan(1500);
    expect((refused as UnavailableError).retryAfterMs).toBeLessThanOrEqual(2000);
    // Every key starts with the connection's prefix.
    const keys = (await connections[0]!.call('KEYS', `${prefix}*`)) as string[];
    expect(keys).toEqual([`${prefix}call-budget:spotify`]);
    const ttl = Number(await connections[0]!.call('PTTL', keys[0]!));
    expect(ttl).toBeGreaterThan(9000);
    expect(ttl).toBeLessThanOrEqual(10_000);
  });

  it('spreads waiting takes one token apart, on Redis’s clock', async () => {
    const options = { name: 'spotify', limit: 10, windowMs: 1000, maxWaitMs: 1000 };
    const a = new RedisCallBudget(await instance(), options);
    const b = new RedisCallBudget(await instance(), options);
    const started = performance.now();
    const finished: number[] = [];
    await Promise.all(
      Array.from({ length: 14 }, (_, i) => (i % 2 === 0 ? a : b).take().then(() => finished.push(performance.now() - started))),
    );
    finished.sort((x, y) => x - y);
    // Ten at once; the other four 100 ms apart, the last after 400 ms.
    expect(finished.filter((ms) => ms < 80)).toHaveLength(10);
    expect(finished[10]!).toBeGreaterThanOrEqual(90);
    expect(finished[13]!).toBeGreaterThanOrEqual(390);
    expect(finished[13]!).toBeLessThan(700);
  });

  it('a pause by one instance holds the other: a short one is waited out, a long one refused', async () => {
    const options = { name: 'spotify', limit: 20, windowMs: 1000, maxWaitMs: 1000 };
    const a = new RedisCallBudget(await instance(), options);
    const b = new RedisCallBudget(await instance(), options);
    await a.pause(300);
    const seen = await b.pausedForMs();
    expect(seen).toBeGreaterThan(200);
    expect(seen).toBeLessThanOrEqual(300);
    const started = performance.now();
    await b.take();
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);

    await a.pause(5000);
    await a.pause(1000); // a shorter pause keeps the longer one
    const refused = await rejection(b.take());
    expect(refused).toBeInstanceOf(UnavailableError);
    expect((refused as UnavailableError).retryAfterMs).toBeGreaterThan(4000);
    expect((refused as Error).message).toContain('asked for a pause');
    expect(await b.pausedForMs()).toBeGreaterThan(4000);
  });
});

describe('RedisCallBudget while its redis-server dies', () => {
  const server = ownRedisServer();
  let connection: RedisConnection;

  afterAll(async () => {
    await connection?.close();
  });

  it('falls back to a bucket of the same limit in this process, fast, and shares again once Redis is back', async () => {
    connection = new RedisConnection({ url: server.url, prefix: 't:', breaker: { failureThreshold: 2, openMs: 200, maxOpenMs: 400 } });
    await connection.waitUntilReady();
    const budget = new RedisCallBudget(connection, { name: 'spotify', limit: 3, windowMs: 60_000, maxWaitMs: 0 });
    expect(await successes(Array.from({ length: 5 }, () => budget.take()))).toBe(3);
    expect(Number(await connection.call('EXISTS', 't:call-budget:spotify'))).toBe(1);

    await server.kill();
    const timings: number[] = [];
    let taken = 0;
    for (let i = 0; i < 5; i += 1) {
      const started = performance.now();
      if (await budget.take().then(() => true, () => false)) taken += 1;
      timings.push(performance.now() - started);
    }
    // The local bucket: the same limit, for this instance alone; no take waits on the dead Redis past its command timeout.
    expect(taken).toBe(3);
    if (process.env.MIXTAPE_TEST_REPORT) console.log('takes while Redis is dead (ms):', timings.map((ms) => ms.toFixed(1)));
    expect(Math.max(...timings)).toBeLessThan(300);
    // A pause while Redis is down is still honoured here.
    await budget.pause(10_000);
    expect(await budget.pausedForMs()).toBeGreaterThan(9000);

    await server.restart();
    await connection.waitUntilReady(5000);
    // Redis restarted empty; once the breaker lets commands through, takes go to Redis again.
    const deadline = Date.now() + 5000;
    while (connection.breaker.state !== 'closed' && Date.now() < deadline) {
      await connection.call('PING').catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(connection.breaker.state).toBe('closed');
    // This instance's own pause still holds it back…
    expect(await rejection(budget.take())).toBeInstanceOf(UnavailableError);
    // …and a budget of another instance on the restarted Redis shares the fresh bucket.
    const other = new RedisCallBudget(connection, { name: 'other', limit: 2, windowMs: 60_000, maxWaitMs: 0 });
    expect(await successes(Array.from({ length: 4 }, () => other.take()))).toBe(2);
    expect(Number(await connection.call('EXISTS', 't:call-budget:other'))).toBe(1);
  });
});

describe('Spotify behind one budget shared by two instances', () => {
  let spotify: FakeSpotify;
  const connections: RedisConnection[] = [];

  beforeEach(async () => {
    spotify = new FakeSpotify();
    await spotify.start();
  });
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((connection) => connection.close()));
    await spotify.close();
  });

  /** An instance: its own Redis connection, budget and provider, as another process would have. */
  const instance = async (prefix: string) => {
    const connection = new RedisConnection({ url: sharedRedisUrl(), prefix });
    connections.push(connection);
    await connection.waitUntilReady();
    const budget = new RedisCallBudget(connection, { name: 'spotify', limit: 20, windowMs: 1000, maxWaitMs: 2500 });
    const provider = new SpotifyMetadataProvider({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      apiUrl: spotify.url,
      accountsUrl: spotify.url,
      budget,
    });
    return { budget, provider };
  };

  it('one 429 with Retry-After: 2 keeps every instance away for 2 s, then both resume', async () => {
    const prefix = uniqueRedisPrefix();
    const a = await instance(prefix);
    const b = await instance(prefix);
    let answered429At = 0;
    let requestsTo429 = 0;
    spotify.trackScript.push((req, res) => {
      answered429At = Date.now();
      requestsTo429 = spotify.requests.length;
      rateLimit(2)(req, res);
    });
    const first = a.provider.getTrack(TRACK_ID);
    // B starts once A's pause is in Redis: it has never called Spotify, not even for a token.
    const deadline = Date.now() + 2000;
    while ((await b.budget.pausedForMs()) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await b.budget.pausedForMs()).toBeGreaterThan(1500);
    const second = b.provider.getTrack(OTHER_ID);

    expect((await first)?.id).toBe(TRACK_ID);
    expect((await second)?.id).toBe(OTHER_ID);
    const after429 = spotify.requests.slice(requestsTo429);
    // A's retry, B's token and B's track: none before the 2 s had passed.
    expect(after429.map((request) => request.path).sort()).toEqual(['/api/token', `/v1/tracks/${OTHER_ID}`, `/v1/tracks/${TRACK_ID}`].sort());
    const earliest = Math.min(...after429.map((request) => request.at)) - answered429At;
    if (process.env.MIXTAPE_TEST_REPORT) console.log('first request after the 429:', earliest, 'ms', after429.map((r) => [r.path, r.at - answered429At]));
    expect(earliest).toBeGreaterThanOrEqual(2000);
    expect(earliest).toBeLessThan(2600);
    expect(spotify.requests).toHaveLength(5);
    expect(spotify.tokenRequests).toBe(2);
  });
});
