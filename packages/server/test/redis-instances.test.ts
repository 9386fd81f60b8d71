import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisTestServer } from '../../core/test/redis/redis-test-server.js';
import {
  deterministicBytes,
  filesUnder,
  originEnv,
  sha256,
  startAudioOrigin,
  startSpotifyStub,
  trackId,
  type AudioOrigin,
  type SpotifyStub,
} from './support/origin-servers.js';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';

/**
 * Two instances of the server, as two hosts would run them: one MariaDB database, one storage
 * volume, one Redis, one JWT secret. What one instance does, the other must respect at once.
 */

const TRACK = { id: trackId('shared'), name: 'One Copy', artists: ['Two Hosts'], album: 'Redis', durationMs: 180_000 };
const TRACK_BYTES = deterministicBytes('shared', 1_500_000);

describe('two instances sharing one Redis', () => {
  let redis: RedisTestServer;
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  let a: TestServer;
  let b: TestServer;
  let storageDir: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    spotify = await startSpotifyStub([TRACK]);
    origin = await startAudioOrigin();
    // Slow enough that all thirty requests arrive while the one fetch runs.
    origin.serve(TRACK.id, { body: TRACK_BYTES, delayMs: 300 });
    storageDir = mkdtempSync(join(tmpdir(), 'mixtape-shared-storage-'));
    const env = {
      ...originEnv(spotify, origin, 'global=100000/1m,search=5/1m,download=1000/1m,register=1000/1h'),
      MIXTAPE_REDIS_URL: redis.url,
      MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
      MIXTAPE_STORAGE_DIR: storageDir,
      MIXTAPE_WORKERS: '2',
    };
    a = await startTestServer(env, { database: 'mysql' });
    b = await startTestServer({ ...env, MIXTAPE_MYSQL_URL: a.mysqlUrl! });
  });

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await origin?.close();
    await spotify?.close();
    await redis?.stop();
    rmSync(storageDir, { recursive: true, force: true });
  });

  it('counts one search limit across both instances', async () => {
    const user = await signUp(a);
    const statuses: number[] = [];
    for (const server of [a, b, a, b, a, b, b]) {
      statuses.push((await call(`${server.api}/tracks/search?q=anything`, { token: user.accessToken })).status);
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(5);
    expect(statuses.slice(5)).toEqual([429, 429]);
  });

  it('fetches a track once for thirty users asking both instances at once', async () => {
    const users = await Promise.all(Array.from({ length: 30 }, (_, index) => signUp(index % 2 === 0 ? a : b)));
    const asked = await Promise.all(
      users.map((user, index) => call(`${(index % 2 === 0 ? a : b).api}/downloads`, { token: user.accessToken, body: { track: TRACK.id } })),
    );
    expect(asked.map((response) => response.status)).toEqual(Array(30).fill(202));
    const started = performance.now();
    const jobs = await Promise.all(asked.map((response, index) => waitForJob(index % 2 === 0 ? a : b, users[index]!.accessToken, response.body.id, 60_000)));
    console.log(`thirty jobs done in ${Math.round(performance.now() - started)} ms`);
    expect(jobs.map((job) => job.status)).toEqual(Array(30).fill('completed'));
    expect(spotify.trackRequests.get(TRACK.id)).toBe(1);
    expect(origin.requests.get(TRACK.id)).toBe(1);
    const stored = (await filesUnder(storageDir)).filter((path) => !path.endsWith('.part'));
    expect(stored).toHaveLength(1);
    const file = await fetch(`${b.api}/library/${TRACK.id}/file`, { headers: { authorization: `Bearer ${users[1]!.accessToken}` } });
    expect(file.status).toBe(200);
    expect(sha256(Buffer.from(await file.arrayBuffer()))).toBe(sha256(TRACK_BYTES));
  }, 90_000);

  it('refuses a token on one instance the moment it is logged out on the other', async () => {
    const user = await signUp(a);
    expect((await call(`${b.api}/me`, { token: user.accessToken })).status).toBe(200);
    const loggedOut = await call(`${a.api}/auth/logout`, { token: user.accessToken, body: { refreshToken: user.refreshToken } });
    expect(loggedOut.status).toBe(204);
    // The very next request: the database is polled once a second, so only Redis's message,
    // published before the logout answered, can have reached the other instance this soon.
    expect((await call(`${b.api}/me`, { token: user.accessToken })).status).toBe(401);
  });
});
