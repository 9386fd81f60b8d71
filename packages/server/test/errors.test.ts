import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS, JwtKeyring } from '@mixtape/core';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';
import { errorPaths, expectProblem } from './support/http-expectations.js';

const SECRET = randomBytes(32).toString('base64url');
const TRACK_ID = DEMO_TRACKS[0]!.id;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let server: TestServer;
let token: string;

beforeAll(async () => {
  // No workers: a download accepted here stays queued and touches nothing else. Limits are
  // raised because refused requests count against them too; rate-limits.test.ts covers those.
  server = await startTestServer({
    MIXTAPE_JWT_SECRET: SECRET,
    MIXTAPE_WORKERS: '0',
    MIXTAPE_RATE_LIMITS: 'download=1000/1m,search=1000/1m',
  });
  token = (await signUp(server)).accessToken;
});

afterAll(async () => {
  await server?.stop();
});

/** The claims of an access token, read without verifying it. */
function claimsOf(accessToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

describe('unknown routes', () => {
  it('answers 404 not-found for GET and POST, inside and outside /api/v1', async () => {
    expectProblem(await call(`${server.api}/no-such-thing`), 404, 'not-found');
    expectProblem(await call(`${server.api}/no-such-thing`, { body: { a: 1 } }), 404, 'not-found');
    expectProblem(await call(`${server.url}/no-such-thing`), 404, 'not-found');
    expectProblem(await call(`${server.url}/no-such-thing`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }), 404, 'not-found');
  });
});

describe('request bodies', () => {
  it('refuses broken JSON with 400', async () => {
    const response = await call(`${server.api}/auth/login`, { body: '{"username": "a", ' });
    expectProblem(response, 400, 'validation');
  });

  it('refuses a body over 16 KiB with 413, and accepts one just under it', async () => {
    const big = { username: 'someone', password: 'x'.repeat(17 * 1024) };
    expectProblem(await call(`${server.api}/auth/login`, { body: big }), 413, 'validation');
    // Just under the limit the body is read and judged on its fields instead.
    const under = { username: 'someone', password: 'x'.repeat(15 * 1024) };
    const judged = expectProblem(await call(`${server.api}/auth/login`, { body: under }), 400, 'validation');
    expect(errorPaths(judged)).toContain('password');
  });

  it('rejects an unknown JSON field, naming it', async () => {
    const response = await call(`${server.api}/auth/register`, {
      body: { username: 'fieldtester', password: 'a long enough password', admin: true },
    });
    const body = expectProblem(response, 400, 'validation');
    expect(errorPaths(body)).toEqual(['admin']);
    const download = await call(`${server.api}/downloads`, { token, body: { track: TRACK_ID, priority: 1 } });
    expect(errorPaths(expectProblem(download, 400, 'validation'))).toEqual(['priority']);
  });

  it('rejects JSON that is not an object', async () => {
    for (const text of ['[]', '"x"', '42', 'null', '[{"track":"x"}]']) {
      expectProblem(await call(`${server.api}/auth/register`, { body: text }), 400, 'validation');
      expectProblem(await call(`${server.api}/downloads`, { token, body: text }), 400, 'validation');
    }
  });

  it('names every missing field', async () => {
    const register = expectProblem(await call(`${server.api}/auth/register`, { body: {} }), 400, 'validation');
    expect(errorPaths(register).sort()).toEqual(['password', 'username']);
    const download = expectProblem(await call(`${server.api}/downloads`, { token, body: {} }), 400, 'validation');
    expect(errorPaths(download)).toEqual(['track']);
    const refresh = expectProblem(await call(`${server.api}/auth/refresh`, { body: {} }), 400, 'validation');
    expect(errorPaths(refresh)).toEqual(['refreshToken']);
  });

  it('refuses bad track references with 400 naming `track`, and accepts the good forms', async () => {
    const bad = [
      `spotify:album:${TRACK_ID}`,
      `http://open.spotify.com/track/${TRACK_ID}`,
      `https://open.spotify.com/album/${TRACK_ID}`,
      `https://evil.example/track/${TRACK_ID}`,
      TRACK_ID.slice(0, 21),
      `${TRACK_ID}x`,
      `${TRACK_ID.slice(0, 21)}!`,
      `spotify:track:${TRACK_ID.slice(0, 21)}`,
    ];
    for (const track of bad) {
      const body = expectProblem(await call(`${server.api}/downloads`, { token, body: { track } }), 400, 'validation');
      expect(errorPaths(body), track).toEqual(['track']);
    }
    for (const track of [TRACK_ID, `spotify:track:${TRACK_ID}`, `https://open.spotify.com/track/${TRACK_ID}?si=abc`]) {
      const accepted = await call(`${server.api}/downloads`, { token, body: { track } });
      expect(accepted.status, `${track}: ${accepted.text}`).toBe(202);
      expect(accepted.body.trackId).toBe(TRACK_ID);
    }
  });
});

describe('path and query parameters', () => {
  it('refuses bad path parameters with 400 naming them', async () => {
    expect(errorPaths(expectProblem(await call(`${server.api}/tracks/abc`, { token }), 400, 'validation'))).toEqual(['trackId']);
    expect(errorPaths(expectProblem(await call(`${server.api}/downloads/not-a-uuid`, { token }), 400, 'validation'))).toEqual(['jobId']);
    expectProblem(await call(`${server.api}/downloads/not-a-uuid`, { token, method: 'DELETE' }), 400, 'validation');
    expectProblem(await call(`${server.api}/library/abc/file`, { token }), 400, 'validation');
    // Well-formed but unknown ids are a different answer.
    expectProblem(await call(`${server.api}/downloads/${crypto.randomUUID()}`, { token }), 404, 'not-found');
  });

  it('refuses out-of-range query parameters with 400 naming them', async () => {
    const cases: Array<[string, string]> = [
      ['tracks/search?q=', 'q'],
      ['tracks/search', 'q'],
      [`tracks/search?q=${'a'.repeat(201)}`, 'q'],
      ['tracks/search?q=love&limit=0', 'limit'],
      ['tracks/search?q=love&limit=51', 'limit'],
      ['tracks/search?q=love&limit=ten', 'limit'],
      ['tracks/search?q=love&offset=1001', 'offset'],
      ['tracks/search?q=love&offset=-1', 'offset'],
      ['downloads?status=bogus', 'status'],
      ['downloads?limit=51', 'limit'],
    ];
    for (const [path, field] of cases) {
      const body = expectProblem(await call(`${server.api}/${path}`, { token }), 400, 'validation');
      expect(errorPaths(body), path).toContain(field);
    }
    // The bounds themselves are allowed.
    const edge = await call(`${server.api}/tracks/search?q=${'a'.repeat(200)}&limit=50&offset=1000`, { token });
    expect(edge.status, edge.text).toBe(200);
    expect(edge.body).toMatchObject({ items: [], degraded: false });
    expect((await call(`${server.api}/downloads?status=queued&limit=50`, { token })).status).toBe(200);
  });
});

describe('bearer tokens', () => {
  async function expectUnauthorized(headers: Record<string, string>) {
    const response = await call(`${server.api}/me`, { headers });
    expectProblem(response, 401, 'unauthorized');
    expect(response.headers.get('www-authenticate') ?? '').toMatch(/^Bearer\b/);
  }

  it('answers 401 with WWW-Authenticate for a missing, garbage or wrongly typed token', async () => {
    await expectUnauthorized({});
    await expectUnauthorized({ authorization: 'Bearer garbage' });
    await expectUnauthorized({ authorization: 'Bearer ' });
    await expectUnauthorized({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` });
    await expectUnauthorized({ authorization: `Bearer ${token}x` });
    await expectUnauthorized({ authorization: `Bearer ${'a'.repeat(5000)}` });
  });

  it('answers 401 for an expired token that is otherwise valid', async () => {
    const claims = claimsOf(token);
    const keyring = JwtKeyring.fromSecrets([SECRET]);
    const base = { sub: String(claims.sub), name: String(claims.name), sid: String(claims.sid), jti: crypto.randomUUID() };
    // The same keyring and claims with time left are accepted, so the expiry alone is refused.
    const fresh = await call(`${server.api}/me`, { token: keyring.sign(base, 60) });
    expect(fresh.status, fresh.text).toBe(200);
    await expectUnauthorized({ authorization: `Bearer ${keyring.sign(base, -60)}` });
    // And a token signed with another secret is refused too.
    const forged = JwtKeyring.fromSecrets([randomBytes(32).toString('base64url')]).sign(base, 60);
    await expectUnauthorized({ authorization: `Bearer ${forged}` });
  });
});

describe('X-Request-Id', () => {
  it('is on every response, success or problem', async () => {
    for (const response of [
      await call(`${server.url}/livez`),
      await call(`${server.api}/me`, { token }),
      await call(`${server.api}/me`),
      await call(`${server.api}/nope`),
      await call(`${server.api}/auth/login`, { body: '{' }),
    ]) {
      expect(response.headers.get('x-request-id') ?? '').toMatch(UUID);
    }
  });

  it('echoes a sane incoming id', async () => {
    for (const id of ['abc-123', 'trace.id:42_X', 'a'.repeat(128)]) {
      const ok = await call(`${server.api}/me`, { token, headers: { 'x-request-id': id } });
      expect(ok.headers.get('x-request-id')).toBe(id);
      const problem = await call(`${server.api}/nope`, { headers: { 'x-request-id': id } });
      expect(problem.headers.get('x-request-id')).toBe(id);
    }
  });

  it('replaces an insane one', async () => {
    for (const id of ['a'.repeat(300), 'a'.repeat(129), 'has spaces in it', 'semi;colon', '<script>', '../../etc/passwd']) {
      const response = await call(`${server.url}/livez`, { headers: { 'x-request-id': id } });
      const echoed = response.headers.get('x-request-id');
      expect(echoed).not.toBe(id);
      expect(echoed ?? '').toMatch(UUID);
    }
  });
});
