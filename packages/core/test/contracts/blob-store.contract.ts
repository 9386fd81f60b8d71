import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobInfo, BlobStore, StoredBlob } from '../../src/storage/blob-store.js';

export interface BlobStoreHarness {
  /** An empty store. */
  subject: BlobStore;
  close(): Promise<void>;
}

/** What every `BlobStore` adapter must do. */
export function describeBlobStore(name: string, factory: () => Promise<BlobStoreHarness>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let harness: BlobStoreHarness;
    let store: BlobStore;

    beforeEach(async () => {
      harness = await factory();
      store = harness.subject;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('round-trips a multi-megabyte payload written in many chunks, keyed by its SHA-256', async () => {
      const payload = randomBytes(3 * 1024 * 1024 + 12_345);
      const draft = await store.begin();
      let offset = 0;
      let chunks = 0;
      while (offset < payload.length) {
        // Uneven chunk sizes, as a network source delivers them.
        const size = 1 + ((chunks * 7919) % 65_536);
        await draft.write(payload.subarray(offset, offset + size));
        offset += size;
        chunks += 1;
      }
      expect(chunks).toBeGreaterThan(50);
      expect(draft.bytesWritten).toBe(payload.length);
      const stored = await draft.commit();

      expect(stored).toEqual({ key: sha256(payload), sizeBytes: payload.length });
      expect((await readAll(await store.open(stored.key))).equals(payload)).toBe(true);
    });

    it('stores identical content once, under the same key', async () => {
      const payload = randomBytes(10_000);
      const first = await put(store, [payload]);
      const second = await put(store, [payload.subarray(0, 4000), payload.subarray(4000)]);

      expect(second).toEqual(first);
      const listed = await listAll(store);
      expect(listed.map((blob) => blob.key)).toEqual([first.key]);
      expect((await readAll(await store.open(first.key))).equals(payload)).toBe(true);
    });

    it('stores an empty blob', async () => {
      const stored = await put(store, []);
      expect(stored).toEqual({ key: sha256(Buffer.alloc(0)), sizeBytes: 0 });
      expect((await readAll(await store.open(stored.key))).length).toBe(0);
    });

    it('keeps nothing from an aborted draft, and abort is safe twice', async () => {
      const payload = randomBytes(50_000);
      const draft = await store.begin();
      await draft.write(payload);
      await draft.abort();
      await draft.abort();

      expect(await listAll(store)).toEqual([]);
      expect(await store.stat(sha256(payload))).toBeNull();
    });

    it('refuses to use a draft after abort', async () => {
      const draft = await store.begin();
      await draft.abort();
      await expect(draft.write(Buffer.from('late'))).rejects.toThrow();
      await expect(draft.commit()).rejects.toThrow();
      expect(await listAll(store)).toEqual([]);
    });

    it('reads inclusive byte ranges', async () => {
      const payload = randomBytes(100_000);
      const { key } = await put(store, [payload]);
      const last = payload.length - 1;

      const read = async (start: number, end: number) => readAll(await store.open(key, { start, end }));
      expect((await read(0, 0)).equals(payload.subarray(0, 1))).toBe(true);
      expect((await read(last, last)).equals(payload.subarray(last))).toBe(true);
      expect((await read(1000, 70_999)).equals(payload.subarray(1000, 71_000))).toBe(true);
      expect((await read(0, last)).equals(payload)).toBe(true);
    });

    it('stats and deletes', async () => {
      const before = Date.now();
      const payload = randomBytes(2048);
      const { key } = await put(store, [payload]);

      const info = await store.stat(key);
      expect(info).not.toBeNull();
      expect(info?.key).toBe(key);
      expect(info?.sizeBytes).toBe(2048);
      expect(info?.modifiedAt).toBeInstanceOf(Date);
      // Allow for coarse file system and server clocks.
      expect(info?.modifiedAt.getTime()).toBeGreaterThan(before - 5000);

      expect(await store.delete(key)).toBe(true);
      expect(await store.delete(key)).toBe(false);
      expect(await store.stat(key)).toBeNull();
      await expect(store.open(key)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    });

    it('says a blob that was never stored is not found', async () => {
      const key = sha256(randomBytes(16));
      expect(await store.stat(key)).toBeNull();
      expect(await store.delete(key)).toBe(false);
      await expect(store.open(key)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    });

    it('tells a sealed draft\'s key before anything is visible under it', async () => {
      const payload = randomBytes(5000);
      const draft = await store.begin();
      await draft.write(payload);
      const sealed = await draft.seal();
      expect(sealed).toEqual({ key: sha256(payload), sizeBytes: payload.length });
      expect(await draft.seal()).toEqual(sealed);
      expect(await store.stat(sealed.key)).toBeNull();
      await expect(draft.write(Buffer.from('late'))).rejects.toThrow();

      expect(await draft.commit()).toEqual(sealed);
      expect((await readAll(await store.open(sealed.key))).equals(payload)).toBe(true);
      await draft.abort();
      expect(await store.stat(sealed.key)).not.toBeNull();
    });

    it('keeps nothing of a sealed draft that is aborted', async () => {
      const draft = await store.begin();
      await draft.write(randomBytes(100));
      const { key } = await draft.seal();
      await draft.abort();
      await expect(draft.commit()).rejects.toThrow();
      expect(await store.stat(key)).toBeNull();
      expect(await listAll(store)).toEqual([]);
    });

    it('never lets an earlier attempt of a job publish once a later attempt began', async () => {
      const old = await store.begin({ owner: { jobId: 'job-1', token: 'lease-a' } });
      await old.write(Buffer.from('half of the old attempt'));
      const retry = await store.begin({ owner: { jobId: 'job-1', token: 'lease-b' } });
      const other = await store.begin({ owner: { jobId: 'job-2', token: 'lease-a' } });

      // The paused attempt wakes up and carries on as if nothing happened.
      await old.write(Buffer.from(' and the rest')).catch(() => undefined);
      await expect(old.commit()).rejects.toMatchObject({ code: 'ERR_LEASE_LOST' });
      expect(await listAll(store)).toEqual([]);

      await retry.write(Buffer.from('the whole file'));
      await other.write(Buffer.from('another job'));
      const stored = await retry.commit();
      expect((await readAll(await store.open(stored.key))).toString()).toBe('the whole file');
      expect((await readAll(await store.open((await other.commit()).key))).toString()).toBe('another job');
    });

    it('lists every committed blob with its size', async () => {
      expect(await listAll(store)).toEqual([]);
      const payloads = [randomBytes(1), randomBytes(1000), randomBytes(70_000)];
      const stored = await Promise.all(payloads.map((payload) => put(store, [payload])));
      const pending = await store.begin();
      await pending.write(randomBytes(500));

      const listed = await listAll(store);
      const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
      expect(listed.map(({ key, sizeBytes }) => ({ key, sizeBytes })).sort(byKey)).toEqual([...stored].sort(byKey));
      for (const blob of listed) expect(blob.modifiedAt).toBeInstanceOf(Date);
      await pending.abort();
    });
  });
}

async function put(store: BlobStore, chunks: Uint8Array[]): Promise<StoredBlob> {
  const draft = await store.begin();
  for (const chunk of chunks) await draft.write(chunk);
  return draft.commit();
}

async function listAll(store: BlobStore): Promise<BlobInfo[]> {
  const blobs: BlobInfo[] = [];
  for await (const blob of store.list()) blobs.push(blob);
  return blobs;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
