import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DEMO_TRACKS, parseConfig } from '@mixtape/core';
import { createLogger, startServer, type RunningServer } from '@mixtape/server';
import { call, startTestServer, type TestServer } from './support/test-server.js';
import { expectProblem, metricValue, type CallResult } from './support/http-expectations.js';

const PASSWORD = 'a long enough password';
const QUERY = encodeURIComponent(DEMO_TRACKS[0]!.title.split(' ')[0]!);
const rejections = (policy: string) => `mixtape_rate_limit_rejections_total{policy="${policy}"}`;

const METRICS_TOKEN = 'rate-limits-metrics-token';

let server: TestServer;

beforeAll(async () => {
  // Trusting the loopback proxy lets each test speak from its own client address; behind a
  // trusted proxy, metrics need their token.
  server = await startTestServer({
    MIXTAPE_RATE_LIMITS: 'login=5/15m,login-ip=100/1d,search=2/1m,register=2/1h',
    MIXTAPE_TRUST_PROXY: 'loopback',
    MIXTAPE_METRICS_TOKEN: METRICS_TOKEN,
  });
});

afterAll(async () => {
  await server?.stop();
});

let lastAddress = 0;
/** A client address no other request of this file uses. */
function freshIp(): string {
  lastAddress += 1;
  return `10.0.${lastAddress >> 8}.${lastAddress & 255}`;
}

const register = (username: string, ip = freshIp()) =>
  call(`${server.api}/auth/register`, { body: { username, password: PASSWORD }, headers: { 'x-forwarded-for': ip } });
const login = (username: string, password: string, ip = freshIp()) =>
  call(`${server.api}/auth/login`, { body: { username, password }, headers: { 'x-forwarded-for': ip } });
const search = (token: string, ip = freshIp()) =>
  call(`${server.api}/tracks/search?q=${QUERY}`, { token, headers: { 'x-forwarded-for': ip } });

async function newUser(username: string): Promise<string> {
  const registered = await register(username);
  expect(registered.status, registered.text).toBe(201);
  const loggedIn = await login(username, PASSWORD);
  expect(loggedIn.status, loggedIn.text).toBe(200);
  return loggedIn.body.accessToken as string;
}

async function metric(series: string, of: TestServer = server): Promise<number> {
  const metrics = await call(`${of.url}/metrics`, of === server ? { token: METRICS_TOKEN } : {});
  expect(metrics.status).toBe(200);
  return metricValue(metrics.text, series);
}

/** A 429 `rate-limited` problem whose `Retry-After` is whole seconds within the window. */
function expectRateLimited(response: CallResult, windowSeconds: number): void {
  expectProblem(response, 429, 'rate-limited');
  const retryAfter = response.headers.get('retry-after') ?? '';
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThan(0);
  expect(Number(retryAfter)).toBeLessThanOrEqual(windowSeconds);
}

function countStatuses(responses: CallResult[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const response of responses) counts[response.status] = (counts[response.status] ?? 0) + 1;
  return counts;
}

describe('login policy (failed attempts per address and username)', () => {
  it('locks a pair after 5 failures, even for the right password in any case, but not the user elsewhere', async () => {
    await newUser('target');
    const ip = freshIp();
    const before = await metric(rejections('login'));
    for (let i = 0; i < 5; i += 1) expectProblem(await login('target', `wrong password ${i}`, ip), 401, 'unauthorized');

    const locked = await login('target', PASSWORD, ip);
    expectRateLimited(locked, 15 * 60);
    expect(locked.text).not.toContain('accessToken');
    expect(locked.headers.get('ratelimit-limit')).toBe('5');
    expect(locked.headers.get('ratelimit-remaining')).toBe('0');
    expect(locked.headers.get('ratelimit-reset')).toMatch(/^\d+$/);
    expect(await metric(rejections('login'))).toBe(before + 1);
    // Usernames are one account whatever their case.
    expectRateLimited(await login('TARGET', PASSWORD, ip), 15 * 60);
    expect(await metric(rejections('login'))).toBe(before + 2);

    // Guesses from one address do not lock the owner out from another.
    expect((await login('target', PASSWORD)).status).toBe(200);
  });

  it('does not count successful logins', async () => {
    await newUser('steady');
    const ip = freshIp();
    for (let i = 0; i < 6; i += 1) expect((await login('steady', PASSWORD, ip)).status).toBe(200);
    for (let i = 0; i < 4; i += 1) expect((await login('steady', 'wrong password', ip)).status).toBe(401);
    expect((await login('steady', PASSWORD, ip)).status).toBe(200);
    expect((await login('steady', 'wrong password', ip)).status).toBe(401);
    expectRateLimited(await login('steady', PASSWORD, ip), 15 * 60);
  });

  it('does not count a malformed login, which guesses nothing', async () => {
    await newUser('careful');
    const ip = freshIp();
    for (let i = 0; i < 8; i += 1) {
      const malformed = await call(`${server.api}/auth/login`, { body: { username: 'careful' }, headers: { 'x-forwarded-for': ip } });
      expectProblem(malformed, 400, 'validation');
    }
    expect((await login('careful', PASSWORD, ip)).status).toBe(200);
  });
});

// MySQL's utf8mb4_unicode_520_ci ignores accents and trailing spaces: each of these compared
// equal to `bob`, was judged as a fresh pair, and `bób` with bob's password signed in as bob.
const BOB_VARIANTS = ['bób', 'böb', 'bôb', 'bob ', 'BÒB', 'bõb'];

describe.each(['sqlite', 'mysql'] as const)('usernames registration refuses (%s)', (database) => {
  let db: TestServer;
  let ip = 0;
  const dbIp = () => `10.9.${database === 'mysql' ? 1 : 0}.${(ip += 1)}`;
  const dbLogin = (username: string, password: string, from: string) =>
    call(`${db.api}/auth/login`, { body: { username, password }, headers: { 'x-forwarded-for': from } });

  beforeAll(async () => {
    db = await startTestServer({ MIXTAPE_RATE_LIMITS: 'login=5/15m,login-ip=100/1d', MIXTAPE_TRUST_PROXY: 'loopback' }, { database });
    const registered = await call(`${db.api}/auth/register`, { body: { username: 'bob', password: PASSWORD } });
    expect(registered.status, registered.text).toBe(201);
  });

  afterAll(async () => {
    await db?.stop();
  });

  it("never sign in as bob with bob's password: each is a wrong pair counted against bob's", async () => {
    const from = dbIp();
    for (const username of BOB_VARIANTS.slice(0, 5)) expectProblem(await dbLogin(username, PASSWORD, from), 401, 'unauthorized');
    // Five failed attempts at the pair (this address, bob), whatever the spelling.
    expectRateLimited(await dbLogin(BOB_VARIANTS[5]!, PASSWORD, from), 15 * 60);
    expectRateLimited(await dbLogin('bob', PASSWORD, from), 15 * 60);
    expect((await dbLogin('bob', PASSWORD, dbIp())).status).toBe(200);
  });

  it('do not escape the pair limit once bob is locked', async () => {
    const from = dbIp();
    for (let i = 0; i < 5; i += 1) expectProblem(await dbLogin('bob', `wrong password ${i}`, from), 401, 'unauthorized');
    expectRateLimited(await dbLogin('bob', PASSWORD, from), 15 * 60);
    for (const username of BOB_VARIANTS) {
      const refused = await dbLogin(username, PASSWORD, from);
      expectRateLimited(refused, 15 * 60);
      expect(refused.text).not.toContain('accessToken');
    }
  });

  it('count toward login-ip like any wrong pair', async () => {
    const from = dbIp();
    // 100 names no account can have (an inner space), 4 at a time so no pair reaches its 5.
    for (let batch = 0; batch < 25; batch += 1) {
      const guesses = await Promise.all(Array.from({ length: 4 }, (_, i) => dbLogin(`no one ${batch}`, `guess ${i}`, from)));
      expect(countStatuses(guesses), `batch ${batch}`).toEqual({ 401: 4 });
    }
    expectRateLimited(await dbLogin('bob', PASSWORD, from), 24 * 3600);
  });
});

describe('parallel guesses (real password hashing, as `mixtape serve` does)', () => {
  let hashing: RunningServer;
  let dataDir: string;

  beforeAll(async () => {
    // Real scrypt keeps each guess in flight for long, as in production: the window in which a
    // limit that checks before it counts lets every parallel guess through.
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-rate-limits-'));
    const config = parseConfig({
      MIXTAPE_PORT: '0',
      MIXTAPE_DATA_DIR: dataDir,
      MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
      MIXTAPE_RATE_LIMITS: 'login=5/15m',
    });
    hashing = await startServer(config, createLogger({ level: 'silent' }));
  });

  afterAll(async () => {
    await hashing?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('judges only 5 of 60 wrong passwords sent at once, and then refuses the right one', async () => {
    const api = `${hashing.url}/api/v1`;
    const registered = await call(`${api}/auth/register`, { body: { username: 'victim', password: PASSWORD } });
    expect(registered.status, registered.text).toBe(201);
    const guess = (password: string) => call(`${api}/auth/login`, { body: { username: 'victim', password } });

    const guesses = await Promise.all(Array.from({ length: 60 }, (_, i) => guess(`wrong password ${i}`)));
    expect(countStatuses(guesses)).toEqual({ 401: 5, 429: 55 });
    for (const refused of guesses.filter((g) => g.status === 429)) expectRateLimited(refused, 15 * 60);
    const metrics = await call(`${hashing.url}/metrics`);
    expect(metricValue(metrics.text, rejections('login'))).toBe(55);
    expectRateLimited(await guess(PASSWORD), 15 * 60);
  });
});

describe('login-ip policy (failed attempts per address, any username)', () => {
  it('judges 100 of 120 guesses at once over many usernames, then locks the address but not the user elsewhere', async () => {
    await newUser('wanderer');
    const ip = freshIp();
    const before = await metric(rejections('login-ip'));
    const guesses = await Promise.all(Array.from({ length: 120 }, (_, i) => login(`ghost${i}`, 'whatever password', ip)));
    expect(countStatuses(guesses)).toEqual({ 401: 100, 429: 20 });
    expect(await metric(rejections('login-ip'))).toBe(before + 20);

    expectRateLimited(await login('wanderer', PASSWORD, ip), 24 * 3600);
    expect(await metric(rejections('login-ip'))).toBe(before + 21);
    expect((await login('wanderer', PASSWORD)).status).toBe(200);
  });
});

describe('login refusals that judged no password', () => {
  it("are not failed attempts: over 100 refused correct logins do not lock the address's other users out", async () => {
    await newUser('eager');
    await newUser('colleague');
    const ip = freshIp();
    // Five are judged at a time (the pair counts logins in flight); the rest are refused with
    // 429 by a limit before any password was judged. Bursts until more than login-ip's 100
    // refusals have been made, however many of each burst were judged.
    const statuses: Record<number, number> = {};
    for (let bursts = 0; (statuses[429] ?? 0) <= 100; bursts += 1) {
      expect(bursts, 'bursts needed').toBeLessThan(30);
      const burst = await Promise.all(Array.from({ length: 60 }, () => login('eager', PASSWORD, ip)));
      for (const [status, count] of Object.entries(countStatuses(burst))) statuses[Number(status)] = (statuses[Number(status)] ?? 0) + count;
    }
    expect(Object.keys(statuses).sort(), JSON.stringify(statuses)).toEqual(['200', '429']);

    // Those 429s counted as failed attempts for login-ip, which then refused the address for a day.
    const colleague = await login('colleague', PASSWORD, ip);
    expect(colleague.status, colleague.text).toBe(200);
    // Nor do they count for the pair: five wrong passwords are still judged, and no sixth.
    for (let i = 0; i < 5; i += 1) expectProblem(await login('eager', `wrong password ${i}`, ip), 401, 'unauthorized');
    expectRateLimited(await login('eager', PASSWORD, ip), 15 * 60);
  });

  it('leave login-ip 100 wrong passwords to judge, and refuse the 101st', async () => {
    await newUser('roamer');
    const ip = freshIp();
    const refusals = countStatuses(await Promise.all(Array.from({ length: 12 }, () => login('roamer', PASSWORD, ip))));
    expect(refusals[429] ?? 0, JSON.stringify(refusals)).toBeGreaterThan(0);
    // Judged wrong: 4 per username (under the pair's limit) over 25 usernames.
    for (let user = 0; user < 25; user += 1) {
      const guesses = await Promise.all(Array.from({ length: 4 }, (_, i) => login(`ghost-${user}`, `whatever ${i}`, ip)));
      expect(countStatuses(guesses), `username ${user}`).toEqual({ 401: 4 });
    }
    expectRateLimited(await login('ghost-x', 'whatever', ip), 24 * 3600);
  });
});

describe('client addresses', () => {
  it('counts IPv6 clients per /56', async () => {
    expect((await register('sixer1', '2001:db8:1:100::1')).status).toBe(201);
    expect((await register('sixer2', '2001:db8:1:1ff:ffff::2')).status).toBe(201);
    expectRateLimited(await register('sixer3', '2001:db8:1:1ab::3'), 3600);
    // The next /56 is another client.
    expect((await register('sixer3', '2001:db8:1:200::1')).status).toBe(201);
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4 address', async () => {
    expect((await register('mapped1', '::ffff:10.200.0.1')).status).toBe(201);
    expect((await register('mapped2', '10.200.0.1')).status).toBe(201);
    expectRateLimited(await register('mapped3', '::ffff:10.200.0.1'), 3600);
  });
});

describe('search policy (per user)', () => {
  it('refuses the 3rd search of a user, while another user may search', async () => {
    const first = await newUser('searcher1');
    const second = await newUser('searcher2');
    for (let i = 0; i < 2; i += 1) {
      const allowed = await search(first);
      expect(allowed.status, allowed.text).toBe(200);
      expect(allowed.headers.get('ratelimit-remaining')).toBe(String(1 - i));
    }
    expectRateLimited(await search(first), 60);
    // Per user: a new address does not help.
    expectRateLimited(await search(first), 60);
    const other = await search(second);
    expect(other.status, other.text).toBe(200);
    expect(other.body.items.length).toBeGreaterThan(0);
  });
});

describe('register policy (per address)', () => {
  it('refuses the 3rd registration from one address, while another address may register', async () => {
    const ip = freshIp();
    expect((await register('newbie1', ip)).status).toBe(201);
    expect((await register('newbie2', ip)).status).toBe(201);
    expectRateLimited(await register('newbie3', ip), 3600);
    expect((await register('newbie3')).status).toBe(201);
    // The refused attempt created nothing: newbie3 exists once, from the other address.
    expect((await register('newbie3')).status).toBe(409);
  });
});

describe('global policy (per address, API routes only)', () => {
  let limited: TestServer;

  beforeAll(async () => {
    // No proxy trusted, so every request is from loopback, and /metrics answers without a token.
    limited = await startTestServer({ MIXTAPE_RATE_LIMITS: 'global=5/1m' });
  });

  afterAll(async () => {
    await limited?.stop();
  });

  it('never limits /livez, /readyz, /health and /metrics, even for an address over the limit', async () => {
    const before = await metric(rejections('global'), limited);
    for (let i = 0; i < 5; i += 1) {
      const allowed = await call(`${limited.api}/openapi.json`);
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('ratelimit-remaining')).toBe(String(4 - i));
    }
    const refused = await call(`${limited.api}/openapi.json`);
    expectRateLimited(refused, 60);
    expect(refused.headers.get('ratelimit-limit')).toBe('5');

    for (const path of ['/livez', '/readyz', '/health', '/metrics']) {
      const probe = await call(`${limited.url}${path}`);
      expect(probe.status, `${path}: ${probe.text}`).toBe(200);
      expect(probe.headers.get('ratelimit-limit'), path).toBeNull();
    }
    expect(await metric(rejections('global'), limited)).toBe(before + 1);
    // The API itself stays limited.
    expectRateLimited(await call(`${limited.api}/openapi.json`), 60);
  });
});

describe('express-rate-limit', () => {
  it('found no misconfiguration in any limiter of the server', () => {
    // It reports what it detects (a shared store, a key counted twice, an IPv6 key) through our logger.
    expect(server.logs.join('')).not.toMatch(/ERR_ERL_/);
  });
});

describe('MIXTAPE_RATE_LIMITS', () => {
  function problemsOf(env: Record<string, string>): string[] {
    try {
      parseConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).problems;
    }
    throw new Error('parseConfig accepted the configuration');
  }

  it('refuses an unknown policy name, naming the variable', () => {
    const problems = problemsOf({ MIXTAPE_RATE_LIMITS: 'bogus=1/1m' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^MIXTAPE_RATE_LIMITS: /);
    expect(problems[0]).toContain('bogus');
  });

  it('refuses malformed entries, one problem each', () => {
    const problems = problemsOf({ MIXTAPE_RATE_LIMITS: 'login=abc,search=0/1m,download=5/1y' });
    expect(problems).toHaveLength(3);
    for (const problem of problems) expect(problem).toMatch(/^MIXTAPE_RATE_LIMITS: /);
  });

  it('keeps the default of a policy left out', () => {
    const { rateLimits } = parseConfig({ MIXTAPE_RATE_LIMITS: 'login=3/15m' });
    expect(rateLimits.login).toMatchObject({ limit: 3, windowMs: 15 * 60_000 });
    expect(rateLimits.search).toMatchObject({ limit: 60, windowMs: 60_000 });
    expect(rateLimits.register).toMatchObject({ limit: 5, windowMs: 3_600_000 });
  });
});
