import type { Readable } from 'node:stream';
import { NotFoundError } from '../errors.js';
import type { TrackCatalog } from '../catalog/track-catalog.js';
import { trackLockKey } from '../downloads/track-lock-key.js';
import type { LockManager } from '../locks/lock-manager.js';
import type { AudioFiles } from './audio-files.js';
import { toTrack, type CatalogTrack, type LibraryEntry, type Page, type PageRequest, type StoredAudio } from '../model.js';
import type { BlobStore, ByteRange } from '../storage/blob-store.js';
import type { LibraryStore } from './library-store.js';
import { releaseUnheldAudio } from './release-unheld-audio.js';
import { checkPage } from '../validation/field-checks.js';
import { DEFAULT_MIXTAPE_VALIDATORS, type MixtapeValidators } from '../validation/mixtape-validators.js';

export interface LibraryFile {
  track: CatalogTrack;
  audio: StoredAudio;
  /** The content hash, which makes a strong ETag. */
  etag: string;
}

/** A user's library, their quota, and the stored files behind it. */
export class LibraryService {
  readonly #library: LibraryStore;
  readonly #catalog: TrackCatalog;
  readonly #blobs: BlobStore;
  readonly #locks: LockManager;
  readonly #files: AudioFiles;
  readonly #quotaBytes: number;
  readonly #validators: MixtapeValidators;

  constructor(deps: {
    library: LibraryStore;
    catalog: TrackCatalog;
    blobs: BlobStore;
    locks: LockManager;
    files: AudioFiles;
    quotaBytes: number;
    /** The paging rules (`libraryPage`). */
    validators?: MixtapeValidators;
  }) {
    this.#library = deps.library;
    this.#catalog = deps.catalog;
    this.#blobs = deps.blobs;
    this.#locks = deps.locks;
    this.#files = deps.files;
    this.#quotaBytes = deps.quotaBytes;
    this.#validators = deps.validators ?? DEFAULT_MIXTAPE_VALIDATORS;
  }

  async quota(userId: string): Promise<{ usedBytes: number; limitBytes: number }> {
    return { usedBytes: await this.#library.usedBytes(userId), limitBytes: this.#quotaBytes };
  }

  /** A page left out, or given in part, takes the defaults of `libraryPage`. */
  async list(userId: string, page: Partial<PageRequest> = {}): Promise<Page<LibraryEntry>> {
    const items = await this.#library.list(userId, checkPage(this.#validators.libraryPage, page));
    const tracks = new Map((await this.#catalog.getMany(items.items.map((i) => i.trackId))).map((t) => [t.id, t]));
    return {
      total: items.total,
      items: items.items.flatMap((item) => {
        const track = tracks.get(item.trackId);
        return track ? [{ track: toTrack(track), addedAt: item.addedAt, sizeBytes: item.sizeBytes }] : [];
      }),
    };
  }

  /** The stored file of a track in the user's library. @throws NotFoundError */
  async file(userId: string, trackId: string): Promise<LibraryFile> {
    if (!(await this.#library.get(userId, trackId))) throw new NotFoundError('That track is not in your library');
    const track = await this.#catalog.get(trackId);
    if (!track?.audio) throw new NotFoundError('The stored file of this track is gone; request its download again');
    return { track, audio: track.audio, etag: `"${track.audio.blobKey}"` };
  }

  open(file: LibraryFile, range?: ByteRange): Promise<Readable> {
    return this.#blobs.open(file.audio.blobKey, range);
  }

  /**
   * Frees the user's quota; the stored file goes (through a tombstone) when no library holds
   * the track and no other track shares its bytes.
   * @throws NotFoundError; UnavailableError when the track's lock cannot be had in time.
   */
  async remove(userId: string, trackId: string): Promise<void> {
    if (!(await this.#library.remove(userId, trackId))) throw new NotFoundError('That track is not in your library');
    const stores = { library: this.#library, catalog: this.#catalog, files: this.#files };
    const key = trackLockKey(trackId);
    await this.#locks.using([key], ({ fencingToken }) => releaseUnheldAudio(stores, trackId, { key, token: fencingToken }));
  }
}
