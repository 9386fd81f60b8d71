import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobInfo } from '../../src/storage/blob-store.js';
import { LocalBlobStore } from '../../src/storage/local-blob-store.js';
import { storeStream } from '../../src/storage/store-stream.js';

async function* chunksOf(payload: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < payload.length; offset += size) yield payload.subarray(offset, offset + size);
}

describe('storeStream', () => {
  let root: string;
  let store: LocalBlobStore;

  const listAll = async () => {
    const blobs: BlobInfo[] = [];
    for await (const blob of store.list()) blobs.push(blob);
    return blobs;
  };
  const tempFiles = () => readdirSync(join(root, 'tmp'));

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'mixtape-store-stream-'));
    store = new LocalBlobStore({ root });
    await store.start();
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('stores a stream and reports progress', async () => {
    const payload = randomBytes(1_000_000);
    const progress: number[] = [];
    const stored = await storeStream(store, Readable.from(chunksOf(payload, 64 * 1024)), {
      maxBytes: payload.length,
      onProgress: (bytes) => progress.push(bytes),
      headBytes: 12,
    });

    expect(stored).toEqual({ key: createHash('sha256').update(payload).digest('hex'), sizeBytes: payload.length, head: new Uint8Array(payload.subarray(0, 12)) });
    expect(progress).toHaveLength(Math.ceil(payload.length / (64 * 1024)));
    expect(progress.at(-1)).toBe(payload.length);
    expect(tempFiles()).toEqual([]);
  });

  it('hands back the first headBytes even when they arrive over several chunks', async () => {
    const payload = randomBytes(40);
    const stored = await storeStream(store, chunksOf(payload, 3), { maxBytes: 100, headBytes: 12 });
    expect(Buffer.from(stored.head).equals(payload.subarray(0, 12))).toBe(true);
    const short = await storeStream(store, chunksOf(payload.subarray(0, 5), 2), { maxBytes: 100, headBytes: 12 });
    expect(Buffer.from(short.head).equals(payload.subarray(0, 5))).toBe(true);
  });

  it('throws TooLargeError past maxBytes and keeps nothing', async () => {
    const payload = randomBytes(300_000);
    let pulled = 0;
    async function* counted() {
      for await (const chunk of chunksOf(payload, 10_000)) {
        pulled += chunk.byteLength;
        yield chunk;
      }
    }
    await expect(storeStream(store, counted(), { maxBytes: 100_000 })).rejects.toMatchObject({
      code: 'ERR_TOO_LARGE',
      limitBytes: 100_000,
    });
    // It stopped reading at the first chunk over the limit.
    expect(pulled).toBe(110_000);
    expect(tempFiles()).toEqual([]);
    expect(await listAll()).toEqual([]);
  });

  it('keeps memory flat however large the stream', async () => {
    // 192 MiB of fresh chunks, with a signal: no chunk may outlive its write.
    const size = 192 * 1024 ** 2;
    async function* fresh(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < size / 65_536; i += 1) yield Buffer.alloc(65_536, i % 251);
    }
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    try {
      const blob = await storeStream(store, fresh(), { maxBytes: size, signal: new AbortController().signal });
      expect(blob.sizeBytes).toBe(size);
    } finally {
      clearInterval(sampler);
    }
    expect((peak - before) / 1024 ** 2).toBeLessThan(96);
  });

  it('accepts a body of exactly maxBytes', async () => {
    const payload = randomBytes(100_000);
    const stored = await storeStream(store, chunksOf(payload, 7000), { maxBytes: 100_000 });
    expect(stored.sizeBytes).toBe(100_000);
  });

  it('keeps nothing when the source fails midway', async () => {
    const failure = new Error('upstream reset');
    async function* failing() {
      yield randomBytes(50_000);
      yield randomBytes(50_000);
      throw failure;
    }
    await expect(storeStream(store, failing(), { maxBytes: 1_000_000 })).rejects.toBe(failure);
    expect(tempFiles()).toEqual([]);
    expect(await listAll()).toEqual([]);
  });

  it('stops on abort even while the source is stalled, and keeps nothing', async () => {
    const controller = new AbortController();
    const source = new Readable({ read() {} });
    source.push(randomBytes(10_000));
    const pending = storeStream(store, source, {
      maxBytes: 1_000_000,
      signal: controller.signal,
      // Abort once the stream has nothing more to give, so storeStream is waiting on it.
      onProgress: () => setTimeout(() => controller.abort(new Error('cancelled by user')), 30),
    });
    await expect(pending).rejects.toThrow('cancelled by user');
    expect(source.destroyed).toBe(true);
    expect(tempFiles()).toEqual([]);
    expect(await listAll()).toEqual([]);
  });

  it('does not start when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(storeStream(store, chunksOf(randomBytes(10), 5), { maxBytes: 100, signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(tempFiles()).toEqual([]);
  });
});
