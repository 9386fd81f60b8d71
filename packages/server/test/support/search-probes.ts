import { expect } from 'vitest';
import { metricValue } from './http-expectations.js';
import { call, waitForJob, type TestServer } from './test-server.js';

/**
 * What the Elasticsearch outage tests watch from outside, as a user or an operator would:
 * searches (answered, degraded or not, and how fast), readiness, health, metrics, and the
 * index itself, asked directly. The readiness probe serves the Redis outage test too.
 */

/** Every limit out of reach, search included: a steady load is never refused with 429. */
export const UNLIMITED_SEARCH = 'global=10000000/1m,search=10000000/1m,download=1000/1m,register=1000/1h';

export interface SearchAnswer {
  status: number;
  degraded: boolean | undefined;
  ids: string[];
  /** `performance.now()` when the request was sent and when its answer had been read. */
  startedAt: number;
  endedAt: number;
  ms: number;
}

/** One search; a connection that fails is status 0. */
export async function search(server: TestServer, token: string, q: string): Promise<SearchAnswer> {
  const startedAt = performance.now();
  const response = await call(`${server.api}/tracks/search?q=${encodeURIComponent(q)}`, { token }).catch(() => null);
  const endedAt = performance.now();
  const body = response?.body as { items?: Array<{ id: string }>; degraded?: boolean } | undefined;
  return {
    status: response?.status ?? 0,
    degraded: body?.degraded,
    ids: (body?.items ?? []).map((item) => item.id),
    startedAt,
    endedAt,
    ms: endedAt - startedAt,
  };
}

/** Searches every 100 ms until an answer satisfies `until`; that answer, or an error naming the last one after `timeoutMs`. */
export async function searchUntil(server: TestServer, token: string, q: string, until: (answer: SearchAnswer) => boolean, timeoutMs: number): Promise<SearchAnswer> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const answer = await search(server, token, q);
    if (until(answer)) return answer;
    if (performance.now() > deadline) throw new Error(`search "${q}" never came as expected in ${timeoutMs} ms; last: ${JSON.stringify(answer)}`);
    await sleep(100);
  }
}

/** Loads and probes still running, so that a test failing half-way stops them before its server. */
const running: Array<() => Promise<unknown>> = [];

/** Stops every load and probe still running (in `afterEach`). */
export async function stopProbes(): Promise<void> {
  await Promise.all(running.splice(0).map((stop) => stop()));
}

/** `loops` searches at a time, each loop one after another with `gapMs` between, until stopped: every answer. */
export function searchLoad(server: TestServer, token: string, q: string, { loops = 2, gapMs = 25 } = {}) {
  const answers: SearchAnswer[] = [];
  let on = true;
  const work = Array.from({ length: loops }, async () => {
    while (on) {
      answers.push(await search(server, token, q));
      await sleep(gapMs);
    }
  });
  const stop = async (): Promise<SearchAnswer[]> => {
    on = false;
    await Promise.all(work);
    return answers;
  };
  running.push(stop);
  return { answers, stop };
}

/**
 * Waits until a load has an answer satisfying `until`, and returns the earliest such answer
 * by the time it arrived; fails after `timeoutMs`.
 */
export async function firstAnswer(answers: SearchAnswer[], until: (answer: SearchAnswer) => boolean, timeoutMs: number): Promise<SearchAnswer> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const matching = answers.filter(until).sort((a, b) => a.endedAt - b.endedAt);
    if (matching[0]) return matching[0];
    if (performance.now() > deadline) throw new Error(`no answer as expected in ${timeoutMs} ms among ${answers.length}; last: ${JSON.stringify(answers.at(-1))}`);
    await sleep(10);
  }
}

/** `/readyz` every 50 ms until stopped: its statuses (0 for a failed connection). */
export function readinessProbe(server: TestServer) {
  const statuses: number[] = [];
  let on = true;
  const probing = (async () => {
    while (on) {
      statuses.push(await call(`${server.url}/readyz`).then((response) => response.status, () => 0));
      await sleep(50);
    }
  })();
  const stop = async (): Promise<number[]> => {
    on = false;
    await probing;
    return statuses;
  };
  running.push(stop);
  return { stop };
}

export interface HealthSeen {
  httpStatus: number;
  status: string | undefined;
  /** The status of the non-critical `elasticsearch:responseTime` check. */
  elasticsearch: string | undefined;
}

export async function health(server: TestServer): Promise<HealthSeen> {
  const response = await call(`${server.url}/health`);
  return { httpStatus: response.status, status: response.body?.status, elasticsearch: response.body?.checks?.['elasticsearch:responseTime']?.[0]?.status };
}

/** One series of the server's metrics (loopback scrapes need no token); 0 when absent. */
export async function metric(server: TestServer, series: string): Promise<number> {
  const response = await call(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  return metricValue(response.text, series);
}

/** Polls `read` every 200 ms until `until` holds of its value, or fails naming the last value after `timeoutMs`. */
export async function eventually<T>(what: string, read: () => Promise<T>, until: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (until(value)) return value;
    if (performance.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Asks for a download and waits until it is final; the final job. */
export async function download(server: TestServer, token: string, track: string, timeoutMs = 20_000): Promise<{ id: string; status: string }> {
  const asked = await call(`${server.api}/downloads`, { token, body: { track } });
  expect(asked.status, asked.text).toBe(202);
  return waitForJob(server, token, asked.body.id, timeoutMs);
}

/** The document of `id` as the index holds it now (a realtime get, through the alias), or null. */
export async function indexedDocument(elasticsearchUrl: string, index: string, id: string): Promise<{ version: number; source: Record<string, unknown> } | null> {
  const response = await fetch(`${elasticsearchUrl}/${index}/_doc/${encodeURIComponent(id)}`, { signal: AbortSignal.timeout(10_000) });
  if (response.status === 404) return null;
  expect(response.status).toBe(200);
  const body = (await response.json()) as { found: boolean; _version: number; _source: Record<string, unknown> };
  return body.found ? { version: body._version, source: body._source } : null;
}

/** How many documents the index holds, every write so far made visible first. */
export async function indexedCount(elasticsearchUrl: string, index: string): Promise<number> {
  const refreshed = await fetch(`${elasticsearchUrl}/${index}/_refresh`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  expect(refreshed.status).toBe(200);
  const response = await fetch(`${elasticsearchUrl}/${index}/_count`, { signal: AbortSignal.timeout(10_000) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { count: number }).count;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
