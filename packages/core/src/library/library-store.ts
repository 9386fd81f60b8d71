import type { LibraryItem, Page, PageRequest } from '../model.js';

export type AddOutcome = 'added' | 'exists';

/** Per-user libraries and the storage they use. */
export interface LibraryStore {
  /**
   * Adds the track if the user's usage plus its size stays within `limitBytes`, atomically.
   * @throws QuotaExceededError when it does not fit.
   */
  add(item: { userId: string; trackId: string; sizeBytes: number }, limitBytes: number): Promise<AddOutcome>;
  remove(userId: string, trackId: string): Promise<boolean>;
  get(userId: string, trackId: string): Promise<LibraryItem | null>;
  list(userId: string, page: PageRequest): Promise<Page<LibraryItem>>;
  usedBytes(userId: string): Promise<number>;
  /** How many libraries hold the track: its stored file may go when this is zero. */
  holderCount(trackId: string): Promise<number>;
}
