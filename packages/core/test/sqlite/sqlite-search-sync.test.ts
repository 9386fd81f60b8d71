import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import { namedStatements } from '../../src/db/named-statements.js';
import { migrateSqlite, openSqliteDatabase } from '../../src/db/sqlite-database.js';
import { sqliteMigrations } from '../../src/db/sqlite-migrations.js';
import { OutboxRelay } from '../../src/outbox/outbox-relay.js';
import { SqliteSearchOutbox } from '../../src/outbox/sqlite-search-outbox.js';
import outboxSql from '../../src/outbox/sqlite-search-outbox.sql';
import { SqliteSearchIndex } from '../../src/search/sqlite-search-index.js';
import { describeOutboxRelay } from '../contracts/outbox-relay.contract.js';
import { describeSearchOutbox } from '../contracts/search-outbox.contract.js';
import { openTempSqlite, type TempSqlite } from './temp-sqlite.js';

describeSearchOutbox('sqlite', async () => {
  const temp = openTempSqlite();
  return { catalog: new SqliteTrackCatalog(temp.db), outbox: new SqliteSearchOutbox(temp.db), close: temp.close };
});

describeOutboxRelay('sqlite', async () => {
  const temp = openTempSqlite();
  return {
    catalog: new SqliteTrackCatalog(temp.db),
    outbox: new SqliteSearchOutbox(temp.db),
    index: new SqliteSearchIndex(temp.db),
    // The full-text table is moved out of the way, so every write to it fails, and back.
    async breakIndex() {
      temp.db.exec('ALTER TABLE search_fts RENAME TO search_fts_away');
    },
    async healIndex() {
      temp.db.exec('ALTER TABLE search_fts_away RENAME TO search_fts');
    },
    // A trigger, the way a constraint of the database itself would refuse a row.
    async refuseDocument(trackId) {
      const quoted = temp.db.prepare('SELECT quote(?)').pluck().get(trackId) as string;
      temp.db.exec(`CREATE TRIGGER refuse_document BEFORE INSERT ON search_documents WHEN NEW.track_id = ${quoted}
        BEGIN SELECT RAISE(ABORT, 'this document is refused'); END`);
    },
    close: temp.close,
  };
});

describe('the search outbox in SQLite', () => {
  let temp: TempSqlite;

  beforeEach(() => {
    temp = openTempSqlite();
  });

  afterEach(async () => {
    await temp.close();
  });

  it('writes whether a track\'s audio is stored beside its document', async () => {
    const catalog = new SqliteTrackCatalog(temp.db);
    const relay = new OutboxRelay({ outbox: new SqliteSearchOutbox(temp.db), catalog, index: new SqliteSearchIndex(temp.db) });
    const document = () => temp.db.prepare('SELECT version, available FROM search_documents WHERE track_id = ?').get('a');
    await catalog.upsert([{ id: 'a', title: 'A', artists: ['Band'], album: 'Album', durationMs: 1000 }]);
    await relay.flush();
    expect(document()).toEqual({ version: 1, available: 0 });
    await catalog.attachAudio('a', { blobKey: 'k'.repeat(64), sizeBytes: 10, contentType: 'audio/mpeg' });
    await relay.flush();
    expect(document()).toEqual({ version: 2, available: 1 });
    await catalog.detachAudio('a');
    await relay.flush();
    expect(document()).toEqual({ version: 3, available: 0 });
  });

  it('takes due rows through their index, in its order', () => {
    const sql = namedStatements(outboxSql).due!;
    const plan = (temp.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ now: 0, limit: 1 }) as { detail: string }[]).map((row) => row.detail).join('\n');
    expect(plan).toMatch(/USING (COVERING )?INDEX search_outbox_due/);
    expect(plan).not.toMatch(/TEMP B-TREE/);
  });

  it('queues every track once more when migrating, so documents lost before the outbox come back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mixtape-outbox-migration-'));
    const db = openSqliteDatabase(join(dir, 'mixtape.db'));
    try {
      migrateSqlite(db, sqliteMigrations.filter((migration) => migration.version < 4));
      const insert = db.prepare("INSERT INTO tracks (id, title, artists, album, duration_ms, updated_at) VALUES (?, ?, '[\"Band\"]', 'Album', 1000, 0)");
      insert.run('kept', 'Kept');
      insert.run('lost', 'Lost');
      // The old resolver indexed one of them, and lost the other to an index failure.
      db.exec("INSERT INTO search_documents (track_id) VALUES ('kept')");
      migrateSqlite(db);
      expect(db.prepare('SELECT track_id, version, attempts FROM search_outbox ORDER BY track_id').all()).toEqual([
        { track_id: 'kept', version: 1, attempts: 0 },
        { track_id: 'lost', version: 1, attempts: 0 },
      ]);
      const index = new SqliteSearchIndex(db);
      await new OutboxRelay({ outbox: new SqliteSearchOutbox(db), catalog: new SqliteTrackCatalog(db), index }).flush();
      expect((await index.search('band', { limit: 10, offset: 0 })).items.sort()).toEqual(['kept', 'lost']);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
