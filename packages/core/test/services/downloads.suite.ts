import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AudioFiles,
  createMixtape,
  DEMO_TRACKS,
  HttpTrackSource,
  JwtKeyring,
  PasswordHasher,
  type Job,
  type Mixtape,
} from '../../src/index.js';
import type { OpenServiceBackends } from './service-backends.js';

/** A real origin whose answer per track is scripted: a list of statuses, then 200 with the bytes. */
class Origin {
  readonly bodies = new Map<string, Buffer>();
  readonly script = new Map<string, number[]>();
  readonly hits = new Map<string, number>();
  /** Tracks whose body starts and then never ends, as a stalled origin's would. */
  readonly stalled = new Set<string>();
  server!: Server;
  url = '';

  async start() {
    this.server = createServer((req, res) => {
      const id = decodeURIComponent(req.url?.split('/').pop() ?? '');
      this.hits.set(id, (this.hits.get(id) ?? 0) + 1);
      const status = this.script.get(id)?.shift() ?? 200;
      const body = this.bodies.get(id);
      if (status !== 200 || !body) return void res.writeHead(body ? status : 404).end();
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': body.length });
      if (this.stalled.has(id)) return void res.write(body.subarray(0, 1024));
      res.end(body);
    });
    this.server.listen(0, '127.0.0.1');
    await new Promise((resolve) => this.server.once('listening', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/audio/{id}`;
  }

  stop() {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

const [trackA, trackB, trackC] = DEMO_TRACKS as [typeof DEMO_TRACKS[0], typeof DEMO_TRACKS[0], typeof DEMO_TRACKS[0]];

/** Downloads through the core services, from the request to the library, over one set of backends. */
export function describeDownloads(name: string, openBackends: OpenServiceBackends): void {
  describe(`downloads through the core services: ${name}`, () => {
    const origin = new Origin();
    let dataDir: string;
    let mixtape: Mixtape;

    async function open(
      settings: { maxAttempts?: number; jobLeaseMs?: number; workers?: number; maxActiveJobsPerUser?: number; shutdownGraceMs?: number; jobRetentionMs?: number } = {},
    ) {
      dataDir = mkdtempSync(join(tmpdir(), 'mixtape-core-'));
      const backends = await openBackends({ dataDir, source: new HttpTrackSource({ urlTemplate: origin.url }) });
      mixtape = createMixtape(backends, {
        keyring: JwtKeyring.ephemeral(),
        hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }),
        quotaBytes: 10 * 1024 ** 2,
        maxTrackBytes: 5 * 1024 ** 2,
        maxAttempts: settings.maxAttempts ?? 4,
        retryBaseMs: 40,
        jobLeaseMs: settings.jobLeaseMs ?? 30_000,
        workers: settings.workers ?? 2,
        workerPollIntervalMs: 50,
        ...(settings.maxActiveJobsPerUser === undefined ? {} : { maxActiveJobsPerUser: settings.maxActiveJobsPerUser }),
        ...(settings.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: settings.shutdownGraceMs }),
        ...(settings.jobRetentionMs === undefined ? {} : { jobRetentionMs: settings.jobRetentionMs }),
      });
      mixtape.start();
      return backends;
    }

    async function settle(jobId: string, timeoutMs = 10_000): Promise<Job> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await mixtape.backends.queue.get(jobId);
        if (job && ['completed', 'failed', 'cancelled'].includes(job.status)) return job;
        if (Date.now() > deadline) throw new Error(`job still ${job?.status}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    beforeAll(async () => {
      await origin.start();
      for (const track of [trackA, trackB, trackC]) origin.bodies.set(track.id, randomBytes(256 * 1024));
    });
    afterAll(() => origin.stop());
    afterEach(async () => {
      await mixtape.close();
      rmSync(dataDir, { recursive: true, force: true });
      origin.script.clear();
      origin.hits.clear();
      origin.stalled.clear();
    });

    it('retries a failing origin with backoff and completes', async () => {
      await open();
      origin.script.set(trackA.id, [503, 503]);
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      const job = await mixtape.downloads.request(user.id, trackA.id);
      const done = await settle(job.id);
      expect(done).toMatchObject({ status: 'completed', attempts: 3 });
      expect(origin.hits.get(trackA.id)).toBe(3);
      // The worker counts the completion once the queue has answered it, which may be after
      // this test saw the job completed.
      await vi.waitFor(async () => {
        const counts = Object.fromEntries((await mixtape.metrics.downloads.get()).values.map((v) => [v.labels.outcome, v.value]));
        expect(counts).toMatchObject({ retried: 2, completed: 1 });
      });
    });

    it('fails for good once the attempts are spent, with the last error', async () => {
      await open({ maxAttempts: 2 });
      origin.script.set(trackA.id, [503, 503, 503]);
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      const done = await settle((await mixtape.downloads.request(user.id, trackA.id)).id);
      expect(done).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'unavailable' } });
      expect(origin.hits.get(trackA.id)).toBe(2);
    });

    it('fails at once when retrying cannot help', async () => {
      await open();
      origin.script.set(trackA.id, [404]);
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      const done = await settle((await mixtape.downloads.request(user.id, trackA.id)).id);
      expect(done).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'not-found' } });
    });

    it('takes back a job whose worker stopped renewing its lease', async () => {
      const backends = await open({ jobLeaseMs: 1000, workers: 0 });
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      const job = await mixtape.downloads.request(user.id, trackA.id);
      // A worker that claims the job and then dies: it never renews nor finishes.
      const claimed = await backends.queue.claim('dead-worker', 1000);
      expect(claimed?.job.id).toBe(job.id);
      await mixtape.close();
      // Another process starts workers on the same data dir.
      const revived = await openBackends({ dataDir, source: new HttpTrackSource({ urlTemplate: origin.url }) });
      mixtape = createMixtape(revived, {
        keyring: JwtKeyring.ephemeral(),
        quotaBytes: 10 * 1024 ** 2,
        maxTrackBytes: 5 * 1024 ** 2,
        maxAttempts: 4,
        retryBaseMs: 40,
        jobLeaseMs: 1000,
        workers: 1,
        workerPollIntervalMs: 50,
      });
      mixtape.start();
      const done = await settle(job.id);
      expect(done).toMatchObject({ status: 'completed', attempts: 2 });
    });

    it('makes one job of ten requests for a track that one user sends at once', async () => {
      await open({ workers: 0 });
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      const jobs = await Promise.all(Array.from({ length: 10 }, () => mixtape.downloads.request(user.id, trackA.id)));
      expect(new Set(jobs.map((job) => job.id)).size).toBe(1);
      expect((await mixtape.downloads.list(user.id, { limit: 50, offset: 0 })).total).toBe(1);
    });

    it('refuses a request beyond the per-user cap, unless a job for the track is active', async () => {
      await open({ workers: 0, maxActiveJobsPerUser: 2 });
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      const first = await mixtape.downloads.request(user.id, trackA.id);
      await mixtape.downloads.request(user.id, trackB.id);
      await expect(mixtape.downloads.request(user.id, trackC.id)).rejects.toMatchObject({
        name: 'TooManyJobsError',
        code: 'ERR_TOO_MANY_JOBS',
        activeJobs: 2,
        limit: 2,
      });
      // Asking again for a track whose job is active is no new job, so the cap does not apply.
      expect((await mixtape.downloads.request(user.id, `spotify:track:${trackA.id}`)).id).toBe(first.id);
      const other = await mixtape.auth.register('bob', 'correct horse battery');
      expect((await mixtape.downloads.request(other.id, trackC.id)).status).toBe('queued');

      expect((await mixtape.downloads.cancel(user.id, first.id)).kind).toBe('cancelled');
      expect((await mixtape.downloads.request(user.id, trackC.id)).status).toBe('queued');
      expect((await mixtape.downloads.list(user.id, { limit: 50, offset: 0 })).total).toBe(3);
    });

    it('hands an unfinished job back at shutdown, without spending its last attempt', async () => {
      await open({ workers: 1, maxAttempts: 1, shutdownGraceMs: 100 });
      origin.stalled.add(trackA.id);
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      const job = await mixtape.downloads.request(user.id, trackA.id);
      for (let deadline = Date.now() + 5000; (await mixtape.backends.queue.get(job.id))?.status !== 'running'; ) {
        if (Date.now() > deadline) throw new Error('the job never started');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await mixtape.close();

      const reopened = await openBackends({ dataDir, source: new HttpTrackSource({ urlTemplate: origin.url }) });
      mixtape = createMixtape(reopened, { keyring: JwtKeyring.ephemeral(), quotaBytes: 1, maxTrackBytes: 1, maxAttempts: 1, retryBaseMs: 1, jobLeaseMs: 1000, workers: 0 });
      const handedBack = await reopened.queue.get(job.id);
      expect(handedBack).toMatchObject({ status: 'queued', attempts: 0 });
      expect(handedBack?.error).toBeUndefined();
      expect(handedBack?.lease).toBeUndefined();
    });

    it('purges finished jobs once they are older than the retention', async () => {
      await open({ workers: 1, jobRetentionMs: 1 });
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      const job = await mixtape.downloads.request(user.id, trackA.id);
      expect(await settle(job.id)).toMatchObject({ status: 'completed' });
      for (let deadline = Date.now() + 5000; (await mixtape.backends.queue.get(job.id)) !== null; ) {
        if (Date.now() > deadline) throw new Error('the finished job was never purged');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(await mixtape.library.file(user.id, trackA.id)).toBeDefined();
    });

    it('fetches a track once however many users ask at the same time', async () => {
      await open({ workers: 4 });
      const users = await Promise.all(['ann', 'ben', 'cat', 'dan', 'eve', 'fay'].map((name) => mixtape.auth.register(name, 'correct horse battery')));
      const jobs = await Promise.all(users.map((u) => mixtape.downloads.request(u.id, trackB.id)));
      const done = await Promise.all(jobs.map((j) => settle(j.id)));
      expect(done.map((j) => j.status)).toEqual(users.map(() => 'completed'));
      expect(origin.hits.get(trackB.id)).toBe(1);
      const blobs = readdirSync(join(dataDir, 'audio', 'blobs'), { recursive: true }).filter((p) => String(p).length > 60);
      expect(blobs).toHaveLength(1);
      const expected = createHash('sha256').update(origin.bodies.get(trackB.id)!).digest('hex');
      const file = await mixtape.library.file(users[0]!.id, trackB.id);
      expect(file.audio.blobKey).toBe(expected);
    });

    it('refuses a track that does not fit the quota once the origin tells its size, keeping no file', async () => {
      await open();
      origin.bodies.set(trackC.id, randomBytes(3 * 1024 * 1024));
      const user = await mixtape.auth.register('alice', 'correct horse battery');
      await mixtape.backends.library.add({ userId: user.id, trackId: trackA.id, sizeBytes: 9 * 1024 ** 2 }, 10 * 1024 ** 2);
      const done = await settle((await mixtape.downloads.request(user.id, trackC.id)).id);
      expect(done).toMatchObject({ status: 'failed', error: { code: 'quota-exceeded' } });
      expect((await mixtape.backends.catalog.get(trackC.id))?.audio).toBeUndefined();
      // Its Content-Length was refused before the body was read: no file was written, none to sweep.
      const files = new AudioFiles({ ...mixtape.backends, ledger: mixtape.backends.blobLedger, tombstoneGraceMs: 0 });
      expect(await files.sweep()).toBe(0);
      expect(readdirSync(join(dataDir, 'audio', 'blobs'), { recursive: true }).filter((p) => String(p).length > 60)).toHaveLength(0);
    });
  });
}
