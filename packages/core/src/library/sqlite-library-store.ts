import type { SqliteDatabase } from '../db/sqlite-database.js';
import { QuotaExceededError } from '../errors.js';
import type { LibraryItem, Page, PageRequest } from '../model.js';
import type { AddOutcome, LibraryStore } from './library-store.js';

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
  constructor(private readonly db: SqliteDatabase) {}

  async add(item: { userId: string; trackId: string; sizeBytes: number }, limitBytes: number): Promise<AddOutcome> {
    // Immediate: the write lock is taken before the usage is read, so two adds (even from two
    // processes) cannot both pass the check on the same usage.
    return this.db
      .transaction((): AddOutcome => {
        const held = this.db
          .prepare('SELECT 1 FROM library_items WHERE user_id = ? AND track_id = ?')
          .get(item.userId, item.trackId);
        if (held) return 'exists';
        const usedBytes = this.sumFor(item.userId);
        if (usedBytes + item.sizeBytes > limitBytes) {
          throw new QuotaExceededError({ usedBytes, limitBytes, requestedBytes: item.sizeBytes });
        }
        this.db
          .prepare('INSERT INTO library_items (user_id, track_id, size_bytes, added_at) VALUES (?, ?, ?, ?)')
          .run(item.userId, item.trackId, item.sizeBytes, Date.now());
        return 'added';
      })
      .immediate();
  }

  async remove(userId: string, trackId: string): Promise<boolean> {
    const result = this.db.prepare('DELETE FROM library_items WHERE user_id = ? AND track_id = ?').run(userId, trackId);
    return result.changes > 0;
  }

  async get(userId: string, trackId: string): Promise<LibraryItem | null> {
    const row = this.db
      .prepare('SELECT * FROM library_items WHERE user_id = ? AND track_id = ?')
      .get(userId, trackId) as ItemRow | undefined;
    return row ? toItem(row) : null;
  }

  /** Newest first; items added in the same millisecond are ordered by track id. */
  async list(userId: string, page: PageRequest): Promise<Page<LibraryItem>> {
    const read = this.db.transaction(() => {
      const total = this.db.prepare('SELECT count(*) FROM library_items WHERE user_id = ?').pluck().get(userId) as number;
      const rows = this.db
        .prepare('SELECT * FROM library_items WHERE user_id = ? ORDER BY added_at DESC, track_id LIMIT ? OFFSET ?')
        .all(userId, page.limit, page.offset) as ItemRow[];
      return { items: rows.map(toItem), total };
    });
    return read();
  }

  async usedBytes(userId: string): Promise<number> {
    return this.sumFor(userId);
  }

  async holderCount(trackId: string): Promise<number> {
    return this.db.prepare('SELECT count(*) FROM library_items WHERE track_id = ?').pluck().get(trackId) as number;
  }

  private sumFor(userId: string): number {
    return this.db
      .prepare('SELECT coalesce(sum(size_bytes), 0) FROM library_items WHERE user_id = ?')
      .pluck()
      .get(userId) as number;
  }
}
