import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { ensureBuilt, killAll, printedUrl, startCli, untilStatus, type CliProcess } from './support/cli-process.js';
import { deterministicBytes, gate, startAudioOrigin, type AudioOrigin } from './support/origin-servers.js';
import { call, signUp, startTestServer } from './support/test-server.js';

/**
 * `mixtape serve` shutting down under load, with real signals: readiness drops at the first
 * one so load balancers stop sending, while the process keeps serving what is in flight.
 * Event streams are not work: they end at once, and their clients reconnect to an instance
 * still in service.
 */

const processes: CliProcess[] = [];
let origin: AudioOrigin;
let root: string;

beforeAll(async () => {
  ensureBuilt();
  origin = await startAudioOrigin();
  root = mkdtempSync(join(tmpdir(), 'mixtape-shutdown-'));
}, 180_000);

afterAll(async () => {
  killAll(processes);
  await origin?.close();
  rmSync(root, { recursive: true, force: true });
});

async function serve(name: string, env: Record<string, string> = {}) {
  const process_ = startCli(['serve'], {
    MIXTAPE_DATA_DIR: join(root, name),
    MIXTAPE_SOURCE_URL: origin.template,
    MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
    MIXTAPE_PORT: '0',
    MIXTAPE_WORKERS: '1',
    ...env,
  });
  processes.push(process_);
  const url = await printedUrl(process_, 'Mixtape is listening on');
  const credentials = { username: `sd${randomBytes(3).toString('hex')}`, password: 'a long enough password' };
  expect((await call(`${url}/api/v1/auth/register`, { body: credentials })).status).toBe(201);
  const { accessToken } = (await call(`${url}/api/v1/auth/login`, { body: credentials })).body;
  return { process: process_, url, api: `${url}/api/v1`, token: accessToken as string };
}

/** Queues a download the origin holds back, and waits until the worker is fetching it. */
async function downloadInFlight(server: Awaited<ReturnType<typeof serve>>, trackId: string): Promise<string> {
  const job = await call(`${server.api}/downloads`, { token: server.token, body: { track: trackId } });
  expect(job.status, job.text).toBe(202);
  for (const deadline = Date.now() + 10_000; !origin.requests.get(trackId); ) {
    if (Date.now() > deadline) throw new Error('the worker never asked the origin');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return job.body.id as string;
}

/** Opens the job's event stream; resolves with all it sent once it ends (rejects if it is cut). */
async function followEvents(server: { api: string; token: string }, jobId: string): Promise<{ all: Promise<string> }> {
  const response = await fetch(`${server.api}/downloads/${jobId}/events`, { headers: { authorization: `Bearer ${server.token}` } });
  expect(response.status).toBe(200);
  return { all: response.text() };
}

/** Where the blob store keeps these bytes once a download has committed them. */
function storedBlob(dataDir: string, bytes: Buffer): string {
  const key = createHash('sha256').update(bytes).digest('hex');
  return join(dataDir, 'audio', 'blobs', key.slice(0, 2), key.slice(2, 4), key);
}

describe('mixtape serve on SIGTERM', () => {
  it('answers /readyz 503 at once and ends event streams while it finishes a slow download, then exits 0', async () => {
    const track = DEMO_TRACKS[0]!.id;
    const held = gate();
    const bytes = deterministicBytes('slow', 400_000);
    origin.serve(track, { body: bytes, gate: held.promise });
    const server = await serve('drains');
    const jobId = await downloadInFlight(server, track);
    const events = await followEvents(server, jobId);

    server.process.child.kill('SIGTERM');
    const ready = await untilStatus(`${server.url}/readyz`, 503);
    expect(Number(ready.headers.get('retry-after'))).toBeGreaterThan(0);
    // The stream ends, cleanly, while the download it follows is still held back.
    const stream = await events.all;
    expect(stream).toMatch(/^event: status\ndata: .*"status":"running"/m);
    expect(stream).not.toMatch(/"status":"completed"/);
    expect((await call(`${server.url}/livez`)).status).toBe(200);
    // Still serving the API, too, for whatever a load balancer sends before it notices.
    const job = await call(`${server.api}/downloads/${jobId}`, { token: server.token });
    expect(job.body.status).toBe('running');
    expect(job.headers.get('connection')).toBe('close');

    // A second signal (a terminal's Ctrl-C reaching the process twice) does not cut the drain short.
    server.process.child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.process.child.exitCode).toBeNull();
    expect((await call(`${server.url}/readyz`)).status).toBe(503);

    held.open();
    const [code, signal] = await server.process.exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    await expect(fetch(`${server.url}/livez`)).rejects.toThrow();
    // The download in flight finished within the grace.
    expect(existsSync(storedBlob(join(root, 'drains'), bytes))).toBe(true);
  });

  it('cuts work that outlasts MIXTAPE_SHUTDOWN_GRACE_MS, and still exits 0', async () => {
    const track = DEMO_TRACKS[1]!.id;
    // Never opened: this download would hold the process forever.
    origin.serve(track, { body: deterministicBytes('stuck', 1000), gate: new Promise(() => {}) });
    const server = await serve('cut', { MIXTAPE_SHUTDOWN_GRACE_MS: '1500' });
    const jobId = await downloadInFlight(server, track);
    const events = await followEvents(server, jobId);
    let streamEndedAt = Number.POSITIVE_INFINITY;
    const eventsOutcome = events.all.then(
      () => 'ended',
      () => 'cut',
    );
    void eventsOutcome.then(() => (streamEndedAt = Date.now()));

    const signalledAt = Date.now();
    server.process.child.kill('SIGTERM');
    expect((await untilStatus(`${server.url}/readyz`, 503)).status).toBe(503);
    const [code, signal] = await server.process.exited;
    const tookMs = Date.now() - signalledAt;
    expect([code, signal]).toEqual([0, null]);
    // It waited for the grace, and not for ever.
    expect(tookMs).toBeGreaterThanOrEqual(1400);
    expect(tookMs).toBeLessThan(10_000);
    // The event stream did not wait for the grace: it ended as the shutdown began.
    expect(await eventsOutcome).toBe('ended');
    expect(streamEndedAt - signalledAt).toBeLessThan(1000);
  });
});

describe('an event stream open when a shutdown begins', () => {
  it('ends at once, well within the grace, and nothing polls the queue once the stores are closed', async () => {
    // No workers: the job stays queued, so only the shutdown can end its stream.
    const server = await startTestServer({ MIXTAPE_WORKERS: '0', MIXTAPE_SHUTDOWN_GRACE_MS: '5000' });
    const { accessToken } = await signUp(server);
    const job = await call(`${server.api}/downloads`, { token: accessToken, body: { track: DEMO_TRACKS[2]!.id } });
    expect(job.status, job.text).toBe(202);
    const events = await followEvents({ api: server.api, token: accessToken }, job.body.id);
    const outcome = events.all.then(
      (text) => ({ ended: true, text }),
      () => ({ ended: false, text: '' }),
    );
    // Let it settle, subscribed to the job's events, first.
    await new Promise((resolve) => setTimeout(resolve, 600));

    const startedAt = Date.now();
    await server.stop();
    expect(Date.now() - startedAt).toBeLessThan(2000);
    const stream = await outcome;
    expect(stream.ended).toBe(true);
    expect(stream.text).toMatch(/^event: status\ndata: .*"status":"queued"/m);
    // A reload still running, or a change heard after the close, would have hit the closed database by now.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const errors = server.logs.map((line) => JSON.parse(line) as { level: number; msg?: string }).filter((line) => line.level >= 50);
    expect(errors).toEqual([]);
  });
});
