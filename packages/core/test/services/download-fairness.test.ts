import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMixtape, HttpTrackSource, JwtKeyring, type Mixtape, type TrackMetadataProvider } from '../../src/index.js';
import { openSqliteBackends } from '../../src/sqlite.js';

/** How long the origin stand-in takes to answer for each track: the time one job takes. */
const JOB_MS = 200;
const BACKLOG = 30;

const trackIdOf = (label: string) => `${label}x`.padEnd(22, '0');

/** Knows every track: titles do not matter here. */
const anyTrack: TrackMetadataProvider = {
  name: 'stand-in',
  getTrack: async (id) => ({ id, title: `Song ${id}`, artists: ['Someone'], album: 'Fairness', durationMs: 1000 }),
};

/**
 * One user's queue must not delay everyone else. One worker, an origin that takes JOB_MS per
 * track; user A asks for BACKLOG tracks, then user B for one. B's wait, from asking to having
 * the track, is printed: first-come-first-served made B wait for all of A's backlog.
 */
describe('download fairness', () => {
  let origin: Server;
  let originUrl: string;
  let dataDir: string;
  let mixtape: Mixtape;

  beforeAll(async () => {
    origin = createServer((_req, res) => {
      setTimeout(() => res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(Buffer.alloc(4096, 1)), JOB_MS);
    });
    origin.listen(0, '127.0.0.1');
    await new Promise((resolve) => origin.once('listening', resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/audio/{id}`;
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-fairness-'));
    const backends = await openSqliteBackends({ dataDir, metadata: anyTrack, source: new HttpTrackSource({ urlTemplate: originUrl }) });
    mixtape = createMixtape(backends, {
      keyring: JwtKeyring.ephemeral(),
      quotaBytes: 1e9,
      maxTrackBytes: 1e6,
      maxAttempts: 3,
      retryBaseMs: 50,
      jobLeaseMs: 30_000,
      workers: 1,
      workerPollIntervalMs: 50,
      maxActiveJobsPerUser: 100,
    });
    mixtape.start();
  });

  afterAll(async () => {
    await mixtape?.close();
    origin?.closeAllConnections();
    await new Promise((resolve) => origin?.close(resolve));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves a one-job user within a couple of jobs, not behind another user’s whole queue', async () => {
    for (let i = 0; i < BACKLOG; i++) await mixtape.downloads.request('user-a', trackIdOf(`a${i}`));
    const askedAt = Date.now();
    const job = await mixtape.downloads.request('user-b', trackIdOf('b'));
    for (;;) {
      const current = await mixtape.downloads.get('user-b', job.id);
      if (current.status === 'completed') break;
      if (current.status === 'failed' || Date.now() - askedAt > 20_000) throw new Error(`user B's job is ${current.status}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const waitedMs = Date.now() - askedAt;
    expect((await mixtape.downloads.list('user-a', { limit: 50, offset: 0 })).total).toBe(BACKLOG);
    const ranBefore = (await mixtape.downloads.list('user-a', { status: 'completed', limit: 50, offset: 0 })).total;
    console.log(
      `[fairness] a one-job user waited ${waitedMs} ms behind another user's ${BACKLOG} queued jobs ` +
        `(1 worker, ${JOB_MS} ms a job); ${ranBefore} of those ran first`,
    );
    expect(ranBefore).toBeLessThanOrEqual(2);
    expect(waitedMs).toBeLessThan(JOB_MS * 6);
  });
});
