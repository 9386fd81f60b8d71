import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trackId } from './support/origin-servers.js';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * A dependency that is down answers every request with a 503 until it is back: each is a
 * warning in the log, not an error, so that the error log keeps to faults of ours.
 */
describe('how refused requests are logged', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    // A port that was free a moment ago: Spotify's addresses there refuse every connection.
    const closed = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => closed.once('listening', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    server = await startTestServer({
      MIXTAPE_SPOTIFY_CLIENT_ID: 'id',
      MIXTAPE_SPOTIFY_CLIENT_SECRET: 'secret',
      MIXTAPE_SPOTIFY_API_URL: `http://127.0.0.1:${port}`,
      MIXTAPE_SPOTIFY_ACCOUNTS_URL: `http://127.0.0.1:${port}`,
    });
    token = (await signUp(server)).accessToken;
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('logs a 503 of an unreachable Spotify at warn level, never at error', async () => {
    const answer = await call(`${server.api}/tracks/${trackId('unreachable')}`, { token });
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    const lines = server.logs.flatMap((chunk) => chunk.split('\n')).filter(Boolean).map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(lines.filter((line) => line.msg === 'request refused: a dependency is unavailable').map((line) => line.level)).toEqual([40]);
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
  });
});
