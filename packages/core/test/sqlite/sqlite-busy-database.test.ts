import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '../../src/demo/demo-catalog.js';
import { openSqliteBackends, type SqliteBackends } from '../../src/embedded/sqlite-backends.js';
import { classifyFailure } from '../../src/downloads/failure-policy.js';
import { UnavailableError } from '../../src/errors.js';
import { holdWriteLock } from './write-lock-holder.js';

/**
 * Another process holding the write lock (an operator's sqlite3 shell, a stalled process) must
 * not freeze this one: better-sqlite3 is synchronous, so a wait inside SQLite is a wait of the
 * whole event loop. Each unit of work waits asynchronously instead, up to a deadline.
 */

const [first, second] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[0], (typeof DEMO_TRACKS)[0]];
/** The longest the event loop may stall while the lock is held: a few busy timeouts, not the hold. */
const STALL_MS = 100;

describe('SQLite adapters while another process holds the write lock', () => {
  let dataDir: string;
  let backends: SqliteBackends;
  let delay: IntervalHistogram;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-busy-'));
    delay = monitorEventLoopDelay({ resolution: 5 });
  });

  afterEach(async () => {
    delay.disable();
    await backends?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The longest the event loop stalled while `run` ran, in ms. */
  async function stallDuring<T>(run: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
    delay.reset();
    delay.enable();
    // The histogram counts from its first sample on, and a stall shows at the sample after it.
    await sleep(25);
    const result = await run();
    await sleep(25);
    delay.disable();
    return { result, stallMs: delay.max / 1e6 };
  }

  it('every adapter waits off the event loop, and its write lands once the lock is free', async () => {
    backends = await openSqliteBackends({ dataDir });
    const alice = await backends.users.create({ username: 'alice', passwordHash: 'x' });
    await backends.catalog.upsert([second]);
    const holder = await holdWriteLock(backends.db.name, 800);
    const inAnHour = new Date(Date.now() + 3_600_000);

    const { result, stallMs } = await stallDuring(() =>
      Promise.all([
        backends.users.create({ username: 'bob', passwordHash: 'y' }),
        backends.users.grantRole(alice.id, 'admin'),
        backends.tokens.createFamily({ id: 'family-1', userId: alice.id, expiresAt: inAnHour }, 'token-1'),
        backends.revocations.revokeSession('session-1', inAnHour),
        backends.catalog.upsert([first]),
        backends.catalog.rememberSize(second.id, 1234),
        backends.queue.enqueue({ userId: alice.id, trackId: second.id, maxAttempts: 3, maxActive: 5 }),
        backends.library.add({ userId: alice.id, trackId: first.id, sizeBytes: 10 }, 1_000_000),
        backends.index.upsert([{ ...first, available: false, version: 1 }]),
        backends.searchOutbox.enqueue([second.id]),
        backends.blobLedger.record({ key: 'a'.repeat(64), sizeBytes: 10 }, []),
        backends.taskLeases.tryAcquire('chore', 'me', 60_000),
        backends.locks.using(['track:x'], async ({ fencingToken }) => fencingToken),
      ]).then((outcomes) => ({ outcomes, doneAt: performance.now() })),
    );
    await holder.released;

    // They waited for the lock, all of them got through, and the process never stopped serving.
    expect(result.doneAt - holder.lockedAt).toBeGreaterThanOrEqual(700);
    expect(stallMs).toBeLessThan(STALL_MS);
    expect(result.outcomes[6]).toMatchObject({ kind: 'enqueued' });
    expect(result.outcomes[7]).toBe('added');
    expect(result.outcomes[11]).toEqual({ acquired: true });
    expect(await backends.users.findByUsername('bob')).not.toBeNull();
    expect(await backends.users.rolesOf(alice.id)).toEqual(['admin']);
    expect(await backends.tokens.findFamilyByToken('token-1')).toMatchObject({ id: 'family-1' });
    expect((await backends.catalog.get(first.id))?.title).toBe(first.title);
    expect(await backends.catalog.knownSize(second.id)).toBe(1234);
    expect(await backends.library.usage(alice.id)).toEqual({ committedBytes: 10, reservedBytes: 0 });
    expect((await backends.index.search(first.title, { limit: 5, offset: 0 })).items).toContain(first.id);
  });

  it('a burst of writes waiting together does not add up to a stall', async () => {
    backends = await openSqliteBackends({ dataDir });
    const holder = await holdWriteLock(backends.db.name, 600);
    const { stallMs } = await stallDuring(() =>
      Promise.all(Array.from({ length: 300 }, (_, n) => backends.users.create({ username: `user${n}`, passwordHash: 'x' }))),
    );
    await holder.released;
    expect(stallMs).toBeLessThan(STALL_MS);
    expect(backends.db.prepare('SELECT count(*) FROM users').pluck().get()).toBe(300);
  });

  it('reads go on while the lock is held', async () => {
    backends = await openSqliteBackends({ dataDir });
    await backends.catalog.upsert([first]);
    const holder = await holdWriteLock(backends.db.name, 2000);
    const started = performance.now();
    const write = backends.catalog.rememberSize(first.id, 99);
    expect((await backends.catalog.get(first.id))?.title).toBe(first.title);
    expect(performance.now() - started).toBeLessThan(STALL_MS);
    await holder.release();
    await write;
    expect(await backends.catalog.knownSize(first.id)).toBe(99);
  });

  it('past its deadline, a unit of work is refused as unavailable, with a retry hint, and has written nothing', async () => {
    backends = await openSqliteBackends({ dataDir, busy: { deadlineMs: 300 } });
    const holder = await holdWriteLock(backends.db.name, 3000);
    const started = performance.now();
    const refused = await backends.users.create({ username: 'carol', passwordHash: 'x' }).catch((error: unknown) => error);
    const waitedMs = performance.now() - started;

    expect(refused).toBeInstanceOf(UnavailableError);
    expect(refused).toMatchObject({ code: 'ERR_UNAVAILABLE', retryAfterMs: expect.any(Number), cause: { code: 'SQLITE_BUSY' } });
    expect(waitedMs).toBeGreaterThanOrEqual(250);
    expect(waitedMs).toBeLessThan(1500);
    // Met by a download, it is the database being unavailable, retried: not an internal fault.
    expect(classifyFailure(refused)).toMatchObject({ code: 'unavailable', retryable: true });
    await holder.release();
    expect(await backends.users.findByUsername('carol')).toBeNull();
    // The connection is itself again: the next write waits inside SQLite only its few ms, and lands.
    await backends.users.create({ username: 'carol', passwordHash: 'x' });
    expect(backends.db.pragma('busy_timeout', { simple: true })).toBe(5);
  });

  it('a closed connection is unavailable, not a TypeError that would be a 500', async () => {
    backends = await openSqliteBackends({ dataDir });
    backends.db.close();
    await expect(backends.catalog.get(first.id)).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE', retryAfterMs: expect.any(Number) });
    await expect(backends.queue.countByStatus()).rejects.toBeInstanceOf(UnavailableError);
  });
});
