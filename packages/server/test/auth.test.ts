import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';
import { errorPaths, expectProblem } from './support/http-expectations.js';

const PASSWORD = 'a long enough password';
const TRACK_ID = DEMO_TRACKS[0]!.id;

/**
 * An audio origin that has nothing: every request gets 404. While `held`, answers wait until
 * `release()`, so a job can be caught before it fails again.
 */
class EmptyOrigin {
  readonly server: Server;
  requests = 0;
  #gate: Promise<void> | null = null;
  #open: (() => void) | null = null;

  constructor() {
    this.server = createServer(async (req, res) => {
      this.requests += 1;
      if (this.#gate) await this.#gate;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such track');
    });
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/audio/{id}`;
  }

  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.#open?.();
    this.#gate = null;
  }

  close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let server: TestServer;
let closed: TestServer;
const origin = new EmptyOrigin();

beforeAll(async () => {
  const sourceUrl = await origin.listen();
  [server, closed] = await Promise.all([
    // Limits raised: every request here comes from one address; rate-limits.test.ts covers them.
    startTestServer({
      MIXTAPE_SOURCE_URL: sourceUrl,
      MIXTAPE_RATE_LIMITS: 'register=1000/1h,login=1000/15m',
    }),
    startTestServer({ MIXTAPE_REGISTRATION: 'closed' }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.stop(), closed?.stop(), origin.close()]);
});

const register = (body: unknown) => call(`${server.api}/auth/register`, { body });
const login = (username: string, password: string) => call(`${server.api}/auth/login`, { body: { username, password } });
const refresh = (refreshToken: string) => call(`${server.api}/auth/refresh`, { body: { refreshToken } });
const me = (token: string) => call(`${server.api}/me`, { token });

describe('registration', () => {
  it('creates an account: 201 {id, username}', async () => {
    const response = await register({ username: 'alice.k-9_', password: PASSWORD });
    expect(response.status, response.text).toBe(201);
    expect(Object.keys(response.body).sort()).toEqual(['id', 'username']);
    expect(response.body.username).toBe('alice.k-9_');
    expect(response.body.id).toMatch(/^\S{8,}$/);
    expect(response.text).not.toContain(PASSWORD);
    expect((await login('alice.k-9_', PASSWORD)).status).toBe(200);
  });

  it('refuses a taken username with 409, whatever its case', async () => {
    expect((await register({ username: 'dupe_user', password: PASSWORD })).status).toBe(201);
    expectProblem(await register({ username: 'dupe_user', password: PASSWORD }), 409, 'conflict');
    expectProblem(await register({ username: 'DUPE_User', password: 'another long password' }), 409, 'conflict');
  });

  it('refuses an invalid username or password with 400 naming the field', async () => {
    for (const username of ['ab', 'x'.repeat(33), 'has space', 'semi;colon', 'émile', '']) {
      const body = expectProblem(await register({ username, password: PASSWORD }), 400, 'validation');
      expect(errorPaths(body), username).toEqual(['username']);
    }
    for (const password of ['123456789', 'x'.repeat(129), '']) {
      const body = expectProblem(await register({ username: 'validname', password }), 400, 'validation');
      expect(errorPaths(body), `${password.length} chars`).toEqual(['password']);
    }
    for (const body of [{ username: 42, password: PASSWORD }, { username: 'validname', password: ['x'] }]) {
      expectProblem(await register(body), 400, 'validation');
    }
    // The bounds are allowed, and nothing above created an account.
    expect((await register({ username: 'abc', password: 'x'.repeat(10) })).status).toBe(201);
    expect((await register({ username: 'y'.repeat(32), password: 'x'.repeat(128) })).status).toBe(201);
    expectProblem(await login('validname', PASSWORD), 401, 'unauthorized');
  });

  it('answers 403 forbidden while registration is closed', async () => {
    const response = await call(`${closed.api}/auth/register`, { body: { username: 'newcomer', password: PASSWORD } });
    expectProblem(response, 403, 'forbidden');
    expectProblem(await call(`${closed.api}/auth/login`, { body: { username: 'newcomer', password: PASSWORD } }), 401, 'unauthorized');
  });
});

describe('login', () => {
  it('returns a bearer pair', async () => {
    await register({ username: 'loginuser', password: PASSWORD });
    const response = await login('loginuser', PASSWORD);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ tokenType: 'Bearer' });
    expect(response.body.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(response.body.refreshToken).toMatch(/^[\w-]{20,}$/);
    expect(response.body.expiresIn).toBeGreaterThan(0);
    expect((await me(response.body.accessToken)).body).toMatchObject({ username: 'loginuser', roles: ['user'] });
  });

  it('gives the same 401 for a wrong password and an unknown user', async () => {
    await register({ username: 'victim', password: PASSWORD });
    const wrong = await login('victim', 'not the password at all');
    const unknown = await login('nobody-here', 'not the password at all');
    expectProblem(wrong, 401, 'unauthorized');
    expectProblem(unknown, 401, 'unauthorized');
    expect(unknown.body).toEqual(wrong.body);
    expect(unknown.headers.get('www-authenticate')).toBe(wrong.headers.get('www-authenticate'));
    expect(wrong.text).not.toMatch(/victim|password is wrong|no such user/i);
  });
});

describe('refresh tokens', () => {
  it('rotate: a new pair, and the old refresh token then fails', async () => {
    const user = await signUp(server);
    const rotated = await refresh(user.refreshToken);
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.tokenType).toBe('Bearer');
    expect(rotated.body.refreshToken).not.toBe(user.refreshToken);
    expect(rotated.body.accessToken).not.toBe(user.accessToken);
    expect((await me(rotated.body.accessToken)).body.username).toBe(user.username);

    expectProblem(await refresh(user.refreshToken), 401, 'unauthorized');
    expectProblem(await refresh('never-issued-token-value'), 401, 'unauthorized');
  });

  it('reusing a spent one revokes the whole family, access tokens included, and only that family', async () => {
    const user = await signUp(server);
    const otherSession = (await login(user.username, user.password)).body;
    const second = (await refresh(user.refreshToken)).body;
    const third = (await refresh(second.refreshToken)).body;
    expect((await me(third.accessToken)).status).toBe(200);

    // The first token comes back, as a thief replaying it would.
    expectProblem(await refresh(user.refreshToken), 401, 'unauthorized');
    expectProblem(await refresh(third.refreshToken), 401, 'unauthorized');
    for (const accessToken of [user.accessToken, second.accessToken, third.accessToken]) {
      expectProblem(await me(accessToken), 401, 'unauthorized');
    }

    // The user's other session is a different family and goes on working.
    expect((await me(otherSession.accessToken)).status).toBe(200);
    expect((await refresh(otherSession.refreshToken)).status).toBe(200);
  });
});

describe('logout', () => {
  it('answers 204 and ends the access token and the refresh token', async () => {
    const user = await signUp(server);
    expect((await me(user.accessToken)).status).toBe(200);
    const response = await call(`${server.api}/auth/logout`, { token: user.accessToken, body: { refreshToken: user.refreshToken } });
    expect(response.status).toBe(204);
    expect(response.text).toBe('');
    const after = await me(user.accessToken);
    expectProblem(after, 401, 'unauthorized');
    expect(after.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    expectProblem(await refresh(user.refreshToken), 401, 'unauthorized');
  });

  it('needs a bearer token', async () => {
    const user = await signUp(server);
    expectProblem(await call(`${server.api}/auth/logout`, { body: { refreshToken: user.refreshToken } }), 401, 'unauthorized');
    expect((await refresh(user.refreshToken)).status).toBe(200);
  });
});

describe('admin role', () => {
  let admin: Awaited<ReturnType<typeof signUp>>;
  let user: Awaited<ReturnType<typeof signUp>>;

  const adminJobs = (token: string) => call(`${server.api}/admin/jobs`, { token });

  beforeAll(async () => {
    admin = await signUp(server, 'boss');
    user = await signUp(server);
    // What `mixtape admin grant boss` does (cli-admin.test.ts runs the command itself).
    await server.mixtape.roles.grant('boss', 'admin');
  });

  it('GET /me shows the roles', async () => {
    expect((await me(admin.accessToken)).body).toMatchObject({ username: 'boss', roles: ['user', 'admin'] });
    const plain = (await me(user.accessToken)).body;
    expect(plain).toMatchObject({ id: user.id, username: user.username, roles: ['user'] });
    expect(plain.quota.usedBytes).toBe(0);
    expect(plain.quota.limitBytes).toBe(1_073_741_824);
  });

  it('never makes an admin of someone who registers, whatever the name', async () => {
    for (const username of ['admin', 'Administrator', 'root', 'Chief', 'superuser']) {
      const registrant = await signUp(server, username);
      expect((await me(registrant.accessToken)).body.roles, username).toEqual(['user']);
      expectProblem(await adminJobs(registrant.accessToken), 403, 'forbidden');
    }
  });

  it('takes a grant and a revoke into account at once, with the same access token', async () => {
    const promoted = await signUp(server);
    expectProblem(await adminJobs(promoted.accessToken), 403, 'forbidden');

    await server.mixtape.roles.grant(promoted.username.toUpperCase(), 'admin');
    expect((await adminJobs(promoted.accessToken)).status).toBe(200);
    expect((await me(promoted.accessToken)).body.roles).toEqual(['user', 'admin']);

    await server.mixtape.roles.revoke(promoted.username, 'admin');
    expectProblem(await adminJobs(promoted.accessToken), 403, 'forbidden');
    expectProblem(await call(`${server.api}/admin/reconcile?dryRun=true`, { method: 'POST', token: promoted.accessToken }), 403, 'forbidden');
    expect((await me(promoted.accessToken)).body.roles).toEqual(['user']);
    // Still signed in: only the role went.
    expect((await me(promoted.accessToken)).status).toBe(200);
  });

  it('lets an admin list jobs, and nobody else', async () => {
    const listed = await call(`${server.api}/admin/jobs`, { token: admin.accessToken });
    expect(listed.status, listed.text).toBe(200);
    expect(Array.isArray(listed.body.items)).toBe(true);
    expect(listed.body.total).toBe(listed.body.items.length);
    expectProblem(await call(`${server.api}/admin/jobs`, { token: user.accessToken }), 403, 'forbidden');
    expectProblem(await call(`${server.api}/admin/jobs`), 401, 'unauthorized');
    expectProblem(await call(`${server.api}/admin/jobs?status=bogus`, { token: admin.accessToken }), 400, 'validation');
  });

  it('retries a failed job: 202, attempts 0, queued; a job that is not failed is 409', async () => {
    const requested = await call(`${server.api}/downloads`, { token: user.accessToken, body: { track: TRACK_ID } });
    expect(requested.status, requested.text).toBe(202);
    const failed = await waitForJob(server, user.accessToken, requested.body.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'not-found' } });
    expect(origin.requests).toBeGreaterThanOrEqual(1);

    const failedList = await call(`${server.api}/admin/jobs?status=failed`, { token: admin.accessToken });
    expect(failedList.body.items.map((j: { id: string }) => j.id)).toContain(failed.id);

    const path = `${server.api}/admin/jobs/${failed.id}/retry`;
    expectProblem(await call(path, { method: 'POST', token: user.accessToken }), 403, 'forbidden');

    // Held, the origin keeps the retried job from failing again while we look at it.
    origin.hold();
    const retried = await call(path, { method: 'POST', token: admin.accessToken });
    expect(retried.status, retried.text).toBe(202);
    expect(retried.body).toMatchObject({ id: failed.id, status: 'queued', attempts: 0, trackId: TRACK_ID });
    expect(retried.body.error).toBeUndefined();
    expectProblem(await call(path, { method: 'POST', token: admin.accessToken }), 409, 'conflict');
    origin.release();

    // It really ran again: one new attempt, failed the same way.
    const again = await waitForJob(server, user.accessToken, failed.id);
    expect(again).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'not-found' } });
    expect(origin.requests).toBeGreaterThanOrEqual(2);

    expectProblem(await call(`${server.api}/admin/jobs/${crypto.randomUUID()}/retry`, { method: 'POST', token: admin.accessToken }), 404, 'not-found');
    expectProblem(await call(`${server.api}/admin/jobs/not-a-uuid/retry`, { method: 'POST', token: admin.accessToken }), 400, 'validation');
  });
});
