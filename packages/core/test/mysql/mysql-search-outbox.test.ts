import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TrackMetadata } from '../../src/model.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { MysqlSearchIndex } from '../../src/mysql/mysql-search-index.js';
import { MysqlSearchOutbox } from '../../src/mysql/mysql-search-outbox.js';
import outboxSql from '../../src/mysql/mysql-search-outbox.sql';
import { MysqlTrackCatalog } from '../../src/mysql/mysql-track-catalog.js';
import { OutboxRelay } from '../../src/outbox/outbox-relay.js';
import type { SearchIndex, TrackDocument } from '../../src/search/search-index.js';
import { describeOutboxRelay } from '../contracts/outbox-relay.contract.js';
import { describeSearchOutbox } from '../contracts/search-outbox.contract.js';
import { explain } from './explain.js';
import type { FreshMysqlDatabase } from './mysql-test-server.js';
import { perFileDatabase } from './per-file-database.js';

const TABLES = ['tracks', 'search_outbox', 'search_documents'];
const files = perFileDatabase();
const nothing = async () => undefined;

describeSearchOutbox('mysql', async () => {
  const { db } = await files.emptied(TABLES);
  return { catalog: new MysqlTrackCatalog(db), outbox: new MysqlSearchOutbox(db), close: nothing };
});

describeOutboxRelay('mysql', async () => {
  const { db } = await files.emptied(TABLES);
  const refusals: string[] = [];
  let broken = false;
  const heal = async () => {
    await db.run('RENAME TABLE search_documents_away TO search_documents');
    broken = false;
  };
  return {
    catalog: new MysqlTrackCatalog(db),
    outbox: new MysqlSearchOutbox(db),
    index: new MysqlSearchIndex(db),
    // The documents' table is moved out of the way, so every write to it fails, and back.
    async breakIndex() {
      await db.run('RENAME TABLE search_documents TO search_documents_away');
      broken = true;
    },
    healIndex: heal,
    // A constraint of the database itself refuses the one row.
    async refuseDocument(trackId) {
      const name = `refuse_${refusals.length}`;
      await db.run(`ALTER TABLE search_documents ADD CONSTRAINT ${name} CHECK (track_id <> @trackId)`, { trackId });
      refusals.push(name);
    },
    // The file's next test needs the table back as it was.
    async close() {
      if (broken) await heal();
      for (const name of refusals.splice(0)) await db.run(`ALTER TABLE search_documents DROP CONSTRAINT ${name}`);
    },
  };
});

const meta = (id: string, title: string): TrackMetadata => ({ id, title, artists: ['Band'], album: 'Album', durationMs: 1000 });

/** An index whose writes wait at a gate: a relay paused between reading the catalog and writing. */
function gated(index: SearchIndex) {
  let open!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (entered = resolve));
  const wrapped: Pick<SearchIndex, 'upsert' | 'remove'> = {
    async upsert(documents: TrackDocument[]) {
      entered();
      await gate;
      return index.upsert(documents);
    },
    remove: (ids) => index.remove(ids),
  };
  return { index: wrapped, reached, open };
}

describe('the search outbox in MySQL', () => {
  let database: FreshMysqlDatabase;
  const pools: MysqlDatabase[] = [];
  /** A pool of its own on the same database, as another process would have. */
  const connect = () => {
    const db = new MysqlDatabase(createMysqlPool(database.url, { poolSize: 3 }));
    pools.push(db);
    return db;
  };
  /** The catalog's version of every track, and the version its document holds. */
  const versions = async () => ({
    catalog: await database.db.all('SELECT id, version FROM tracks ORDER BY id'),
    index: (await database.db.all<{ track_id: string; version: number }>('SELECT track_id, version FROM search_documents ORDER BY track_id')).map(
      (row) => ({ id: row.track_id, version: row.version }),
    ),
  });

  beforeEach(async () => {
    database = await files.emptied(TABLES);
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((db) => db.close()));
  });

  it('takes due rows through their index, in its order', async () => {
    const catalog = new MysqlTrackCatalog(database.db);
    for (let i = 0; i < 5; i += 1) await catalog.upsert(Array.from({ length: 100 }, (_, j) => meta(`t${i}-${j}`, 'T')));
    await database.db.run('ANALYZE TABLE search_outbox');
    // Every row due, the worst case: a reindex of the whole catalog.
    const [plan] = await explain(database.db, outboxSql, 'due', { now: Date.now(), limit: 10 });
    expect(plan).toMatchObject({ key: 'search_outbox_due', type: 'range' });
    expect(plan?.Extra ?? '').not.toMatch(/filesort/);
  });

  it('writes whether a track\'s audio is stored beside its document', async () => {
    const catalog = new MysqlTrackCatalog(database.db);
    const relay = new OutboxRelay({ outbox: new MysqlSearchOutbox(database.db), catalog, index: new MysqlSearchIndex(database.db) });
    const document = () => database.db.get('SELECT version, available FROM search_documents WHERE track_id = @id', { id: 'a' });
    await catalog.upsert([meta('a', 'A')]);
    await relay.flush();
    expect(await document()).toEqual({ version: 1, available: 0 });
    await catalog.attachAudio('a', { blobKey: 'k'.repeat(64), sizeBytes: 10, contentType: 'audio/mpeg' });
    await relay.flush();
    expect(await document()).toEqual({ version: 2, available: 1 });
    await catalog.detachAudio('a');
    await relay.flush();
    expect(await document()).toEqual({ version: 3, available: 0 });
  });

  it('lets a relay on another connection that writes an older version late lose nothing', async () => {
    const catalog = new MysqlTrackCatalog(database.db);
    await catalog.upsert([meta('a', 'First'), meta('b', 'Other')]);
    // Relay 1 reads version 1 of both, then stalls before writing.
    const first = connect();
    const slow = gated(new MysqlSearchIndex(first));
    const late = new OutboxRelay({ outbox: new MysqlSearchOutbox(first), catalog: new MysqlTrackCatalog(first), index: slow.index }).flush();
    await slow.reached;
    // Meanwhile the track changes twice, and relay 2 writes version 2 and settles it.
    const second = connect();
    await catalog.upsert([meta('a', 'Second')]);
    expect(await new OutboxRelay({ outbox: new MysqlSearchOutbox(second), catalog: new MysqlTrackCatalog(second), index: new MysqlSearchIndex(second) }).flush()).toEqual({
      applied: 2,
      failed: 0,
    });
    await catalog.upsert([meta('a', 'Third')]);
    // Relay 1 now writes what it read (version 1 of a) and settles up to it: both are no-ops.
    slow.open();
    await late;
    const index = new MysqlSearchIndex(database.db);
    expect((await index.search('first', { limit: 10, offset: 0 })).items).toEqual([]);
    expect((await index.search('second', { limit: 10, offset: 0 })).items).toEqual(['a']);
    expect(await database.db.all('SELECT track_id, version FROM search_outbox')).toEqual([{ track_id: 'a', version: 3 }]);
    await new OutboxRelay({ outbox: new MysqlSearchOutbox(second), catalog, index }).flush();
    expect((await index.search('third', { limit: 10, offset: 0 })).items).toEqual(['a']);
    const { catalog: rows, index: documents } = await versions();
    expect(documents).toEqual(rows);
  });

  it('leaves the index at the catalog\'s versions when three relays on three pools race a writer', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    const writer = new MysqlTrackCatalog(connect());
    await writer.upsert(ids.map((id) => meta(id, `${id} v0`)));
    const relays = [connect(), connect(), connect()].map(
      (db) => new OutboxRelay({ outbox: new MysqlSearchOutbox(db), catalog: new MysqlTrackCatalog(db), index: new MysqlSearchIndex(db), settings: { batchSize: 7 } }),
    );
    let writing = true;
    const writes = (async () => {
      for (let round = 1; round <= 15; round += 1) {
        const some = ids.filter((_, i) => (i + round) % 3 === 0);
        await writer.upsert(some.map((id) => meta(id, `${id} round${round}`)));
      }
      writing = false;
    })();
    await Promise.all(
      relays.map(async (relay) => {
        while (writing) await relay.flush();
      }),
    );
    await writes;
    for (const relay of relays) await relay.flush();
    const { catalog: rows, index: documents } = await versions();
    expect(documents).toEqual(rows);
    expect(await new MysqlSearchOutbox(database.db).backlog()).toEqual({ pending: 0, oldestEnqueuedAt: null });
    // And the text of each document is the catalog's latest.
    const index = new MysqlSearchIndex(database.db);
    const latest = await new MysqlTrackCatalog(database.db).getMany(ids);
    for (const track of latest.slice(0, 10)) {
      const word = track.title.split(' ')[1]!;
      expect((await index.search(`${track.id} ${word}`, { limit: 10, offset: 0 })).items).toEqual([track.id]);
    }
  });

  it('settles only the rows given, each up to its version, and keeps the error short', async () => {
    const catalog = new MysqlTrackCatalog(database.db);
    const outbox = new MysqlSearchOutbox(database.db);
    await catalog.upsert([meta('a', 'A'), meta('b', 'B'), meta('c', 'C')]);
    await catalog.upsert([meta('b', 'B2')]);
    await outbox.applied([{ trackId: 'b', version: 1 }, { trackId: 'c', version: 1 }, { trackId: 'b', version: 1 }]);
    expect(await database.db.all('SELECT track_id, version FROM search_outbox ORDER BY track_id')).toEqual([
      { track_id: 'a', version: 1 },
      { track_id: 'b', version: 2 },
    ]);
    await outbox.failed({ trackId: 'a', version: 1 }, 'x'.repeat(100_000), new Date(Date.now() + 60_000));
    const kept = (await outbox.due(new Date(Date.now() + 120_000), 10)).find((change) => change.trackId === 'a');
    expect(kept?.lastError).toHaveLength(2000);
  });
});
