import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshMysqlDatabase, MYSQL_TEST_URL, type FreshMysqlDatabase } from '../../core/test/mysql/mysql-test-server.js';
import { TcpProxy } from '../../core/test/support/tcp-proxy.js';
import { expectProblem } from './support/http-expectations.js';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * A server on MariaDB when the database goes away and comes back, and when its pool is
 * overwhelmed. Each server here has a database and a TCP proxy of its own, which the test
 * cuts and restores: the shared MariaDB is never stopped, so the files running alongside are
 * not disturbed.
 */

const LIMITS = 'global=100000/1m,search=100000/1m,download=1000/1m,register=1000/1h,login=1000/15m';

interface Timed {
  status: number;
  ms: number;
  retryAfter: string | null;
  type?: string;
}

async function timedCall(url: string, token?: string): Promise<Timed> {
  const started = performance.now();
  const response = await call(url, token === undefined ? {} : { token });
  return { status: response.status, ms: performance.now() - started, retryAfter: response.headers.get('retry-after'), type: response.body?.type };
}

/** Polls `url` until it answers `status`; returns that answer and when it came, from `since`. */
async function firstStatus(url: string, status: number, since: number, withinMs: number, token?: string): Promise<Timed & { atMs: number }> {
  for (;;) {
    const answer = await timedCall(url, token);
    const atMs = performance.now() - since;
    if (answer.status === status) return { ...answer, atMs };
    if (atMs > withinMs) throw new Error(`${url} still answers ${answer.status} after ${Math.round(atMs)} ms`);
    await sleep(50);
  }
}

const round = (ms: number) => Math.round(ms);

describe('a server on MariaDB whose database is cut off, then back', () => {
  let database: FreshMysqlDatabase;
  let proxy: TcpProxy;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    database = await freshMysqlDatabase();
    const target = new URL(MYSQL_TEST_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
    const url = new URL(database.url);
    url.hostname = '127.0.0.1';
    url.port = String(await proxy.start());
    server = await startTestServer({ MIXTAPE_MYSQL_URL: url.href, MIXTAPE_RATE_LIMITS: LIMITS, MIXTAPE_WORKERS: '1' });
    token = (await signUp(server)).accessToken;
  });

  afterAll(async () => {
    await proxy?.restore();
    await server?.stop();
    await proxy?.close();
    await database?.drop();
  });

  async function healthy(): Promise<void> {
    expect((await call(`${server.url}/readyz`)).status).toBe(200);
    expect((await call(`${server.api}/me`, { token })).status).toBe(200);
  }

  /**
   * Cuts the proxy, then measures: the first 503 of /readyz and of the API, /livez meanwhile,
   * then, restored, the first 200 of each. Returns the figures, in ms from the cut and from the return.
   */
  async function cutAndRestore(mode: 'reset' | 'blackhole', bounds: { readyMs: number; apiMs: number }, duringCut?: () => Promise<void>) {
    await healthy();
    const cutAt = performance.now();
    await proxy.cut(mode);
    const [ready, api] = await Promise.all([
      firstStatus(`${server.url}/readyz`, 503, cutAt, bounds.readyMs),
      firstStatus(`${server.api}/me`, 503, cutAt, bounds.apiMs, token),
    ]);
    expect(ready.retryAfter).toMatch(/^\d+$/);
    expect(ready.atMs).toBeLessThan(bounds.readyMs);
    expect(api.atMs).toBeLessThan(bounds.apiMs);
    const problem = expectProblem(await call(`${server.api}/me`, { token }), 503, 'unavailable');
    expect(problem.detail).not.toMatch(/127\.0\.0\.1|SELECT|mysql:\/\//);
    // Once the first wave is over, each API answer during the cut is a 503 with Retry-After, and fast.
    const during: Timed[] = [];
    for (let i = 0; i < 5; i += 1) during.push(await timedCall(`${server.api}/me`, token));
    for (const answer of during) {
      expect(answer.status).toBe(503);
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(answer.type).toMatch(/unavailable$/);
    }
    await duringCut?.();
    const live = await timedCall(`${server.url}/livez`);
    expect(live.status).toBe(200);
    expect(live.ms).toBeLessThan(500);
    // Monitoring matters most during an outage: the scrape still answers, pool gauge included.
    const scrape = await call(`${server.url}/metrics`);
    expect(scrape.status, scrape.text).toBe(200);
    for (const state of ['in_use', 'idle', 'waiting']) {
      expect(scrape.text).toMatch(new RegExp(`^mixtape_db_pool_connections\\{state="${state}"\\} \\d+$`, 'm'));
    }

    const backAt = performance.now();
    await proxy.restore();
    const [readyAgain, apiAgain] = await Promise.all([
      firstStatus(`${server.url}/readyz`, 200, backAt, 10_000),
      firstStatus(`${server.api}/me`, 200, backAt, 10_000, token),
    ]);
    expect(readyAgain.atMs).toBeLessThan(10_000);
    expect(apiAgain.atMs).toBeLessThan(10_000);
    await healthy();
    const figures = {
      mode,
      firstReadyz503Ms: round(ready.atMs),
      firstApi503Ms: round(api.atMs),
      api503sDuringCutMs: during.map((answer) => round(answer.ms)),
      firstReadyz200AfterReturnMs: round(readyAgain.atMs),
      firstApi200AfterReturnMs: round(apiAgain.atMs),
    };
    console.log(JSON.stringify(figures));
    return { during, figures };
  }

  it('server gone (connections reset, new ones refused): /readyz and the API 503 at once, /livez 200; healed by itself on return', async () => {
    const { during } = await cutAndRestore('reset', { readyMs: 5000, apiMs: 1000 });
    for (const answer of during) expect(answer.ms).toBeLessThan(500);
  });

  it('network dropping everything: /readyz 503 within 5 s, the API within its acquire and query timeouts; healed by itself on return', async () => {
    // Several idle connections in the pool, all of which go silent with the cut.
    await Promise.all(Array.from({ length: 8 }, () => call(`${server.api}/me`, { token })));
    expect(server.mixtape.backends.poolStats?.().idle).toBeGreaterThanOrEqual(4);
    // A query on a connection that went silent ends at the query timeout (10 s); a new
    // connection at the connect and acquire timeouts (2 s).
    const { during } = await cutAndRestore('blackhole', { readyMs: 5000, apiMs: 13_000 }, async () => {
      // Once one statement has timed out, the idle connections, as silent, are not handed out
      // to wait out the timeout one caller at a time: requests that need the database (a
      // login needs no token, so the revocation list's own fail-closed plays no part) fail at
      // the acquire timeout.
      const logins = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const started = performance.now();
          const response = await call(`${server.api}/auth/login`, { body: { username: 'nobody-here', password: 'a long enough password' } });
          return { status: response.status, ms: performance.now() - started, retryAfter: response.headers.get('retry-after') };
        }),
      );
      console.log(JSON.stringify({ loginsDuringBlackholeMs: logins.map((login) => round(login.ms)) }));
      for (const login of logins) {
        expect(login.status).toBe(503);
        expect(Number(login.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(login.ms).toBeLessThan(2500);
      }
    });
    for (const answer of during) expect(answer.ms).toBeLessThan(2500);
  }, 60_000);
});

describe('a server on a slow MariaDB with a pool of 3, under hundreds of concurrent requests', () => {
  let database: FreshMysqlDatabase;
  let proxy: TcpProxy;
  let server: TestServer;

  beforeAll(async () => {
    database = await freshMysqlDatabase();
    // 20 ms each way: a statement costs at least 40 ms, so three connections serve about 75
    // statements a second, far fewer than the burst asks for. On loopback with no delay the
    // database outpaces the event loop and the pool never fills.
    const target = new URL(MYSQL_TEST_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
    proxy.delay(20);
    const url = new URL(database.url);
    url.hostname = '127.0.0.1';
    url.port = String(await proxy.start());
    server = await startTestServer({
      MIXTAPE_MYSQL_URL: url.href,
      MIXTAPE_MYSQL_POOL_SIZE: '3',
      MIXTAPE_MYSQL_QUEUE_LIMIT: '10',
      MIXTAPE_MYSQL_ACQUIRE_TIMEOUT_MS: '500',
      MIXTAPE_RATE_LIMITS: LIMITS,
      MIXTAPE_WORKERS: '0',
    });
  });

  afterAll(async () => {
    await server?.stop();
    await proxy?.close();
    await database?.drop();
  });

  it('answers each with a 200 or a fast 503 with Retry-After, none hangs, and serves again at once', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => signUp(server)));
    const paths = ['/me', '/tracks/search?q=paper%20moons', '/library', '/downloads'];
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const url = `${server.api}${paths[i % paths.length]}`;
        const sent = performance.now();
        const response = await fetch(url, { headers: { authorization: `Bearer ${users[i % users.length]!.accessToken}` }, signal: AbortSignal.timeout(15_000) });
        const body = (await response.json()) as { type?: string } | null;
        return { status: response.status, ms: performance.now() - sent, retryAfter: response.headers.get('retry-after'), type: body?.type };
      }),
    );
    const totalMs = performance.now() - started;
    const counts: Record<number, number> = {};
    for (const answer of answers) counts[answer.status] = (counts[answer.status] ?? 0) + 1;
    const slowest = Math.max(...answers.map((answer) => answer.ms));
    const slowest503 = Math.max(0, ...answers.filter((answer) => answer.status === 503).map((answer) => answer.ms));
    console.log(JSON.stringify({ requests: answers.length, counts, slowestMs: round(slowest), slowest503Ms: round(slowest503), totalMs: round(totalMs) }));

    expect(Object.keys(counts).map(Number).every((status) => status === 200 || status === 503)).toBe(true);
    for (const answer of answers.filter((a) => a.status === 503)) {
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(answer.type).toMatch(/unavailable$/);
    }
    expect(counts[200]).toBeGreaterThan(0);
    expect(counts[503]).toBeGreaterThan(0);
    // No answer waits much beyond the acquire timeout (500 ms) once its turn on the event loop comes.
    expect(slowest).toBeLessThan(5000);
    expect(totalMs).toBeLessThan(8000);

    // The burst over, nobody is left waiting for a connection, and the pool serves at once.
    expect(server.mixtape.backends.poolStats?.().waiting).toBe(0);
    for (const user of users) expect((await call(`${server.api}/me`, { token: user.accessToken })).status).toBe(200);
  });
});
