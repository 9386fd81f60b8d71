import type { TrackCatalog } from '../catalog/track-catalog.js';
import { blobLockKey } from '../downloads/track-lock-key.js';
import { isMixtapeError, ValidationError } from '../errors.js';
import type { Fence, LockManager } from '../locks/lock-manager.js';
import type { StoredAudio } from '../model.js';
import type { BlobLedger } from '../storage/blob-ledger.js';
import type { BlobDraft, BlobStore, StoredBlob } from '../storage/blob-store.js';

export interface AudioFilesDeps {
  catalog: TrackCatalog;
  blobs: BlobStore;
  ledger: BlobLedger;
  locks: LockManager;
  /**
   * A file is unlinked only once its tombstone is this old (default 10 minutes). Keep it longer
   * than any lock's TTL, so that whoever saw the file in use under a lock has lost that lock.
   */
  tombstoneGraceMs?: number;
  /** Tombstones read per batch by `sweep` (default 100). */
  batchSize?: number;
  now?: () => Date;
}

/**
 * The stored audio files, which tracks with identical bytes share. Every step that can race
 * another track over the same bytes runs under the content key (`blob:<sha256>`), taken inside
 * the track's key: committing a file and attaching it, detaching one and letting it go. A file
 * is never unlinked on the spot: it is tombstoned in the database (a fenced write), attaching
 * it again clears the tombstone, and `sweep` unlinks only files whose tombstone outlived the grace.
 */
export class AudioFiles {
  readonly #deps: Required<AudioFilesDeps>;

  constructor(deps: AudioFilesDeps) {
    this.#deps = { tombstoneGraceMs: 10 * 60_000, batchSize: 100, now: () => new Date(), ...deps };
    if (!(this.#deps.tombstoneGraceMs >= 0)) throw ValidationError.field('tombstoneGraceMs', 'must be 0 or more');
  }

  /**
   * Publishes a sealed draft and points the track at it. The file's row is recorded first,
   * fenced by the track's token and the content key's, so an attempt that lost either lock
   * publishes nothing. If attaching fails, the file is let go again unless another track uses
   * it. The draft is aborted unless it was committed.
   */
  async commitAndAttach(trackId: string, draft: BlobDraft, audio: StoredAudio, trackFence: Fence): Promise<void> {
    const blob = { key: audio.blobKey, sizeBytes: audio.sizeBytes };
    try {
      await this.#underContentKey(blob.key, async (fence, signal) => {
        await this.#deps.ledger.record(blob, [trackFence, fence]);
        signal.throwIfAborted();
        await draft.commit();
        try {
          await this.#deps.catalog.attachAudio(trackId, audio, trackFence);
        } catch (error) {
          await this.#tombstoneUnlessUsed(blob, fence).catch(() => undefined);
          throw error;
        }
      });
    } finally {
      await draft.abort();
    }
  }

  /** Detaches the track's audio, and tombstones its file unless another track uses it. */
  async detach(trackId: string, audio: StoredAudio, trackFence: Fence): Promise<void> {
    await this.#underContentKey(audio.blobKey, async (fence) => {
      await this.#deps.catalog.detachAudio(trackId, trackFence);
      await this.#tombstoneUnlessUsed({ key: audio.blobKey, sizeBytes: audio.sizeBytes }, fence);
    });
  }

  /**
   * Tombstones a file no track points to (the reconciler's orphans), unused since
   * `unusedSince` (default now). Returns false when a track uses it after all.
   */
  async releaseIfUnused(blob: StoredBlob, options: { unusedSince?: Date } = {}): Promise<boolean> {
    return this.#underContentKey(blob.key, (fence) => this.#tombstoneUnlessUsed(blob, fence, options.unusedSince));
  }

  /**
   * Unlinks every file whose tombstone is older than the grace, each under its content key.
   * A tombstoned file that a track uses after all (attached by a holder that had lost its
   * lock) is kept, and its tombstone cleared. Files whose key is busy wait for the next sweep.
   * Housekeeping calls this; returns how many files it removed.
   */
  async sweep(): Promise<number> {
    const { ledger, batchSize, tombstoneGraceMs } = this.#deps;
    const before = new Date(this.#deps.now().getTime() - tombstoneGraceMs);
    let removed = 0;
    for (let after: string | null = null; ; ) {
      const batch = await ledger.tombstoned(before, after, batchSize);
      for (const blob of batch) if (await this.#sweepOne(blob, before)) removed += 1;
      const last = batch.at(-1);
      if (batch.length < batchSize || last === undefined) return removed;
      after = last.key;
    }
  }

  async #sweepOne(blob: StoredBlob, before: Date): Promise<boolean> {
    const { catalog, ledger, blobs } = this.#deps;
    try {
      return await this.#underContentKey(blob.key, async (fence, signal) => {
        if ((await catalog.tracksWithBlob(blob.key)).length > 0) {
          await ledger.record(blob, [fence]);
          return false;
        }
        if (!(await ledger.forget(blob.key, before, fence))) return false;
        // The row is gone; a holder that took the key since would have recorded it anew.
        signal.throwIfAborted();
        await blobs.delete(blob.key);
        return true;
      });
    } catch (error) {
      if (isMixtapeError(error) && (error.code === 'ERR_UNAVAILABLE' || error.code === 'ERR_LOCK_LOST')) return false;
      throw error;
    }
  }

  async #tombstoneUnlessUsed(blob: StoredBlob, fence: Fence, unusedSince = this.#deps.now()): Promise<boolean> {
    if ((await this.#deps.catalog.tracksWithBlob(blob.key)).length > 0) return false;
    await this.#deps.ledger.tombstone(blob, unusedSince, fence);
    return true;
  }

  #underContentKey<T>(blobKey: string, work: (fence: Fence, signal: AbortSignal) => Promise<T>): Promise<T> {
    const key = blobLockKey(blobKey);
    return this.#deps.locks.using([key], ({ fencingToken, signal }) => work({ key, token: fencingToken }, signal));
  }
}
