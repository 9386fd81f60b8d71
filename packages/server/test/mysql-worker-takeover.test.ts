import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshMysqlDatabase, type FreshMysqlDatabase } from '../../core/test/mysql/mysql-test-server.js';
import { ensureBuilt, killAll, printedUrl, startCli, untilStatus, type CliProcess } from './support/cli-process.js';
import { deterministicBytes, sha256, startAudioOrigin, startSpotifyStub, trackId, type AudioOrigin, type SpotifyStub } from './support/origin-servers.js';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';

/**
 * `mixtape worker` processes on MariaDB, one of them SIGKILLed in the middle of a download:
 * nothing of it is left to hand the job back, so the job waits out its lease, is taken back
 * by housekeeping in another worker, and completes there.
 */

const LEASE_MS = 2000;
const TRACK = { id: trackId('taken-over'), name: 'Taken Over', artists: ['Second Worker'], album: 'Leases', durationMs: 200_000 };

describe('a worker process killed mid-job, on MariaDB', () => {
  const processes: CliProcess[] = [];
  let database: FreshMysqlDatabase;
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  let server: TestServer;
  let root: string;
  let env: Record<string, string>;
  const bytes = deterministicBytes('taken-over', 300 * 1024);

  beforeAll(async () => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'mixtape-takeover-'));
    database = await freshMysqlDatabase();
    spotify = await startSpotifyStub([TRACK]);
    origin = await startAudioOrigin();
    // The first fetch trickles (300 KiB at 1 KiB per 50 ms: 15 s), so it is still running when
    // its worker dies; the next is served at once.
    origin.serve(TRACK.id, { body: bytes, trickleMs: 50, trickleFirst: 1 });
    env = {
      ...spotify.env(),
      MIXTAPE_MYSQL_URL: database.url,
      MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
      MIXTAPE_SOURCE_URL: origin.template,
      // One volume for every process, as instances would share it.
      MIXTAPE_STORAGE_DIR: join(root, 'shared-audio'),
      MIXTAPE_JOB_LEASE_MS: String(LEASE_MS),
      MIXTAPE_RETRY_BASE_MS: '50',
    };
    // The API alone: the work is the worker processes'.
    server = await startTestServer({ ...env, MIXTAPE_WORKERS: '0' });
  }, 60_000);

  afterAll(async () => {
    killAll(processes);
    await server?.stop();
    await origin?.close();
    await spotify?.close();
    await database?.drop();
    rmSync(root, { recursive: true, force: true });
  });

  async function startWorker(name: string): Promise<CliProcess> {
    const worker = startCli(['worker'], { ...env, MIXTAPE_PORT: '0', MIXTAPE_WORKERS: '1', MIXTAPE_DATA_DIR: join(root, name) });
    processes.push(worker);
    await untilStatus(`${await printedUrl(worker, 'Mixtape worker is listening on')}/readyz`, 200);
    return worker;
  }

  it('has its job taken over by another worker once the lease runs out, and completed there', async () => {
    const first = await startWorker('first');
    const user = await signUp(server);
    const requested = await call(`${server.api}/downloads`, { token: user.accessToken, body: { track: TRACK.id } });
    expect(requested.status, requested.text).toBe(202);
    const jobId = requested.body.id as string;

    // Running in the first worker, bytes arriving.
    for (const deadline = Date.now() + 10_000; ; await sleep(25)) {
      const job = (await call(`${server.api}/downloads/${jobId}`, { token: user.accessToken })).body;
      if (job.status === 'running' && job.progress?.bytes > 0) break;
      if (Date.now() > deadline) throw new Error(`job never ran: ${JSON.stringify(job)}`);
    }
    const second = await startWorker('second');

    const killedAt = performance.now();
    first.child.kill('SIGKILL');
    expect((await first.exited)[1]).toBe('SIGKILL');
    // Until its lease runs out, the job stays the dead worker's: nobody fetches it again.
    await sleep(LEASE_MS / 2);
    expect(origin.requests.get(TRACK.id)).toBe(1);
    while (origin.requests.get(TRACK.id) === 1 && performance.now() - killedAt < LEASE_MS + 10_000) await sleep(20);
    const refetchedAfterMs = performance.now() - killedAt;
    const done = await waitForJob(server, user.accessToken, jobId, LEASE_MS + 10_000);
    const completedAfterMs = performance.now() - killedAt;
    console.log(JSON.stringify({ leaseMs: LEASE_MS, refetchedAfterMs: Math.round(refetchedAfterMs), completedAfterMs: Math.round(completedAfterMs) }));

    expect(done).toMatchObject({ status: 'completed', trackId: TRACK.id });
    // The dead worker's attempt counts: it was taken back, not handed back.
    expect(done.attempts).toBe(2);
    expect(refetchedAfterMs).toBeGreaterThanOrEqual(LEASE_MS);
    expect(completedAfterMs).toBeLessThan(LEASE_MS + 10_000);
    expect(origin.requests.get(TRACK.id)).toBe(2);
    const file = await fetch(`${server.api}/library/${TRACK.id}/file`, { headers: { authorization: `Bearer ${user.accessToken}` } });
    expect(file.status).toBe(200);
    expect(sha256(Buffer.from(await file.arrayBuffer()))).toBe(sha256(bytes));

    second.child.kill('SIGTERM');
    expect((await second.exited)[0]).toBe(0);
  }, 60_000);
});
