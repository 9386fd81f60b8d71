import { TooLargeError } from '../errors.js';
import type { BlobStore, StoredBlob } from './blob-store.js';

export interface StoreStreamOptions {
  /** More bytes than this and nothing is kept. */
  maxBytes: number;
  signal?: AbortSignal;
  /** Called with the running total after each chunk is written. */
  onProgress?: (bytes: number) => void;
}

/**
 * Writes `body` into a new blob. Any failure — a source error, `TooLargeError`, an aborted
 * `signal` — aborts the draft, so either the whole blob is committed or nothing is kept.
 */
export async function storeStream(
  store: BlobStore,
  body: AsyncIterable<Uint8Array>,
  options: StoreStreamOptions,
): Promise<StoredBlob> {
  const { maxBytes, signal, onProgress } = options;
  signal?.throwIfAborted();
  const draft = await store.begin();
  const iterator = body[Symbol.asyncIterator]();
  // A stalled source would otherwise keep us waiting for its next chunk long after the abort.
  let stopWaiting: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    stopWaiting = () => reject(signal?.reason);
    signal?.addEventListener('abort', stopWaiting, { once: true });
  });
  aborted.catch(() => undefined);
  let finished = false;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) break;
      const chunk = next.value;
      if (draft.bytesWritten + chunk.byteLength > maxBytes) throw new TooLargeError(maxBytes);
      await draft.write(chunk);
      onProgress?.(draft.bytesWritten);
    }
    finished = true;
    signal?.throwIfAborted();
    return await draft.commit();
  } catch (error) {
    if (!finished) stopSource(body, iterator);
    await draft.abort();
    throw error;
  } finally {
    if (stopWaiting) signal?.removeEventListener('abort', stopWaiting);
  }
}

/**
 * Tells the source we stopped reading, without waiting on it. A Node stream is destroyed, which
 * closes its connection even while a read is pending; `return()` would wait for that read.
 */
function stopSource(body: AsyncIterable<Uint8Array>, iterator: AsyncIterator<Uint8Array>): void {
  const stream = body as Partial<{ destroy: () => void }>;
  try {
    if (typeof stream.destroy === 'function') stream.destroy();
    else Promise.resolve(iterator.return?.()).catch(() => undefined);
  } catch {
    // A source that fails to stop has nothing left for us to release.
  }
}
