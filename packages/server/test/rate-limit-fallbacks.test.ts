import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMixtape, FallbackRateLimitStores, parseConfig, type Mixtape } from '@mixtape/core';
import { RedisConnection, RedisRateLimitStores } from '@mixtape/core/redis';
import { openSqliteBackends } from '@mixtape/core/sqlite';
import { createApp, createLogger } from '@mixtape/server';
import { startRedisServer, type RedisTestServer } from '../../core/test/redis/redis-test-server.js';
import { metricValue } from './support/http-expectations.js';
import { apiOnlySettings } from './support/mixtape-settings.js';
import { call } from './support/test-server.js';

/**
 * The app's wiring of a store with a fallback: each request decided without Redis is counted in
 * mixtape_rate_limit_fallbacks_total, and a refusal made in-process still counts as a rejection.
 * (redis-outage.test.ts kills Redis under load through the whole server.)
 */
describe('rate limits while Redis is dead, through the app', () => {
  let redis: RedisTestServer;
  let connection: RedisConnection;
  let mixtape: Mixtape;
  let origin: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    redis = await startRedisServer();
    connection = new RedisConnection({ url: redis.url, breaker: { failureThreshold: 2, openMs: 100, maxOpenMs: 200 } });
    await connection.waitUntilReady();
    const dataDir = mkdtempSync(join(tmpdir(), 'mixtape-rl-fallback-'));
    const backends = await openSqliteBackends({ dataDir });
    const rateLimitStores = new FallbackRateLimitStores({ primary: new RedisRateLimitStores(connection), mode: 'local' });
    mixtape = createMixtape({ ...backends, rateLimitStores }, apiOnlySettings());
    const app = createApp({
      mixtape,
      policies: parseConfig({ MIXTAPE_RATE_LIMITS: 'global=3/1m' }).rateLimits,
      logger: createLogger({ level: 'silent' }),
      metricsToken: null,
      trustProxy: null,
    });
    const listener = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => listener.once('listening', resolve));
    origin = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
    close = async () => {
      listener.closeAllConnections();
      await new Promise((resolve) => listener.close(resolve));
      await mixtape.close();
      await rateLimitStores.close();
      await connection.close();
      rmSync(dataDir, { recursive: true, force: true });
    };
  });

  afterAll(async () => {
    await close?.();
    await redis?.stop();
  });

  const metric = async (series: string) => metricValue((await call(`${origin}/metrics`)).text, series);

  it('counts each fallback and each in-process refusal, and stops falling back once Redis is back', async () => {
    // Shared while Redis answers: the count is in Redis.
    expect((await call(`${origin}/api/v1/openapi.json`)).status).toBe(200);
    expect(await metric('mixtape_rate_limit_fallbacks_total{policy="global"}')).toBe(0);

    await redis.kill();
    const statuses = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await call(`${origin}/api/v1/openapi.json`)).status);
    // A fresh count in this process: three pass, the next two are refused.
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(await metric('mixtape_rate_limit_fallbacks_total{policy="global"}')).toBe(5);
    expect(await metric('mixtape_rate_limit_rejections_total{policy="global"}')).toBe(2);

    await redis.restart();
    await connection.waitUntilReady(5000);
    // Redis lost its count; once the breaker lets a probe through, counting is shared again.
    const deadline = Date.now() + 5000;
    let fallbacks = await metric('mixtape_rate_limit_fallbacks_total{policy="global"}');
    for (;;) {
      const status = (await call(`${origin}/api/v1/openapi.json`)).status;
      const now = await metric('mixtape_rate_limit_fallbacks_total{policy="global"}');
      if (now === fallbacks) {
        expect(status).toBe(200);
        break;
      }
      fallbacks = now;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await connection.call('GET', `${connection.prefix}rl:global:127.0.0.1`)).toBe('1');
  });
});
