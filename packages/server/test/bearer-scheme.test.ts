import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';
import { expectProblem } from './support/http-expectations.js';

/**
 * RFC 9110, section 11.1: the authentication scheme is a case-insensitive token, and one or more
 * spaces part it from the credentials. `bearer <token>` is the same credential as `Bearer <token>`.
 */

const METRICS_TOKEN = 'bearer-scheme-metrics-token-0123456789';

describe('the Bearer scheme', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ MIXTAPE_METRICS_TOKEN: METRICS_TOKEN });
    token = (await signUp(server)).accessToken;
  });

  afterAll(async () => {
    await server?.stop();
  });

  const as = (authorization: string) => ({ headers: { authorization } });

  it('is read whatever its case on the API', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const answer = await call(`${server.api}/me`, as(`${scheme} ${token}`));
      expect(answer.status, `${scheme}: ${answer.text}`).toBe(200);
    }
    expect((await call(`${server.api}/me`, as(`bearer  ${token}`))).status).toBe(200);
  });

  it('is still required on the API, with a valid token', async () => {
    for (const authorization of [`Basic ${token}`, `Bearer${token}`, `Bearerx ${token}`, token, `bearer ${token}x`]) {
      expectProblem(await call(`${server.api}/me`, as(authorization)), 401, 'unauthorized');
    }
  });

  it('is read whatever its case on /metrics, and the token must still match', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const answer = await call(`${server.url}/metrics`, as(`${scheme} ${METRICS_TOKEN}`));
      expect(answer.status, `${scheme}: ${answer.text.slice(0, 200)}`).toBe(200);
    }
    for (const authorization of [`bearer ${METRICS_TOKEN.toUpperCase()}`, `bearer ${METRICS_TOKEN}x`, `Basic ${METRICS_TOKEN}`, `Bearer${METRICS_TOKEN}`, METRICS_TOKEN]) {
      expectProblem(await call(`${server.url}/metrics`, as(authorization)), 401, 'unauthorized');
    }
  });
});
