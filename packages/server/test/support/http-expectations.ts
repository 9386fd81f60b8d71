import { expect } from 'vitest';
import type { call } from './test-server.js';

export type CallResult = Awaited<ReturnType<typeof call>>;

/** What leaks when an error escapes unmapped: stack frames, source positions, install paths. */
const LEAKS = [/\n\s*at /, /\bat [\w$.<>]+ \(/, /\bat (file:)?\//, /\.ts:\d/, /\.[cm]?js:\d/, /node_modules/, /\/work\//];

/**
 * Asserts an RFC 9457 problem of the given status and kind, as API.md promises it: the media
 * type, all four members, an `X-Request-Id`, and nothing of the server's insides.
 */
export function expectProblem(response: CallResult, status: number, kind: string): any {
  expect(response.status, response.text).toBe(status);
  expect(response.headers.get('content-type') ?? '').toMatch(/^application\/problem\+json\b/);
  expect(response.headers.get('x-request-id') ?? '').not.toBe('');
  const body = response.body;
  expect(body, response.text).toBeTypeOf('object');
  expect(String(body.type)).toMatch(new RegExp(`/${kind}$`));
  expect(body.title).toBeTypeOf('string');
  expect(body.title.length).toBeGreaterThan(0);
  expect(body.status).toBe(status);
  expect(body.detail).toBeTypeOf('string');
  expect(body.detail.length).toBeGreaterThan(0);
  for (const leak of LEAKS) expect(response.text).not.toMatch(leak);
  expect(response.text).not.toContain('stack');
  return body;
}

/** The paths named in a validation problem's `errors`. */
export function errorPaths(body: { errors?: Array<{ path: string; message: string }> }): string[] {
  expect(Array.isArray(body.errors), JSON.stringify(body)).toBe(true);
  for (const error of body.errors ?? []) {
    expect(error.path).toBeTypeOf('string');
    expect(error.message).toBeTypeOf('string');
    expect(error.message.length).toBeGreaterThan(0);
  }
  return (body.errors ?? []).map((e) => e.path);
}

/** The value of one Prometheus series (exact name and label set as exposed), 0 when absent. */
export function metricValue(exposition: string, series: string): number {
  const line = exposition.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
