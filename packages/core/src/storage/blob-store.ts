import type { Readable } from 'node:stream';

/** A stored file, addressed by the SHA-256 of its bytes. */
export interface StoredBlob {
  key: string;
  sizeBytes: number;
}

export interface BlobInfo extends StoredBlob {
  modifiedAt: Date;
}

/** A write in progress: nothing is visible under its key until `commit`. */
export interface BlobDraft {
  readonly bytesWritten: number;
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<StoredBlob>;
  /** Safe to call after a failed write or twice. */
  abort(): Promise<void>;
}

export interface ByteRange {
  /** Inclusive offsets, as in HTTP. */
  start: number;
  end: number;
}

export interface BlobStore {
  begin(): Promise<BlobDraft>;
  open(key: string, range?: ByteRange): Promise<Readable>;
  stat(key: string): Promise<BlobInfo | null>;
  delete(key: string): Promise<boolean>;
  list(): AsyncIterable<BlobInfo>;
}
