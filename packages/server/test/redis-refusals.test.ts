import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisTestServer } from '../../core/test/redis/redis-test-server.js';
import { startTestServer, type TestServer } from './support/test-server.js';

/**
 * A Redis that refuses Mixtape's credentials is a misconfiguration, not an outage: reconnecting
 * will never help, so the operator is told at warn level, naming MIXTAPE_REDIS_URL, once (not at
 * every reconnection attempt), and never with the password, at any level.
 */

const RIGHT = 'right-horse-battery-staple';
const WRONG = 'wrong-horse-battery-staple';
/** pino's levels. */
const WARN = 40;

let redis: RedisTestServer;
let server: TestServer | undefined;

beforeAll(async () => {
  redis = await startRedisServer(['--requirepass', RIGHT]);
});

afterAll(async () => {
  await redis.stop();
});

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function entries(logs: string[]): Array<{ level: number; msg: string }> {
  return logs.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((line) => JSON.parse(line) as { level: number; msg: string });
}

/** Lets ioredis try, fail and reconnect several times (it backs off from 50 ms). */
const reconnections = () => new Promise((resolve) => setTimeout(resolve, 1500));

describe('a Redis that refuses the credentials of MIXTAPE_REDIS_URL', () => {
  it('a wrong password is warned of once, as WRONGPASS, and the password is nowhere in the logs', async () => {
    server = await startTestServer({ MIXTAPE_REDIS_URL: `redis://:${WRONG}@127.0.0.1:${redis.port}` });
    await reconnections();
    const refusals = entries(server.logs).filter((e) => e.level === WARN && /WRONGPASS/.test(e.msg));
    expect(refusals, server.logs.join('')).toHaveLength(1);
    expect(refusals[0]!.msg).toMatch(/^MIXTAPE_REDIS_URL: /);
    // Several attempts were made, and each was logged at debug: none of them holds the password either.
    expect(entries(server.logs).filter((e) => e.msg === 'redis connection error').length).toBeGreaterThan(1);
    expect(server.logs.join('')).not.toContain(WRONG);
    expect(server.logs.join('')).not.toContain('redis://');
  });

  it('no password where one is required is warned of as NOAUTH', async () => {
    server = await startTestServer({ MIXTAPE_REDIS_URL: `redis://127.0.0.1:${redis.port}` });
    await reconnections();
    expect(entries(server.logs).filter((e) => e.level === WARN && /^MIXTAPE_REDIS_URL: .*NOAUTH/.test(e.msg))).toHaveLength(1);
  });

  it('a database the Redis does not have is warned of as SELECT', async () => {
    const few = await startRedisServer(['--requirepass', RIGHT, '--databases', '2']);
    try {
      server = await startTestServer({ MIXTAPE_REDIS_URL: `redis://:${RIGHT}@127.0.0.1:${few.port}/5` });
      await reconnections();
      expect(entries(server.logs).filter((e) => e.level === WARN && /^MIXTAPE_REDIS_URL: .*SELECT/.test(e.msg))).toHaveLength(1);
      expect(server.logs.join('')).not.toContain(RIGHT);
    } finally {
      await server?.stop();
      server = undefined;
      await few.stop();
    }
  });

  it('the right password brings no warning about the URL', async () => {
    server = await startTestServer({ MIXTAPE_REDIS_URL: `redis://:${RIGHT}@127.0.0.1:${redis.port}` });
    await reconnections();
    expect(entries(server.logs).filter((e) => e.level >= WARN)).toEqual([]);
    expect(server.logs.join('')).not.toContain(RIGHT);
  });
});
