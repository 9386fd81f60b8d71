import { afterEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { ownRedisServer } from './own-redis-server.js';

describe('RedisConnection against a redis-server that dies', () => {
  const server = ownRedisServer();
  let connection: RedisConnection;

  afterEach(async () => {
    await connection?.close();
  });

  const open = async () => {
    connection = new RedisConnection({ url: server.url, prefix: 't:', breaker: { failureThreshold: 2, openMs: 200, maxOpenMs: 400 } });
    await connection.waitUntilReady();
    return connection;
  };

  it('runs commands and scripts, and a script survives a restart that lost it (NOSCRIPT)', async () => {
    const redis = await open();
    const add = redis.script('add', "return redis.call('INCRBY', KEYS[1], ARGV[1])");
    expect(await add(['t:n'], [2])).toBe(2);
    expect(await add(['t:n'], [3])).toBe(5);
    await server.restart();
    await redis.waitUntilReady(5000);
    expect(await add(['t:n'], [4])).toBe(4);
  });

  it('fails fast while Redis is down, opens the breaker, and heals once it is back', async () => {
    const redis = await open();
    await server.kill();
    const timings: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const started = performance.now();
      await expect(redis.call('PING')).rejects.toBeInstanceOf(UnavailableError);
      timings.push(performance.now() - started);
    }
    expect(Math.max(...timings)).toBeLessThan(300);
    expect(redis.breaker.state).not.toBe('closed');
    await server.restart();
    const deadline = Date.now() + 5000;
    let answer: unknown;
    while (Date.now() < deadline) {
      answer = await redis.call('PING').catch(() => undefined);
      if (answer === 'PONG') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(answer).toBe('PONG');
    expect(redis.breaker.state).toBe('closed');
  });

  it('leaves the fallbacks as soon as Redis is back, however long the breaker had backed off to', async () => {
    // The breaker's clock runs ahead by what the test skips, so that a long outage, with the
    // open time doubled at each failed probe up to 30 s (the defaults), takes no real time.
    let skipped = 0;
    connection = new RedisConnection({ url: server.url, prefix: 't:', breaker: { now: () => Date.now() + skipped } });
    await connection.waitUntilReady();
    const redis = connection;
    await server.kill();
    while (redis.breaker.retryAfterMs < 30_000) {
      skipped += redis.breaker.retryAfterMs;
      await expect(redis.call('PING')).rejects.toBeInstanceOf(UnavailableError);
    }
    let readyAt = 0;
    redis.onReady(() => (readyAt = performance.now()));
    await server.restart();
    const restartedAt = performance.now();
    let answeredAt = 0;
    // ioredis tries again at most 2 s apart (with jitter), so it is back within about that.
    while (performance.now() - restartedAt < 5000) {
      if ((await redis.call('PING').catch(() => undefined)) === 'PONG') {
        answeredAt = performance.now();
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (process.env.MIXTAPE_TEST_REPORT) console.log(`first answer ${Math.round(answeredAt - restartedAt)} ms after the restart, ${Math.round(answeredAt - readyAt)} ms after ready`);
    expect(answeredAt).toBeGreaterThan(0);
    expect(answeredAt - restartedAt).toBeLessThan(2500);
    expect(answeredAt - readyAt).toBeLessThan(100);
    expect(redis.breaker.state).toBe('closed');
  });

  it('answers within the command timeout when Redis is paused, then at once once the breaker opens', async () => {
    const redis = await open();
    server.pause();
    try {
      const timings: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        const started = performance.now();
        await expect(redis.call('PING')).rejects.toBeInstanceOf(UnavailableError);
        timings.push(performance.now() - started);
      }
      expect(Math.max(...timings)).toBeLessThan(600);
      expect(timings[3]!).toBeLessThan(20);
    } finally {
      server.resume();
    }
  });

  it('runs a script first used while an auto-pipeline is waiting, without a result going missing (ioredis #1931)', async () => {
    const redis = await open();
    // The first PING's pipeline is on the wire; the second waits in a new one, which the
    // script's first call joins. With defineCommand this threw out of the event loop.
    const first = redis.call('PING');
    const late = await new Promise<unknown[]>((resolve, reject) => {
      setImmediate(() => {
        const second = redis.call('PING');
        const script = redis.script('late', "return redis.call('INCR', KEYS[1])");
        Promise.all([second, script(['t:late'])]).then(resolve, reject);
      });
    });
    expect(await first).toBe('PONG');
    expect(late).toEqual(['PONG', 1]);
  });

  it('opens its breaker at the first timeout by default, so a request passing several limits waits out one timeout, not one each', async () => {
    const defaults = new RedisConnection({ url: server.url, prefix: 't:' });
    try {
      await defaults.waitUntilReady();
      server.pause();
      const started = performance.now();
      for (let i = 0; i < 3; i += 1) await expect(defaults.call('PING')).rejects.toBeInstanceOf(UnavailableError);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(200);
      expect(elapsed).toBeLessThan(450);
    } finally {
      server.resume();
      await defaults.close();
    }
  });

  it('delivers published messages to subscribers', async () => {
    const redis = await open();
    const got: string[] = [];
    const stop = redis.subscribe('t:events', (message) => got.push(message));
    const deadline = Date.now() + 3000;
    while (got.length === 0 && Date.now() < deadline) {
      await redis.publish('t:events', 'hello');
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    stop();
    expect(got[0]).toBe('hello');
  });
});
