import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMixtape, DEMO_TRACKS, HttpTrackSource, type Mixtape } from '../../src/index.js';
import { openSqliteBackends } from '../../src/sqlite.js';
import { bundleChildProgram, type ChildProgram } from '../sqlite/child-processes.js';
import { startChild, type LiveChild } from '../sqlite/live-child.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { processSettings } from '../support/process-settings.js';

const track = DEMO_TRACKS[0]!;
const CHUNK = 32 * 1024;

/**
 * An origin that sends a track slowly (16 chunks, 60 ms apart), or sends one chunk and then
 * stalls for ever, as a hung upstream would. It counts requests per track.
 */
class SlowOrigin {
  readonly body = randomBytes(16 * CHUNK);
  hits = 0;
  stall = false;
  #origin!: TestOrigin;
  url = '';

  async start(): Promise<void> {
    this.#origin = await startOrigin((_req, res) => {
      this.hits += 1;
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': this.body.length });
      let sent = 0;
      const next = () => {
        if (res.destroyed) return;
        res.write(this.body.subarray(sent, sent + CHUNK));
        sent += CHUNK;
        if (this.stall) return;
        if (sent >= this.body.length) res.end();
        else setTimeout(next, 60);
      };
      next();
    });
    this.url = this.#origin.url;
  }

  stop(): Promise<void> {
    return this.#origin.stop();
  }
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await sleep(10);
  }
}

/**
 * An API process and `mixtape worker` processes sharing one data dir is a supported mode:
 * these run real processes over one data dir, each with its own connection and event loop.
 */
describe('processes sharing one data dir', () => {
  let program: ChildProgram;
  let origin: SlowOrigin;
  let dataDir: string;
  const children: LiveChild[] = [];
  let mixtape: Mixtape | undefined;

  beforeAll(async () => {
    // Every package stays outside the bundle: some are CommonJS, which an ES module bundle cannot require.
    program = await bundleChildProgram('./mixtape-child.ts', { external: [/^[^./]/] });
  }, 60_000);
  afterAll(() => program?.remove());

  beforeEach(async () => {
    origin = new SlowOrigin();
    await origin.start();
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-shared-'));
  });

  afterEach(async () => {
    for (const child of children.splice(0)) child.process.kill('SIGKILL');
    await mixtape?.close();
    mixtape = undefined;
    await origin.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const startMixtape = (userId: string, leaseMs = 30_000) => {
    const child = startChild(program.path, [dataDir, origin.url, userId, track.id, String(leaseMs)]);
    children.push(child);
    return child;
  };

  it('fetch a track once when two of them are asked for it at the same time', async () => {
    const api = startMixtape('user-a');
    expect(await api.nextLine()).toHaveProperty('job');
    await until(() => origin.hits === 1, 'the first process fetches');

    // The second process's worker takes its own job while the first is still fetching.
    const worker = startMixtape('user-b');
    expect(await worker.nextLine()).toHaveProperty('job');

    expect(await api.nextLine()).toMatchObject({ status: 'completed' });
    expect(await worker.nextLine()).toMatchObject({ status: 'completed' });
    expect(origin.hits).toBe(1);

    const backends = await openSqliteBackends({ dataDir, source: new HttpTrackSource({ urlTemplate: origin.url }) });
    try {
      expect(await backends.library.get('user-a', track.id)).not.toBeNull();
      expect(await backends.library.get('user-b', track.id)).not.toBeNull();
      expect((await backends.catalog.get(track.id))?.audio?.sizeBytes).toBe(origin.body.length);
    } finally {
      await backends.close();
    }
  });

  it('remove what a worker killed mid-fetch left, as soon as its job runs again', async () => {
    origin.stall = true;
    const killed = startMixtape('user-a', 1000);
    expect(await killed.nextLine()).toHaveProperty('job');
    const tmp = join(dataDir, 'audio', 'tmp');
    await until(() => existsSync(tmp) && readdirSync(tmp).some((name) => name.endsWith('.part')), 'the worker writes its temp file');
    const leftovers = readdirSync(tmp).filter((name) => name.endsWith('.part'));
    killed.process.kill('SIGKILL');
    await killed.exited;
    expect(readdirSync(tmp)).toEqual(leftovers);

    // Another process on the data dir takes the job back once its lease runs out, and runs it.
    const backends = await openSqliteBackends({ dataDir, source: new HttpTrackSource({ urlTemplate: origin.url }) });
    mixtape = createMixtape(backends, { ...processSettings(1000), shutdownGraceMs: 100 });
    mixtape.start();
    await until(() => origin.hits === 2, 'the job runs again');
    await until(() => readdirSync(tmp).some((name) => !leftovers.includes(name)), 'the new attempt writes its temp file');

    // The new attempt is still fetching, and the killed one's file is gone already.
    const [job] = (await backends.queue.list({ limit: 1, offset: 0 })).items;
    expect(job).toMatchObject({ status: 'running', attempts: 2 });
    expect(readdirSync(tmp).filter((name) => leftovers.includes(name))).toEqual([]);
    expect(readdirSync(tmp)).toHaveLength(1);
  });
});
