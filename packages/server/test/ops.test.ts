import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { type SqliteBackends } from '@mixtape/core/sqlite';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';
import { expectProblem, metricValue } from './support/http-expectations.js';

/** The metrics table of API.md. */
const API_METRICS = [
  'mixtape_http_requests_total',
  'mixtape_http_request_duration_seconds',
  'mixtape_rate_limit_rejections_total',
  'mixtape_upstream_fetches_total',
  'mixtape_downloads_total',
  'mixtape_download_jobs',
  'mixtape_lock_wait_seconds',
  'mixtape_storage_bytes',
  'mixtape_search_degraded',
  'mixtape_search_outbox_pending',
  'mixtape_search_sync_lag_seconds',
  'mixtape_db_pool_connections',
  'mixtape_reconciler_repairs_total',
];

const TRACK_ID = DEMO_TRACKS[0]!.id;
const METRICS_TOKEN = randomBytes(24).toString('base64url');

let server: TestServer;
let guarded: TestServer;
let broken: TestServer;
let proxied: TestServer;
let proxyOff: TestServer;

beforeAll(async () => {
  [server, guarded, broken, proxied, proxyOff] = await Promise.all([
    startTestServer(),
    // Behind a trusted proxy too: with a token, only the token decides.
    startTestServer({ MIXTAPE_METRICS_TOKEN: METRICS_TOKEN, MIXTAPE_TRUST_PROXY: 'loopback', MIXTAPE_WORKERS: '0' }),
    // No workers, so nothing but the probes below touches the database once it is closed.
    startTestServer({ MIXTAPE_WORKERS: '0' }),
    startTestServer({ MIXTAPE_TRUST_PROXY: 'loopback', MIXTAPE_WORKERS: '0' }),
    // Set, even to false, is not unset: the operator has said a proxy is part of the picture.
    startTestServer({ MIXTAPE_TRUST_PROXY: 'false', MIXTAPE_WORKERS: '0' }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.stop(), guarded?.stop(), broken?.stop(), proxied?.stop(), proxyOff?.stop()]);
});

describe('probes', () => {
  it('/livez and /readyz answer 200', async () => {
    const live = await call(`${server.url}/livez`);
    expect(live.status).toBe(200);
    expect(live.headers.get('x-request-id')).toBeTruthy();
    const ready = await call(`${server.url}/readyz`);
    expect(ready.status, ready.text).toBe(200);
  });

  it('/health is health+json, passing, with checks keyed component:measurement', async () => {
    const health = await call(`${server.url}/health`);
    expect(health.status, health.text).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/health\+json\b/);
    const report = JSON.parse(health.text);
    expect(report.status).toBe('pass');
    const keys = Object.keys(report.checks);
    expect(keys).toContain('sqlite:responseTime');
    expect(keys).toContain('storage:freeBytes');
    for (const key of keys) {
      expect(key).toMatch(/^[A-Za-z][\w.-]*:[A-Za-z][\w.-]*$/);
      const observations = report.checks[key];
      expect(Array.isArray(observations) && observations.length > 0, key).toBe(true);
      for (const observation of observations) {
        expect(['pass', 'warn', 'fail']).toContain(observation.status);
        expect(Number.isNaN(Date.parse(observation.time))).toBe(false);
      }
    }
    expect(report.checks['sqlite:responseTime'][0]).toMatchObject({ status: 'pass', observedUnit: 'ms' });
    expect(report.checks['sqlite:responseTime'][0].observedValue).toBeGreaterThanOrEqual(0);
  });
});

describe('/metrics', () => {
  it('serves Prometheus text on loopback with every metric of API.md', async () => {
    const metrics = await call(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain\b/);
    for (const name of API_METRICS) {
      expect(metrics.text, name).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
      expect(metrics.text, name).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
    }
    // prom-client's default process and Node.js metrics are there too.
    expect(metrics.text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(metrics.text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('labels requests with the route pattern, never the raw path', async () => {
    const { accessToken } = await signUp(server);
    const track = await call(`${server.api}/tracks/${TRACK_ID}`, { token: accessToken });
    expect(track.status, track.text).toBe(200);
    const jobId = crypto.randomUUID();
    expect((await call(`${server.api}/downloads/${jobId}`, { token: accessToken })).status).toBe(404);
    const stray = `stray-${randomBytes(6).toString('hex')}`;
    expect((await call(`${server.api}/${stray}`)).status).toBe(404);
    // Refused before its handler runs, a request still counts under its route.
    expect((await call(`${server.api}/library`)).status).toBe(401);

    const metrics = (await call(`${server.url}/metrics`)).text;
    expect(metricValue(metrics, 'mixtape_http_requests_total{method="GET",route="/api/v1/tracks/:trackId",status="200"}')).toBe(1);
    expect(metricValue(metrics, 'mixtape_http_requests_total{method="GET",route="/api/v1/downloads/:jobId",status="404"}')).toBe(1);
    expect(metricValue(metrics, 'mixtape_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"}')).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'mixtape_http_requests_total{method="GET",route="/api/v1/library",status="401"}')).toBe(1);
    expect(metrics).toMatch(/^mixtape_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/tracks\/:trackId"\} 1$/m);
    for (const raw of [TRACK_ID, jobId, stray]) expect(metrics).not.toContain(raw);
    for (const line of metrics.split('\n').filter((l) => l.startsWith('mixtape_http_requests_total{'))) {
      const route = /route="([^"]*)"/.exec(line)?.[1] ?? '';
      expect(route === 'unmatched' || route.startsWith('/'), line).toBe(true);
    }
  });

  it('wants the bearer token when MIXTAPE_METRICS_TOKEN is set', async () => {
    const wrong: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${METRICS_TOKEN}x` },
      { authorization: METRICS_TOKEN },
      { authorization: `Basic ${METRICS_TOKEN}` },
    ];
    for (const headers of wrong) {
      const refused = await call(`${guarded.url}/metrics`, { headers });
      expectProblem(refused, 401, 'unauthorized');
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
      expect(refused.text).not.toContain('mixtape_');
      expect(refused.text).not.toContain(METRICS_TOKEN);
    }
    const allowed = await call(`${guarded.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(allowed.status).toBe(200);
    expect(allowed.text).toContain('# HELP mixtape_http_requests_total');
    expect(guarded.logs.join('')).not.toContain(METRICS_TOKEN);
  });
});

describe('/metrics without a token, behind a reverse proxy', () => {
  const FORWARDING_HEADERS: Array<Record<string, string>> = [
    { 'x-forwarded-for': '203.0.113.9' },
    { 'x-forwarded-for': '127.0.0.1' },
    { forwarded: 'for=203.0.113.9;proto=https' },
    { forwarded: 'for="[2001:db8::1]"' },
  ];

  it('refuses a loopback request that carries Forwarded or X-Forwarded-For', async () => {
    for (const headers of FORWARDING_HEADERS) {
      const refused = await call(`${server.url}/metrics`, { headers });
      const problem = expectProblem(refused, 403, 'forbidden');
      expect(problem.detail).toMatch(/MIXTAPE_METRICS_TOKEN/);
      expect(refused.text).not.toContain('mixtape_http_requests_total');
    }
    // The same peer without those headers is still the machine itself.
    expect((await call(`${server.url}/metrics`)).status).toBe(200);
  });

  it('refuses a loopback request that carries any other header proxies use to mark forwarding', async () => {
    const markers: Array<Record<string, string>> = [
      { 'x-real-ip': '203.0.113.9' },
      // RFC 9110 makes every proxy send Via, even one that sends nothing else.
      { via: '1.1 edge-proxy' },
      { 'true-client-ip': '203.0.113.9' },
      { 'cf-connecting-ip': '203.0.113.9' },
      { 'x-forwarded-host': 'mixtape.example.com' },
      { 'x-forwarded-proto': 'https' },
      { 'x-forwarded-port': '443' },
      { 'x-client-ip': '203.0.113.9' },
      { 'x-cluster-client-ip': '203.0.113.9' },
      { 'fastly-client-ip': '203.0.113.9' },
      { 'forwarded-for': '203.0.113.9' },
      // Even empty, the header says a proxy is there.
      { 'x-real-ip': '' },
    ];
    for (const headers of markers) {
      const refused = await call(`${server.url}/metrics`, { headers });
      expectProblem(refused, 403, 'forbidden');
      expect(refused.text, JSON.stringify(headers)).not.toContain('mixtape_http_requests_total');
    }
    expect((await call(`${server.url}/metrics`)).status).toBe(200);
  });

  it('refuses every request while MIXTAPE_TRUST_PROXY is set, even to false', async () => {
    for (const target of [proxied, proxyOff]) {
      for (const headers of [{}, ...FORWARDING_HEADERS]) {
        const refused = await call(`${target.url}/metrics`, { headers });
        expectProblem(refused, 403, 'forbidden');
        expect(refused.text).not.toContain('mixtape_');
      }
      // The probes stay open: only metrics are closed.
      expect((await call(`${target.url}/livez`)).status).toBe(200);
      expect((await call(`${target.url}/readyz`)).status).toBe(200);
    }
  });

  it('with a token, the token decides: proxies and forwarding headers change nothing', async () => {
    for (const headers of [{}, ...FORWARDING_HEADERS]) {
      const allowed = await call(`${guarded.url}/metrics`, { headers: { ...headers, authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(allowed.status, allowed.text).toBe(200);
      expect(allowed.text).toContain('# HELP mixtape_http_requests_total');
      expectProblem(await call(`${guarded.url}/metrics`, { headers }), 401, 'unauthorized');
    }
  });
});

describe('/health when storage is gone', () => {
  let bare: TestServer;

  beforeAll(async () => {
    bare = await startTestServer({ MIXTAPE_WORKERS: '0' });
  });

  afterAll(async () => {
    await bare?.stop();
  });

  it('says what failed, never where on disk: /health is unauthenticated', async () => {
    rmSync(join(bare.dataDir, 'audio'), { recursive: true, force: true });
    const health = await call(`${bare.url}/health`);
    // Storage is not critical: downloads fail, the rest still serves.
    expect(health.status, health.text).toBe(200);
    const [observation] = health.body.checks['storage:freeBytes'];
    expect(observation.status).toBe('fail');
    expect(observation.output).toMatch(/storage directory/);
    expect(health.text).not.toContain(bare.dataDir);
    expect(health.text).not.toMatch(/statfs|no such file/);
  });
});

describe('a database that stops answering', () => {
  it('makes /readyz and /health fail while /livez stays up', async () => {
    expect((await call(`${broken.url}/readyz`)).status).toBe(200);
    const { accessToken } = await signUp(broken);

    (broken.mixtape.backends as SqliteBackends).db.close();

    const ready = await call(`${broken.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(Number(ready.headers.get('retry-after'))).toBeGreaterThan(0);
    const health = await call(`${broken.url}/health`);
    expect(health.status).toBe(503);
    expect(health.headers.get('content-type')).toMatch(/^application\/health\+json\b/);
    const report = JSON.parse(health.text);
    expect(report.status).toBe('fail');
    expect(report.checks['sqlite:responseTime'][0].status).toBe('fail');
    expect((await call(`${broken.url}/livez`)).status).toBe(200);

    // A request that needs the database is a fast 503 with Retry-After: a dependency is down, not a bug.
    const failed = await call(`${broken.api}/me`, { token: accessToken });
    const problem = expectProblem(failed, 503, 'unavailable');
    expect(Number(failed.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(problem.detail).not.toMatch(/sqlite|SQLITE_|connection is not open/i);
  });
});
