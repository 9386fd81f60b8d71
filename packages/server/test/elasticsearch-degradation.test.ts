import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { proxiedElasticsearch, uniqueIndexName } from '../../core/test/elasticsearch/shared-elasticsearch.js';
import type { TcpProxy } from '../../core/test/support/tcp-proxy.js';
import {
  download,
  eventually,
  firstAnswer,
  health,
  metric,
  readinessProbe,
  searchLoad,
  searchUntil,
  sleep,
  stopProbes,
  UNLIMITED_SEARCH,
  type SearchAnswer,
} from './support/search-probes.js';
import { signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * Elasticsearch hangs (its proxy drops every packet) or dies (its proxy resets every
 * connection) under a steady search load. Searches are served by the database, degraded,
 * within 2 s of it, each within its deadline (1 s) and then at once while the breaker is open;
 * they find what they found before. Readiness holds, downloads go on, the gauge and /health
 * say so. Once it answers again, the breaker's probe finds it and searches are no longer degraded.
 */

const LANTERNS = DEMO_TRACKS.find((track) => track.title === 'Lanterns Over Lisbon')!;
const QUERY = 'lanterns over lisbon';
const DOWNLOADED = DEMO_TRACKS.find((track) => track.title === 'Copper Sunday')!;
/** MIXTAPE_ELASTICSEARCH_TIMEOUT_MS is left at its default, 1000. */
const FIRST_DEGRADED_WITHIN_MS = 2000;
/** A search served while the breaker is open waits on nothing but the database. */
const FAST_MS = 200;
/** How long searches are watched while the breaker is open, before Elasticsearch is back. */
const OPEN_FOR_MS = 2000;

const percentile = (answers: SearchAnswer[], p: number) => {
  const sorted = answers.map((a) => a.ms).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};

describe.each(['blackhole', 'reset'] as const)('Elasticsearch cut (%s) under a search load', (mode) => {
  let proxy: TcpProxy;
  let server: TestServer;
  let token: string;

  beforeEach(async () => {
    const proxied = await proxiedElasticsearch();
    proxy = proxied.proxy;
    server = await startTestServer({
      MIXTAPE_ELASTICSEARCH_URL: proxied.url,
      MIXTAPE_ELASTICSEARCH_INDEX: uniqueIndexName(`degradation-${mode}`),
      MIXTAPE_RATE_LIMITS: UNLIMITED_SEARCH,
    });
    token = (await signUp(server)).accessToken;
  });

  afterEach(async () => {
    await stopProbes();
    await server?.stop();
    await proxy?.close();
  });

  it('is served by the database, degraded, within 2 s, fast while the breaker is open, and from Elasticsearch again once it is back', async () => {
    await searchUntil(server, token, QUERY, (answer) => answer.degraded === false && answer.ids[0] === LANTERNS.id, 15_000);
    const readiness = readinessProbe(server);
    const load = searchLoad(server, token, QUERY);
    await sleep(300);

    const cutAt = performance.now();
    await proxy.cut(mode);
    const firstDegraded = await firstAnswer(load.answers, (answer) => answer.degraded === true, 5000);
    const firstDegradedMs = firstDegraded.endedAt - cutAt;
    // The breaker is open once a degraded answer comes fast: it no longer waits out the deadline.
    const opened = await firstAnswer(load.answers, (answer) => answer.degraded === true && answer.ms < FAST_MS, 5000);
    // Meanwhile: a download completes, and the operator sees the search engine down but the service ready.
    const job = await download(server, token, DOWNLOADED.id);
    expect(job.status).toBe('completed');
    const down = await eventually('health', () => health(server), (seen) => seen.elasticsearch === 'fail', 5000);
    expect(down).toEqual({ httpStatus: 200, status: 'warn', elasticsearch: 'fail' });
    expect(await metric(server, 'mixtape_search_degraded')).toBe(1);
    await sleep(Math.max(0, opened.endedAt + OPEN_FOR_MS - performance.now()));

    const restoredAt = performance.now();
    await proxy.restore();
    const firstHealed = await firstAnswer(load.answers, (answer) => answer.degraded === false && answer.startedAt > restoredAt, 20_000);
    const healedMs = firstHealed.endedAt - restoredAt;
    const answers = await load.stop();
    const readyStatuses = await readiness.stop();
    expect(await metric(server, 'mixtape_search_degraded')).toBe(0);
    expect(await eventually('health', () => health(server), (seen) => seen.status === 'pass', 5000)).toEqual({
      httpStatus: 200,
      status: 'pass',
      elasticsearch: 'pass',
    });

    // While the breaker is open, searches wait on nothing but the database, except its probes,
    // each of which waits out the deadline at most.
    const whileOpen = answers.filter((answer) => answer.startedAt >= opened.startedAt && answer.endedAt < restoredAt);
    const slow = whileOpen.filter((answer) => answer.ms >= FAST_MS);
    console.info(
      `ES ${mode} → first degraded answer: ${firstDegradedMs.toFixed(0)} ms; while open: ${whileOpen.length} searches, ` +
        `p50 ${percentile(whileOpen, 50).toFixed(0)} ms, p90 ${percentile(whileOpen, 90).toFixed(0)} ms, ` +
        `${slow.length} at or over ${FAST_MS} ms (slowest ${Math.max(0, ...whileOpen.map((a) => a.ms)).toFixed(0)} ms); ` +
        `restored → not degraded: ${healedMs.toFixed(0)} ms`,
    );
    expect(firstDegradedMs).toBeLessThan(FIRST_DEGRADED_WITHIN_MS);
    expect(whileOpen.length).toBeGreaterThan(20);
    expect(whileOpen.every((answer) => answer.degraded === true)).toBe(true);
    expect(percentile(whileOpen, 90)).toBeLessThan(FAST_MS);
    expect(Math.max(...whileOpen.map((a) => a.ms))).toBeLessThan(FIRST_DEGRADED_WITHIN_MS);
    // One probe at a time, a second apart and then two: a few at most in these seconds.
    expect(slow.length).toBeLessThanOrEqual(3);
    // Every answer, degraded or not, is a 200 that finds the track first.
    expect(answers.filter((answer) => answer.status !== 200 || answer.ids[0] !== LANTERNS.id)).toEqual([]);
    expect(readyStatuses.length).toBeGreaterThan(10);
    expect(readyStatuses).toEqual(Array(readyStatuses.length).fill(200));
  });
});
