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
