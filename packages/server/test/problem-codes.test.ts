import { describe, expect, it } from 'vitest';
import { MIXTAPE_ERROR_CODES, MixtapeError } from '@mixtape/core';
import { fromSqliteError } from '@mixtape/core/sqlite';
import { PROBLEM_KINDS } from '@mixtape/server';
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

  it('a shutdown under a request is a 503 to ask another instance, not a 500', () => {
    expect(problemFor(new MixtapeError('ERR_SHUTTING_DOWN', 'The process is shutting down'))).toMatchObject({ kind: 'unavailable', status: 503 });
  });

  it('knows no driver: a database fault is a 503 as its adapter translated it, and a raw one is ours', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    expect(problemFor(fromSqliteError(busy))).toMatchObject({ kind: 'unavailable', status: 503, retryAfterMs: expect.any(Number) });
    expect(problemFor(busy)).toMatchObject({ kind: 'internal', status: 500 });
  });
});
