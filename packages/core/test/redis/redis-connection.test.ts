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
