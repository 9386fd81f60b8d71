import { beforeEach, describe, expect, it } from 'vitest';
import blobLedgerSql from '../../src/mysql/mysql-blob-ledger.sql';
import { MysqlBlobLedger } from '../../src/mysql/mysql-blob-ledger.js';
import { MysqlDatabase } from '../../src/mysql/mysql-database.js';
import { MysqlFencingTokens } from '../../src/mysql/mysql-fencing-tokens.js';
import { createMysqlPool } from '../../src/mysql/mysql-pool.js';
import { describeBlobLedger } from '../contracts/blob-ledger.contract.js';
import { explain } from './explain.js';
import { waitingForALock } from './lock-waits.js';
import type { FreshMysqlDatabase } from './mysql-test-server.js';
import { perFileDatabase } from './per-file-database.js';

const TABLES = ['blobs', 'fencing_tokens'];
const files = perFileDatabase();

describeBlobLedger('mysql', async () => {
  const { db } = await files.emptied(TABLES);
  const fencing = new MysqlFencingTokens(db);
  return { ledger: new MysqlBlobLedger(db), fence: async (key) => ({ key, token: await fencing.issue([key]) }), close: async () => undefined };
});

describe('MysqlBlobLedger', () => {
  let database: FreshMysqlDatabase;
  let ledger: MysqlBlobLedger;
  let fencing: MysqlFencingTokens;
  const fence = async (key: string) => ({ key, token: await fencing.issue([key]) });

  beforeEach(async () => {
    database = await files.emptied(TABLES);
    ledger = new MysqlBlobLedger(database.db);
    fencing = new MysqlFencingTokens(database.db);
  });

  it('names the first stale fence in the order given, whatever the order of their keys', async () => {
    const key = 'c'.repeat(64);
    const zTrack = await fence('track:z');
    await fence('track:z');
    const aTrack = await fence('track:a');
    await fence('track:a');
    await expect(ledger.record({ key, sizeBytes: 1 }, [zTrack, aTrack, await fence(`blob:${key}`)])).rejects.toThrow('track:z');
    await expect(ledger.record({ key, sizeBytes: 1 }, [aTrack, zTrack])).rejects.toThrow('track:a');
    // No fence at all: nothing to check, as on SQLite.
    await ledger.record({ key, sizeBytes: 1 }, []);
    expect(await database.db.get('SELECT size_bytes, tombstoned_at FROM blobs')).toEqual({ size_bytes: 1, tombstoned_at: null });
  });

  it('keeps a new token of the key from being issued until a fenced forget that checked its token commits', async () => {
    const key = 'd'.repeat(64);
    const current = await fence(`blob:${key}`);
    await ledger.tombstone({ key, sizeBytes: 1 }, new Date(1000), current);
    const other = new MysqlDatabase(createMysqlPool(database.url, { poolSize: 2 }));
    try {
      await other.withConnection(async (connection) => {
        // The forget checks its fence, then waits for the row.
        await connection.run('START TRANSACTION');
        await connection.run('SELECT `key` FROM blobs WHERE `key` = @key FOR UPDATE', { key });
        const forget = ledger.forget(key, new Date(2000), current);
        await waitingForALock(database.db);
        let issued = false;
        const issue = new MysqlFencingTokens(other).issue([`blob:${key}`]).finally(() => (issued = true));
        await new Promise((resolve) => setTimeout(resolve, 150));
        expect(issued).toBe(false);
        await connection.run('COMMIT');
        expect(await forget).toBe(true);
        expect(await issue).toBe(current.token + 1);
      });
    } finally {
      await other.close();
    }
    expect(await ledger.tombstoned(new Date(5000), null, 10)).toEqual([]);
  });

  it('lists tombstones through an index', async () => {
    for (let i = 0; i < 200; i += 1) {
      const key = String(i).padStart(64, '0');
      await database.db.run('INSERT INTO blobs (`key`, size_bytes, recorded_at, tombstoned_at) VALUES (@key, 1, 0, @at)', { key, at: i % 20 === 0 ? 1000 : null });
    }
    await database.db.run('ANALYZE TABLE blobs');
    expect((await explain(database.db, blobLedgerSql, 'tombstonedFirst', { before: 5000, limit: 5 }))[0]).toMatchObject({
      key: 'blobs_tombstoned',
      type: 'range',
    });
    // After a key, reading the primary key from there is as good a plan; either is a range.
    const [after] = await explain(database.db, blobLedgerSql, 'tombstonedAfter', { before: 5000, afterKey: '0', limit: 5 });
    expect(after?.type).toBe('range');
    expect(['blobs_tombstoned', 'PRIMARY']).toContain(after?.key);
    expect(await ledger.tombstoned(new Date(5000), null, 100)).toHaveLength(10);
  });
});
