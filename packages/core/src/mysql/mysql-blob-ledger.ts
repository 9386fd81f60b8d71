import { LockLostError } from '../errors.js';
import type { Fence } from '../locks/lock-manager.js';
import type { BlobLedger } from '../storage/blob-ledger.js';
import type { StoredBlob } from '../storage/blob-store.js';
import text from './mysql-blob-ledger.sql';
import type { MysqlDatabase, MysqlQueryable } from './mysql-database.js';
import { holdsFence } from './mysql-fencing-tokens.js';
import { mysqlStatements } from './mysql-statements.js';

const SQL = mysqlStatements(text, ['record', 'tombstone', 'tombstonedFirst', 'tombstonedAfter', 'forget']);

/**
 * The first of `fences`, in the order given, that is not its key's current token; null when
 * all are current. Each is checked with holdsFence on `tx`, in key order (the order in which
 * MysqlFencingTokens raises several keys), and stays share-locked until `tx` ends.
 */
async function staleFence(tx: MysqlQueryable, fences: readonly Fence[]): Promise<Fence | null> {
  const stale = new Set<Fence>();
  const inKeyOrder = [...fences].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.token - b.token));
  for (const fence of inKeyOrder) if (!(await holdsFence(tx, fence))) stale.add(fence);
  return fences.find((fence) => stale.has(fence)) ?? null;
}

/**
 * The `blobs` table of MySQL, fenced by its `fencing_tokens`. Each write is one transaction:
 * the fences are checked and share-locked first (holdsFence), then the row is written, so a
 * holder that lost its lock changes nothing, and none can lose it before the write commits.
 */
export class MysqlBlobLedger implements BlobLedger {
  constructor(private readonly db: MysqlDatabase) {}

  async record(blob: StoredBlob, fences: readonly Fence[]): Promise<void> {
    const stale = await this.db.transaction(async (tx) => {
      const refused = await staleFence(tx, fences);
      if (refused === null) await tx.run(SQL.record, { key: blob.key, sizeBytes: blob.sizeBytes, now: Date.now() });
      return refused;
    });
    if (stale !== null) throw new LockLostError(stale.key);
  }

  async tombstone(blob: StoredBlob, unusedSince: Date, fence: Fence): Promise<void> {
    const current = await this.db.transaction(async (tx) => {
      if (!(await holdsFence(tx, fence))) return false;
      await tx.run(SQL.tombstone, { key: blob.key, sizeBytes: blob.sizeBytes, now: Date.now(), unusedSince: unusedSince.getTime() });
      return true;
    });
    if (!current) throw new LockLostError(fence.key);
  }

  async tombstoned(before: Date, afterKey: string | null, limit: number): Promise<StoredBlob[]> {
    const rows =
      afterKey === null
        ? await this.db.all<{ key: string; size_bytes: number }>(SQL.tombstonedFirst, { before: before.getTime(), limit })
        : await this.db.all<{ key: string; size_bytes: number }>(SQL.tombstonedAfter, { before: before.getTime(), afterKey, limit });
    return rows.map((row) => ({ key: row.key, sizeBytes: row.size_bytes }));
  }

  async forget(key: string, before: Date, fence: Fence): Promise<boolean> {
    const outcome = await this.db.transaction(async (tx) => {
      if (!(await holdsFence(tx, fence))) return 'stale';
      return (await tx.run(SQL.forget, { key, before: before.getTime() })).affectedRows > 0 ? 'forgotten' : 'kept';
    });
    if (outcome === 'stale') throw new LockLostError(fence.key);
    return outcome === 'forgotten';
  }
}
