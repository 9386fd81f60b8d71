import { join } from 'node:path';
import { AudioFiles } from '@mixtape/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';
import {
  deterministicBytes,
  filesUnder,
  gate,
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
 * Download jobs as users see them: sharing, deduplication, ownership, cancelling, paging, quota
 * and its reservations; on the embedded database and on MariaDB.
 */

function stubTrack(label: string): StubTrack {
  return { id: trackId(label), name: `Song ${label}`, artists: [`Artist ${label}`], album: 'Downloads', durationMs: 180_000 };
}

const SHARED = stubTrack('shared');
const HELD = stubTrack('held');
const PAGED = [stubTrack('paged-1'), stubTrack('paged-2'), stubTrack('paged-3')];
const PAGED_MISSING = stubTrack('paged-missing');
const QUEUED = stubTrack('queued');
const FIRST_FIT = stubTrack('first-fit');
const SECOND_FIT = stubTrack('second-fit');
const CAPPED = [stubTrack('capped-1'), stubTrack('capped-2'), stubTrack('capped-3'), stubTrack('capped-4')];
const RACED = stubTrack('raced');
const SIZED = stubTrack('sized-later');
const FILLER = stubTrack('filler');
const OVER = stubTrack('over-quota');
const OVER_CHUNKED = stubTrack('over-quota-chunked');
const RACE_A = stubTrack('last-bytes-a');
const RACE_B = stubTrack('last-bytes-b');

async function waitForStatus(server: TestServer, token: string, jobId: string, status: string, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await call(`${server.api}/downloads/${jobId}`, { token });
    if (job.body?.status === status) return job.body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${job.body?.status}, never ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function metric(server: TestServer, line: string): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe.each(['sqlite', 'mysql'] as const)('download jobs on %s', (database) => {
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  let server: TestServer;
  const sharedBytes = deterministicBytes('shared', 1_500_000);
  const held = gate();

  beforeAll(async () => {
    spotify = await startSpotifyStub([
      SHARED,
      HELD,
      ...PAGED,
      PAGED_MISSING,
      QUEUED,
      FIRST_FIT,
      SECOND_FIT,
      ...CAPPED,
      RACED,
      SIZED,
      FILLER,
      OVER,
      OVER_CHUNKED,
      RACE_A,
      RACE_B,
    ]);
    origin = await startAudioOrigin();
    // Slow enough that the users' jobs overlap and wait on each other.
    origin.serve(SHARED.id, { body: sharedBytes, delayMs: 200 });
    origin.serve(HELD.id, { body: deterministicBytes('held', 50_000), gate: held.promise });
    for (const track of PAGED) origin.serve(track.id, { body: deterministicBytes(track.id, 10_000) });
    origin.serve(QUEUED.id, { body: deterministicBytes('queued', 10_000) });
    origin.serve(FIRST_FIT.id, { body: deterministicBytes('first-fit', 600_000) });
    origin.serve(SECOND_FIT.id, { body: deterministicBytes('second-fit', 600_000) });
    origin.serve(FILLER.id, { body: deterministicBytes('filler', 700_000) });
    origin.serve(OVER.id, { body: deterministicBytes('over-quota', 500_000) });
    origin.serve(OVER_CHUNKED.id, { body: deterministicBytes('over-quota-chunked', 500_000), chunked: true });
    // Slow enough that both jobs reserve before either commits.
    origin.serve(RACE_A.id, { body: deterministicBytes('last-bytes-a', 600_000), delayMs: 200 });
    origin.serve(RACE_B.id, { body: deterministicBytes('last-bytes-b', 600_000), delayMs: 200 });
    // As many workers as users, so every job can race for the track at once.
    server = await startTestServer({ ...originEnv(spotify, origin), MIXTAPE_WORKERS: '8' }, { database });
  });

  afterAll(async () => {
    held.open();
    await server?.stop();
    await origin?.close();
    await spotify?.close();
  });

  it('fetches a track once however many users ask for it at the same time', async () => {
    const users = await Promise.all(Array.from({ length: 8 }, () => signUp(server)));
    const requested = await Promise.all(users.map((u) => call(`${server.api}/downloads`, { token: u.accessToken, body: { track: SHARED.id } })));
    for (const response of requested) expect(response.status).toBe(202);
    expect(new Set(requested.map((r) => r.body.id)).size).toBe(8);

    const finished = await Promise.all(users.map((u, i) => waitForJob(server, u.accessToken, requested[i]?.body.id)));
    for (const job of finished) expect(job).toMatchObject({ status: 'completed', trackId: SHARED.id, attempts: 1 });
    expect(origin.requests.get(SHARED.id)).toBe(1);

    const blobs = await filesUnder(join(server.dataDir, 'audio', 'blobs'));
    expect(blobs.map((path) => path.split(/[/\\]/).at(-1))).toEqual([sha256(sharedBytes)]);
    expect(await filesUnder(join(server.dataDir, 'audio', 'tmp'))).toEqual([]);

    for (const user of users) {
      const library = await call(`${server.api}/library`, { token: user.accessToken });
      expect(library.body.items.map((e: any) => [e.track.id, e.sizeBytes])).toEqual([[SHARED.id, sharedBytes.length]]);
      const me = await call(`${server.api}/me`, { token: user.accessToken });
      expect(me.body.quota.usedBytes).toBe(sharedBytes.length);
    }
    expect(await metric(server, 'mixtape_downloads_total{outcome="completed"}')).toBe(1);
    expect(await metric(server, 'mixtape_downloads_total{outcome="deduplicated"}')).toBe(7);
  });

  it('returns the same job to a user who asks again while it runs, and hides it from others', async () => {
    const owner = await signUp(server);
    const stranger = await signUp(server);
    const first = await call(`${server.api}/downloads`, { token: owner.accessToken, body: { track: HELD.id } });
    expect(first.status).toBe(202);
    const jobId = first.body.id as string;
    await waitForStatus(server, owner.accessToken, jobId, 'running');

    // The same track in another spelling is the same request.
    const again = await call(`${server.api}/downloads`, { token: owner.accessToken, body: { track: `spotify:track:${HELD.id}` } });
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(jobId);
    expect(again.headers.get('location')).toBe(`/api/v1/downloads/${jobId}`);

    const running = await call(`${server.api}/downloads/${jobId}`, { method: 'DELETE', token: owner.accessToken });
    expect(running.status).toBe(409);
    expect(running.body.type).toMatch(/conflict$/);

    for (const path of [`/downloads/${jobId}`, `/downloads/${jobId}/events`]) {
      const response = await call(`${server.api}${path}`, { token: stranger.accessToken });
      expect(response.status).toBe(404);
      expect(response.body.type).toMatch(/not-found$/);
    }
    const strangerDelete = await call(`${server.api}/downloads/${jobId}`, { method: 'DELETE', token: stranger.accessToken });
    expect(strangerDelete.status).toBe(404);
    expect((await call(`${server.api}/downloads`, { token: stranger.accessToken })).body).toEqual({ items: [], total: 0 });
    // A stranger asking for the same track gets a job of their own.
    const theirs = await call(`${server.api}/downloads`, { token: stranger.accessToken, body: { track: HELD.id } });
    expect(theirs.body.id).not.toBe(jobId);

    held.open();
    expect(await waitForJob(server, owner.accessToken, jobId)).toMatchObject({ status: 'completed' });
    expect(await waitForJob(server, stranger.accessToken, theirs.body.id)).toMatchObject({ status: 'completed' });
    expect(origin.requests.get(HELD.id)).toBe(1);

    const completed = await call(`${server.api}/downloads/${jobId}`, { method: 'DELETE', token: owner.accessToken });
    expect(completed.status).toBe(409);
    expect(completed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await call(`${server.api}/downloads/${jobId}`, { token: owner.accessToken })).body.status).toBe('completed');

    // Once the job is over, asking again is a new job.
    const later = await call(`${server.api}/downloads`, { token: owner.accessToken, body: { track: HELD.id } });
    expect(later.status).toBe(202);
    expect(later.body.id).not.toBe(jobId);
    expect(await waitForJob(server, owner.accessToken, later.body.id)).toMatchObject({ status: 'completed' });
    expect(origin.requests.get(HELD.id)).toBe(1);
  });

  it('lists a user\u2019s own jobs newest first, filtered by status and paged with totals', async () => {
    const user = await signUp(server);
    const ids: string[] = [];
    for (const track of [...PAGED, PAGED_MISSING]) {
      const response = await call(`${server.api}/downloads`, { token: user.accessToken, body: { track: track.id } });
      ids.push(response.body.id);
      await waitForJob(server, user.accessToken, response.body.id);
    }
    const completedIds = ids.slice(0, 3);

    const all = await call(`${server.api}/downloads`, { token: user.accessToken });
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(4);
    expect(all.body.items.map((j: any) => j.id)).toEqual([...ids].reverse());

    const pages: string[] = [];
    for (let offset = 0; offset < 4; offset += 1) {
      const page = await call(`${server.api}/downloads?status=completed&limit=1&offset=${offset}`, { token: user.accessToken });
      expect(page.status).toBe(200);
      expect(page.body.total).toBe(3);
      expect(page.body.items).toHaveLength(offset < 3 ? 1 : 0);
      for (const job of page.body.items) {
        expect(job.status).toBe('completed');
        pages.push(job.id);
      }
    }
    expect(pages).toEqual([...completedIds].reverse());

    const failed = await call(`${server.api}/downloads?status=failed`, { token: user.accessToken });
    expect(failed.body.total).toBe(1);
    expect(failed.body.items[0]).toMatchObject({ id: ids[3], trackId: PAGED_MISSING.id, status: 'failed', error: { code: 'not-found' } });

    const badStatus = await call(`${server.api}/downloads?status=done`, { token: user.accessToken });
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.type).toMatch(/validation$/);
    expect((await call(`${server.api}/downloads?limit=0`, { token: user.accessToken })).status).toBe(400);
    expect((await call(`${server.api}/downloads?limit=51`, { token: user.accessToken })).status).toBe(400);
  });

  it('rejects what is not a track reference, and unauthenticated callers', async () => {
    const user = await signUp(server);
    const bad = await call(`${server.api}/downloads`, { token: user.accessToken, body: { track: 'https://open.spotify.com/album/4aawyAB9vmqN3uQ7FjRGTy' } });
    expect(bad.status).toBe(400);
    expect(bad.body.type).toMatch(/validation$/);
    expect(bad.body.errors?.[0]?.path).toBe('track');
    const extra = await call(`${server.api}/downloads`, { token: user.accessToken, body: { track: SHARED.id, priority: 1 } });
    expect(extra.status).toBe(400);
    expect((await call(`${server.api}/downloads`, { body: { track: SHARED.id } })).status).toBe(401);
    expect((await call(`${server.api}/downloads/not-a-uuid`, { token: user.accessToken })).status).toBe(400);
  });

  describe('with no workers, so jobs stay queued', () => {
    let idle: TestServer;

    beforeAll(async () => {
      idle = await startTestServer({ ...originEnv(spotify, origin), MIXTAPE_WORKERS: '0' }, { database });
    });

    afterAll(async () => {
      await idle?.stop();
    });

    it('returns the queued job again, and cancels it on DELETE', async () => {
      const owner = await signUp(idle);
      const stranger = await signUp(idle);
      const first = await call(`${idle.api}/downloads`, { token: owner.accessToken, body: { track: QUEUED.id } });
      expect(first.status).toBe(202);
      expect(first.body).toMatchObject({ status: 'queued', attempts: 0, trackId: QUEUED.id });
      const jobId = first.body.id as string;
      const again = await call(`${idle.api}/downloads`, {
        token: owner.accessToken,
        body: { track: `https://open.spotify.com/track/${QUEUED.id}?si=abc` },
      });
      expect(again.body.id).toBe(jobId);
      expect((await call(`${idle.api}/downloads`, { token: owner.accessToken })).body.total).toBe(1);

      expect((await call(`${idle.api}/downloads/${jobId}`, { method: 'DELETE', token: stranger.accessToken })).status).toBe(404);
      expect((await call(`${idle.api}/downloads/${jobId}`, { token: owner.accessToken })).body.status).toBe('queued');

      const cancelled = await call(`${idle.api}/downloads/${jobId}`, { method: 'DELETE', token: owner.accessToken });
      expect(cancelled.status).toBe(204);
      expect(cancelled.text).toBe('');
      const job = await call(`${idle.api}/downloads/${jobId}`, { token: owner.accessToken });
      expect(job.body).toMatchObject({ id: jobId, status: 'cancelled', attempts: 0 });

      const twice = await call(`${idle.api}/downloads/${jobId}`, { method: 'DELETE', token: owner.accessToken });
      expect(twice.status).toBe(409);
      const cancelledList = await call(`${idle.api}/downloads?status=cancelled`, { token: owner.accessToken });
      expect(cancelledList.body.items.map((j: any) => j.id)).toEqual([jobId]);

      // A cancelled job is over: asking again queues a new one.
      const fresh = await call(`${idle.api}/downloads`, { token: owner.accessToken, body: { track: QUEUED.id } });
      expect(fresh.body.id).not.toBe(jobId);
      expect(fresh.body.status).toBe('queued');
      expect(origin.requests.get(QUEUED.id)).toBeUndefined();
    });
  });

  describe('with no workers, a cap of three active jobs per user, and a 1 MB quota', () => {
    let capped: TestServer;

    beforeAll(async () => {
      capped = await startTestServer({
        ...originEnv(spotify, origin),
        MIXTAPE_WORKERS: '0',
        MIXTAPE_MAX_ACTIVE_JOBS_PER_USER: '3',
        MIXTAPE_QUOTA_BYTES: '1000000',
      }, { database });
    });

    afterAll(async () => {
      await capped?.stop();
    });

    it('makes one job of ten requests for a track that arrive at once', async () => {
      const user = await signUp(capped);
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => call(`${capped.api}/downloads`, { token: user.accessToken, body: { track: RACED.id } })),
      );
      for (const response of responses) expect(response.status).toBe(202);
      expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
      expect((await call(`${capped.api}/downloads`, { token: user.accessToken })).body.total).toBe(1);
    });

    it('answers 429 with Retry-After beyond the cap, but returns an active job for the track', async () => {
      const user = await signUp(capped);
      const jobs = [];
      for (const track of CAPPED.slice(0, 3)) {
        const response = await call(`${capped.api}/downloads`, { token: user.accessToken, body: { track: track.id } });
        expect(response.status).toBe(202);
        jobs.push(response.body.id as string);
      }
      const refused = await call(`${capped.api}/downloads`, { token: user.accessToken, body: { track: CAPPED[3]!.id } });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.body).toMatchObject({ status: 429, type: expect.stringMatching(/rate-limited$/) });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

      const again = await call(`${capped.api}/downloads`, { token: user.accessToken, body: { track: `spotify:track:${CAPPED[0]!.id}` } });
      expect(again.status).toBe(202);
      expect(again.body.id).toBe(jobs[0]);
      expect((await call(`${capped.api}/downloads`, { token: user.accessToken })).body.total).toBe(3);

      // Another user has slots of their own; a cancelled job frees one of this user's.
      const other = await signUp(capped);
      expect((await call(`${capped.api}/downloads`, { token: other.accessToken, body: { track: CAPPED[3]!.id } })).status).toBe(202);
      expect((await call(`${capped.api}/downloads/${jobs[1]}`, { method: 'DELETE', token: user.accessToken })).status).toBe(204);
      const fits = await call(`${capped.api}/downloads`, { token: user.accessToken, body: { track: CAPPED[3]!.id } });
      expect(fits.status).toBe(202);
      expect(fits.body.status).toBe('queued');
    });

    it('returns an active job for a track whose size, learnt since, no longer fits the quota', async () => {
      const user = await signUp(capped);
      const first = await call(`${capped.api}/downloads`, { token: user.accessToken, body: { track: SIZED.id } });
      expect(first.status).toBe(202);
      // Someone stored the track meanwhile: its size is known now, and larger than the quota.
      await capped.mixtape.backends.catalog.attachAudio(SIZED.id, { blobKey: 'f'.repeat(64), sizeBytes: 2_000_000, contentType: 'audio/mpeg' });

      const again = await call(`${capped.api}/downloads`, { token: user.accessToken, body: { track: SIZED.id } });
      expect(again.status).toBe(202);
      expect(again.body.id).toBe(first.body.id);
      const stranger = await signUp(capped);
      const refused = await call(`${capped.api}/downloads`, { token: stranger.accessToken, body: { track: SIZED.id } });
      expect(refused.status).toBe(403);
      expect(refused.body.type).toMatch(/quota-exceeded$/);
    });
  });

  describe('with a quota that holds one track but not two', () => {
    let tight: TestServer;

    beforeAll(async () => {
      tight = await startTestServer({
        ...originEnv(spotify, origin),
        MIXTAPE_QUOTA_BYTES: '1000000',
      }, { database });
    });

    afterAll(async () => {
      await tight?.stop();
    });

    it('fails the job once the fetched size shows it does not fit, and refuses a known size at request time', async () => {
      const alice = await signUp(tight);
      const bob = await signUp(tight);
      const first = await call(`${tight.api}/downloads`, { token: alice.accessToken, body: { track: FIRST_FIT.id } });
      expect(await waitForJob(tight, alice.accessToken, first.body.id)).toMatchObject({ status: 'completed' });
      expect((await call(`${tight.api}/me`, { token: alice.accessToken })).body.quota).toEqual({ usedBytes: 600_000, limitBytes: 1_000_000 });

      // The second track's size is unknown until it is fetched, so the job takes it and fails.
      const second = await call(`${tight.api}/downloads`, { token: alice.accessToken, body: { track: SECOND_FIT.id } });
      expect(second.status).toBe(202);
      const failed = await waitForJob(tight, alice.accessToken, second.body.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'quota-exceeded' } });
      expect((await call(`${tight.api}/me`, { token: alice.accessToken })).body.quota.usedBytes).toBe(600_000);
      expect((await call(`${tight.api}/library`, { token: alice.accessToken })).body.total).toBe(1);
      // Nobody holds it, so nothing of it is kept once the sweep unlinks its tombstoned file.
      const { backends } = tight.mixtape;
      await new AudioFiles({ ...backends, ledger: backends.blobLedger, tombstoneGraceMs: 0 }).sweep();
      const blobs = await filesUnder(join(tight.dataDir, 'audio', 'blobs'));
      expect(blobs.map((path) => path.split(/[/\\]/).at(-1))).toEqual([sha256(deterministicBytes('first-fit', 600_000))]);
      expect((await call(`${tight.api}/tracks/${SECOND_FIT.id}`, { token: alice.accessToken })).body.available).toBe(false);

      // Bob stores it; now its size is known, and Alice is refused before any job exists.
      const bobs = await call(`${tight.api}/downloads`, { token: bob.accessToken, body: { track: SECOND_FIT.id } });
      expect(await waitForJob(tight, bob.accessToken, bobs.body.id)).toMatchObject({ status: 'completed' });
      expect(origin.requests.get(SECOND_FIT.id)).toBe(2);

      const refused = await call(`${tight.api}/downloads`, { token: alice.accessToken, body: { track: SECOND_FIT.id } });
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.body).toMatchObject({ status: 403, type: expect.stringMatching(/quota-exceeded$/) });
      const jobs = await call(`${tight.api}/downloads`, { token: alice.accessToken });
      expect(jobs.body.total).toBe(2);

      // A track she already holds costs nothing more, so it is not refused.
      const held = await call(`${tight.api}/downloads`, { token: alice.accessToken, body: { track: FIRST_FIT.id } });
      expect(held.status).toBe(202);
      expect(await waitForJob(tight, alice.accessToken, held.body.id)).toMatchObject({ status: 'completed' });
      expect((await call(`${tight.api}/me`, { token: alice.accessToken })).body.quota.usedBytes).toBe(600_000);
      expect(origin.requests.get(FIRST_FIT.id)).toBe(1);
    });
  });

  describe('with a user at their quota', () => {
    let full: TestServer;

    beforeAll(async () => {
      full = await startTestServer({
        ...originEnv(spotify, origin),
        MIXTAPE_QUOTA_BYTES: '1000000',
        MIXTAPE_WORKERS: '2',
      }, { database });
    });

    afterAll(async () => {
      await full?.stop();
    });

    it('refuses them up front once a track’s size is seen, and never fetches it again', async () => {
      const user = await signUp(full);
      const filler = await call(`${full.api}/downloads`, { token: user.accessToken, body: { track: FILLER.id } });
      expect(await waitForJob(full, user.accessToken, filler.body.id)).toMatchObject({ status: 'completed' });

      for (const track of [OVER, OVER_CHUNKED]) {
        // Its size is unknown until the origin answers: the job learns it and fails, keeping nothing.
        const first = await call(`${full.api}/downloads`, { token: user.accessToken, body: { track: track.id } });
        expect(first.status).toBe(202);
        expect(await waitForJob(full, user.accessToken, first.body.id)).toMatchObject({
          status: 'failed',
          attempts: 1,
          error: { code: 'quota-exceeded' },
        });
        // From then on the size is known, though the bytes were not kept: refused before any job or fetch.
        for (let i = 0; i < 3; i += 1) {
          const again = await call(`${full.api}/downloads`, { token: user.accessToken, body: { track: track.id } });
          expect(again.status).toBe(403);
          expect(again.body.type).toMatch(/quota-exceeded$/);
        }
        expect(origin.requests.get(track.id)).toBe(1);
        expect((await call(`${full.api}/tracks/${track.id}`, { token: user.accessToken })).body.available).toBe(false);
      }
      expect((await call(`${full.api}/downloads`, { token: user.accessToken })).body.total).toBe(3);
      expect((await call(`${full.api}/me`, { token: user.accessToken })).body.quota).toEqual({ usedBytes: 700_000, limitBytes: 1_000_000 });
      expect(await filesUnder(join(full.dataDir, 'audio', 'tmp'))).toEqual([]);

      // Room made, the same track is fetched and fits.
      expect((await call(`${full.api}/library/${FILLER.id}`, { method: 'DELETE', token: user.accessToken })).status).toBe(204);
      const fits = await call(`${full.api}/downloads`, { token: user.accessToken, body: { track: OVER.id } });
      expect(fits.status).toBe(202);
      expect(await waitForJob(full, user.accessToken, fits.body.id)).toMatchObject({ status: 'completed' });
      expect((await call(`${full.api}/me`, { token: user.accessToken })).body.quota.usedBytes).toBe(500_000);
    });

    it('lets one of two jobs racing for the last bytes have them, and fails the other', async () => {
      const user = await signUp(full);
      const jobs = await Promise.all(
        [RACE_A, RACE_B].map((track) => call(`${full.api}/downloads`, { token: user.accessToken, body: { track: track.id } })),
      );
      const finished = await Promise.all(jobs.map((job) => waitForJob(full, user.accessToken, job.body.id)));
      expect(finished.map((job) => job.status).sort()).toEqual(['completed', 'failed']);
      expect(finished.find((job) => job.status === 'failed')).toMatchObject({ attempts: 1, error: { code: 'quota-exceeded' } });
      expect((await call(`${full.api}/me`, { token: user.accessToken })).body.quota.usedBytes).toBe(600_000);
      expect((await call(`${full.api}/library`, { token: user.accessToken })).body.total).toBe(1);
      const { committedBytes, reservedBytes } = await full.mixtape.backends.library.usage(user.id);
      expect({ committedBytes, reservedBytes }).toEqual({ committedBytes: 600_000, reservedBytes: 0 });
    });
  });
});
