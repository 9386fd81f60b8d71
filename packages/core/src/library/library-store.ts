import type { Fence } from '../locks/lock-manager.js';
import type { LibraryItem, Page, PageRequest } from '../model.js';

export type AddOutcome = 'added' | 'exists';

/** The attempt whose quota reservation an add commits: a running job and its lease token. */
export interface ReservationHolder {
  jobId: string;
  token: string;
}

/** A user's usage row: what their library holds, and what their running downloads reserved. */
export interface StorageUsage {
  committedBytes: number;
  reservedBytes: number;
}

/**
 * Per-user libraries and the storage they use.
 *
 * Usage is one row per user, changed by conditional updates in the transaction of each change,
 * never summed from the items under a lock: `committedBytes` by adds and removals,
 * `reservedBytes` by the job queue's reservations (`JobQueue.reserve`), which an add commits.
 */
export interface LibraryStore {
  /**
   * Adds the track if the user's committed and reserved bytes, with its size, stay within
   * `limitBytes`, atomically. With `reservation`, the job's reservation is committed in the
   * same transaction: its bytes move from reserved to committed (for a track already held,
   * they are given back). Guarded by `fence`, the track's lock, when given: a stale fence
   * writes nothing, the quota commit included.
   * @throws QuotaExceededError when it does not fit; LockLostError when `fence` is stale;
   *   LeaseLostError when `reservation`'s lease is no longer held.
   */
  add(
    item: { userId: string; trackId: string; sizeBytes: number },
    limitBytes: number,
    fence?: Fence,
    reservation?: ReservationHolder,
  ): Promise<AddOutcome>;
  /** Removes the item and frees its bytes, in one step. */
  remove(userId: string, trackId: string): Promise<boolean>;
  get(userId: string, trackId: string): Promise<LibraryItem | null>;
  list(userId: string, page: PageRequest): Promise<Page<LibraryItem>>;
  /** The bytes the user's library holds (committed), as `GET /me` shows them. */
  usedBytes(userId: string): Promise<number>;
  /** The user's usage row: committed, and reserved by downloads under way. */
  usage(userId: string): Promise<StorageUsage>;
  /** How many libraries hold the track: its stored file may go when this is zero. */
  holderCount(trackId: string): Promise<number>;
  /**
   * Sets every usage row that disagrees with the rows it counts (library items, running jobs'
   * reservations) to what they say, and gives back reservations left on jobs that are not
   * running; returns how many rows it corrected. Only a fault makes them drift (a row changed
   * by hand, a bug), but a row stuck too high refuses a user. Housekeeping runs it.
   */
  repairUsage(): Promise<number>;
}
