import { createHash, randomBytes, type Hash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LeaseLostError, MixtapeError, NotFoundError, ValidationError } from '../errors.js';
import type { BeginOptions, BlobDraft, BlobInfo, BlobOwner, BlobStore, ByteRange, StoredBlob } from './blob-store.js';

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
/** A job id or lease token that can be part of a file name: no dot, no separator. */
const OWNER_PART = /^[A-Za-z0-9_-]{1,128}$/;
const PART = '.part';

/**
 * Blobs on the local disk, addressed by SHA-256: `${root}/blobs/<aa>/<bb>/<sha256hex>`.
 * Writes go to `${root}/tmp` and are renamed into place only once complete and fsynced,
 * so a crash never leaves a partial file under a key. A write owned by a job attempt is
 * `tmp/<jobId>.<leaseToken>.part`; beginning one removes every earlier temp file of that job,
 * so what a killed attempt left goes as soon as the job runs again.
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

  /**
   * Removes temp files not modified for `olderThanMs`, and, when `ownerIsLive` is given, those
   * of any age whose owning attempt it says is over (housekeeping asks the job queue). Returns
   * how many it removed.
   */
  async sweepTemp(olderThanMs = this.staleTempMs, ownerIsLive?: (owner: BlobOwner) => Promise<boolean>): Promise<number> {
    this.refuseIfReadOnly('sweep temp files');
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of await readdirOrEmpty(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      const info = await stat(path).catch(ignoreMissing);
      if (!info?.isFile()) continue;
      const owner = tempOwner(name);
      const stale = info.mtimeMs <= cutoff || (owner !== null && ownerIsLive !== undefined && !(await ownerIsLive(owner)));
      if (stale && (await removeFile(path))) removed += 1;
    }
    return removed;
  }

  async begin(options: BeginOptions = {}): Promise<BlobDraft> {
    this.refuseIfReadOnly('store a file');
    const { owner } = options;
    if (owner && !(OWNER_PART.test(owner.jobId) && OWNER_PART.test(owner.token))) {
      throw ValidationError.field('owner', 'jobId and token must be 1-128 characters of A-Z, a-z, 0-9, _ and -');
    }
    await mkdir(this.tmpDir, { recursive: true });
    if (owner) await this.removeTempsOf(owner.jobId);
    const name = owner ? `${owner.jobId}.${owner.token}${PART}` : `${randomBytes(16).toString('hex')}${PART}`;
    const tempPath = join(this.tmpDir, name);
    const handle = await open(tempPath, 'wx', 0o644);
    return new LocalBlobDraft(handle, tempPath, (key) => this.pathOf(key), owner);
  }

  /**
   * Earlier attempts' temp files of a job: a killed worker's leftovers, or the file a paused
   * one still writes to, which then can never be published (see LocalBlobDraft.seal).
   */
  private async removeTempsOf(jobId: string): Promise<void> {
    for (const name of await readdirOrEmpty(this.tmpDir)) {
      if (tempOwner(name)?.jobId === jobId) await removeFile(join(this.tmpDir, name));
    }
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
  private sealed: StoredBlob | undefined;

  constructor(
    private readonly handle: FileHandle,
    private readonly tempPath: string,
    private readonly pathOf: (key: string) => string,
    private readonly owner: BlobOwner | undefined,
  ) {}

  get bytesWritten(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open' || this.sealed) throw new MixtapeError('ERR_INTERNAL', `Cannot write to a draft that is ${this.sealed ? 'sealed' : this.state}`);
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

  async seal(): Promise<StoredBlob> {
    if (this.sealed) return this.sealed;
    if (this.state !== 'open') throw new MixtapeError('ERR_INTERNAL', `Cannot seal a draft that is ${this.state}`);
    this.state = 'writing';
    try {
      await this.handle.sync();
      const written = await this.handle.stat();
      await this.handle.close();
      // Writes to a temp file that a later attempt removed went to an unlinked file.
      if (!sameFile(written, await stat(this.tempPath).catch(ignoreMissing))) throw this.superseded();
      this.sealed = { key: this.hash.digest('hex'), sizeBytes: this.written };
      this.state = 'open';
      return this.sealed;
    } catch (error) {
      this.state = 'failed';
      await this.abort();
      throw error;
    }
  }

  async commit(): Promise<StoredBlob> {
    const blob = await this.seal();
    if (this.state !== 'open') throw new MixtapeError('ERR_INTERNAL', `Cannot commit a draft that is ${this.state}`);
    this.state = 'writing';
    try {
      const target = this.pathOf(blob.key);
      // Same key, same bytes: keep the existing file, but touch it so that an orphan
      // sweep's grace period starts again for the row about to reference it.
      if (await touch(target)) {
        await removeFile(this.tempPath);
      } else {
        const dir = join(target, '..');
        await mkdir(dir, { recursive: true });
        await rename(this.tempPath, target).catch((error: unknown) => {
          throw isMissing(error) ? this.superseded() : error;
        });
        await syncDirectory(dir);
      }
      this.state = 'committed';
      return blob;
    } catch (error) {
      this.state = 'failed';
      await this.abort();
      throw error;
    }
  }

  /** Someone removed our temp file: a later attempt of our job, or a sweep that took us for dead. */
  private superseded(): MixtapeError {
    return this.owner
      ? new LeaseLostError(this.owner.jobId)
      : new MixtapeError('ERR_INTERNAL', `The temp file ${this.tempPath} was removed while it was written`);
  }

  async abort(): Promise<void> {
    if (this.state === 'committed' || this.state === 'aborted') return;
    this.state = 'aborted';
    await this.handle.close().catch(() => undefined);
    await removeFile(this.tempPath);
  }
}

/** The owner a temp file's name carries (`<jobId>.<token>.part`), or null for an anonymous one. */
function tempOwner(name: string): BlobOwner | null {
  if (!name.endsWith(PART)) return null;
  const [jobId, token, ...rest] = name.slice(0, -PART.length).split('.');
  if (rest.length > 0 || jobId === undefined || token === undefined) return null;
  return OWNER_PART.test(jobId) && OWNER_PART.test(token) ? { jobId, token } : null;
}

function sameFile(a: Stats, b: Stats | null): boolean {
  return b !== null && a.ino === b.ino && a.dev === b.dev;
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
