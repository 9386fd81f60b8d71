import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { holdWriteLock } from '../../core/test/sqlite/write-lock-holder.js';
import { ensureBuilt, killAll, printedUrl, startCli, type CliProcess } from './support/cli-process.js';
import { call } from './support/test-server.js';

/**
 * The reviewer's reproduction: a second process holds SQLite's write lock (BEGIN IMMEDIATE) for
 * seconds. `mixtape serve` must go on answering meanwhile (API.md: /livez answers while the
 * process can serve; a dependency that cannot answer is a fast 503 with Retry-After). It froze:
 * a write waited out the 5 s busy timeout on the event loop, and /livez, sent 200 ms later,
 * took 2.9 s.
 */

const [first, second] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[0], (typeof DEMO_TRACKS)[0]];
/** How long the other process holds the lock: longer than a write's 5 s deadline. */
const HOLD_MS = 6000;

describe('mixtape serve while another process holds the database write lock', () => {
  let dataDir: string;
  const processes: CliProcess[] = [];

  beforeAll(() => {
    ensureBuilt();
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-busy-serve-'));
  }, 180_000);

  afterAll(() => {
    killAll(processes);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers /livez at once, refuses a write past its deadline with 503 and Retry-After, completes one that outlasts the lock, and loses nothing', async () => {
    const serve = startCli(['serve'], {
      MIXTAPE_PORT: '0',
      MIXTAPE_DATA_DIR: dataDir,
      MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
    });
    processes.push(serve);
    const url = await printedUrl(serve, 'Mixtape is listening on');
    const api = `${url}/api/v1`;
    const credentials = { username: 'dana', password: 'a long enough password' };
    expect((await call(`${api}/auth/register`, { body: credentials })).status).toBe(201);
    const token = (await call(`${api}/auth/login`, { body: credentials })).body.accessToken as string;
    const download = (track: string) => call(`${api}/downloads`, { token, body: { track } });

    const holder = await holdWriteLock(join(dataDir, 'mixtape.db'), HOLD_MS);
    let held = true;
    void holder.released.then(() => (held = false));
    const livez: number[] = [];
    const probing = (async () => {
      while (held) {
        const sent = performance.now();
        const answer = await call(`${url}/livez`);
        expect(answer.status).toBe(200);
        livez.push(performance.now() - sent);
        await sleep(100);
      }
    })();

    const refused = download(first.id).then((answer) => ({ answer, at: performance.now() - holder.lockedAt }));
    await sleep(3000);
    const completed = download(second.id).then((answer) => ({ answer, at: performance.now() - holder.lockedAt }));

    // The first waited out its deadline (5 s) off the event loop, then was refused.
    const { answer: no, at: refusedAt } = await refused;
    expect(no.status, no.text).toBe(503);
    expect(no.body).toMatchObject({ type: expect.stringMatching(/unavailable$/), status: 503 });
    expect(Number(no.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refusedAt).toBeGreaterThan(4500);
    expect(refusedAt).toBeLessThan(HOLD_MS);
    // The second was still within its deadline when the lock was let go: it went through.
    const { answer: yes, at: acceptedAt } = await completed;
    expect(yes.status, yes.text).toBe(202);
    expect(acceptedAt).toBeGreaterThanOrEqual(HOLD_MS - 100);
    await holder.released;
    await probing;

    // /livez answered throughout, each time within tens of milliseconds (it took seconds).
    expect(livez.length).toBeGreaterThan(HOLD_MS / 200);
    expect(Math.max(...livez)).toBeLessThan(100);

    // Nothing lost: the accepted job is there, the refused one left nothing, and asking again works.
    const jobs = await call(`${api}/downloads`, { token });
    expect(jobs.body.items.map((job: { trackId: string }) => job.trackId)).toEqual([second.id]);
    expect((await download(first.id)).status).toBe(202);
    expect((await call(`${url}/readyz`)).status).toBe(200);

    serve.child.kill('SIGTERM');
    expect((await serve.exited)[0]).toBe(0);
  }, 60_000);
});
