import { TooLargeError } from '../errors.js';
import type { BlobDraft, BlobOwner, BlobStore, StoredBlob } from './blob-store.js';

export interface StoreStreamOptions {
  /** More bytes than this and nothing is kept. */
  maxBytes: number;
  signal?: AbortSignal;
  /** Called with the running total after each chunk is written. */
  onProgress?: (bytes: number) => void;
  /** How many of the first bytes to hand back as `head`; default 0. */
  headBytes?: number;
  /** The job attempt writing: it names the temp file (see `BlobOwner`). */
  owner?: BlobOwner;
}

export interface StoredStream extends StoredBlob {
  /** The blob's first bytes (up to `headBytes`), to tell what kind of file it is without reading it back. */
  head: Uint8Array;
}

export interface SealedStream extends StoredStream {
  /** Sealed and not yet visible: the caller commits it (after recording its key) or aborts it. */
  draft: BlobDraft;
}

/**
 * Writes `body` into a new blob and publishes it. Any failure — a source error,
 * `TooLargeError`, an aborted `signal` — aborts the draft, so either the whole blob is
 * committed or nothing is kept.
 */
export async function storeStream(
  store: BlobStore,
  body: AsyncIterable<Uint8Array>,
  options: StoreStreamOptions,
): Promise<StoredStream> {
  const { draft, ...stored } = await writeStream(store, body, options);
  try {
    await draft.commit();
    return stored;
  } finally {
    await draft.abort();
  }
}

/**
 * Writes `body` into a new draft and seals it, so that its key is known before anything is
 * published. Any failure aborts the draft; after success, committing or aborting it is the
 * caller's.
 */
export async function writeStream(
  store: BlobStore,
  body: AsyncIterable<Uint8Array>,
  options: StoreStreamOptions,
): Promise<SealedStream> {
  const { maxBytes, signal, onProgress } = options;
  signal?.throwIfAborted();
  const head = new Uint8Array(options.headBytes ?? 0);
  let headLength = 0;
  const draft = await store.begin(options.owner ? { owner: options.owner } : {});
  const iterator = body[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const next = await nextOrAbort(iterator, signal);
      if (next.done) break;
      const chunk = next.value;
      if (draft.bytesWritten + chunk.byteLength > maxBytes) throw new TooLargeError(maxBytes);
      await draft.write(chunk);
      if (headLength < head.length) {
        // A copy of a few bytes, so the chunk itself is not kept alive until the end.
        const taken = chunk.subarray(0, head.length - headLength);
        head.set(taken, headLength);
        headLength += taken.length;
      }
      onProgress?.(draft.bytesWritten);
    }
    finished = true;
    signal?.throwIfAborted();
    return { ...(await draft.seal()), head: head.subarray(0, headLength), draft };
  } catch (error) {
    if (!finished) stopSource(body, iterator);
    await draft.abort();
    throw error;
  }
}

/**
 * The next chunk, or the abort's reason as soon as the signal fires: a stalled source would
 * otherwise keep us waiting long after the abort. The listener lives for one read only; racing
 * every read against one long-lived promise would pile a reaction per chunk onto it, and keep
 * every chunk alive until the end.
 */
function nextOrAbort(iterator: AsyncIterator<Uint8Array>, signal: AbortSignal | undefined): Promise<IteratorResult<Uint8Array>> {
  if (!signal) return iterator.next();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (result) => {
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
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
