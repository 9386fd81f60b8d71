import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';
import {
  deterministicBytes,
  filesUnder,
  sha256,
  startAudioOrigin,
  originEnv,
  startSpotifyStub,
  trackId,
  type AudioOrigin,
  type SpotifyStub,
  type StubTrack,
} from './support/origin-servers.js';

/**
 * Downloads through the production adapters: metadata from a Spotify stand-in (client
 * credentials, then the Web API), audio from an HTTP origin, with its failures.
 */

const MiB = 1024 * 1024;
const LIMITS = 'global=10000/1m,search=1000/1m,download=1000/1m,register=1000/1h';

function stubTrack(label: string, extra: Partial<StubTrack> = {}): StubTrack {
  return { id: trackId(label), name: `Song ${label}`, artists: [`Artist ${label}`], album: `Album ${label}`, durationMs: 201_000, ...extra };
}

const OK = stubTrack('ok', { name: 'Harbour of Glass', artists: ['Nova Reed', 'The Static'], album: 'Night Ferry', isrc: 'USABC2100001' });
const NO_AUDIO = stubTrack('no-audio');
const FLAKY = stubTrack('flaky');
const DOWN = stubTrack('down');
const HUGE = stubTrack('huge');
const HUGE_CHUNKED = stubTrack('huge-chunked');
const NOT_ON_SPOTIFY = trackId('not-on-spotify');

describe.each(['sqlite', 'mysql'] as const)('download flow against a Spotify stub and an HTTP audio origin, on %s', (database) => {
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  let server: TestServer;
  let fewAttempts: TestServer;
  let token: string;
  let username: string;
  const okBytes = deterministicBytes('ok', 3 * MiB + 12_345);
  okBytes.write('ID3', 0, 'latin1'); // an MP3's signature: the served type is told from the bytes
  const stored = new Set<string>();
  let noAudioJob = '';

  beforeAll(async () => {
    spotify = await startSpotifyStub([OK, NO_AUDIO, FLAKY, DOWN, HUGE, HUGE_CHUNKED]);
    origin = await startAudioOrigin();
    origin.serve(OK.id, { body: okBytes, contentType: 'audio/mpeg' });
    origin.serve(FLAKY.id, { body: deterministicBytes('flaky', 700_000), failFirst: [503, 503] });
    origin.serve(DOWN.id, { body: deterministicBytes('down', 1000), alwaysStatus: 503 });
    origin.serve(HUGE.id, { body: deterministicBytes('huge', 5 * MiB) });
    origin.serve(HUGE_CHUNKED.id, { body: deterministicBytes('huge-chunked', 5 * MiB), chunked: true });
    const env = {
      ...originEnv(spotify, origin, LIMITS),
      MIXTAPE_MAX_TRACK_BYTES: String(4 * MiB),
    };
    server = await startTestServer(env, { database });
    fewAttempts = await startTestServer({ ...env, MIXTAPE_MAX_ATTEMPTS: '2' }, { database });
    const user = await signUp(server);
    token = user.accessToken;
    username = user.username;
  });

  afterAll(async () => {
    await server?.stop();
    await fewAttempts?.stop();
    await origin?.close();
    await spotify?.close();
  });

  it('takes track metadata from the Spotify Web API, asking it once per track', async () => {
    const response = await call(`${server.api}/tracks/${OK.id}`, { token });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      id: OK.id,
      title: 'Harbour of Glass',
      artists: ['Nova Reed', 'The Static'],
      album: 'Night Ferry',
      durationMs: 201_000,
      isrc: 'USABC2100001',
      available: false,
    });
    expect(spotify.tokensIssued).toBeGreaterThanOrEqual(1);
    expect(spotify.refused).toBe(0);
    expect((await call(`${server.api}/tracks/${OK.id}`, { token })).status).toBe(200);
    expect(spotify.trackRequests.get(OK.id)).toBe(1);

    // With Spotify configured, the demo catalog is not seeded.
    const demo = await call(`${server.api}/tracks/search?q=Lanterns`, { token });
    expect(demo.body.total).toBe(0);
  });

  it('stores exactly the bytes the origin sent', async () => {
    const job = await call(`${server.api}/downloads`, { token, body: { track: OK.id } });
    expect(job.status).toBe(202);
    const done = await waitForJob(server, token, job.body.id);
    expect(done).toMatchObject({ status: 'completed', attempts: 1, progress: { bytes: okBytes.length, totalBytes: okBytes.length } });
    expect(origin.requests.get(OK.id)).toBe(1);

    const file = await fetch(`${server.api}/library/${OK.id}/file`, { headers: { authorization: `Bearer ${token}` } });
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('audio/mpeg');
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.length).toBe(okBytes.length);
    expect(sha256(bytes)).toBe(sha256(okBytes));
    stored.add(sha256(okBytes));

    const track = await call(`${server.api}/tracks/${OK.id}`, { token });
    expect(track.body).toMatchObject({ available: true, sizeBytes: okBytes.length });
    // Once fetched, the track is in the search index.
    const search = await call(`${server.api}/tracks/search?q=${encodeURIComponent('harbour of')}`, { token });
    expect(search.body.items.map((t: any) => t.id)).toEqual([OK.id]);
  });

  it('answers 404 at request time for a track Spotify does not know, and queues nothing', async () => {
    const response = await call(`${server.api}/downloads`, { token, body: { track: `spotify:track:${NOT_ON_SPOTIFY}` } });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ status: 404, type: expect.stringMatching(/not-found$/) });
    expect(spotify.trackRequests.get(NOT_ON_SPOTIFY)).toBe(1);
    expect(origin.requests.get(NOT_ON_SPOTIFY)).toBeUndefined();
    const jobs = await call(`${server.api}/downloads`, { token });
    expect(jobs.body.items.some((j: any) => j.trackId === NOT_ON_SPOTIFY)).toBe(false);

    const byId = await call(`${server.api}/tracks/${NOT_ON_SPOTIFY}`, { token });
    expect(byId.status).toBe(404);
  });

  it('fails at once, without retrying, when the origin has no such track', async () => {
    const job = await call(`${server.api}/downloads`, { token, body: { track: NO_AUDIO.id } });
    expect(job.status).toBe(202);
    const done = await waitForJob(server, token, job.body.id);
    expect(done).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'not-found', message: expect.any(String) } });
    expect(origin.requests.get(NO_AUDIO.id)).toBe(1);
    expect((await call(`${server.api}/library/${NO_AUDIO.id}/file`, { token })).status).toBe(404);
    noAudioJob = done.id;
  });

  it('lets an admin retry the failed job: queued again with attempts reset, and it runs once more', async () => {
    await server.mixtape.roles.grant(username, 'admin');
    const retried = await call(`${server.api}/admin/jobs/${noAudioJob}/retry`, { method: 'POST', token });
    expect(retried.status, retried.text).toBe(202);
    expect(retried.body).toMatchObject({ id: noAudioJob, trackId: NO_AUDIO.id, attempts: 0 });
    expect(['queued', 'running']).toContain(retried.body.status);
    const again = await waitForJob(server, token, noAudioJob);
    expect(again).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'not-found' } });
    expect(origin.requests.get(NO_AUDIO.id)).toBe(2);
    await server.mixtape.roles.revoke(username, 'admin');
  });

  // The two retry tests wait on backoff and worker polls, on two servers: run them side by side.
  it.concurrent('retries a 503 with backoff and completes on the third attempt', async ({ expect }) => {
    const job = await call(`${server.api}/downloads`, { token, body: { track: FLAKY.id } });
    const done = await waitForJob(server, token, job.body.id);
    expect(done).toMatchObject({ status: 'completed', attempts: 3, maxAttempts: 5 });
    expect(done.error).toBeUndefined();
    expect(origin.requests.get(FLAKY.id)).toBe(3);
    const file = await fetch(`${server.api}/library/${FLAKY.id}/file`, { headers: { authorization: `Bearer ${token}` } });
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(sha256(bytes)).toBe(sha256(deterministicBytes('flaky', 700_000)));
    stored.add(sha256(bytes));
  });

  it.concurrent('gives up after MIXTAPE_MAX_ATTEMPTS when the origin stays down', async ({ expect }) => {
    const own = (await signUp(fewAttempts)).accessToken;
    const job = await call(`${fewAttempts.api}/downloads`, { token: own, body: { track: DOWN.id } });
    expect(job.body.maxAttempts).toBe(2);
    const done = await waitForJob(fewAttempts, own, job.body.id);
    expect(done).toMatchObject({ status: 'failed', attempts: 2, maxAttempts: 2, error: { code: 'unavailable' } });
    expect(done.nextAttemptAt).toBeUndefined();
    expect(origin.requests.get(DOWN.id)).toBe(2);
    // Failed is final: nothing picks it up again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await call(`${fewAttempts.api}/downloads/${job.body.id}`, { token: own })).body.status).toBe('failed');
    expect(origin.requests.get(DOWN.id)).toBe(2);
  });

  it('refuses a file over MIXTAPE_MAX_TRACK_BYTES and keeps nothing of it', async () => {
    for (const track of [HUGE, HUGE_CHUNKED]) {
      const job = await call(`${server.api}/downloads`, { token, body: { track: track.id } });
      const done = await waitForJob(server, token, job.body.id);
      expect(done).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'too-large' } });
      expect(origin.requests.get(track.id)).toBe(1);
      expect((await call(`${server.api}/library/${track.id}/file`, { token })).status).toBe(404);
      expect((await call(`${server.api}/tracks/${track.id}`, { token })).body.available).toBe(false);
    }
    const blobs = await filesUnder(join(server.dataDir, 'audio', 'blobs'));
    expect(blobs.map((path) => path.split(/[/\\]/).at(-1)).sort()).toEqual([...stored].sort());
    expect(await filesUnder(join(server.dataDir, 'audio', 'tmp'))).toEqual([]);
    const me = await call(`${server.api}/me`, { token });
    expect(me.body.quota.usedBytes).toBe(okBytes.length + 700_000);
  });

  it('never writes the Spotify client secret to the logs', () => {
    const logs = [...server.logs, ...fewAttempts.logs].join('\n');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain('download failed');
    expect(logs).not.toContain(spotify.clientSecret);
    expect(logs).not.toContain(Buffer.from(`${spotify.clientId}:${spotify.clientSecret}`).toString('base64'));
  });
});
