import { join } from 'node:path';
import { DEMO_TRACKS, type LibraryStore } from '@mixtape/core';
import { openSqliteDatabase, SqliteFencingTokens, type SqliteDatabase } from '@mixtape/core/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';

/**
 * A request whose lock is taken over while it runs (another process's acquisition, after a
 * pause or a stalled renewal) is contention, not a bug: 503 with Retry-After, not 500.
 */
describe('a lock lost under a request', () => {
  let server: TestServer;
  let other: SqliteDatabase;
  const track = DEMO_TRACKS[0]!;

  beforeAll(async () => {
    server = await startTestServer();
    // Another process on the same data dir, with its own connection.
    other = openSqliteDatabase(join(server.dataDir, 'mixtape.db'));
  });

  afterAll(async () => {
    other?.close();
    await server?.stop();
  });

  it('answers 503 with Retry-After when a removal finds its track lock taken over', async () => {
    const user = await signUp(server);
    const job = await call(`${server.api}/downloads`, { token: user.accessToken, body: { track: track.id } });
    expect(await waitForJob(server, user.accessToken, job.body.id)).toMatchObject({ status: 'completed' });

    // While the removal holds the track's lock, another process acquires it: a newer fencing token.
    const store = server.mixtape.backends.library as LibraryStore & { holderCount: LibraryStore['holderCount'] };
    const holderCount = store.holderCount.bind(store);
    const fencing = new SqliteFencingTokens(other);
    store.holderCount = async (trackId) => {
      await fencing.issue([`track:${trackId}`]);
      return holderCount(trackId);
    };
    try {
      const removed = await call(`${server.api}/library/${track.id}`, { method: 'DELETE', token: user.accessToken });
      expect(removed.status).toBe(503);
      expect(removed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(removed.body).toMatchObject({ status: 503, type: expect.stringMatching(/unavailable$/) });
      expect(Number(removed.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      store.holderCount = holderCount;
    }
    // The stale holder changed nothing of the track: its audio is still attached.
    expect((await call(`${server.api}/tracks/${track.id}`, { token: user.accessToken })).body.available).toBe(true);
  });
});
