import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AudioFiles,
  createMixtape,
  DEMO_TRACKS,
  HttpTrackSource,
  JwtKeyring,
  PasswordHasher,
  type Job,
  type Mixtape,
  type TrackCatalog,
} from '../../src/index.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import type { OpenServiceBackends, ServiceBackends } from './service-backends.js';

const [first, second] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[0], (typeof DEMO_TRACKS)[0]];

/** An origin that serves the same bytes for every track: two releases of one recording. */
class SameBytesOrigin {
  readonly body = randomBytes(64 * 1024);
  #origin!: TestOrigin;
  url = '';

  async start(): Promise<void> {
    this.#origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': this.body.length }).end(this.body);
    });
    this.url = this.#origin.url;
  }

  stop(): Promise<void> {
    return this.#origin.stop();
  }
}

/** A catalog whose audio attach for one track waits for the test to let it through. */
function pausingAttach(catalog: TrackCatalog, trackId: string) {
  let reached!: () => void;
  let resume!: () => void;
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  const resumed = new Promise<void>((resolve) => (resume = resolve));
  const paused: TrackCatalog = {
    ...catalog,
    upsert: (...args) => catalog.upsert(...args),
    get: (...args) => catalog.get(...args),
    getMany: (...args) => catalog.getMany(...args),
    detachAudio: (...args) => catalog.detachAudio(...args),
    search: (...args) => catalog.search(...args),
    tracksWithBlob: (...args) => catalog.tracksWithBlob(...args),
    storedBytes: () => catalog.storedBytes(),
    scan: (...args) => catalog.scan(...args),
    rememberSize: (...args) => catalog.rememberSize(...args),
    knownSize: (...args) => catalog.knownSize(...args),
    attachAudio: async (...args) => {
      if (args[0] === trackId) {
        reached();
        await resumed;
      }
      return catalog.attachAudio(...args);
    },
  };
  return { catalog: paused, arrived, resume };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The library service where tracks share one stored file: removals, tombstones, the sweep, racing attaches. */
export function describeLibrary(name: string, openBackends: OpenServiceBackends): void {
  describe(`tracks that share one stored file: ${name}`, () => {
    const origin = new SameBytesOrigin();
    let dataDir: string;
    let backends: ServiceBackends;
    let mixtape: Mixtape;

    beforeAll(() => origin.start());
    afterAll(() => origin.stop());
    afterEach(async () => {
      await mixtape.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    async function open(catalog?: (catalog: TrackCatalog) => TrackCatalog): Promise<void> {
      dataDir = mkdtempSync(join(tmpdir(), 'mixtape-shared-files-'));
      backends = await openBackends({ dataDir, source: new HttpTrackSource({ urlTemplate: origin.url }) });
      mixtape = createMixtape(catalog ? { ...backends, catalog: catalog(backends.catalog) } : backends, {
        keyring: JwtKeyring.ephemeral(),
        hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }),
        quotaBytes: 10 * 1024 ** 2,
        maxTrackBytes: 5 * 1024 ** 2,
        maxAttempts: 2,
        retryBaseMs: 20,
        jobLeaseMs: 30_000,
        workers: 2,
        workerPollIntervalMs: 20,
      });
      mixtape.start();
    }

    async function settle(jobId: string): Promise<Job> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const job = await backends.queue.get(jobId);
        if (job && ['completed', 'failed', 'cancelled'].includes(job.status)) return job;
        if (Date.now() > deadline) throw new Error(`job still ${job?.status}`);
        await sleep(10);
      }
    }

    /** Whether the second user gets the second track's bytes back, whole. */
    async function secondTrackPlays(userId: string): Promise<boolean> {
      const file = await mixtape.library.file(userId, second.id);
      return (await readAll(await mixtape.library.open(file))).equals(origin.body);
    }

    it('keeps the file when one track is removed while another attaches the same bytes', async () => {
      let gate!: ReturnType<typeof pausingAttach>;
      await open((catalog) => (gate = pausingAttach(catalog, second.id)).catalog);
      expect((await settle((await mixtape.downloads.request('alice', first.id)).id)).status).toBe('completed');
      const key = (await backends.catalog.get(first.id))!.audio!.blobKey;

      // Bob's download has stored the same bytes and is about to point the second track at them...
      const bobs = await mixtape.downloads.request('bob', second.id);
      await gate.arrived;
      // ...when Alice removes the first track, the last one using the file.
      const removal = mixtape.library.remove('alice', first.id);
      await sleep(100);
      gate.resume();
      await removal;
      expect((await settle(bobs.id)).status).toBe('completed');

      expect((await backends.catalog.get(second.id))?.audio?.blobKey).toBe(key);
      expect(await backends.blobs.stat(key)).not.toBeNull();
      // Not even tombstoned: a sweep that sees every tombstone as old leaves it.
      expect(await new AudioFiles({ ...backends, ledger: backends.blobLedger, tombstoneGraceMs: 0 }).sweep()).toBe(0);
      expect(await secondTrackPlays('bob')).toBe(true);
    });

    it('brings back a tombstoned file that another track attaches, so the sweep leaves it', async () => {
      await open();
      expect((await settle((await mixtape.downloads.request('alice', first.id)).id)).status).toBe('completed');
      const key = (await backends.catalog.get(first.id))!.audio!.blobKey;
      await mixtape.library.remove('alice', first.id);
      expect((await backends.catalog.get(first.id))?.audio).toBeUndefined();
      expect(await backends.blobLedger.tombstoned(new Date(Date.now() + 1000), null, 10)).toEqual([{ key, sizeBytes: origin.body.length }]);
      // Within the grace the file is still there.
      expect(await backends.blobs.stat(key)).not.toBeNull();

      expect((await settle((await mixtape.downloads.request('bob', second.id)).id)).status).toBe('completed');
      expect(await backends.blobLedger.tombstoned(new Date(Date.now() + 1000), null, 10)).toEqual([]);
      expect(await new AudioFiles({ ...backends, ledger: backends.blobLedger, tombstoneGraceMs: 0 }).sweep()).toBe(0);
      expect(await secondTrackPlays('bob')).toBe(true);
    });

    it('unlinks a file no track uses only once its tombstone is older than the grace', async () => {
      await open();
      expect((await settle((await mixtape.downloads.request('alice', first.id)).id)).status).toBe('completed');
      const key = (await backends.catalog.get(first.id))!.audio!.blobKey;
      await mixtape.library.remove('alice', first.id);

      let now = Date.now();
      const files = new AudioFiles({ ...backends, ledger: backends.blobLedger, tombstoneGraceMs: 60_000, now: () => new Date(now) });
      expect(await files.sweep()).toBe(0);
      expect(await backends.blobs.stat(key)).not.toBeNull();
      now += 61_000;
      expect(await files.sweep()).toBe(1);
      expect(await backends.blobs.stat(key)).toBeNull();
      expect(await backends.blobLedger.tombstoned(new Date(now), null, 10)).toEqual([]);
    });

    it('keeps a tombstoned file that a track points to after all, and clears its tombstone', async () => {
      await open();
      expect((await settle((await mixtape.downloads.request('alice', first.id)).id)).status).toBe('completed');
      const audio = (await backends.catalog.get(first.id))!.audio!;
      await mixtape.library.remove('alice', first.id);
      // What a holder that had lost its lock could leave behind: a track pointing at a tombstoned file.
      await mixtape.resolver.resolve(second.id);
      await backends.catalog.attachAudio(second.id, audio);

      expect(await new AudioFiles({ ...backends, ledger: backends.blobLedger, tombstoneGraceMs: 0 }).sweep()).toBe(0);
      expect(await backends.blobs.stat(audio.blobKey)).not.toBeNull();
      expect(await backends.blobLedger.tombstoned(new Date(Date.now() + 1000), null, 10)).toEqual([]);
    });
  });
}
