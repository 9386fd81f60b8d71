import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorPaths, expectProblem } from './support/http-expectations.js';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * `POST /admin/reconcile?dryRun=true` is the only thing between an admin and a real,
 * destructive pass. A misspelt flag must be refused, never read as "no dry run".
 */

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer({ MIXTAPE_ORPHAN_GRACE_MS: '0', MIXTAPE_WORKERS: '0' });
  const admin = await signUp(server);
  await server.mixtape.backends.users.grantRole(admin.id, 'admin');
  token = admin.accessToken;
});

afterAll(async () => {
  await server?.stop();
});

/** A stored file no row points to, a day old: what a real pass removes. */
function plantOrphan(): string {
  const bytes = randomBytes(64);
  const key = createHash('sha256').update(bytes).digest('hex');
  const dir = join(server.dataDir, 'audio', 'blobs', key.slice(0, 2), key.slice(2, 4));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, key);
  writeFileSync(path, bytes);
  const old = new Date(Date.now() - 24 * 3600_000);
  utimesSync(path, old, old);
  return path;
}

const reconcile = (query: string, options: { body?: unknown; headers?: Record<string, string> } = {}) =>
  call(`${server.api}/admin/reconcile${query}`, { method: 'POST', token, ...options });

describe('POST /admin/reconcile', () => {
  it('?dryRun=true reports the orphan and leaves it alone', async () => {
    const orphan = plantOrphan();
    const answer = await reconcile('?dryRun=true');
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body.dryRun).toBe(true);
    expect(answer.body.found.orphanFiles).toBeGreaterThanOrEqual(1);
    expect(answer.body.repaired.orphanFiles).toBe(0);
    expect(existsSync(orphan)).toBe(true);
  });

  it('refuses a misspelt or unknown query parameter, naming it, and changes nothing', async () => {
    const orphan = plantOrphan();
    for (const [query, name] of [
      ['?dryrun=true', 'dryrun'],
      ['?dry_run=true', 'dry_run'],
      ['?dryRun[]=true', 'dryRun[]'],
      ['?dryRun=true&force=1', 'force'],
    ] as const) {
      const refused = await reconcile(query);
      const problem = expectProblem(refused, 400, 'validation');
      expect(errorPaths(problem), query).toEqual([name]);
    }
    expect(existsSync(orphan)).toBe(true);
  });

  it('refuses a dryRun that is not one boolean, and changes nothing', async () => {
    const orphan = plantOrphan();
    for (const query of ['?dryRun=yes', '?dryRun=', '?dryRun=1x', '?dryRun=true&dryRun=false']) {
      const refused = await reconcile(query);
      expect(errorPaths(expectProblem(refused, 400, 'validation')), query).toEqual(['dryRun']);
    }
    expect(existsSync(orphan)).toBe(true);
  });

  it('refuses a body with any field, as every unknown JSON field is, and changes nothing', async () => {
    const orphan = plantOrphan();
    const json = await reconcile('', { body: { dryRun: true } });
    expect(errorPaths(expectProblem(json, 400, 'validation'))).toEqual(['dryRun']);
    // Under ?dryRun=true too: the body is wrong wherever the flag is.
    expectProblem(await reconcile('?dryRun=true', { body: { dryRun: true } }), 400, 'validation');
    expectProblem(await reconcile('', { body: [] }), 400, 'validation');
    // A form body (curl -d dryRun=true) is no more a dry run than a JSON one.
    const form = await reconcile('', { body: 'dryRun=true', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expectProblem(form, 400, 'validation');
    const text = await reconcile('', { body: 'dryRun', headers: { 'content-type': 'text/plain' } });
    expectProblem(text, 400, 'validation');
    expect(existsSync(orphan)).toBe(true);
  });

  it('takes an empty body or {} alike, and without dryRun runs a real pass', async () => {
    for (const options of [{ body: {} }, { body: '', headers: { 'content-type': 'application/json' } }]) {
      const answer = await reconcile('?dryRun=true', options);
      expect(answer.status, answer.text).toBe(200);
      expect(answer.body.dryRun).toBe(true);
    }
    const orphan = plantOrphan();
    const real = await reconcile('?dryRun=false', { body: {} });
    expect(real.status, real.text).toBe(200);
    expect(real.body).toMatchObject({ dryRun: false });
    expect(real.body.repaired.orphanFiles).toBeGreaterThanOrEqual(1);
    expect(existsSync(orphan)).toBe(false);
    const bare = await reconcile('');
    expect(bare.status, bare.text).toBe(200);
    expect(bare.body.dryRun).toBe(false);
  });
});
