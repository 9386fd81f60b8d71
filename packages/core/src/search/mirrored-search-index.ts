import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Page, PageRequest } from '../model.js';
import type { IndexedDocument, SearchIndex, TrackDocument } from './search-index.js';

/**
 * A search index whose every write also goes to a mirror: the database's own full-text index
 * behind Elasticsearch, so that search can fall back on it holding the same documents, also
 * those written while the primary was down. Searches and reconciliation read the primary. A
 * write that fails on either is retried whole by the relay, which versions make harmless.
 */
export class MirroredSearchIndex implements SearchIndex {
  readonly name: string;

  constructor(
    readonly primary: SearchIndex,
    readonly mirror: SearchIndex,
  ) {
    this.name = primary.name;
  }

  upsert(documents: TrackDocument[]): Promise<void> {
    return this.#writeBoth((index) => index.upsert(documents));
  }

  remove(ids: string[]): Promise<void> {
    return this.#writeBoth((index) => index.remove(ids));
  }

  search(query: string, page: PageRequest): Promise<Page<string>> {
    return this.primary.search(query, page);
  }

  documents(pageSize: number): AsyncIterable<IndexedDocument> {
    return this.primary.documents(pageSize);
  }

  /**
   * The primary's request is sent first, and the mirror is written while the primary works on
   * it: SQLite writes on this thread, and would otherwise hold the request back (measured:
   * outbox catch-up 0.38 → 0.45 of a bulk load). The primary's failure is the one told, so that
   * the relay sees Elasticsearch down as such.
   */
  async #writeBoth(write: (index: SearchIndex) => Promise<void>): Promise<void> {
    const primary = write(this.primary);
    // Awaited below; a failure meanwhile (a breaker open) is not left unhandled.
    primary.catch(() => undefined);
    // The client puts the request on the wire a couple of event-loop turns after the call.
    await nextTurn();
    await nextTurn();
    const [primaryDone, mirrorDone] = await Promise.allSettled([primary, write(this.mirror)]);
    if (primaryDone.status === 'rejected') throw primaryDone.reason;
    if (mirrorDone.status === 'rejected') throw mirrorDone.reason;
  }
}
