import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DEMO_TRACKS, parseConfig } from '@mixtape/core';
import { call, startTestServer, type TestServer } from './support/test-server.js';
import { expectProblem, metricValue, type CallResult } from './support/http-expectations.js';

const PASSWORD = 'a long enough password';
const QUERY = encodeURIComponent(DEMO_TRACKS[0]!.title.split(' ')[0]!);
const LOGIN_REJECTIONS = 'mixtape_rate_limit_rejections_total{policy="login"}';

let server: TestServer;

beforeAll(async () => {
  // Trusting the loopback proxy lets each test speak from its own client address.
  server = await startTestServer({
    MIXTAPE_RATE_LIMITS: 'login=3/15m,search=2/1m,register=2/1h',
    MIXTAPE_TRUST_PROXY: 'loopback',
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

async function loginRejections(): Promise<number> {
  const metrics = await call(`${server.url}/metrics`);
  expect(metrics.status).toBe(200);
  return metricValue(metrics.text, LOGIN_REJECTIONS);
}

/** A 429 `rate-limited` problem whose `Retry-After` is whole seconds within the window. */
function expectRateLimited(response: CallResult, windowSeconds: number): void {
  expectProblem(response, 429, 'rate-limited');
  const retryAfter = response.headers.get('retry-after') ?? '';
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThan(0);
  expect(Number(retryAfter)).toBeLessThanOrEqual(windowSeconds);
}

describe('login policy (failed attempts)', () => {
  it('locks a username after 3 failures, from any address, even for the right password', async () => {
    await newUser('target');
    const before = await loginRejections();
    for (let i = 0; i < 3; i += 1) expectProblem(await login('target', `wrong password ${i}`), 401, 'unauthorized');

    const locked = await login('target', PASSWORD);
    expectRateLimited(locked, 15 * 60);
    expect(locked.text).not.toContain('accessToken');
    expect(await loginRejections()).toBe(before + 1);
    // Usernames are one account whatever their case.
    expectRateLimited(await login('TARGET', PASSWORD), 15 * 60);
    expect(await loginRejections()).toBe(before + 2);

    // Another user is not affected.
    await newUser('bystander');
  });

  it('locks an address after 3 failures, whatever the usernames', async () => {
    await newUser('wanderer');
    const ip = freshIp();
    for (const name of ['ghost1', 'ghost2', 'ghost3']) expectProblem(await login(name, 'whatever password', ip), 401, 'unauthorized');
    expectRateLimited(await login('wanderer', PASSWORD, ip), 15 * 60);
    expect((await login('wanderer', PASSWORD)).status).toBe(200);
  });

  it('does not count successful logins', async () => {
    await newUser('steady');
    const ip = freshIp();
    for (let i = 0; i < 5; i += 1) expect((await login('steady', PASSWORD, ip)).status).toBe(200);
    for (let i = 0; i < 2; i += 1) expect((await login('steady', 'wrong password', ip)).status).toBe(401);
    expect((await login('steady', PASSWORD, ip)).status).toBe(200);
    expect((await login('steady', 'wrong password', ip)).status).toBe(401);
    expectRateLimited(await login('steady', PASSWORD, ip), 15 * 60);
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
