import type { Fence } from '../locks/lock-manager.js';
import type { LibraryItem, Page, PageRequest } from '../model.js';

export type AddOutcome = 'added' | 'exists';

/** Per-user libraries and the storage they use. */
export interface LibraryStore {
  /**
   * Adds the track if the user's usage plus its size stays within `limitBytes`, atomically.
   * Guarded by `fence`, the track's lock, when given (the quota commit will be fenced the same way).
   * @throws QuotaExceededError when it does not fit; LockLostError when `fence` is stale.
   */
  add(item: { userId: string; trackId: string; sizeBytes: number }, limitBytes: number, fence?: Fence): Promise<AddOutcome>;
  remove(userId: string, trackId: string): Promise<boolean>;
  get(userId: string, trackId: string): Promise<LibraryItem | null>;
  list(userId: string, page: PageRequest): Promise<Page<LibraryItem>>;
  usedBytes(userId: string): Promise<number>;
  /** How many libraries hold the track: its stored file may go when this is zero. */
  holderCount(trackId: string): Promise<number>;
}
