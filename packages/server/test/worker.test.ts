import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { ensureBuilt, killAll, printedUrl, startCli, untilStatus, type CliProcess } from './support/cli-process.js';
import { expectProblem, metricValue } from './support/http-expectations.js';
import { deterministicBytes, gate, startAudioOrigin, type AudioOrigin } from './support/origin-servers.js';
import { rawExchange } from './support/raw-http.js';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';

/**
 * `mixtape worker` as operators run it: a separate process on the API's data dir, taking the
 * jobs the API queues, watched through its own ops port.
 */

const [QUICK, HELD] = [DEMO_TRACKS[0]!.id, DEMO_TRACKS[1]!.id];
const processes: CliProcess[] = [];
let origin: AudioOrigin;
let api: TestServer;
let worker: CliProcess;
let workerUrl: string;

beforeAll(async () => {
  ensureBuilt();
  origin = await startAudioOrigin();
  // No workers in the API process: every download below is the worker process's.
  api = await startTestServer({ MIXTAPE_WORKERS: '0', MIXTAPE_SOURCE_URL: origin.template });
  worker = startCli(['worker'], {
    MIXTAPE_DATA_DIR: api.dataDir,
    MIXTAPE_SOURCE_URL: origin.template,
    MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
    MIXTAPE_PORT: '0',
    MIXTAPE_WORKERS: '1',
    MIXTAPE_RETRY_BASE_MS: '50',
  });
  processes.push(worker);
  workerUrl = await printedUrl(worker, 'Mixtape worker is listening on');
}, 180_000);

afterAll(async () => {
  killAll(processes);
  await api?.stop();
  await origin?.close();
});

describe('mixtape worker', () => {
  it('serves /livez, /readyz, /health and /metrics on the port it printed, and nothing else', async () => {
    expect(workerUrl).not.toMatch(/:0$/);
    const live = await call(`${workerUrl}/livez`);
    expect([live.status, live.text]).toEqual([200, 'ok']);
    expect((await call(`${workerUrl}/readyz`)).status).toBe(200);
    const health = await call(`${workerUrl}/health`);
    expect(health.status, health.text).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/health\+json\b/);
    expect(JSON.parse(health.text).checks['sqlite:responseTime'][0].status).toBe('pass');
    const metrics = await call(`${workerUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^# TYPE mixtape_downloads_total counter$/m);

    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/api/v1/openapi.json'],
      ['GET', '/api/v1/tracks/search?q=demo'],
      ['POST', '/api/v1/auth/register'],
      ['GET', '/library'],
      ['POST', '/livez'],
    ] as const) {
      const refused = await call(`${workerUrl}${path}`, { method, ...(method === 'POST' ? { body: {} } : {}) });
      expectProblem(refused, 404, 'not-found');
    }
  });

  it('answers what Node refuses before the app as problems, as the API server does', async () => {
    const refusals: Array<[string, number]> = [
      [`GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['NOT HTTP AT ALL\r\n\r\n', 400],
      ['GET /livez HTTP/1.1\r\n\r\n', 400],
      ['GET /livez HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n', 417],
    ];
    for (const [request, status] of refusals) {
      const answer = await rawExchange(workerUrl, request);
      expect(answer.status, answer.text).toBe(status);
      expect(answer.headers['content-type'] ?? '', answer.text).toMatch(/^application\/problem\+json/);
      expect(answer.headers['x-request-id'] ?? '', answer.text).not.toBe('');
      expect(JSON.parse(answer.body)).toMatchObject({ type: expect.stringMatching(/\/validation$/), status });
    }
    expect((await call(`${workerUrl}/livez`)).status).toBe(200);
  });

  it('runs the downloads the API queues, and its /metrics count them', async () => {
    origin.serve(QUICK, { body: deterministicBytes('quick', 300_000) });
    const { accessToken } = await signUp(api);
    const queued = await call(`${api.api}/downloads`, { token: accessToken, body: { track: QUICK } });
    expect(queued.status, queued.text).toBe(202);
    expect(await waitForJob(api, accessToken, queued.body.id)).toMatchObject({ status: 'completed' });

    const metrics = (await call(`${workerUrl}/metrics`)).text;
    expect(metricValue(metrics, 'mixtape_downloads_total{outcome="completed"}')).toBe(1);
    expect(metricValue(metrics, 'mixtape_upstream_fetches_total{source="http",outcome="ok"}')).toBe(1);
    // The API process ran none of it.
    expect(metricValue((await call(`${api.url}/metrics`)).text, 'mixtape_downloads_total{outcome="completed"}')).toBe(0);
  });

  it('on SIGTERM: /readyz is 503 at once, /livez 200, the job in flight finishes, then exit 0', async () => {
    const held = gate();
    origin.serve(HELD, { body: deterministicBytes('held', 200_000), gate: held.promise });
    const { accessToken } = await signUp(api);
    const queued = await call(`${api.api}/downloads`, { token: accessToken, body: { track: HELD } });
    expect(queued.status, queued.text).toBe(202);
    for (const deadline = Date.now() + 10_000; !origin.requests.get(HELD); ) {
      if (Date.now() > deadline) throw new Error('the worker never asked the origin');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    worker.child.kill('SIGTERM');
    const ready = await untilStatus(`${workerUrl}/readyz`, 503);
    expect(Number(ready.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call(`${workerUrl}/livez`)).status).toBe(200);
    expect(worker.child.exitCode).toBeNull();

    held.open();
    const [code, signal] = await worker.exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect((await call(`${api.api}/downloads/${queued.body.id}`, { token: accessToken })).body.status).toBe('completed');
    await expect(fetch(`${workerUrl}/livez`)).rejects.toThrow();
  });
});
