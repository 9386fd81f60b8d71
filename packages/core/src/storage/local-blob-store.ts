import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { MixtapeError, NotFoundError, ValidationError } from '../errors.js';
import type { BlobDraft, BlobInfo, BlobStore, ByteRange, StoredBlob } from './blob-store.js';

export interface LocalBlobStoreOptions {
  root: string;
  /**
   * A temp file untouched for this long belongs to no live write and is swept. Not zero by
   * default because a separate `mixtape worker` process may be writing into the same root.
   */
  staleTempMs?: number;
  /** Look, never touch: `start()` creates and sweeps nothing, and writes and deletes are refused. */
  readOnly?: boolean;
}

const KEY_PATTERN = /^[0-9a-f]{64}$/;
const SHARD_PATTERN = /^[0-9a-f]{2}$/;

/**
 * Blobs on the local disk, addressed by SHA-256: `${root}/blobs/<aa>/<bb>/<sha256hex>`.
 * Writes go to `${root}/tmp` and are renamed into place only once complete and fsynced,
 * so a crash never leaves a partial file under a key.
 */
export class LocalBlobStore implements BlobStore {
  private readonly blobDir: string;
  private readonly tmpDir: string;
  private readonly staleTempMs: number;
  private readonly readOnly: boolean;

  constructor(options: LocalBlobStoreOptions) {
    this.blobDir = join(options.root, 'blobs');
    this.tmpDir = join(options.root, 'tmp');
    this.staleTempMs = options.staleTempMs ?? 60 * 60_000;
    this.readOnly = options.readOnly ?? false;
  }

  /** Creates the directories and sweeps temp files left by a crash. Returns how many it removed. */
  async start(): Promise<number> {
    if (this.readOnly) return 0;
    await mkdir(this.blobDir, { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    return this.sweepTemp(this.staleTempMs);
  }

  /** Removes temp files not modified for `olderThanMs`. Returns how many it removed. */
  async sweepTemp(olderThanMs = this.staleTempMs): Promise<number> {
    this.refuseIfReadOnly('sweep temp files');
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of await readdirOrEmpty(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      const info = await stat(path).catch(ignoreMissing);
      if (!info?.isFile() || info.mtimeMs > cutoff) continue;
      if (await removeFile(path)) removed += 1;
    }
    return removed;
  }

  async begin(): Promise<BlobDraft> {
    this.refuseIfReadOnly('store a file');
    await mkdir(this.tmpDir, { recursive: true });
    const tempPath = join(this.tmpDir, `${randomBytes(16).toString('hex')}.part`);
    const handle = await open(tempPath, 'wx', 0o644);
    return new LocalBlobDraft(handle, tempPath, (key) => this.pathOf(key));
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    checkKey(key);
    if (range) checkRange(range);
    // Opening first, then streaming from the handle, cannot race with a delete.
    const handle = await open(this.pathOf(key), 'r').catch((error: unknown) => {
      throw isMissing(error) ? new NotFoundError(`No blob ${key}`) : error;
    });
    if (!range) return handle.createReadStream();
    const { size } = await handle.stat();
    if (range.start >= size) {
      await handle.close();
      throw ValidationError.field('range', `starts at ${range.start}, past the end of ${size} bytes`);
    }
    // As in HTTP, an end past the last byte means "to the end".
    return handle.createReadStream({ start: range.start, end: Math.min(range.end, size - 1) });
  }

  async stat(key: string): Promise<BlobInfo | null> {
    checkKey(key);
    const info = await stat(this.pathOf(key)).catch(ignoreMissing);
    return info ? { key, sizeBytes: info.size, modifiedAt: info.mtime } : null;
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    this.refuseIfReadOnly('delete a file');
    return removeFile(this.pathOf(key));
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const first of await readdirOrEmpty(this.blobDir)) {
      if (!SHARD_PATTERN.test(first)) continue;
      for (const second of await readdirOrEmpty(join(this.blobDir, first))) {
        if (!SHARD_PATTERN.test(second)) continue;
        for (const key of await readdirOrEmpty(join(this.blobDir, first, second))) {
          if (!KEY_PATTERN.test(key) || !key.startsWith(first + second)) continue;
          const info = await stat(join(this.blobDir, first, second, key)).catch(ignoreMissing);
          if (info?.isFile()) yield { key, sizeBytes: info.size, modifiedAt: info.mtime };
        }
      }
    }
  }

  private refuseIfReadOnly(action: string): void {
    if (this.readOnly) throw new MixtapeError('ERR_INTERNAL', `A read-only blob store cannot ${action}`);
  }

  private pathOf(key: string): string {
    return join(this.blobDir, key.slice(0, 2), key.slice(2, 4), key);
  }
}

type DraftState = 'open' | 'writing' | 'failed' | 'committed' | 'aborted';

class LocalBlobDraft implements BlobDraft {
  private state: DraftState = 'open';
  private written = 0;
  private readonly hash: Hash = createHash('sha256');

  constructor(
    private readonly handle: FileHandle,
    private readonly tempPath: string,
    private readonly pathOf: (key: string) => string,
  ) {}

  get bytesWritten(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open') throw new MixtapeError('ERR_INTERNAL', `Cannot write to a draft that is ${this.state}`);
    this.state = 'writing';
    try {
      // A single write may be partial; loop until the whole chunk is on disk.
      let offset = 0;
      while (offset < chunk.byteLength) {
        const { bytesWritten } = await this.handle.write(chunk, offset, chunk.byteLength - offset);
        offset += bytesWritten;
      }
    } catch (error) {
      if (this.state === 'writing') this.state = 'failed';
      throw error;
    }
    if (this.state !== 'writing') throw new MixtapeError('ERR_INTERNAL', `The draft was ${this.state} during a write`);
    this.hash.update(chunk);
    this.written += chunk.byteLength;
    this.state = 'open';
  }

  async commit(): Promise<StoredBlob> {
    if (this.state !== 'open') throw new MixtapeError('ERR_INTERNAL', `Cannot commit a draft that is ${this.state}`);
    this.state = 'writing';
    try {
      await this.handle.sync();
      await this.handle.close();
      const key = this.hash.digest('hex');
      const target = this.pathOf(key);
      // Same key, same bytes: keep the existing file, but touch it so that an orphan
      // sweep's grace period starts again for the row about to reference it.
      if (await touch(target)) {
        await unlink(this.tempPath);
      } else {
        const dir = join(target, '..');
        await mkdir(dir, { recursive: true });
        await rename(this.tempPath, target);
        await syncDirectory(dir);
      }
      this.state = 'committed';
      return { key, sizeBytes: this.written };
    } catch (error) {
      this.state = 'failed';
      await this.abort();
      throw error;
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'committed' || this.state === 'aborted') return;
    this.state = 'aborted';
    await this.handle.close().catch(() => undefined);
    await removeFile(this.tempPath);
  }
}

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key)) throw ValidationError.field('key', 'must be 64 lowercase hex characters');
}

function checkRange(range: ByteRange): void {
  const valid = Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start;
  if (!valid) throw ValidationError.field('range', `${range.start}-${range.end} is not a valid byte range`);
}

/** Makes a rename durable: the new directory entry survives a power loss. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some platforms (Windows) refuse to fsync a directory; the rename is still atomic there.
    if (!['EISDIR', 'EPERM', 'EINVAL'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(ignoreMissing)) ?? [];
}

/** True if the file exists and now has a fresh mtime. */
async function touch(path: string): Promise<boolean> {
  const now = new Date();
  return utimes(path, now, now).then(
    () => true,
    (error: unknown) => ignoreMissing(error) ?? false,
  );
}

/** True if it removed the file, false if there was none. */
async function removeFile(path: string): Promise<boolean> {
  return unlink(path).then(
    () => true,
    (error: unknown) => ignoreMissing(error) ?? false,
  );
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** For `.catch`: a missing file becomes null; any other fault is rethrown. */
function ignoreMissing(error: unknown): null {
  if (isMissing(error)) return null;
  throw error;
}
