import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TrackMetadata } from '../../src/model.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { MysqlFencingTokens } from '../../src/mysql/mysql-fencing-tokens.js';
import { MysqlLibraryStore } from '../../src/mysql/mysql-library-store.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { MysqlTrackCatalog } from '../../src/mysql/mysql-track-catalog.js';
import catalogSql from '../../src/mysql/mysql-track-catalog.sql';
import { describeFencedWrites } from '../contracts/fenced-writes.contract.js';
import { describeTrackCatalog } from '../contracts/track-catalog.contract.js';
import { explain } from './explain.js';
import { waitingForALock } from './lock-waits.js';
import type { FreshMysqlDatabase } from './mysql-test-server.js';
import { perFileDatabase } from './per-file-database.js';

const TABLES = ['tracks', 'search_outbox', 'fencing_tokens', 'library_items', 'user_usage'];
const files = perFileDatabase();
const nothing = async () => undefined;

describeTrackCatalog('mysql', async () => {
  const { db } = await files.emptied(TABLES);
  return { catalog: new MysqlTrackCatalog(db), close: nothing };
});

describeFencedWrites('mysql', async () => {
  const { db } = await files.emptied(TABLES);
  return { catalog: new MysqlTrackCatalog(db), library: new MysqlLibraryStore(db), fencing: new MysqlFencingTokens(db), close: nothing };
});

const track = (id: string, title: string, artists = ['Band']): TrackMetadata => ({ id, title, artists, album: 'Album', durationMs: 1000 });
const audio = { blobKey: 'k'.repeat(64), sizeBytes: 10, contentType: 'audio/mpeg' };

describe('MysqlTrackCatalog', () => {
  let database: FreshMysqlDatabase;
  let catalog: MysqlTrackCatalog;
  const others: MysqlDatabase[] = [];
  /** Another pool on the same database, as another process would have. */
  const connect = () => {
    const db = new MysqlDatabase(createMysqlPool(database.url, { poolSize: 4 }));
    others.push(db);
    return db;
  };
  const outbox = () => database.db.all('SELECT track_id, version FROM search_outbox ORDER BY track_id');

  beforeEach(async () => {
    database = await files.emptied(TABLES);
    catalog = new MysqlTrackCatalog(database.db);
  });

  afterEach(async () => {
    await Promise.all(others.splice(0).map((db) => db.close()));
  });

  it('keeps ids apart that differ only in case', async () => {
    await catalog.upsert([track('4uLU6hMCjMI75M1A2tKUQC', 'Lower'), track('4ULU6HMCJMI75M1A2TKUQC', 'Upper')]);
    expect((await catalog.get('4uLU6hMCjMI75M1A2tKUQC'))?.title).toBe('Lower');
    expect((await catalog.get('4ULU6HMCJMI75M1A2TKUQC'))?.title).toBe('Upper');
  });

  it('takes a change of case alone for a change, though the collation folds it', async () => {
    await catalog.upsert([track('a', 'Title')]);
    await catalog.upsert([track('a', 'TITLE')]);
    expect(await catalog.get('a')).toMatchObject({ title: 'TITLE', version: 2 });
  });

  it('applies a track given twice in one call in order, as SQLite does', async () => {
    await catalog.upsert([track('a', 'One'), track('a', 'Two'), track('a', 'Two')]);
    expect(await catalog.get('a')).toMatchObject({ title: 'Two', version: 2 });
    expect(await outbox()).toEqual([{ track_id: 'a', version: 2 }]);
  });

  it('writes a change and its outbox row in one transaction, or neither', async () => {
    await catalog.upsert([track('a', 'A'), track('b', 'B')]);
    await catalog.attachAudio('a', audio);
    expect(await outbox()).toEqual([
      { track_id: 'a', version: 2 },
      { track_id: 'b', version: 1 },
    ]);
    // A real fault on the outbox's side: its table is gone. No change may then be kept.
    await database.db.run('RENAME TABLE search_outbox TO search_outbox_away');
    try {
      await expect(catalog.upsert([track('a', 'Renamed'), track('c', 'C')])).rejects.toThrow(/search_outbox/);
      await expect(catalog.detachAudio('a')).rejects.toThrow(/search_outbox/);
      await expect(catalog.attachAudio('b', audio)).rejects.toThrow(/search_outbox/);
    } finally {
      await database.db.run('RENAME TABLE search_outbox_away TO search_outbox');
    }
    expect(await catalog.get('c')).toBeNull();
    expect(await catalog.get('a')).toMatchObject({ title: 'A', version: 2, audio: { sizeBytes: 10 } });
    expect((await catalog.get('b'))?.audio).toBeUndefined();
  });

  it('counts every change once when connections upsert the same new tracks at once', async () => {
    const pools = [database.db, connect(), connect()];
    // Each call changes every track, so each must raise every version exactly once.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        new MysqlTrackCatalog(pools[i % pools.length]!).upsert([track('x', `X ${i}`), track('y', `Y ${i}`), track('z', `Z ${i}`)]),
      ),
    );
    for (const id of ['x', 'y', 'z']) expect((await catalog.get(id))?.version).toBe(12);
    expect(await outbox()).toEqual([
      { track_id: 'x', version: 12 },
      { track_id: 'y', version: 12 },
      { track_id: 'z', version: 12 },
    ]);
  });

  it('runs an upsert again when another transaction inserted one of its new tracks first', async () => {
    await catalog.upsert([track('z-held', 'Held')]);
    const other = connect();
    await other.withConnection(async (connection) => {
      await connection.run('START TRANSACTION');
      await connection.run("SELECT id FROM tracks WHERE id = 'z-held' FOR UPDATE");
      // Reads m-new as absent, then waits for z-held.
      const upsert = catalog.upsert([track('m-new', 'Mine'), track('z-held', 'Changed')]);
      await waitingForALock(database.db);
      await connection.run(
        "INSERT INTO tracks (id, title, artists, album, duration_ms, updated_at, version) VALUES ('m-new', 'Theirs', '[\"Band\"]', 'Album', 1000, 0, 1)",
      );
      await connection.run('COMMIT');
      await upsert;
    });
    expect(await catalog.get('m-new')).toMatchObject({ title: 'Mine', version: 2 });
    expect(await catalog.get('z-held')).toMatchObject({ title: 'Changed', version: 2 });
    expect(await outbox()).toEqual([
      { track_id: 'm-new', version: 2 },
      { track_id: 'z-held', version: 2 },
    ]);
  });

  it('keeps a new token of the track from being issued while a fenced attach that checked its token is in flight', async () => {
    await catalog.upsert([track('t1', 'T')]);
    const fencing = new MysqlFencingTokens(database.db);
    const fence = { key: 'track:t1', token: await fencing.issue(['track:t1']) };
    await connect().withConnection(async (connection) => {
      // The attach checks its fence, then waits for the track's row.
      await connection.run('START TRANSACTION');
      await connection.run("SELECT id FROM tracks WHERE id = 't1' FOR UPDATE");
      const attach = catalog.attachAudio('t1', audio, fence);
      await waitingForALock(database.db);
      let issued = false;
      const issue = new MysqlFencingTokens(connect()).issue(['track:t1']).finally(() => (issued = true));
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(issued).toBe(false);
      await connection.run('COMMIT');
      // The attach lands with the token it checked, and only then is a newer one issued.
      await attach;
      expect(await issue).toBe(fence.token + 1);
    });
    expect((await catalog.get('t1'))?.audio).toEqual(audio);
    await expect(catalog.detachAudio('t1', fence)).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
  });

  it('returns getMany in the order of the ids asked for, thousands at a time', async () => {
    await catalog.upsert([track('a', 'A'), track('b', 'B'), track('c', 'C'), track('id-39999', 'Last')]);
    expect((await catalog.getMany(['c', 'x', 'a', 'b', 'a'])).map((t) => t.id)).toEqual(['c', 'a', 'b']);
    const ids = Array.from({ length: 40_000 }, (_, i) => `id-${i}`);
    expect((await catalog.getMany(ids)).map((t) => t.id)).toEqual(['id-39999']);
  });

  it('folds case and accents in the fallback search, and orders it by title, then id', async () => {
    await catalog.upsert([track('b', 'beta', ['Björk']), track('c', 'Alpha', ['Björk']), track('a', 'alpha', ['BJORK']), track('d', 'Gamma', ['Mø'])]);
    const ids = async (query: string) => (await catalog.search(query, { limit: 10, offset: 0 })).items.map((t) => t.id);
    expect(await ids('bjork')).toEqual(['a', 'c', 'b']);
    expect(await ids('björk alp')).toEqual(['a', 'c']);
    expect(await ids('MO')).toEqual(['d']);
  });

  it('matches artist names one by one, quotes and backslashes included', async () => {
    await catalog.upsert([track('t1', 'Song', ['Simon', 'Garfunkel']), track('t2', 'Other', ['Say "Hi"', 'Back\\slash'])]);
    const ids = async (query: string) => (await catalog.search(query, { limit: 10, offset: 0 })).items.map((t) => t.id);
    expect(await ids('garfunkel')).toEqual(['t1']);
    expect(await ids('simon","garfunkel')).toEqual([]);
    expect(await ids(',')).toEqual([]);
    expect(await ids('"')).toEqual(['t2']);
    expect(await ids('"hi"')).toEqual(['t2']);
    expect(await ids('k\\s')).toEqual(['t2']);
  });

  it('remembers sizes, keeps them after a detach, and counts stored bytes past 32 bits', async () => {
    await catalog.upsert([track('a', 'A'), track('b', 'B')]);
    expect(await catalog.knownSize('a')).toBeNull();
    expect(await catalog.knownSize('nope')).toBeNull();
    await catalog.rememberSize('a', 123);
    await catalog.rememberSize('a', 123);
    expect(await catalog.knownSize('a')).toBe(123);
    const big = { ...audio, sizeBytes: 5_000_000_000 };
    await catalog.attachAudio('a', big);
    await catalog.attachAudio('b', { ...big, blobKey: 'z'.repeat(64) });
    expect(await catalog.knownSize('a')).toBe(big.sizeBytes);
    expect(await catalog.storedBytes()).toBe(2 * big.sizeBytes);
    await catalog.detachAudio('a');
    expect(await catalog.knownSize('a')).toBe(big.sizeBytes);
    // A size is not part of the document: no version, no outbox row.
    expect((await catalog.get('a'))?.version).toBe(3);
  });

  it('stores times as epoch milliseconds', async () => {
    const before = Date.now();
    await catalog.upsert([track('a', 'A')]);
    const stored = (await database.db.get<{ updated_at: number }>('SELECT updated_at FROM tracks'))!.updated_at;
    expect(Number.isInteger(stored)).toBe(true);
    expect(stored).toBeGreaterThanOrEqual(before);
    expect((await catalog.get('a'))?.updatedAt.getTime()).toBe(stored);
  });

  it('reads by index: rows locked by primary key, a blob\'s tracks in id order, scans by range', async () => {
    await catalog.upsert(Array.from({ length: 200 }, (_, i) => track(`t${String(i).padStart(3, '0')}`, `T ${i}`)));
    for (let i = 0; i < 200; i += 20) await catalog.attachAudio(`t${String(i).padStart(3, '0')}`, { ...audio, blobKey: `${i}`.padEnd(64, 'k') });
    await database.db.run('ANALYZE TABLE tracks');
    expect((await explain(database.db, catalogSql, 'lockTracks', { trackIds: ['t001', 't002'] }))[0]).toMatchObject({ key: 'PRIMARY', type: 'range' });
    const blob = (await explain(database.db, catalogSql, 'idsWithBlob', { blobKey: audio.blobKey }))[0];
    expect(blob).toMatchObject({ key: 'tracks_blob_key' });
    expect(blob?.Extra ?? '').not.toMatch(/filesort/);
    expect((await explain(database.db, catalogSql, 'scanAfter', { afterId: 't100', limit: 10 }))[0]).toMatchObject({ key: 'PRIMARY', type: 'range' });
  });
});
