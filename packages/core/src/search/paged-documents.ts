import { ConfigError } from '../errors.js';
import type { IndexedDocument } from './search-index.js';

/** Reads up to `limit` documents whose id sorts after `afterId`, in id order. */
export type DocumentPageReader = (afterId: string, limit: number) => Promise<IndexedDocument[]>;

/**
 * Every document of an index, `pageSize` at a time, each page starting after the last id of
 * the one before (keyset pagination): a page costs the same however deep the scan has gone,
 * and documents removed meanwhile shift nothing. The first page starts after '', which every
 * track id sorts after.
 */
export async function* pagedDocuments(readPage: DocumentPageReader, pageSize: number): AsyncGenerator<IndexedDocument> {
  // A page of 0 would read the first page again and again, for ever.
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new ConfigError([`pageSize must be a positive integer, not ${pageSize}`]);
  for (let afterId = ''; ; ) {
    const page = await readPage(afterId, pageSize);
    yield* page;
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) return;
    afterId = last.id;
  }
}
