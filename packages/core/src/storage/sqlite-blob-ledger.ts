import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { runSqlite } from '../db/sqlite-faults.js';
import { LockLostError } from '../errors.js';
import type { Fence } from '../locks/lock-manager.js';
import type { BlobLedger } from './blob-ledger.js';
import type { StoredBlob } from './blob-store.js';
import text from './sqlite-blob-ledger.sql';

const SQL = requireStatements(text, ['record', 'staleFence', 'tombstone', 'tombstonedFirst', 'tombstonedAfter', 'forget', 'isCurrent']);

/**
 * The `blobs` table of the embedded database, fenced by its `fencing_tokens`. Each method is one
 * statement or one transaction, run by `runSqlite`.
 */
export class SqliteBlobLedger implements BlobLedger {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async record(blob: StoredBlob, fences: readonly Fence[]): Promise<void> {
    const params = { key: blob.key, sizeBytes: blob.sizeBytes, now: Date.now(), fences: JSON.stringify(fences) };
    const record = this.db.transaction(() => {
      if (this.statements.record.run(params).changes > 0) return;
      throw new LockLostError(this.statements.staleFence.pluck().get(params) as string);
    });
    await runSqlite(this.db, record);
  }

  async tombstone(blob: StoredBlob, unusedSince: Date, fence: Fence): Promise<void> {
    const params = { key: blob.key, sizeBytes: blob.sizeBytes, now: Date.now(), unusedSince: unusedSince.getTime(), ...fenceParams(fence) };
    const marked = await runSqlite(this.db, () => this.statements.tombstone.run(params).changes);
    if (marked === 0) throw new LockLostError(fence.key);
  }

  async tombstoned(before: Date, afterKey: string | null, limit: number): Promise<StoredBlob[]> {
    const page = () =>
      afterKey === null
        ? this.statements.tombstonedFirst.all({ before: before.getTime(), limit })
        : this.statements.tombstonedAfter.all({ before: before.getTime(), afterKey, limit });
    const rows = (await runSqlite(this.db, page)) as { key: string; size_bytes: number }[];
    return rows.map((row) => ({ key: row.key, sizeBytes: row.size_bytes }));
  }

  async forget(key: string, before: Date, fence: Fence): Promise<boolean> {
    const forget = this.db.transaction(() => {
      if (this.statements.forget.run({ key, before: before.getTime(), ...fenceParams(fence) }).changes > 0) return true;
      if (this.statements.isCurrent.get(fenceParams(fence)) === undefined) throw new LockLostError(fence.key);
      return false;
    });
    return runSqlite(this.db, forget);
  }
}

function fenceParams(fence: Fence): { fenceKey: string; fenceToken: number } {
  return { fenceKey: fence.key, fenceToken: fence.token };
}
