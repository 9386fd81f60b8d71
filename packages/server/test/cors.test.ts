import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * `MIXTAPE_CORS_ORIGINS`: browsers on the listed origins may call the API, and read the headers
 * API.md names; any other origin gets nothing; unset, there is no CORS at all. Bearer tokens are
 * not cookies, so credentials are never allowed.
 */

const APP = 'https://app.example.com';
const OTHER = 'http://localhost:5173';
const STRANGER = 'https://evil.example';
const EXPOSED = [
  'Content-Disposition',
  'Retry-After',
  'ETag',
  'Content-Range',
  'Location',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'RateLimit-Policy',
  'X-Request-Id',
];
const REQUEST_HEADERS = ['authorization', 'content-type', 'if-none-match', 'if-range', 'range', 'x-request-id'];

let server: TestServer;
let limited: TestServer;
let closed: TestServer;
let token: string;

beforeAll(async () => {
  [server, limited, closed] = await Promise.all([
    startTestServer({ MIXTAPE_CORS_ORIGINS: `${APP},${OTHER}`, MIXTAPE_WORKERS: '0' }),
    startTestServer({ MIXTAPE_CORS_ORIGINS: APP, MIXTAPE_WORKERS: '0', MIXTAPE_RATE_LIMITS: 'global=3/1m' }),
    startTestServer({ MIXTAPE_WORKERS: '0' }),
  ]);
  token = (await signUp(server)).accessToken;
});

afterAll(async () => {
  await Promise.all([server?.stop(), limited?.stop(), closed?.stop()]);
});

const preflight = (target: TestServer, path: string, origin: string, method = 'POST', headers = 'authorization, content-type') =>
  fetch(`${target.api}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });

const corsHeadersOf = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));

const listOf = (value: string | null) => (value ?? '').split(',').map((item) => item.trim().toLowerCase()).filter(Boolean);

describe('a preflight from a listed origin', () => {
  it('is a 204 allowing that origin (never *), the API methods and request headers, for a while', async () => {
    for (const origin of [APP, OTHER]) {
      const answer = await preflight(server, '/downloads', origin, 'POST', 'authorization, content-type, x-request-id');
      expect(answer.status).toBe(204);
      expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
      expect(listOf(answer.headers.get('access-control-allow-methods'))).toEqual(expect.arrayContaining(['get', 'post', 'delete']));
      expect(listOf(answer.headers.get('access-control-allow-headers')).sort()).toEqual([...REQUEST_HEADERS].sort());
      expect(Number(answer.headers.get('access-control-max-age'))).toBeGreaterThan(0);
      expect(listOf(answer.headers.get('vary'))).toContain('origin');
      expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
      expect(answer.headers.get('x-request-id')).toBeTruthy();
      expect(await answer.text()).toBe('');
    }
  });

  it('needs no token, on any API path', async () => {
    for (const [path, method] of [
      ['/me', 'GET'],
      ['/downloads/00000000-0000-4000-8000-000000000000', 'DELETE'],
      ['/library/4uLU6hMCjMI75M1A2tKUQC/file', 'GET'],
      ['/admin/reconcile?dryRun=true', 'POST'],
    ] as const) {
      const answer = await preflight(server, path, APP, method, 'authorization, range, if-range');
      expect(answer.status, path).toBe(204);
      expect(answer.headers.get('access-control-allow-origin'), path).toBe(APP);
    }
  });

  it('is never rate-limited, and a 429 still tells the browser what it may read', async () => {
    for (let i = 0; i < 6; i += 1) expect((await preflight(limited, '/auth/login', APP)).status).toBe(204);
    let refused: Response | undefined;
    for (let i = 0; i < 6 && refused === undefined; i += 1) {
      const answer = await fetch(`${limited.api}/openapi.json`, { headers: { origin: APP } });
      await answer.arrayBuffer();
      if (answer.status === 429) refused = answer;
    }
    expect(refused?.status).toBe(429);
    expect(refused?.headers.get('access-control-allow-origin')).toBe(APP);
    expect(listOf(refused?.headers.get('access-control-expose-headers') ?? null)).toEqual(expect.arrayContaining(['retry-after', 'ratelimit-reset']));
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    // Over the limit, preflights still pass.
    expect((await preflight(limited, '/auth/login', APP)).status).toBe(204);
  });
});

describe('answers to a listed origin', () => {
  it('allow the origin and expose the headers API.md names, on success', async () => {
    const answer = await fetch(`${server.api}/me`, { headers: { origin: APP, authorization: `Bearer ${token}` } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    expect(listOf(answer.headers.get('access-control-expose-headers')).sort()).toEqual(EXPOSED.map((name) => name.toLowerCase()).sort());
    expect(listOf(answer.headers.get('vary'))).toContain('origin');
    expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('and on problems: 401, 400, 404', async () => {
    for (const [path, headers] of [
      ['/me', {}],
      ['/tracks/search?q=', { authorization: `Bearer ${token}` }],
      ['/no-such-route', {}],
    ] as const) {
      const answer = await fetch(`${server.api}${path}`, { headers: { origin: OTHER, ...headers } });
      expect(answer.headers.get('content-type'), path).toMatch(/^application\/problem\+json/);
      expect(answer.headers.get('access-control-allow-origin'), path).toBe(OTHER);
      expect(listOf(answer.headers.get('access-control-expose-headers')), path).toContain('x-request-id');
    }
  });
});

describe('an origin that is not listed', () => {
  it('gets no CORS header, on answers or preflights', async () => {
    for (const origin of [STRANGER, 'https://app.example.com.evil.example', 'http://app.example.com', 'null']) {
      const answer = await fetch(`${server.api}/me`, { headers: { origin, authorization: `Bearer ${token}` } });
      expect(answer.status).toBe(200);
      expect(corsHeadersOf(answer), origin).toEqual([]);
      const refused = await preflight(server, '/downloads', origin);
      expect(corsHeadersOf(refused), origin).toEqual([]);
    }
  });
});

describe('without MIXTAPE_CORS_ORIGINS', () => {
  it('there is no CORS at all', async () => {
    const answer = await fetch(`${closed.api}/openapi.json`, { headers: { origin: APP } });
    expect(answer.status).toBe(200);
    expect(corsHeadersOf(answer)).toEqual([]);
    expect(corsHeadersOf(await preflight(closed, '/downloads', APP))).toEqual([]);
  });
});
