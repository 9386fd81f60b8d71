import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { runHealthChecks } from '../../src/health/health-check.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { mysqlHealthCheck } from '../../src/mysql/mysql-health-check.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { freshMysqlDatabase, MYSQL_TEST_URL, type FreshMysqlDatabase } from './mysql-test-server.js';
import { TcpProxy } from '../support/tcp-proxy.js';

/** The server cut off and back, through a proxy: no call may hang, and the same database heals. */
describe('MysqlDatabase when the server goes away', () => {
  let database: FreshMysqlDatabase;
  let proxy: TcpProxy;
  let db: MysqlDatabase;
  const ACQUIRE_MS = 500;
  const QUERY_MS = 800;

  beforeAll(async () => {
    database = await freshMysqlDatabase();
    const target = new URL(MYSQL_TEST_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
    const port = await proxy.start();
    const url = new URL(database.url);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    db = new MysqlDatabase(createMysqlPool(url.href, { poolSize: 3, connectTimeoutMs: ACQUIRE_MS }), {
      acquireTimeoutMs: ACQUIRE_MS,
      queryTimeoutMs: QUERY_MS,
    });
  });

  afterAll(async () => {
    await db?.close();
    await proxy?.close();
    await database?.drop();
  });

  /** Each call's outcome and time, all started at once. */
  async function attempts(count: number): Promise<{ ok: boolean; error?: unknown; ms: number }[]> {
    return Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const started = performance.now();
        try {
          await db.get('SELECT @n AS n', { n: index });
          return { ok: true, ms: performance.now() - started };
        } catch (error) {
          return { ok: false, error, ms: performance.now() - started };
        }
      }),
    );
  }

  /** Polls until a statement succeeds; returns how long that took. */
  async function healed(withinMs: number): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < withinMs) {
      try {
        await db.get('SELECT 1');
        return performance.now() - started;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`not healed within ${withinMs} ms`);
  }

  async function warm(): Promise<void> {
    const results = await attempts(3);
    expect(results.every((r) => r.ok)).toBe(true);
  }

  it('fails fast as unavailable while the server refuses, and heals without a restart', async () => {
    await warm();
    await proxy.cut('reset');
    // Connections in the pool are dead and new ones are refused: every call fails, quickly.
    const during = await attempts(10);
    for (const result of during) {
      expect(result.ok).toBe(false);
      expect(result.error).toBeInstanceOf(UnavailableError);
      expect(result.ms).toBeLessThan(ACQUIRE_MS + 500);
    }
    const report = await runHealthChecks([mysqlHealthCheck(db)], { timeoutMs: 2000 });
    expect(report.status).toBe('fail');
    const output = report.checks['mysql:responseTime']?.[0]?.output ?? '';
    expect(output).toMatch(/^the database does not answer/);
    expect(output).not.toMatch(/127\.0\.0\.1|SELECT/);
    await proxy.restore();
    expect(await healed(10_000)).toBeLessThan(10_000);
    const after = await attempts(6);
    expect(after.every((r) => r.ok)).toBe(true);
    expect((await runHealthChecks([mysqlHealthCheck(db)], { timeoutMs: 2000 })).status).toBe('pass');
    expect(db.poolStats()).toMatchObject({ in_use: 0, waiting: 0 });
  });

  it('fails within its timeouts while the network drops everything, and heals without a restart', async () => {
    await warm();
    await proxy.cut('blackhole');
    // Queries on open connections meet the query timeout; new connections the acquire timeout.
    const during = await attempts(6);
    for (const result of during) {
      expect(result.ok).toBe(false);
      expect(result.error).toBeInstanceOf(UnavailableError);
      expect(result.ms).toBeLessThan(QUERY_MS + 700);
    }
    const later = await attempts(4);
    for (const result of later) {
      expect(result.error).toBeInstanceOf(UnavailableError);
      expect(result.ms).toBeLessThan(QUERY_MS + 700);
    }
    await proxy.restore();
    expect(await healed(10_000)).toBeLessThan(10_000);
    expect((await attempts(6)).every((r) => r.ok)).toBe(true);
    expect(db.poolStats()).toMatchObject({ in_use: 0, waiting: 0 });
  });
});
