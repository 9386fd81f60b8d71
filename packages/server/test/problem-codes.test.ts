import { describe, expect, it } from 'vitest';
import { MIXTAPE_ERROR_CODES, MixtapeError, ShuttingDownError } from '@mixtape/core';
import { fromSqliteError } from '@mixtape/core/sqlite';
import { createLogger, PROBLEM_KINDS } from '@mixtape/server';
import { DrainableServer } from '../src/graceful-shutdown.js';
import { problemFor } from '../src/http/problem.js';

/** Only our own faults are 500s: whatever else a code means, a client can act on it. */
const OUR_FAULTS = new Set(['ERR_INTERNAL', 'ERR_CONFIG']);
const SECRET = 'read /srv/mixtape/data/mixtape.db at 10.0.0.7';

describe('the problem for each error code', () => {
  it.each(MIXTAPE_ERROR_CODES)('%s has its own mapping', (code) => {
    const problem = problemFor(new MixtapeError(code, SECRET));
    expect(PROBLEM_KINDS).toContain(problem.kind);
    if (OUR_FAULTS.has(code)) {
      expect(problem).toMatchObject({ kind: 'internal', status: 500 });
      expect(problem.detail).not.toContain(SECRET);
    } else {
      expect(problem.kind).not.toBe('internal');
      if (problem.kind === 'unavailable') expect(problem.status).toBe(503);
      else expect(problem.status).toBeLessThan(500);
    }
    // A client told to come back is told when.
    if (problem.status === 503 || problem.status === 429) expect(problem.retryAfterMs).toBeGreaterThan(0);
  });

  it('a shutdown under a request is a 503 to ask another instance, not a 500: the signal the app is given says so', async () => {
    let shutdown: AbortSignal | undefined;
    const drainable = new DrainableServer((signal) => {
      shutdown = signal;
      return (_req, res) => res.end();
    }, createLogger({ level: 'silent' }));
    await drainable.shutDown(0);
    expect(shutdown?.reason).toBeInstanceOf(ShuttingDownError);
    expect(problemFor(shutdown?.reason)).toMatchObject({ kind: 'unavailable', status: 503 });
  });

  it('knows no driver: a database fault is a 503 as its adapter translated it, and a raw one is ours', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    expect(problemFor(fromSqliteError(busy))).toMatchObject({ kind: 'unavailable', status: 503, retryAfterMs: expect.any(Number) });
    expect(problemFor(busy)).toMatchObject({ kind: 'internal', status: 500 });
  });
});
