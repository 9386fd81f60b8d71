import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, type RawAnswer } from './support/raw-http.js';
import { call, startTestServer, type TestServer } from './support/test-server.js';

/**
 * Requests Node's HTTP server would refuse on its own, before Express sees them: a HTTP/1.1
 * request without Host (400) and an `Expect` other than 100-continue (417). Like every other
 * error, they are problem documents with an X-Request-Id.
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ MIXTAPE_WORKERS: '0' });
});

afterAll(async () => {
  await server?.stop();
});

function expectRawProblem(answer: RawAnswer, status: number): any {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers['content-type'] ?? '', answer.text).toMatch(/^application\/problem\+json/);
  expect(answer.headers['x-request-id'] ?? '', answer.text).not.toBe('');
  expect(Number(answer.headers['content-length']), answer.text).toBe(Buffer.byteLength(answer.body));
  const problem = JSON.parse(answer.body);
  expect(problem).toMatchObject({ type: expect.stringMatching(/\/validation$/), status, title: expect.any(String), detail: expect.any(String) });
  return problem;
}

describe('a HTTP/1.1 request without Host', () => {
  it('is a 400 problem, on the API and the ops paths alike', async () => {
    for (const path of ['/api/v1/me', '/livez', '/no-such-path']) {
      const answer = await rawExchange(server.url, `GET ${path} HTTP/1.1\r\n\r\n`);
      expect(expectRawProblem(answer, 400).detail).toMatch(/Host/);
      expect(answer.headers.connection).toBe('close');
    }
  });

  it('echoes a sane X-Request-Id, as every other answer does', async () => {
    const answer = await rawExchange(server.url, 'GET /livez HTTP/1.1\r\nX-Request-Id: probe-42\r\n\r\n');
    expectRawProblem(answer, 400);
    expect(answer.headers['x-request-id']).toBe('probe-42');
  });

  it('is fine in HTTP/1.0, which has no Host requirement', async () => {
    const answer = await rawExchange(server.url, 'GET /livez HTTP/1.0\r\n\r\n');
    expect([answer.status, answer.body]).toEqual([200, 'ok']);
  });
});

describe('an Expect the server cannot meet', () => {
  it('is a 417 problem, and the connection closes', async () => {
    const answer = await rawExchange(server.url, 'GET /livez HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nX-Request-Id: expect-1\r\n\r\n');
    expect(expectRawProblem(answer, 417).detail).toMatch(/100-continue/);
    expect(answer.headers['x-request-id']).toBe('expect-1');
    expect(answer.headers.connection).toBe('close');
  });

  it('while Expect: 100-continue is still met', async () => {
    const body = JSON.stringify({ username: 'expecting', password: 'a long enough password' });
    const answer = await rawExchange(
      server.url,
      `POST /api/v1/auth/register HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(answer.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
    expect((await call(`${server.url}/livez`)).status).toBe(200);
  });
});
