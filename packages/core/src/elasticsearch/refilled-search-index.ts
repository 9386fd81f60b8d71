import { UnavailableError } from '../errors.js';
import type { Page, PageRequest } from '../model.js';
import type { SearchOutbox } from '../outbox/search-outbox.js';
import type { IndexedDocument, SearchIndex, TrackDocument } from '../search/search-index.js';

/**
 * An index that may be created empty under a running deployment (first use, or deleted by
 * hand), and is then refilled from the catalog through the outbox. Until the outbox has drained,
 * its searches are refused as unavailable, so that they are answered by the fallback and say
 * `degraded: true`, rather than from a part of the catalog as if it were all of it.
 */
export class RefilledSearchIndex implements SearchIndex {
  readonly name: string;
  /** The refill under way: queueing the catalog, then waiting for the outbox to drain. */
  #refill: 'none' | 'queueing' | 'draining' = 'none';

  constructor(
    readonly index: SearchIndex,
    private readonly outbox: Pick<SearchOutbox, 'backlog'>,
  ) {
    this.name = index.name;
  }

  /** Queues the whole catalog with `queue`, and refuses searches until the outbox has drained. */
  async refill(queue: () => Promise<void>): Promise<void> {
    this.#refill = 'queueing';
    try {
      await queue();
    } finally {
      this.#refill = 'draining';
    }
  }

  async search(query: string, page: PageRequest): Promise<Page<string>> {
    await this.#refuseWhileFilling();
    const hits = await this.index.search(query, page);
    // The search itself may have created the index, empty.
    await this.#refuseWhileFilling();
    return hits;
  }

  async #refuseWhileFilling(): Promise<void> {
    if (this.#refill === 'none') return;
    if (this.#refill === 'draining' && (await this.outbox.backlog()).pending === 0) {
      this.#refill = 'none';
      return;
    }
    throw new UnavailableError(`${this.name}: the index is being filled from the catalog`);
  }

  upsert(documents: TrackDocument[]): Promise<void> {
    return this.index.upsert(documents);
  }

  remove(ids: string[]): Promise<void> {
    return this.index.remove(ids);
  }

  documents(pageSize: number): AsyncIterable<IndexedDocument> {
    return this.index.documents(pageSize);
  }
}
