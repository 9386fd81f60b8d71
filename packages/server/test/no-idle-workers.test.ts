import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';
import {
  deterministicBytes,
  gate,
  startAudioOrigin,
  originEnv,
  startSpotifyStub,
  trackId,
  type AudioOrigin,
  type SpotifyStub,
  type StubTrack,
} from './support/origin-servers.js';

/**
 * A worker never holds its slot waiting for another worker's fetch of the same track, and a
 * fetch has an overall deadline (MIXTAPE_FETCH_TIMEOUT_MS), so no origin can hold a worker.
 */

function stubTrack(label: string): StubTrack {
  return { id: trackId(label), name: `Song ${label}`, artists: [`Artist ${label}`], album: 'Waits', durationMs: 180_000 };
}

const SLOW = stubTrack('slow-for-three');
const UNRELATED = stubTrack('unrelated');
const TRICKLING = stubTrack('trickling');

/** Polls a job until `test` holds, returning it and when it was first seen so. */
async function until(server: TestServer, token: string, jobId: string, test: (job: any) => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await call(`${server.api}/downloads/${jobId}`, { token })).body;
    if (test(job)) return { job, at: Date.now() };
    if (Date.now() > deadline) throw new Error(`job ${jobId} never got there: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('download workers and slow origins', () => {
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  const slow = gate();
  const slowBytes = deterministicBytes('slow-for-three', 300_000);
  const trickled = deterministicBytes('trickling', 200_000);

  beforeAll(async () => {
    spotify = await startSpotifyStub([SLOW, UNRELATED, TRICKLING]);
    origin = await startAudioOrigin();
    origin.serve(SLOW.id, { body: slowBytes, gate: slow.promise });
    origin.serve(UNRELATED.id, { body: deterministicBytes('unrelated', 100_000) });
    // 1 KiB every 50 ms: 10 s for the whole file, never idle long enough for the idle timeout.
    origin.serve(TRICKLING.id, { body: trickled, trickleMs: 50, trickleFirst: 1 });
  });

  afterAll(async () => {
    slow.open();
    await origin?.close();
    await spotify?.close();
  });

  describe('with two workers', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startTestServer({ ...originEnv(spotify, origin), MIXTAPE_WORKERS: '2' });
    });

    afterAll(async () => {
      slow.open();
      await server?.stop();
    });

    it('completes an unrelated track while one slow track is fetched for three users', async () => {
      const fans = await Promise.all([signUp(server), signUp(server), signUp(server)]);
      const waiting = [];
      for (const fan of fans) {
        const response = await call(`${server.api}/downloads`, { token: fan.accessToken, body: { track: SLOW.id } });
        expect(response.status).toBe(202);
        waiting.push(response.body.id as string);
      }
      await until(server, fans[0]!.accessToken, waiting[0]!, (job) => job.status === 'running');

      // Asked for after the three: both workers would be stuck on the slow track if they waited for it.
      const other = await signUp(server);
      const unrelated = await call(`${server.api}/downloads`, { token: other.accessToken, body: { track: UNRELATED.id } });
      expect(unrelated.status).toBe(202);
      expect(await waitForJob(server, other.accessToken, unrelated.body.id, 5000)).toMatchObject({ status: 'completed', attempts: 1 });

      // The slow fetch is still under way, once, and nobody else's job has finished.
      expect(origin.requests.get(SLOW.id)).toBe(1);
      for (const [i, fan] of fans.entries()) {
        const job = (await call(`${server.api}/downloads/${waiting[i]}`, { token: fan.accessToken })).body;
        expect(['queued', 'running']).toContain(job.status);
      }

      slow.open();
      for (const [i, fan] of fans.entries()) {
        // Waiting cost them no attempt: the first fetched, the others found it stored.
        expect(await waitForJob(server, fan.accessToken, waiting[i]!)).toMatchObject({ status: 'completed', attempts: 1 });
        const library = await call(`${server.api}/library`, { token: fan.accessToken });
        expect(library.body.items.map((entry: any) => [entry.track.id, entry.sizeBytes])).toEqual([[SLOW.id, slowBytes.length]]);
      }
      expect(origin.requests.get(SLOW.id)).toBe(1);
    });
  });

  describe('with MIXTAPE_FETCH_TIMEOUT_MS=1000', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startTestServer({
        ...originEnv(spotify, origin),
        MIXTAPE_WORKERS: '1',
        MIXTAPE_FETCH_TIMEOUT_MS: '1000',
      });
    });

    afterAll(async () => {
      await server?.stop();
    });

    it('abandons a trickling fetch at the deadline with a timeout, and retries it', async () => {
      const user = await signUp(server);
      const requested = await call(`${server.api}/downloads`, { token: user.accessToken, body: { track: TRICKLING.id } });
      expect(requested.status).toBe(202);
      const jobId = requested.body.id as string;

      const started = await until(server, user.accessToken, jobId, (job) => job.status === 'running' && job.progress?.bytes > 0);
      const timedOut = await until(server, user.accessToken, jobId, (job) => job.error?.code === 'timeout', 5000);
      // About the deadline after it began (the first bytes came after it opened), far short of the 10 s it would trickle.
      expect(timedOut.at - started.at).toBeGreaterThan(500);
      expect(timedOut.at - started.at).toBeLessThan(2000);
      expect(timedOut.job.error.message).toMatch(/1000 ms/);

      // The retry finds the origin quick again, and the lock was let go for it.
      const done = await waitForJob(server, user.accessToken, jobId);
      expect(done).toMatchObject({ status: 'completed', attempts: 2 });
      expect(origin.requests.get(TRICKLING.id)).toBe(2);
      const file = await fetch(`${server.api}/library/${TRICKLING.id}/file`, { headers: { authorization: `Bearer ${user.accessToken}` } });
      expect(Buffer.from(await file.arrayBuffer()).equals(trickled)).toBe(true);
    });
  });
});
