import { QuotaExceededError } from '../errors.js';
import type { LibraryItem } from '../model.js';
import type { StorageUsage } from './library-store.js';

/**
 * The `library_items` and `user_usage` rows as the SQL library stores (SQLite, MySQL) read
 * them: both schemas name the columns the same.
 */

export interface ItemRow {
  user_id: string;
  track_id: string;
  size_bytes: number;
  added_at: number;
}

export interface UsageRow {
  committed_bytes: number;
  reserved_bytes: number;
}

export function toItem(row: ItemRow): LibraryItem {
  return { userId: row.user_id, trackId: row.track_id, sizeBytes: row.size_bytes, addedAt: new Date(row.added_at) };
}

/** A user's usage; a user with no row yet uses nothing. */
export function toUsage(row: UsageRow | undefined): StorageUsage {
  return { committedBytes: row?.committed_bytes ?? 0, reservedBytes: row?.reserved_bytes ?? 0 };
}

/**
 * Why an add of `sizeBytes` did not fit: what the user's library holds, plus what their
 * downloads reserved besides the `heldBytes` the add would have committed.
 */
export function quotaRefusal(usage: UsageRow, heldBytes: number, limitBytes: number, sizeBytes: number): QuotaExceededError {
  const usedBytes = usage.committed_bytes + Math.max(0, usage.reserved_bytes - heldBytes);
  return new QuotaExceededError({ usedBytes, limitBytes, requestedBytes: sizeBytes });
}
