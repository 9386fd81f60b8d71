import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import { lookupLockKey, TrackResolver } from '../../src/catalog/track-resolver.js';
import { ConfigError, NotFoundError, UnavailableError } from '../../src/errors.js';
import type { LockManager } from '../../src/locks/lock-manager.js';
import { openSqliteLockConnection, SqliteLockManager } from '../../src/locks/sqlite-lock-manager.js';
import type { TrackMetadataProvider } from '../../src/metadata/track-metadata-provider.js';
import type { TrackMetadata } from '../../src/model.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';

const KNOWN: TrackMetadata = { id: '4uLU6hMCjMI75M1A2tKUQC', title: 'Never Gonna Give You Up', artists: ['Rick Astley'], album: 'Whenever You Need Somebody', durationMs: 213_573 };
const UNKNOWN = '0000000000000000000000';

/**
 * A stand-in for Spotify (our own port, not a database): counts its calls, and answers each
 * only when the test releases it, so that calls can be made to overlap.
 */
class CountingProvider implements TrackMetadataProvider {
  readonly name = 'counting';
  readonly calls: string[] = [];
  readonly signals: AbortSignal[] = [];
  failWith: Error | undefined;
  #release: (() => void) | undefined;
  #held: Promise<void> | undefined;

  hold(): void {
    this.#held = new Promise((resolve) => (this.#release = resolve));
  }

  release(): void {
    this.#release?.();
    this.#held = undefined;
  }

  async getTrack(id: string, signal?: AbortSignal): Promise<TrackMetadata | null> {
    this.calls.push(id);
    if (signal) this.signals.push(signal);
    const held = this.#held;
    if (held) {
      await new Promise<void>((resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        void held.then(resolve);
      });
    }
    if (this.failWith) throw this.failWith;
    return id === KNOWN.id ? KNOWN : null;
  }
}

describe('TrackResolver', () => {
  let temp: TempSqlite;
  let catalog: SqliteTrackCatalog;
  let provider: CountingProvider;
  let clock: number;
  const resolver = (settings: { notFoundTtlMs?: number; notFoundCacheSize?: number } = {}) =>
    new TrackResolver({ catalog, provider, settings, now: () => clock });

  beforeEach(() => {
    temp = openTempSqlite();
    catalog = new SqliteTrackCatalog(temp.db);
    provider = new CountingProvider();
    clock = Date.now();
  });

  afterEach(async () => {
    provider.release();
    await temp.close();
  });

  it('tells only the resolve that asked the provider: not those that joined its look-up, nor a later catalog hit', async () => {
    const subject = resolver();
    const asked: number[] = [];
    const observer = (index: number) => ({ onLookUp: () => asked.push(index) });
    provider.hold();
    const resolves = [0, 1, 2].map((index) => subject.resolve(KNOWN.id, undefined, observer(index)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    provider.release();
    expect((await Promise.all(resolves)).map((track) => track.id)).toEqual([KNOWN.id, KNOWN.id, KNOWN.id]);
    await subject.resolve(KNOWN.id, undefined, observer(3));
    expect(provider.calls).toEqual([KNOWN.id]);
    expect(asked).toEqual([0]);
  });

  it('asks the provider once for a new track, then answers from the catalog', async () => {
    const tracks = resolver();
    expect(await tracks.resolve(KNOWN.id)).toMatchObject({ ...KNOWN, version: 1 });
    expect(await tracks.resolve(KNOWN.id)).toMatchObject(KNOWN);
    expect(provider.calls).toEqual([KNOWN.id]);
    // Its outbox row was written with it, so search will have it.
    expect(temp.db.prepare('SELECT track_id, version FROM search_outbox').all()).toEqual([{ track_id: KNOWN.id, version: 1 }]);
  });

  it('remembers a track the provider does not know, for a while', async () => {
    const tracks = resolver({ notFoundTtlMs: 60_000 });
    for (let i = 0; i < 5; i++) await expect(tracks.resolve(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
    expect(provider.calls).toEqual([UNKNOWN]);
    clock += 59_999;
    await expect(tracks.resolve(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
    expect(provider.calls).toHaveLength(1);
    clock += 1;
    await expect(tracks.resolve(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
    expect(provider.calls).toEqual([UNKNOWN, UNKNOWN]);
  });

  it('remembers ten minutes by default, and a bounded number of ids', async () => {
    const tracks = resolver({ notFoundCacheSize: 2 });
    const ids = ['0000000000000000000001', '0000000000000000000002', '0000000000000000000003'];
    for (const id of ids) await expect(tracks.resolve(id)).rejects.toBeInstanceOf(NotFoundError);
    clock += 9 * 60_000;
    // The first was forgotten to make room; the other two are still known to be unknown.
    for (const id of ids.slice().reverse()) await expect(tracks.resolve(id)).rejects.toBeInstanceOf(NotFoundError);
    expect(provider.calls).toEqual([...ids, ids[0]]);
    clock += 60_000;
    await expect(tracks.resolve(ids[2]!)).rejects.toBeInstanceOf(NotFoundError);
    expect(provider.calls).toHaveLength(5);
  });

  it('does not remember a failure of the provider', async () => {
    const tracks = resolver();
    provider.failWith = new UnavailableError('Spotify is down');
    await expect(tracks.resolve(UNKNOWN)).rejects.toBeInstanceOf(UnavailableError);
    provider.failWith = undefined;
    await expect(tracks.resolve(UNKNOWN)).rejects.toBeInstanceOf(NotFoundError);
    expect(provider.calls).toEqual([UNKNOWN, UNKNOWN]);
  });

  it('shares one provider call among concurrent resolves of one id', async () => {
    const tracks = resolver();
    provider.hold();
    const found = Array.from({ length: 10 }, () => tracks.resolve(KNOWN.id));
    const missing = Array.from({ length: 10 }, () => tracks.resolve(UNKNOWN));
    await new Promise((resolve) => setTimeout(resolve, 20));
    provider.release();
    for (const track of await Promise.all(found)) expect(track).toMatchObject({ ...KNOWN, version: 1 });
    for (const outcome of await Promise.allSettled(missing)) expect(outcome).toMatchObject({ status: 'rejected', reason: expect.any(NotFoundError) });
    expect(provider.calls.sort()).toEqual([UNKNOWN, KNOWN.id].sort());
    expect(temp.db.prepare('SELECT count(*) FROM tracks').pluck().get()).toBe(1);
  });

  it('lets one caller give up without cutting the look-up short for the others', async () => {
    const tracks = resolver();
    provider.hold();
    const impatient = new AbortController();
    const gaveUp = tracks.resolve(KNOWN.id, impatient.signal);
    const patient = tracks.resolve(KNOWN.id, new AbortController().signal);
    await new Promise((resolve) => setTimeout(resolve, 10));
    impatient.abort(new Error('client went away'));
    await expect(gaveUp).rejects.toThrow('client went away');
    expect(provider.signals[0]?.aborted).toBe(false);
    provider.release();
    expect(await patient).toMatchObject(KNOWN);
    expect(provider.calls).toHaveLength(1);
  });

  it('aborts the look-up once every caller has given up, and a later resolve starts afresh', async () => {
    const tracks = resolver();
    provider.hold();
    const callers = [new AbortController(), new AbortController()];
    const waits = callers.map((caller) => tracks.resolve(KNOWN.id, caller.signal));
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (const caller of callers) caller.abort(new Error('gone'));
    for (const outcome of await Promise.allSettled(waits)) expect(outcome.status).toBe('rejected');
    expect(provider.signals[0]?.aborted).toBe(true);
    provider.release();
    expect(await tracks.resolve(KNOWN.id)).toMatchObject(KNOWN);
    expect(provider.calls).toHaveLength(2);
  });

  it('shares one provider call between two instances on one data dir, through their shared locks', async () => {
    // Two instances: each its own connections, catalog, locks and resolver, as two processes would have.
    const lockConnections = [openSqliteLockConnection(temp.path), openSqliteLockConnection(temp.path)];
    try {
      const [a, b] = lockConnections.map(
        (locks) => new TrackResolver({ catalog: new SqliteTrackCatalog(temp.connect()), provider, locks: new SqliteLockManager(locks) }),
      );
      provider.hold();
      const first = Array.from({ length: 5 }, () => a!.resolve(KNOWN.id));
      const second = Array.from({ length: 5 }, () => b!.resolve(KNOWN.id));
      // Both have missed the catalog; one holds the lock and asks, the other waits for it.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(provider.calls).toEqual([KNOWN.id]);
      provider.release();
      for (const track of await Promise.all([...first, ...second])) expect(track).toMatchObject({ ...KNOWN, version: 1 });
      expect(provider.calls).toEqual([KNOWN.id]);
      expect(temp.db.prepare('SELECT count(*) FROM tracks').pluck().get()).toBe(1);
    } finally {
      for (const db of lockConnections) db.close();
    }
  });

  it('without shared locks, two instances each ask', async () => {
    const [a, b] = [temp.connect(), temp.connect()].map((db) => new TrackResolver({ catalog: new SqliteTrackCatalog(db), provider }));
    provider.hold();
    const both = [a!.resolve(KNOWN.id), b!.resolve(KNOWN.id)];
    await new Promise((resolve) => setTimeout(resolve, 20));
    provider.release();
    await Promise.all(both);
    expect(provider.calls).toEqual([KNOWN.id, KNOWN.id]);
  });

  it('asks without the lock when the lock cannot be had, rather than failing the look-up', async () => {
    const down: LockManager = { backend: 'down', using: () => Promise.reject(new UnavailableError('lock backend down')) };
    const tracks = new TrackResolver({ catalog, provider, locks: down });
    expect(await tracks.resolve(KNOWN.id)).toMatchObject(KNOWN);
    expect(provider.calls).toEqual([KNOWN.id]);
    // A fault of the provider inside the lock is not mistaken for the lock's.
    const held: LockManager = { backend: 'held', using: (_keys, work) => work({ signal: new AbortController().signal, fencingToken: 1 }) };
    provider.failWith = new UnavailableError('Spotify is down');
    await expect(new TrackResolver({ catalog, provider, locks: held }).resolve(UNKNOWN)).rejects.toThrow('Spotify is down');
    expect(provider.calls).toEqual([KNOWN.id, UNKNOWN]);
  });

  it('refuses settings that are not whole numbers', () => {
    expect(() => resolver({ notFoundTtlMs: -1 })).toThrow(ConfigError);
    expect(() => resolver({ notFoundCacheSize: 1.5 })).toThrow(ConfigError);
  });
});

describe('look-up lock keys', () => {
  it('fall on at most 1024 stripes however many ids are asked, so the fencing rows they leave stay bounded', () => {
    const ids = Array.from({ length: 20_000 }, (_, index) => `${index}`.padStart(22, 'A'));
    const keys = new Set(ids.map(lookupLockKey));
    expect(keys.size).toBeLessThanOrEqual(1024);
    expect(keys.size).toBeGreaterThan(1000);
    expect(lookupLockKey(ids[7]!)).toBe(lookupLockKey(ids[7]!));
  });
});
