import { createHash, createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';
import { errorPaths, expectProblem, metricValue } from './support/http-expectations.js';

/**
 * Hostile input at the edges of the server: control characters in queries, bodies that lie
 * about their encoding, tokens without an expiry, `__proto__` keys, requests Node's parser
 * refuses, and clients that leave halfway.
 */

const SECRET = randomBytes(32).toString('base64url');
const CREDENTIALS = { username: 'someone', password: 'not the password at all' };

let server: TestServer;
let token: string;

interface LogLine {
  level: number;
  msg?: string;
}

beforeAll(async () => {
  server = await startTestServer({
    MIXTAPE_JWT_SECRET: SECRET,
    MIXTAPE_WORKERS: '0',
    MIXTAPE_RATE_LIMITS: 'global=100000/1m,search=1000/1m,login=1000/15m,login-ip=1000/1d,register=1000/1h',
  });
  token = (await signUp(server)).accessToken;
});

afterAll(async () => {
  await server?.stop();
});

const logsFrom = (start: number): LogLine[] => server.logs.slice(start).map((line) => JSON.parse(line) as LogLine);

/** One request written byte for byte on a fresh connection; the answer as the server wrote it. */
async function rawExchange(request: string | Buffer): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { hostname, port } = new URL(server.url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = once(socket, 'close');
  socket.write(request);
  await closed;
  const text = Buffer.concat(chunks).toString('utf8');
  const [head = '', body = ''] = text.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('search queries', () => {
  it('refuses control characters in q with 400 naming q, and never degrades search for them', async () => {
    for (const q of ['%00abc', 'ab%07c', 'a%7Fb', 'a%C2%85b', 'a%C2%9Bb', 'love%09song']) {
      const response = await call(`${server.api}/tracks/search?q=${q}`, { token });
      const body = expectProblem(response, 400, 'validation');
      expect(errorPaths(body), q).toEqual(['q']);
    }
    const metrics = await call(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metricValue(metrics.text, 'mixtape_search_degraded')).toBe(0);
    // Ordinary queries, and surrounding whitespace that is trimmed away, still search.
    for (const q of ['love', 'caf%C3%A9', '%20love%20']) {
      const ok = await call(`${server.api}/tracks/search?q=${q}`, { token });
      expect(ok.status, ok.text).toBe(200);
      expect(ok.body.degraded).toBe(false);
    }
  });
});

describe('request bodies that lie about their encoding', () => {
  async function login(body: Buffer, encoding: string) {
    const response = await fetch(`${server.api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': encoding },
      body,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, body: JSON.parse(text) as unknown };
  }
  const json = Buffer.from(JSON.stringify(CREDENTIALS));

  it('answers a body that is not compressed as its Content-Encoding claims with 400', async () => {
    for (const encoding of ['gzip', 'deflate', 'br', 'GZIP']) {
      const body = expectProblem(await login(json, encoding), 400, 'validation');
      expect(body.detail, encoding).toMatch(/Content-Encoding/);
    }
    // A truncated gzip stream is as broken.
    expectProblem(await login(gzipSync(json).subarray(0, 15), 'gzip'), 400, 'validation');
  });

  it('answers an encoding it does not support with 415', async () => {
    for (const encoding of ['compress', 'x-custom', 'gzip, gzip']) {
      expectProblem(await login(json, encoding), 415, 'validation');
    }
  });

  it('reads bodies that are compressed as they say', async () => {
    expectProblem(await login(gzipSync(json), 'gzip'), 401, 'unauthorized');
    expectProblem(await login(brotliCompressSync(json), 'br'), 401, 'unauthorized');
  });
});

describe('paths', () => {
  it('answers a path parameter that is not valid percent-encoding with 400, not 500', async () => {
    for (const path of ['tracks/%E0%A4%A', 'downloads/%ZZ', 'library/%C0%AF/file']) {
      expectProblem(await call(`${server.api}/${path}`, { token }), 400, 'validation');
    }
  });
});

describe('__proto__ in JSON bodies', () => {
  it('is refused, naming it, like any other unknown field', async () => {
    const register = await call(`${server.api}/auth/register`, {
      body: '{"username":"protouser","password":"a long enough password","__proto__":{"x":1}}',
    });
    expect(errorPaths(expectProblem(register, 400, 'validation'))).toEqual(['__proto__']);
    const login = await call(`${server.api}/auth/login`, { body: `{"username":"someone","password":"x","__proto__":null}` });
    expect(errorPaths(expectProblem(login, 400, 'validation'))).toContain('__proto__');
    const download = await call(`${server.api}/downloads`, { token, body: '{"__proto__":{"isAdmin":true},"track":"x"}' });
    expect(errorPaths(expectProblem(download, 400, 'validation'))).toContain('__proto__');
    // Nothing was created by the refused registration.
    expect((await call(`${server.api}/auth/register`, { body: { username: 'protouser', password: 'a long enough password' } })).status).toBe(201);
  });
});

describe('access tokens', () => {
  /** An HS256 token signed with the server's own key, as JwtKeyring names it, with exactly these claims. */
  function signed(claims: Record<string, unknown>): string {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const kid = createHash('sha256').update(SECRET).digest('base64url').slice(0, 12);
    const unsigned = `${encode({ alg: 'HS256', typ: 'JWT', kid })}.${encode(claims)}`;
    return `${unsigned}.${createHmac('sha256', Buffer.from(SECRET)).update(unsigned).digest('base64url')}`;
  }

  it('refuses a correctly signed token that has no exp', async () => {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(claims.exp).toBeTypeOf('number');
    // The same claims with an expiry pass, so only the missing exp is refused.
    const withExp = await call(`${server.api}/me`, { token: signed(claims) });
    expect(withExp.status, withExp.text).toBe(200);
    const { exp: _exp, ...forever } = claims;
    expectProblem(await call(`${server.api}/me`, { token: signed(forever) }), 401, 'unauthorized');
  });
});

describe('requests refused by the HTTP parser', () => {
  it('answers headers that are too large with a 431 problem', async () => {
    const response = await rawExchange(`GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(response.status).toBe(431);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.body));
    expect(JSON.parse(response.body)).toMatchObject({ type: expect.stringMatching(/\/validation$/), status: 431, title: expect.any(String), detail: expect.any(String) });
  });

  it('answers a malformed request with a 400 problem', async () => {
    for (const request of ['NOT HTTP AT ALL\r\n\r\n', 'GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n']) {
      const response = await rawExchange(request);
      expect(response.status, request).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(response.body)).toMatchObject({ type: expect.stringMatching(/\/validation$/), status: 400 });
    }
    // The server is still there for well-formed requests.
    expect((await call(`${server.url}/livez`)).status).toBe(200);
  });
});

describe('clients that leave', () => {
  it('does not log a request body that never arrives as an error', async () => {
    const start = server.logs.length;
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    await once(socket, 'connect');
    socket.write('POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"userna');
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await expect.poll(() => logsFrom(start).some((line) => line.msg === 'client went away')).toBe(true);
    expect(logsFrom(start).filter((line) => line.level >= 50)).toEqual([]);
  });
});
