import type { Readable } from 'node:stream';

/** A stored file, addressed by the SHA-256 of its bytes. */
export interface StoredBlob {
  key: string;
  sizeBytes: number;
}

export interface BlobInfo extends StoredBlob {
  modifiedAt: Date;
}

/**
 * The attempt a write belongs to: a job and the token of its lease. Its temp file is named
 * after both, so that the job's next attempt removes what this one left at once.
 */
export interface BlobOwner {
  jobId: string;
  token: string;
}

export interface BeginOptions {
  owner?: BlobOwner;
}

/**
 * A write in progress: nothing is visible under its key until `commit`.
 *
 * `seal` ends the writing and tells the key, so that the caller can record the key (fenced)
 * before anything is published. A draft whose temp file was removed by a later attempt of its
 * job refuses to seal or commit with a `LeaseLostError`: a paused old attempt never publishes.
 */
export interface BlobDraft {
  readonly bytesWritten: number;
  write(chunk: Uint8Array): Promise<void>;
  /** The bytes are durable and their key known; nothing is visible yet. Safe to call twice. */
  seal(): Promise<StoredBlob>;
  /**
   * Publishes the bytes under their key, sealing them first if need be. Identical bytes are
   * stored once, so committing a key that exists is harmless: the file is kept and touched.
   */
  commit(): Promise<StoredBlob>;
  /** Safe to call after a failed write, after commit (it does nothing then) or twice. */
  abort(): Promise<void>;
}

export interface ByteRange {
  /** Inclusive offsets, as in HTTP. */
  start: number;
  end: number;
}

/**
 * Content-addressed files. A shared volume has no compare-and-set, so the store never decides
 * whether a file is in use: deleting one goes through a tombstone in the database first (see
 * `BlobLedger` and `AudioFiles`), and `delete` is only the last, unconditional step.
 */
export interface BlobStore {
  begin(options?: BeginOptions): Promise<BlobDraft>;
  open(key: string, range?: ByteRange): Promise<Readable>;
  stat(key: string): Promise<BlobInfo | null>;
  delete(key: string): Promise<boolean>;
  list(): AsyncIterable<BlobInfo>;
}
