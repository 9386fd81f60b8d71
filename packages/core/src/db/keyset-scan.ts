import { ConfigError } from '../errors.js';

/** Reads up to `limit` items whose id sorts after `afterId` (from the first when null), in id order. */
export type KeysetPageReader<T> = (afterId: string | null, limit: number) => Promise<T[]>;

/**
 * Every page of a store read in id order, `pageSize` at a time, each page starting after the
 * last id of the one before (keyset pagination): a page costs the same however deep the scan
 * has gone, and items removed meanwhile shift nothing. Memory holds one page.
 */
export async function* keysetPages<T extends { id: string }>(readPage: KeysetPageReader<T>, pageSize: number): AsyncGenerator<T[]> {
  // A page of 0 would read the first page again and again, for ever.
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new ConfigError([`pageSize must be a positive integer, not ${pageSize}`]);
  for (let afterId: string | null = null; ; ) {
    const page = await readPage(afterId, pageSize);
    if (page.length > 0) yield page;
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) return;
    afterId = last.id;
  }
}

/** Every item of `keysetPages`, one at a time. */
export async function* keysetScan<T extends { id: string }>(readPage: KeysetPageReader<T>, pageSize: number): AsyncGenerator<T> {
  for await (const page of keysetPages(readPage, pageSize)) yield* page;
}
