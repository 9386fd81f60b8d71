import { prepareOnFirstUse, requireStatements, type PreparedStatements } from '../db/named-statements.js';
import type { SqliteDatabase } from '../db/sqlite-database.js';
import { LockLostError, QuotaExceededError } from '../errors.js';
import type { Fence } from '../locks/lock-manager.js';
import type { LibraryItem, Page, PageRequest } from '../model.js';
import type { AddOutcome, LibraryStore } from './library-store.js';
import text from './sqlite-library-store.sql';

const SQL = requireStatements(text, ['item', 'insert', 'remove', 'countForUser', 'pageForUser', 'usedBytes', 'holderCount']);

interface ItemRow {
  user_id: string;
  track_id: string;
  size_bytes: number;
  added_at: number;
}

function toItem(row: ItemRow): LibraryItem {
  return { userId: row.user_id, trackId: row.track_id, sizeBytes: row.size_bytes, addedAt: new Date(row.added_at) };
}

/** Per-user libraries in the embedded database; usage is the sum of the items' sizes. */
export class SqliteLibraryStore implements LibraryStore {
  private readonly statements: PreparedStatements<keyof typeof SQL>;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = prepareOnFirstUse(db, SQL);
  }

  async add(item: { userId: string; trackId: string; sizeBytes: number }, limitBytes: number, fence?: Fence): Promise<AddOutcome> {
    // Immediate: the write lock is taken before the usage is read, so two adds (even from two
    // processes) cannot both pass the check on the same usage.
    return this.db
      .transaction((): AddOutcome => {
        if (this.statements.item.get({ userId: item.userId, trackId: item.trackId }) !== undefined) return 'exists';
        const usedBytes = this.sumFor(item.userId);
        if (usedBytes + item.sizeBytes > limitBytes) {
          throw new QuotaExceededError({ usedBytes, limitBytes, requestedBytes: item.sizeBytes });
        }
        // Seam: the quota commit of a reservation will be fenced the same way, in this transaction.
        const inserted = this.statements.insert.run({
          userId: item.userId,
          trackId: item.trackId,
          sizeBytes: item.sizeBytes,
          addedAt: Date.now(),
          fenceKey: fence?.key ?? null,
          fenceToken: fence?.token ?? null,
        });
        if (inserted.changes === 0 && fence) throw new LockLostError(fence.key);
        return 'added';
      })
      .immediate();
  }

  async remove(userId: string, trackId: string): Promise<boolean> {
    return this.statements.remove.run({ userId, trackId }).changes > 0;
  }

  async get(userId: string, trackId: string): Promise<LibraryItem | null> {
    const row = this.statements.item.get({ userId, trackId }) as ItemRow | undefined;
    return row ? toItem(row) : null;
  }

  /** Newest first; items added in the same millisecond are ordered by track id. */
  async list(userId: string, page: PageRequest): Promise<Page<LibraryItem>> {
    const read = this.db.transaction(() => {
      const total = this.statements.countForUser.pluck().get({ userId }) as number;
      const rows = this.statements.pageForUser.all({ userId, limit: page.limit, offset: page.offset }) as ItemRow[];
      return { items: rows.map(toItem), total };
    });
    return read();
  }

  async usedBytes(userId: string): Promise<number> {
    return this.sumFor(userId);
  }

  async holderCount(trackId: string): Promise<number> {
    return this.statements.holderCount.pluck().get({ trackId }) as number;
  }

  private sumFor(userId: string): number {
    return this.statements.usedBytes.pluck().get({ userId }) as number;
  }
}
