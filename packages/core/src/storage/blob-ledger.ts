import type { Fence } from '../locks/lock-manager.js';
import type { StoredBlob } from './blob-store.js';

/**
 * A row per stored file, in the database, so that deleting a file is a fenced write: a file
 * that no track uses any more is tombstoned first, and unlinked only once the tombstone is
 * older than a grace longer than any lock's TTL (`AudioFiles.sweep`). Attaching the key again
 * clears its tombstone, so the sweep never unlinks a file in use.
 *
 * Every write takes fences, proofs of holding the content key's lock (`blob:<sha256>`), and is
 * refused with a `LockLostError` when one is stale: a holder that lost its lock changes nothing.
 */
export interface BlobLedger {
  /**
   * The file is stored and about to be used: its row is written and any tombstone cleared.
   * Checks every fence given (the content key's, and the writer's own track key's), before
   * anything is published.
   */
  record(blob: StoredBlob, fences: readonly Fence[]): Promise<void>;
  /**
   * No track uses the file since `unusedSince` (clamped to when it was last recorded). An
   * existing tombstone keeps its earlier time. A file without a row gets one, tombstoned.
   */
  tombstone(blob: StoredBlob, unusedSince: Date, fence: Fence): Promise<void>;
  /** Files tombstoned at or before `before`, in key order after `afterKey`. */
  tombstoned(before: Date, afterKey: string | null, limit: number): Promise<StoredBlob[]>;
  /**
   * Deletes the row if it is still tombstoned at or before `before`; false when it was
   * recorded again meanwhile. The caller unlinks the file only after a true.
   */
  forget(key: string, before: Date, fence: Fence): Promise<boolean>;
}
